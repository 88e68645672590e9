//! The protocol buffers wire format, read by hand: the two pushed message
//! sets (the Prometheus client's `MetricFamily` and OTLP's metrics) use a
//! handful of field kinds, and a reader that knows the byte offset of every
//! field can say where a body is broken, which a generated decoder's
//! errors do not. Unknown fields are skipped, as protobuf requires, so
//! newer clients' additions pass.

use std::fmt;

/// Where a body is broken and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError {
    /// Byte offset from the start of the body.
    pub at: usize,
    pub reason: String,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.at, self.reason)
    }
}

impl std::error::Error for WireError {}

/// One field's value, by wire type.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    /// A length-delimited field and the body offset of its first byte.
    Bytes(&'a [u8], usize),
    Fixed32(u32),
}

/// A field as read: its number, value and the body offset of its tag.
#[derive(Clone, Copy, Debug)]
pub struct Field<'a> {
    pub number: u32,
    pub value: Value<'a>,
    pub at: usize,
}

impl<'a> Field<'a> {
    fn wrong(&self, want: &str) -> WireError {
        WireError {
            at: self.at,
            reason: format!("field {} is not {want}", self.number),
        }
    }

    pub fn varint(&self) -> Result<u64, WireError> {
        match self.value {
            Value::Varint(v) => Ok(v),
            _ => Err(self.wrong("a varint")),
        }
    }

    pub fn double(&self) -> Result<f64, WireError> {
        match self.value {
            Value::Fixed64(bits) => Ok(f64::from_bits(bits)),
            _ => Err(self.wrong("a double")),
        }
    }

    pub fn fixed64(&self) -> Result<u64, WireError> {
        match self.value {
            Value::Fixed64(bits) => Ok(bits),
            _ => Err(self.wrong("a fixed64")),
        }
    }

    /// A nested message, read from its own bytes.
    pub fn message(&self) -> Result<Reader<'a>, WireError> {
        match self.value {
            Value::Bytes(bytes, base) => Ok(Reader::at(bytes, base)),
            _ => Err(self.wrong("a message")),
        }
    }

    pub fn bytes(&self) -> Result<&'a [u8], WireError> {
        match self.value {
            Value::Bytes(bytes, _) => Ok(bytes),
            _ => Err(self.wrong("length-delimited")),
        }
    }

    pub fn string(&self) -> Result<String, WireError> {
        match self.value {
            Value::Bytes(bytes, base) => String::from_utf8(bytes.to_vec()).map_err(|e| WireError {
                at: base + e.utf8_error().valid_up_to(),
                reason: format!("field {} is not valid UTF-8", self.number),
            }),
            _ => Err(self.wrong("a string")),
        }
    }

    /// A repeated 64-bit field (double or fixed64), packed or not: `out`
    /// gets its bits.
    pub fn push_fixed64s(&self, out: &mut Vec<u64>) -> Result<(), WireError> {
        match self.value {
            Value::Fixed64(bits) => out.push(bits),
            Value::Bytes(bytes, base) => {
                if bytes.len() % 8 != 0 {
                    return Err(WireError {
                        at: base,
                        reason: format!(
                            "packed field {} is {} bytes, not a multiple of 8",
                            self.number,
                            bytes.len()
                        ),
                    });
                }
                out.extend(bytes.chunks_exact(8).map(|chunk| {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(chunk);
                    u64::from_le_bytes(word)
                }));
            }
            _ => return Err(self.wrong("a repeated 64-bit field")),
        }
        Ok(())
    }
}

