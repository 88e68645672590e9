//! The Pushgateway's protobuf push format: length-delimited
//! `io.prometheus.client.MetricFamily` messages (client_model's
//! `metrics.proto`), which the Go client's push package sends by default.
//!
//! Each family becomes the samples the text format would carry for it, so
//! a protobuf push is held and exposed exactly like the same push in text:
//! a histogram's classic buckets (with `+Inf` added when absent), `_sum`
//! and `_count`; a summary's quantiles, `_sum` and `_count`. Native
//! histogram fields are skipped: the text exposition has no place for them.

use std::collections::HashSet;

use super::wire::{Field, MAX_EXPANDED_LABELS, Reader, WireError, spend};
use crate::metric::MetricType;
use crate::textparse::{ParsedFamily, ParsedSample, is_label_name, is_metric_name};

/// The media type's parameters that select this format.
pub const PROTO_NAME: &str = "io.prometheus.client.MetricFamily";

/// Whether a Content-Type names the delimited protobuf format; `Err` for a
/// protobuf type this decoder cannot read.
pub fn is_protobuf(content_type: &str) -> Result<bool, String> {
    let mut parts = content_type.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    if !media.eq_ignore_ascii_case("application/vnd.google.protobuf") {
        return Ok(false);
    }
    for parameter in parts {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let value = value.trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "proto" if value != PROTO_NAME => {
                return Err(format!(
                    "proto={value} is not accepted; push proto={PROTO_NAME}"
                ));
            }
            "encoding" if value != "delimited" => {
                return Err(format!(
                    "encoding={value} is not accepted; push encoding=delimited"
                ));
            }
            _ => {}
        }
    }
    Ok(true)
}

/// Decodes a body of delimited `MetricFamily` messages. An error names the
/// family (by position and name) and the byte offset where the body is
/// broken.
pub fn decode(body: &[u8]) -> Result<Vec<ParsedFamily>, String> {
    let mut reader = Reader::new(body);
    let mut families: Vec<ParsedFamily> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut budget = MAX_EXPANDED_LABELS;
    while !reader.is_empty() {
        let index = families.len();
        let start = reader.offset();
        let family = reader
            .delimited()
            .and_then(|message| family(message, start, &mut budget))
            .map_err(|e| format!("metric family {index} (from byte {start}): {e}"))?;
        if !names.insert(family.name.clone()) {
            return Err(format!(
                "metric family {index} (from byte {start}): {} appears twice in the push",
                family.name
            ));
        }
        families.push(family);
    }
    Ok(families)
}

/// client_model's `MetricType` numbers.
fn metric_type(number: u64, at: usize) -> Result<MetricType, WireError> {
    Ok(match number {
        0 => MetricType::Counter,
        1 => MetricType::Gauge,
        2 => MetricType::Summary,
        3 => MetricType::Untyped,
        4 => MetricType::Histogram,
        other => {
            // 5 is GAUGE_HISTOGRAM, which the text format cannot carry.
            return Err(WireError {
                at,
                reason: format!(
                    "metric type {other} is not accepted (counter, gauge, summary, untyped or histogram)"
                ),
            });
        }
    })
}

fn kind_name(kind: MetricType) -> String {
    format!("{kind:?}").to_lowercase()
}

fn invalid(at: usize, reason: impl Into<String>) -> WireError {
    WireError {
        at,
        reason: reason.into(),
    }
}

fn family(
    mut message: Reader<'_>,
    start: usize,
    budget: &mut usize,
) -> Result<ParsedFamily, WireError> {
    let mut name = String::new();
    let mut help = String::new();
    let mut kind = MetricType::Counter;
    let mut metrics = Vec::new();
    while let Some(field) = message.next_field()? {
        match field.number {
            1 => name = field.string()?,
            2 => help = field.string()?,
            3 => kind = metric_type(field.varint()?, field.at)?,
            4 => metrics.push(field),
            _ => {}
        }
    }
    if !is_metric_name(&name) {
        return Err(invalid(
            start,
            format!("{name:?} is not a valid metric name"),
        ));
    }
    let mut samples = Vec::new();
    for (i, field) in metrics.iter().enumerate() {
        metric(&name, kind, field, &mut samples, budget)
            .map_err(|e| invalid(e.at, format!("{name}, metric {i}: {}", e.reason)))?;
    }
    Ok(ParsedFamily {
        name,
        kind,
        help,
        unit: String::new(),
        samples,
    })
}

/// The value fields of one `Metric`, by the family's type.
#[derive(Default)]
struct Values<'a> {
    labels: Vec<(String, String)>,
    value: Option<(Field<'a>, u32)>,
    timestamp_ms: Option<i64>,
}

