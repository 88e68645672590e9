//! `node_os_info` and `node_os_version` from os-release
//! (`/etc/os-release`, else `/usr/lib/os-release`, under the rootfs), as
//! node_exporter's os collector.

use std::path::PathBuf;

use super::procfile::{self, parse_error};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// The os-release keys `node_os_info` carries, with their label names.
const INFO_LABELS: &[(&str, &str)] = &[
    ("BUILD_ID", "build_id"),
    ("ID", "id"),
    ("ID_LIKE", "id_like"),
    ("IMAGE_ID", "image_id"),
    ("IMAGE_VERSION", "image_version"),
    ("NAME", "name"),
    ("PRETTY_NAME", "pretty_name"),
    ("VARIANT", "variant"),
    ("VARIANT_ID", "variant_id"),
    ("VERSION", "version"),
    ("VERSION_CODENAME", "version_codename"),
    ("VERSION_ID", "version_id"),
];

/// `KEY=value` assignments, with the shell quoting os-release(5) allows
/// (double or single quotes, backslash escapes inside double quotes).
/// Comments, blank lines and lines without `=` are skipped.
pub fn parse_os_release(text: &str) -> Vec<(&str, String)> {
    let mut pairs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        pairs.push((key.trim(), unquote(raw.trim())));
    }
    pairs
}

fn unquote(raw: &str) -> String {
    if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return raw.to_owned();
    };
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next @ ('"' | '\\' | '$' | '`')) => value.push(next),
                Some(other) => {
                    value.push('\\');
                    value.push(other);
                }
                None => value.push('\\'),
            }
        } else {
            value.push(c);
        }
    }
    value
}

/// `major.minor` of VERSION_ID as a number (`22.04`, `12`; `11.5.2` → 11.5),
/// 0 without one.
pub fn version_number(version_id: &str) -> f64 {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let major = digits(version_id);
    if major == 0 {
        return 0.0;
    }
    let mut end = major;
    if version_id[major..].starts_with('.') {
        end = major + 1 + digits(&version_id[major + 1..]);
    }
    version_id[..end]
        .trim_end_matches('.')
        .parse()
        .unwrap_or(0.0)
}

pub struct OsCollector {
    candidates: [PathBuf; 2],
    buffer: String,
}

impl OsCollector {
    pub fn new(paths: &HostPaths) -> Self {
        OsCollector {
            candidates: [
                paths.under_rootfs("/etc/os-release"),
                paths.under_rootfs("/usr/lib/os-release"),
            ],
            buffer: String::new(),
        }
    }
}

impl Collector for OsCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let found_first = procfile::read_into(&self.candidates[0], &mut self.buffer)?;
        if !found_first && !procfile::read_into(&self.candidates[1], &mut self.buffer)? {
            return Err(CollectError::NoData("no os-release file".into()));
        }
        let pairs = parse_os_release(&self.buffer);
        if pairs.is_empty() {
            return Err(parse_error(
                &self.candidates[usize::from(!found_first)],
                "no KEY=value lines".into(),
            ));
        }
        let value_of = |key: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map_or("", |(_, v)| v.as_str())
        };
        let mut info = Family::gauge(
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        );
        info.push(
            INFO_LABELS
                .iter()
                .map(|(key, label)| (*label, value_of(key))),
            1.0,
        );
        let mut version = Family::gauge(
            "node_os_version",
            "Metric containing the major.minor part of the OS version.",
        );
        version.push(
            [
                ("id", value_of("ID")),
                ("id_like", value_of("ID_LIKE")),
                ("name", value_of("NAME")),
            ],
            version_number(value_of("VERSION_ID")),
        );
        out.push(info);
        out.push(version);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::label_value;

    #[test]
    fn quoting_and_versions() {
        let pairs = parse_os_release(
            "# comment\nNAME=\"Ubuntu\"\nVERSION_ID='22.04'\nPRETTY_NAME=\"say \\\"hi\\\"\"\nID=ubuntu\nbogus\n",
        );
        assert_eq!(
            pairs,
            vec![
                ("NAME", "Ubuntu".to_owned()),
                ("VERSION_ID", "22.04".to_owned()),
                ("PRETTY_NAME", "say \"hi\"".to_owned()),
                ("ID", "ubuntu".to_owned()),
            ]
        );
        assert_eq!(version_number("22.04"), 22.04);
        assert_eq!(version_number("12"), 12.0);
        assert_eq!(version_number("11.5.2"), 11.5);
        assert_eq!(version_number("rolling"), 0.0);
        assert_eq!(version_number(""), 0.0);
        assert_eq!(version_number("3."), 3.0);
    }

    #[test]
    fn info_and_version_from_the_rootfs() {
        let paths = HostPaths {
            rootfs: "tests/fixtures/rootfs".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        OsCollector::new(&paths).collect(&mut out).unwrap();
        let info = &out[0].samples[0].labels;
        assert_eq!(
            label_value(info, "pretty_name"),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(label_value(info, "variant"), Some(""));
        assert_eq!(info.len(), 12);
        assert_eq!(out[1].samples[0].value, 12.0);
    }
}
