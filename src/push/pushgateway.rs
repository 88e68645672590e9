//! The Pushgateway's API: `/metrics/job/<job>{/<label>/<value>}` names a
//! group (a name suffixed `@base64` takes a URL-safe base64 value, so values
//! may hold `/` or be empty), and the body is the text format.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::{GroupKey, Kind, StoredFamily, StoredValue};
use crate::textparse::{self, Dialect, is_label_name};

pub const PREFIX: &str = "/metrics/job";

/// Parses the grouping key from a path under [`PREFIX`]; `None` when the
/// path is not one of the Pushgateway's.
pub fn grouping_key(path: &str) -> Option<Result<GroupKey, String>> {
    let rest = path.strip_prefix(PREFIX)?;
    let (job_encoded, rest) = if let Some(rest) = rest.strip_prefix("@base64/") {
        (true, rest)
    } else if let Some(rest) = rest.strip_prefix('/') {
        (false, rest)
    } else {
        return None;
    };
    Some(parse_components(job_encoded, rest))
}

fn parse_components(job_encoded: bool, rest: &str) -> Result<GroupKey, String> {
    let mut parts = rest.split('/');
    let job = decode_value(parts.next().unwrap_or(""), job_encoded)?;
    if job.is_empty() {
        return Err("the job name must not be empty".into());
    }
    let mut key: GroupKey = vec![("job".to_owned(), job)];
    let parts: Vec<&str> = parts.collect();
    if parts.len() % 2 != 0 {
        return Err(format!(
            "odd number of components in the grouping key after the job: {:?}",
            parts.join("/")
        ));
    }
    for pair in parts.chunks(2) {
        let (name, encoded) = match pair[0].strip_suffix("@base64") {
            Some(name) => (name, true),
            None => (pair[0], false),
        };
        if !is_label_name(name) || name.starts_with("__") {
            return Err(format!("{name:?} is not a valid label name"));
        }
        if key.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name} appears twice in the grouping key"));
        }
        key.push((name.to_owned(), decode_value(pair[1], encoded)?));
    }
    key.sort();
    Ok(key)
}

fn decode_value(text: &str, base64: bool) -> Result<String, String> {
    let text = percent_decode(text)?;
    if !base64 {
        return Ok(text);
    }
    // `=` alone is the empty value; padding is optional.
    let trimmed = text.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|e| format!("{text:?} is not base64: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

/// Parses a pushed text body for `group`.
pub fn parse_body(body: &str, group: &GroupKey) -> Result<BTreeMap<String, StoredFamily>, String> {
    let parsed = textparse::parse(body, Dialect::Text).map_err(|e| e.to_string())?;
    into_group(parsed, group)
}

/// A pushed body's families (text or protobuf) as `group` holds them. Like
/// the Pushgateway it refuses timestamps and series that are equal once the
/// grouping labels (which win over pushed labels of the same name) are
/// applied.
pub fn into_group(
    parsed: Vec<textparse::ParsedFamily>,
    group: &GroupKey,
) -> Result<BTreeMap<String, StoredFamily>, String> {
    let mut families = BTreeMap::new();
    for family in parsed {
        if family.name == "push_time_seconds" || family.name == "push_failure_time_seconds" {
            return Err(format!("{} is set by the gateway itself", family.name));
        }
        if family.name.starts_with("outrider_") {
            return Err(format!(
                "{} is a name outrider exports itself; outrider_* cannot be pushed",
                family.name
            ));
        }
        let mut series = super::series_map::SeriesMap::new();
        for sample in family.samples {
            if sample.timestamp.is_some() {
                return Err(format!(
                    "{}: pushed metrics must not have timestamps",
                    sample.name
                ));
            }
            let mut labels: Vec<(&str, &str)> = sample
                .labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .filter(|(n, v)| !v.is_empty() && !group.iter().any(|(g, _)| g == n))
                .collect();
            labels.sort_unstable();
            let value = StoredValue {
                value: sample.value,
                timestamp: None,
            };
            series.push_unsorted(&sample.name, labels.into_iter(), value);
        }
        let series = series.finish().map_err(|(name, labels)| {
            format!(
                "{name}{labels:?} is pushed twice (grouping labels replace pushed labels of the same name)"
            )
        })?;
        families.insert(
            family.name,
            StoredFamily {
                kind: Kind::from(family.kind),
                help: family.help,
                bounds: Vec::new(),
                series,
            },
        );
    }
    Ok(families)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> GroupKey {
        let mut key: GroupKey = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        key.sort();
        key
    }

    #[test]
    fn grouping_keys_plain_and_base64() {
        assert_eq!(
            grouping_key("/metrics/job/batch/instance/db1")
                .unwrap()
                .unwrap(),
            key(&[("job", "batch"), ("instance", "db1")])
        );
        assert_eq!(
            grouping_key("/metrics/job@base64/Zm9vL2Jhcg")
                .unwrap()
                .unwrap(),
            key(&[("job", "foo/bar")])
        );
        assert_eq!(
            grouping_key("/metrics/job/j/path@base64/L3Zhci90bXA=")
                .unwrap()
                .unwrap(),
            key(&[("job", "j"), ("path", "/var/tmp")])
        );
        assert_eq!(
            grouping_key("/metrics/job/j/instance@base64/=")
                .unwrap()
                .unwrap(),
            key(&[("job", "j"), ("instance", "")])
        );
        assert_eq!(
            grouping_key("/metrics/job/a%20b").unwrap().unwrap(),
            key(&[("job", "a b")])
        );
        assert!(grouping_key("/metrics").is_none());
        assert!(grouping_key("/metrics/jobs/x").is_none());
        for bad in [
            "/metrics/job/",
            "/metrics/job/a/b",
            "/metrics/job/a/1x/v",
            "/metrics/job/a/x/1/x/2",
            "/metrics/job/a/x@base64/!!",
            "/metrics/job/a%zz",
        ] {
            assert!(grouping_key(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn bodies_refuse_timestamps_and_collisions() {
        let group = key(&[("job", "j")]);
        let families = parse_body("# TYPE m gauge\nm{job=\"other\",a=\"1\"} 1\n", &group).unwrap();
        let series = families["m"].series.iter().next().unwrap();
        assert_eq!((series.name(), series.labels().len()), ("m", 1));
        assert!(
            parse_body("m 1 1000\n", &group)
                .unwrap_err()
                .contains("timestamps")
        );
        assert!(
            parse_body("m{job=\"a\"} 1\nm{job=\"b\"} 2\n", &group)
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_body("m{\n", &group).unwrap_err().contains("line 1"));
    }
}