fn metric(
    name: &str,
    kind: MetricType,
    field: &Field<'_>,
    out: &mut Vec<ParsedSample>,
    budget: &mut usize,
) -> Result<(), WireError> {
    let mut message = field.message()?;
    let mut values = Values::default();
    let mut label_names: HashSet<String> = HashSet::new();
    while let Some(field) = message.next_field()? {
        match field.number {
            1 => {
                let (name, value) = label_pair(&field)?;
                if !label_names.insert(name.clone()) {
                    return Err(invalid(field.at, format!("label {name} appears twice")));
                }
                values.labels.push((name, value));
            }
            number @ (2 | 3 | 4 | 5 | 7) => values.value = Some((field, number)),
            6 => values.timestamp_ms = Some(field.varint()? as i64),
            _ => {}
        }
    }
    let expected = match kind {
        MetricType::Gauge => 2,
        MetricType::Counter => 3,
        MetricType::Summary => 4,
        MetricType::Untyped => 5,
        MetricType::Histogram => 7,
    };
    let Some((value, number)) = values.value else {
        return Err(invalid(
            field.at,
            format!("has no {} value", kind_name(kind)),
        ));
    };
    if number != expected {
        return Err(invalid(
            value.at,
            format!(
                "the family is a {} but the metric holds another type's value",
                kind_name(kind)
            ),
        ));
    }
    let timestamp = values.timestamp_ms.map(|ms| ms as f64 / 1000.0);
    let sample = |suffix: &str, extra: Option<(&str, String)>, value: f64| {
        let mut labels = values.labels.clone();
        if let Some((label, text)) = extra {
            labels.push((label.to_owned(), text));
        }
        ParsedSample {
            name: format!("{name}{suffix}"),
            labels,
            value,
            timestamp,
        }
    };
    let mut reader = value.message()?;
    match kind {
        MetricType::Gauge | MetricType::Counter | MetricType::Untyped => {
            let mut number = 0.0;
            while let Some(field) = reader.next_field()? {
                if field.number == 1 {
                    number = field.double()?;
                }
            }
            spend(budget, values.labels.len(), 1).map_err(|reason| invalid(field.at, reason))?;
            out.push(sample("", None, number));
        }
        MetricType::Summary => {
            let (mut count, mut sum) = (0.0, 0.0);
            let mut quantiles = Vec::new();
            while let Some(field) = reader.next_field()? {
                match field.number {
                    1 => count = field.varint()? as f64,
                    2 => sum = field.double()?,
                    3 => quantiles.push(pair(&field)?),
                    _ => {}
                }
            }
            spend(budget, values.labels.len() + 1, quantiles.len() + 2)
                .map_err(|reason| invalid(field.at, reason))?;
            for (quantile, value) in quantiles {
                out.push(sample("", Some(("quantile", go_float(quantile))), value));
            }
            out.push(sample("_sum", None, sum));
            out.push(sample("_count", None, count));
        }
        MetricType::Histogram => {
            let (mut count, mut count_float, mut sum) = (0.0, None, 0.0);
            let mut buckets = Vec::new();
            while let Some(field) = reader.next_field()? {
                match field.number {
                    1 => count = field.varint()? as f64,
                    2 => sum = field.double()?,
                    3 => buckets.push(bucket(&field)?),
                    4 => count_float = Some(field.double()?),
                    _ => {}
                }
            }
            let count = count_float.unwrap_or(count);
            spend(budget, values.labels.len() + 1, buckets.len() + 3)
                .map_err(|reason| invalid(field.at, reason))?;
            let has_inf = buckets.iter().any(|(bound, _)| *bound == f64::INFINITY);
            for (bound, cumulative) in buckets {
                out.push(sample("_bucket", Some(("le", go_float(bound))), cumulative));
            }
            if !has_inf {
                out.push(sample("_bucket", Some(("le", "+Inf".to_owned())), count));
            }
            out.push(sample("_sum", None, sum));
            out.push(sample("_count", None, count));
        }
    }
    Ok(())
}

fn label_pair(field: &Field<'_>) -> Result<(String, String), WireError> {
    let mut message = field.message()?;
    let (mut name, mut value) = (String::new(), String::new());
    while let Some(field) = message.next_field()? {
        match field.number {
            1 => name = field.string()?,
            2 => value = field.string()?,
            _ => {}
        }
    }
    if !is_label_name(&name) || name.starts_with("__") {
        return Err(invalid(
            field.at,
            format!("{name:?} is not a valid label name"),
        ));
    }
    Ok((name, value))
}

/// A summary's `Quantile`: (quantile, value).
fn pair(field: &Field<'_>) -> Result<(f64, f64), WireError> {
    let mut message = field.message()?;
    let (mut quantile, mut value) = (0.0, 0.0);
    while let Some(field) = message.next_field()? {
        match field.number {
            1 => quantile = field.double()?,
            2 => value = field.double()?,
            _ => {}
        }
    }
    Ok((quantile, value))
}

