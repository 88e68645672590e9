//! What several /proc collectors share: reading a pseudo-file into a buffer
//! kept from tick to tick, and the two layouts most of /proc/net and
//! /proc/vmstat use (`key value` lines, and `Proto: names` / `Proto: values`
//! line pairs). The parsers take any text and never panic: a line they do not
//! understand is an error naming it, not a crash.

use std::io::Read;
use std::path::Path;

use super::CollectError;

/// Reads a whole pseudo-file into `buffer`, reusing its allocation. `Ok(false)`
/// when the file does not exist (the kernel lacks the feature), so a caller
/// can report nothing rather than fail.
pub fn read_into(path: &Path, buffer: &mut String) -> Result<bool, CollectError> {
    buffer.clear();
    let opened = std::fs::File::open(path).and_then(|mut file| file.read_to_string(buffer));
    match opened {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(CollectError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A parse failure in `path`.
pub fn parse_error(path: &Path, reason: String) -> CollectError {
    CollectError::Parse {
        path: path.to_owned(),
        reason,
    }
}

/// `key value` lines (/proc/vmstat, /proc/net/snmp6): the first two
/// whitespace-separated fields of each non-empty line. A line with one field
/// is an error.
pub fn key_values(text: &str) -> impl Iterator<Item = Result<(&str, &str), String>> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let key = fields.next()?;
        Some(
            fields
                .next()
                .map(|value| (key, value))
                .ok_or_else(|| format!("no value in line {line:?}")),
        )
    })
}

/// `Proto: name name …` followed by `Proto: value value …`
/// (/proc/net/netstat, /proc/net/snmp): calls `each(proto, name, value)` for
/// every pair, in file order.
pub fn header_value_pairs<'a>(
    text: &'a str,
    mut each: impl FnMut(&'a str, &'a str, &'a str),
) -> Result<(), String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(header) = lines.next() {
        let values = lines
            .next()
            .ok_or_else(|| format!("no value line after {header:?}"))?;
        let (proto, names) = header
            .split_once(':')
            .ok_or_else(|| format!("no protocol in {header:?}"))?;
        let (value_proto, values) = values
            .split_once(':')
            .ok_or_else(|| format!("no protocol in {values:?}"))?;
        if proto != value_proto {
            return Err(format!(
                "header for {proto:?} followed by values for {value_proto:?}"
            ));
        }
        let names: Vec<&str> = names.split_ascii_whitespace().collect();
        let count = values.split_ascii_whitespace().count();
        if names.len() != count {
            return Err(format!("{proto}: {} names but {count} values", names.len()));
        }
        for (name, value) in names.into_iter().zip(values.split_ascii_whitespace()) {
            each(proto, name, value);
        }
    }
    Ok(())
}

/// A number as node_exporter reads these files (Go's `ParseFloat`): decimal,
/// possibly negative (`MaxConn -1`).
pub fn parse_number(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .map_err(|_| format!("invalid number {value:?}"))
}

/// One unsigned integer alone in a file (/proc/sys/fs/…, sysfs attributes).
pub fn parse_single_u64(text: &str) -> Result<u64, String> {
    let text = text.trim();
    text.parse::<u64>()
        .map_err(|_| format!("expected one unsigned number, got {text:?}"))
}

/// The entries of `dir` named `<prefix><digits>` (`cpu0`, `thermal_zone3`),
/// as (digits, path), sorted by number; none when `dir` is missing.
pub fn numbered_entries(dir: &Path, prefix: &str) -> Vec<(String, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, String, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let digits = name.to_str()?.strip_prefix(prefix)?;
            let number = digits.parse::<u64>().ok()?;
            Some((number, digits.to_owned(), entry.path()))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, digits, path)| (digits, path))
        .collect()
}

/// A sysfs attribute holding one integer: None when the file is missing.
pub fn read_i64(path: &Path, buffer: &mut String) -> Result<Option<i64>, CollectError> {
    if !read_into(path, buffer)? {
        return Ok(None);
    }
    let text = buffer.trim();
    text.parse::<i64>()
        .map(Some)
        .map_err(|_| parse_error(path, format!("expected an integer, got {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_values_pairs_fields_and_flags_lone_keys() {
        let pairs: Vec<_> = key_values("a 1\n\nb 2 extra\n").collect();
        assert_eq!(pairs, vec![Ok(("a", "1")), Ok(("b", "2"))]);
        assert!(key_values("lonely\n").next().unwrap().is_err());
    }

    #[test]
    fn header_value_pairs_match_names_to_values() {
        let mut seen = Vec::new();
        header_value_pairs("Tcp: A B\nTcp: 1 -2\nUdp: C\nUdp: 3\n", |p, n, v| {
            seen.push(format!("{p}_{n}={v}"))
        })
        .unwrap();
        assert_eq!(seen, ["Tcp_A=1", "Tcp_B=-2", "Udp_C=3"]);
        let noop = |_: &str, _: &str, _: &str| {};
        assert!(header_value_pairs("Tcp: A B\nTcp: 1\n", noop).is_err());
        assert!(header_value_pairs("Tcp: A\nUdp: 1\n", noop).is_err());
        assert!(header_value_pairs("Tcp: A\n", noop).is_err());
        assert!(header_value_pairs("no colon\nno colon\n", noop).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "(?s).{0,400}") {
            for (_, value) in key_values(&text).flatten() {
                let _ = parse_number(value);
            }
            let _ = header_value_pairs(&text, |_, _, _| {});
            let _ = parse_single_u64(&text);
        }

        #[test]
        fn parsers_never_panic_on_line_shaped_input(
            lines in proptest::collection::vec("[A-Za-z0-9:_ -]{0,30}", 0..12)
        ) {
            let text = lines.join("\n");
            let _ = key_values(&text).count();
            let _ = header_value_pairs(&text, |_, _, _| {});
        }
    }
}
