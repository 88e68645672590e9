//! `node_filefd_allocated` and `node_filefd_maximum` from
//! /proc/sys/fs/file-nr (the host's open-file table, for the
//! file-descriptor-limit alerts).

use std::path::PathBuf;

use super::procfile::{self, parse_error};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// (allocated, maximum) from `allocated unused maximum`.
pub fn parse_file_nr(text: &str) -> Result<(f64, f64), String> {
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    let [allocated, _unused, maximum] = fields[..] else {
        return Err(format!("expected 3 fields, got {text:?}"));
    };
    let number = |v: &str| {
        v.parse::<u64>()
            .map(|n| n as f64)
            .map_err(|_| format!("invalid number {v:?}"))
    };
    Ok((number(allocated)?, number(maximum)?))
}

pub struct FilefdCollector {
    path: PathBuf,
    buffer: String,
}

impl FilefdCollector {
    pub fn new(paths: &HostPaths) -> Self {
        FilefdCollector {
            path: paths.proc("sys/fs/file-nr"),
            buffer: String::new(),
        }
    }
}

impl Collector for FilefdCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        if !procfile::read_into(&self.path, &mut self.buffer)? {
            return Err(CollectError::NoData("no /proc/sys/fs/file-nr".into()));
        }
        let (allocated, maximum) =
            parse_file_nr(&self.buffer).map_err(|r| parse_error(&self.path, r))?;
        out.push(
            Family::gauge(
                "node_filefd_allocated",
                "File descriptor statistics: allocated.",
            )
            .single(allocated),
        );
        out.push(
            Family::gauge(
                "node_filefd_maximum",
                "File descriptor statistics: maximum.",
            )
            .single(maximum),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocated_and_maximum() {
        let text = std::fs::read_to_string("tests/fixtures/proc/sys/fs/file-nr").unwrap();
        assert_eq!(parse_file_nr(&text).unwrap(), (1386.0, 2466170.0));
        assert!(parse_file_nr("1 2").is_err());
        assert!(parse_file_nr("1 2 x").is_err());
    }
}