/// A histogram's `Bucket`: (upper bound, cumulative count).
fn bucket(field: &Field<'_>) -> Result<(f64, f64), WireError> {
    let mut message = field.message()?;
    let (mut bound, mut count, mut count_float) = (0.0, 0.0, None);
    while let Some(field) = message.next_field()? {
        match field.number {
            1 => count = field.varint()? as f64,
            2 => bound = field.double()?,
            4 => count_float = Some(field.double()?),
            _ => {}
        }
    }
    if bound.is_nan() {
        return Err(invalid(field.at, "a bucket's upper bound is NaN"));
    }
    Ok((bound, count_float.unwrap_or(count)))
}

/// A float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it, which
/// is how the Pushgateway writes `le` and `quantile`: the shortest digits,
/// in exponent form below 1e-4 and from 1e6.
pub fn go_float(value: f64) -> String {
    if value == f64::INFINITY {
        return "+Inf".to_owned();
    }
    if value == f64::NEG_INFINITY {
        return "-Inf".to_owned();
    }
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e-5".
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("{:e} always writes an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} writes an integer exponent");
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes test messages: (field, wire bytes).
    fn field(number: u32, wire_type: u8, body: &[u8]) -> Vec<u8> {
        let mut out = varint(u64::from(number) << 3 | u64::from(wire_type));
        if wire_type == 2 {
            out.extend(varint(body.len() as u64));
        }
        out.extend(body);
        out
    }

    fn varint(mut value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn double(number: u32, value: f64) -> Vec<u8> {
        field(number, 1, &value.to_le_bytes())
    }

    fn delimited(message: &[u8]) -> Vec<u8> {
        let mut out = varint(message.len() as u64);
        out.extend(message);
        out
    }

    fn gauge_family(name: &str, value: f64) -> Vec<u8> {
        let label = [field(1, 2, b"k"), field(2, 2, b"v")].concat();
        let metric = [field(1, 2, &label), field(2, 2, &double(1, value))].concat();
        [
            field(1, 2, name.as_bytes()),
            field(3, 0, &[1]),
            field(4, 2, &metric),
        ]
        .concat()
    }

    #[test]
    fn gauges_histograms_and_where_bodies_break() {
        let bucket = |bound: f64, count: u8| [field(1, 0, &[count]), double(2, bound)].concat();
        let histogram = [
            field(1, 0, &[3]),
            double(2, 1.5),
            field(3, 2, &bucket(0.005, 1)),
            field(3, 2, &bucket(1.0, 2)),
        ]
        .concat();
        let metric = field(7, 2, &histogram);
        let family = [
            field(1, 2, b"req_seconds"),
            field(3, 0, &[4]),
            field(4, 2, &metric),
        ]
        .concat();
        let body = [delimited(&gauge_family("g", 2.5)), delimited(&family)].concat();
        let families = decode(&body).unwrap();
        assert_eq!(families[0].samples[0].value, 2.5);
        assert_eq!(
            families[0].samples[0].labels,
            vec![("k".into(), "v".into())]
        );
        let les: Vec<(String, f64)> = families[1]
            .samples
            .iter()
            .map(|s| {
                let le = s.labels.iter().find(|(n, _)| n == "le");
                (format!("{}{}", s.name, le.map_or("", |(_, v)| v)), s.value)
            })
            .collect();
        assert_eq!(
            les,
            [
                ("req_seconds_bucket0.005".to_owned(), 1.0),
                ("req_seconds_bucket1".into(), 2.0),
                ("req_seconds_bucket+Inf".into(), 3.0),
                ("req_seconds_sum".into(), 1.5),
                ("req_seconds_count".into(), 3.0),
            ]
        );

        let cut = &body[..body.len() - 3];
        let error = decode(cut).unwrap_err();
        assert!(
            error.contains("metric family 1") && error.contains("truncated"),
            "{error}"
        );
        let bad_name = delimited(&gauge_family("no-dash", 1.0));
        assert!(
            decode(&bad_name)
                .unwrap_err()
                .contains("not a valid metric name")
        );
        let twice = [
            delimited(&gauge_family("g", 1.0)),
            delimited(&gauge_family("g", 2.0)),
        ]
        .concat();
        assert!(decode(&twice).unwrap_err().contains("appears twice"));
    }

    #[test]
    fn floats_as_go_writes_them() {
        for (value, text) in [
            (0.005, "0.005"),
            (1.0, "1"),
            (2.5, "2.5"),
            (10.0, "10"),
            (0.99, "0.99"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456.0, "123456"),
            (1e21, "1e+21"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(go_float(value), text, "{value}");
        }
    }

    #[test]
    fn media_types() {
        assert!(is_protobuf("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited").unwrap());
        assert!(!is_protobuf("text/plain; version=0.0.4").unwrap());
        assert!(is_protobuf("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text").is_err());
        assert!(is_protobuf("application/vnd.google.protobuf; proto=x.Y").is_err());
    }
}