/// Reads the fields of one message in order.
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    /// The body offset of `bytes[0]`, for messages.
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader::at(bytes, 0)
    }

    fn at(bytes: &'a [u8], base: usize) -> Self {
        Reader {
            bytes,
            position: 0,
            base,
        }
    }

    /// The body offset of the next byte to read.
    pub fn offset(&self) -> usize {
        self.base + self.position
    }

    pub fn is_empty(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn error(&self, at: usize, reason: impl Into<String>) -> WireError {
        WireError {
            at: self.base + at,
            reason: reason.into(),
        }
    }

    pub fn varint(&mut self) -> Result<u64, WireError> {
        let start = self.position;
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.bytes.get(self.position) else {
                return Err(self.error(start, "truncated: a varint runs past the end"));
            };
            self.position += 1;
            if shift == 63 && byte > 1 {
                return Err(self.error(start, "a varint is longer than 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error(start, "a varint is longer than 10 bytes"))
    }

    fn take(&mut self, length: usize, what: &str) -> Result<(&'a [u8], usize), WireError> {
        let start = self.position;
        let end = start
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                self.error(
                    start,
                    format!(
                        "truncated: {what} of {length} bytes, {} left",
                        self.bytes.len() - start
                    ),
                )
            })?;
        self.position = end;
        Ok((&self.bytes[start..end], self.base + start))
    }

    /// A varint length and that many bytes: a delimited message.
    pub fn delimited(&mut self) -> Result<Reader<'a>, WireError> {
        let length = self.varint()?;
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        let (bytes, base) = self.take(length, "a message")?;
        Ok(Reader::at(bytes, base))
    }

    /// The next field, or `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<Field<'a>>, WireError> {
        if self.is_empty() {
            return Ok(None);
        }
        let at = self.offset();
        let tag = self.varint()?;
        let number = u32::try_from(tag >> 3)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| self.error(at - self.base, format!("bad field number in tag {tag}")))?;
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let (bytes, _) = self.take(8, "a 64-bit field")?;
                let mut word = [0u8; 8];
                word.copy_from_slice(bytes);
                Value::Fixed64(u64::from_le_bytes(word))
            }
            2 => {
                let length = self.varint()?;
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                let (bytes, base) = self.take(length, &format!("field {number}"))?;
                Value::Bytes(bytes, base)
            }
            5 => {
                let (bytes, _) = self.take(4, "a 32-bit field")?;
                let mut word = [0u8; 4];
                word.copy_from_slice(bytes);
                Value::Fixed32(u32::from_le_bytes(word))
            }
            other => {
                return Err(self.error(
                    at - self.base,
                    format!("field {number} has wire type {other}, which is not in use"),
                ));
            }
        };
        Ok(Some(Field { number, value, at }))
    }
}

/// Label pairs one binary push may expand to. Protobuf and OTLP carry a
/// metric's labels once for all of its buckets, so a small body could ask
/// for label sets times buckets; past this budget the push is refused
/// before any of it is built. A push of 100k series of 30 labels fits.
pub const MAX_EXPANDED_LABELS: usize = 4_000_000;

/// Takes `samples` series of `labels` labels (and a name) from `budget`.
pub fn spend(budget: &mut usize, labels: usize, samples: usize) -> Result<(), String> {
    let cost = labels.saturating_add(1).saturating_mul(samples);
    *budget = budget.checked_sub(cost).ok_or_else(|| {
        format!(
            "the push expands to more than {MAX_EXPANDED_LABELS} labels (label sets times buckets); send it in smaller pushes"
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_says_where_a_body_ends_early() {
        // field 1 varint 150, field 2 string "hi", field 3 double 1.5
        let mut body = vec![0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x19];
        body.extend(1.5f64.to_le_bytes());
        let mut reader = Reader::new(&body);
        assert_eq!(reader.next_field().unwrap().unwrap().varint().unwrap(), 150);
        assert_eq!(
            reader.next_field().unwrap().unwrap().string().unwrap(),
            "hi"
        );
        assert_eq!(reader.next_field().unwrap().unwrap().double().unwrap(), 1.5);
        assert!(reader.next_field().unwrap().is_none());

        let cut = &body[..6];
        let mut reader = Reader::new(cut);
        reader.next_field().unwrap();
        let error = reader.next_field().unwrap_err();
        assert_eq!(error.at, 5);
        assert!(error.reason.contains("truncated"), "{error}");

        let mut reader = Reader::new(&[0x08, 0xff]);
        assert!(
            reader
                .next_field()
                .unwrap_err()
                .to_string()
                .contains("byte 1")
        );
        let mut reader = Reader::new(&[0x0f]);
        assert!(
            reader
                .next_field()
                .unwrap_err()
                .reason
                .contains("wire type 7")
        );
    }
}
