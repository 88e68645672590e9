//! The events log: every alert transition as one JSON line in
//! `<storage.path>/events.jsonl`, so "why did this fire at 03:12?" has an
//! answer after the fact. When the file passes `max_bytes` it is rotated to
//! `events.jsonl.1` (one old file kept), so the log never grows without bound.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::rules::eval::{Transition, rfc3339};

pub const FILE_NAME: &str = "events.jsonl";
pub const DEFAULT_MAX_BYTES: u64 = 16 << 20;

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    transition: &'a Transition,
}

/// A failed write, naming the file (or folder) and what was being done, so
/// the log line says where to look.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct EventsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

pub struct EventsLog {
    path: PathBuf,
    max_bytes: u64,
    file: Option<File>,
    written: u64,
}

impl EventsLog {
    pub fn new(storage: &Path, max_bytes: u64) -> Self {
        EventsLog {
            path: storage.join(FILE_NAME),
            max_bytes,
            file: None,
            written: 0,
        }
    }

    fn open(&mut self) -> Result<&mut File, EventsError> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| EventsError {
                    action: "creating the folder",
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            let failed = |action, source| EventsError {
                action,
                path: self.path.clone(),
                source,
            };
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| failed("opening", e))?;
            self.written = file
                .metadata()
                .map_err(|e| failed("reading the size of", e))?
                .len();
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Appends the transitions, one line each, rotating first when the file
    /// is full.
    pub fn append(&mut self, transitions: &[Transition]) -> Result<(), EventsError> {
        if transitions.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for transition in transitions {
            let line = Line {
                time: rfc3339(transition.time),
                transition,
            };
            let json = serde_json::to_string(&line).map_err(|e| EventsError {
                action: "encoding a line for",
                path: self.path.clone(),
                source: io::Error::other(e),
            })?;
            text.push_str(&json);
            text.push('\n');
        }
        self.open()?;
        if self.written > 0 && self.written + text.len() as u64 > self.max_bytes {
            self.file = None;
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            std::fs::rename(&self.path, &rotated).map_err(|source| EventsError {
                action: "rotating",
                path: self.path.clone(),
                source,
            })?;
        }
        let file = self.open()?;
        let written = file.write_all(text.as_bytes());
        written.map_err(|source| EventsError {
            action: "writing",
            path: self.path.clone(),
            source,
        })?;
        self.written += text.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::eval::Severity;

    fn transition(i: u32) -> Transition {
        Transition {
            time: 1_700_000_000.0 + f64::from(i),
            rule: "DiskFull".into(),
            labels: [("device".to_owned(), "sda".to_owned())].into(),
            from: "pending",
            to: "firing",
            severity: Severity::Warning,
            value: 0.15,
            baseline: Some(0.5),
        }
    }

    #[test]
    fn appends_json_lines_and_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventsLog::new(dir.path(), 600);
        log.append(&[transition(0)]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["rule"], "DiskFull");
        assert_eq!(line["from"], "pending");
        assert_eq!(line["to"], "firing");
        assert_eq!(line["labels"]["device"], "sda");
        assert_eq!(line["baseline"], 0.5);
        assert_eq!(line["time"], "2023-11-14T22:13:20.000Z");
        for i in 1..10 {
            log.append(&[transition(i)]).unwrap();
        }
        let current = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
        assert!(current <= 600, "{current}");
        assert!(dir.path().join("events.jsonl.1").exists());
    }

    #[test]
    fn a_failed_write_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the log file should be: opening it fails.
        std::fs::create_dir(dir.path().join(FILE_NAME)).unwrap();
        let mut log = EventsLog::new(dir.path(), DEFAULT_MAX_BYTES);
        let error = log.append(&[transition(0)]).unwrap_err().to_string();
        let path = dir.path().join(FILE_NAME).display().to_string();
        assert!(error.contains(&path), "{error}");
        assert!(error.contains("Is a directory"), "{error}");
    }

    #[test]
    fn an_alert_whose_series_is_gone_records_no_value() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventsLog::new(dir.path(), DEFAULT_MAX_BYTES);
        let gone = Transition {
            from: "firing",
            to: "resolved",
            value: f64::NAN,
            baseline: None,
            ..transition(0)
        };
        log.append(&[gone]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["to"], "resolved");
        assert!(line["value"].is_null(), "{line}");
    }
}
