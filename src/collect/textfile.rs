//! Metrics other programs leave in `*.prom` files (cron jobs, package
//! counts), as node_exporter's textfile collector: every `*.prom` file of
//! one directory (`--collector.textfile.directory`) in the text format,
//! `node_textfile_mtime_seconds{file}` for each file read, and
//! `node_textfile_scrape_error` 1 when any file could not be read or
//! parsed. A bad file is skipped whole; the others stay.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tracing::warn;

use super::{CollectError, Collector};
use crate::metric::{Family, Labels};
use crate::textparse::{self, Dialect, Limits};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether the collector runs.
    pub enabled: bool,
    /// Directory whose `*.prom` files are read on every tick
    /// (`--collector.textfile.directory`); none: only
    /// `node_textfile_scrape_error` 0.
    pub directory: Option<PathBuf>,
    /// Samples read from all files together at most; a file that would go
    /// over is skipped as bad.
    pub sample_limit: usize,
    /// Bytes of one file at most; a bigger file is skipped as bad.
    pub max_file_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            directory: None,
            sample_limit: 100_000,
            max_file_bytes: 16 * 1024 * 1024,
        }
    }
}

pub struct TextfileCollector {
    directory: Option<PathBuf>,
    sample_limit: usize,
    max_file_bytes: u64,
    buffer: String,
    /// The failures of the last tick, so each is logged once, not every tick.
    last_failures: Vec<String>,
}

impl TextfileCollector {
    pub fn new(config: &Config) -> Self {
        TextfileCollector {
            directory: config.directory.clone(),
            sample_limit: config.sample_limit,
            max_file_bytes: config.max_file_bytes,
            buffer: String::new(),
            last_failures: Vec::new(),
        }
    }

    /// Reads and parses one file into `families`, or says why it is skipped
    /// (leaving `families` as it was).
    fn read_file(
        &mut self,
        path: &Path,
        families: &mut Vec<Family>,
        seen: &mut HashSet<(String, Arc<Labels>)>,
        samples_left: &mut usize,
    ) -> Result<f64, String> {
        let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if metadata.len() > self.max_file_bytes {
            return Err(format!(
                "{} bytes, more than max_file_bytes {}",
                metadata.len(),
                self.max_file_bytes
            ));
        }
        self.buffer.clear();
        std::fs::File::open(path)
            .and_then(|f| {
                f.take(self.max_file_bytes + 1)
                    .read_to_string(&mut self.buffer)
            })
            .map_err(|e| e.to_string())?;
        let limits = Limits {
            samples: (*samples_left).max(1),
            ..Limits::default()
        };
        let parsed = textparse::parse_limited(&self.buffer, Dialect::Text, limits)
            .map_err(|e| e.to_string())?;
        if parsed
            .iter()
            .flat_map(|f| &f.samples)
            .any(|s| s.timestamp.is_some())
        {
            return Err("samples with timestamps are not supported".into());
        }
        let count: usize = parsed.iter().map(|f| f.samples.len()).sum();
        if count > *samples_left {
            return Err(format!("over the sample_limit of {}", self.sample_limit));
        }
        let mut new = textparse::into_families(&parsed, &[]);
        // A name must keep one type across files, and a series appear once.
        let mut added = HashSet::new();
        for family in &mut new {
            if family.help.is_empty() {
                family.help = format!("Metric read from {}", path.display()).into();
            }
            if let Some(existing) = families.iter().find(|f| f.name == family.name)
                && existing.kind != family.kind
            {
                return Err(format!(
                    "{} is {:?} here but {:?} in another file",
                    family.name, family.kind, existing.kind
                ));
            }
            for sample in &family.samples {
                let key = (family.name.to_string(), sample.labels.clone());
                if seen.contains(&key) || added.contains(&key) {
                    return Err(format!("{} has a series twice", family.name));
                }
                added.insert(key);
            }
        }
        seen.extend(added);
        for family in new {
            match families.iter_mut().find(|f| f.name == family.name) {
                Some(existing) => existing.samples.extend(family.samples),
                None => families.push(family),
            }
        }
        *samples_left -= count;
        let modified = metadata
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs() as f64);
        Ok(modified)
    }

    fn log_failures(&mut self, failures: Vec<String>) {
        for failure in failures.iter().filter(|f| !self.last_failures.contains(f)) {
            warn!(collector = "textfile", error = %failure, "textfile skipped");
        }
        self.last_failures = failures;
    }
}

impl Collector for TextfileCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mut failures = Vec::new();
        let mut families = Vec::new();
        let mut mtimes = Family::gauge(
            "node_textfile_mtime_seconds",
            "Unixtime mtime of textfiles successfully read.",
        );
        if let Some(directory) = self.directory.clone() {
            let mut files: Vec<PathBuf> = match std::fs::read_dir(&directory) {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "prom"))
                    .collect(),
                Err(e) => {
                    failures.push(format!("{}: {e}", directory.display()));
                    Vec::new()
                }
            };
            files.sort();
            let mut seen = HashSet::new();
            let mut samples_left = self.sample_limit;
            for path in files {
                match self.read_file(&path, &mut families, &mut seen, &mut samples_left) {
                    Ok(modified) => {
                        mtimes.push([("file", path.display().to_string())], modified);
                    }
                    Err(reason) => failures.push(format!("{}: {reason}", path.display())),
                }
            }
        }
        let errored = !failures.is_empty();
        self.log_failures(failures);
        out.append(&mut families);
        if !mtimes.samples.is_empty() {
            out.push(mtimes);
        }
        out.push(
            Family::gauge(
                "node_textfile_scrape_error",
                "1 if there was an error opening or reading a file, 0 otherwise",
            )
            .single(if errored { 1.0 } else { 0.0 }),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::MetricType;

    fn collect(directory: &Path) -> Vec<Family> {
        let mut collector = TextfileCollector::new(&Config {
            directory: Some(directory.to_owned()),
            ..Config::default()
        });
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        out
    }

    fn value(out: &[Family], name: &str) -> Option<f64> {
        out.iter()
            .find(|f| f.name == name)
            .map(|f| f.samples[0].value)
    }

    #[test]
    fn good_files_stay_when_one_is_bad() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.prom"),
            "# HELP job_ok A job.\n# TYPE job_ok gauge\njob_ok{x=\"1\"} 3\nnohelp 4\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.prom"), "broken{ 1\n").unwrap();
        std::fs::write(dir.path().join("c.prom"), "job_ok{x=\"2\"} 5\n").unwrap();
        std::fs::write(dir.path().join("d.txt"), "ignored 1\n").unwrap();
        std::fs::write(dir.path().join("e.prom"), "stamped 1 1700000000000\n").unwrap();
        let out = collect(dir.path());
        assert_eq!(value(&out, "node_textfile_scrape_error"), Some(1.0));
        assert_eq!(value(&out, "nohelp"), Some(4.0));
        let nohelp = out.iter().find(|f| f.name == "nohelp").unwrap();
        assert_eq!(nohelp.kind, MetricType::Untyped);
        assert_eq!(
            nohelp.help,
            format!("Metric read from {}", dir.path().join("a.prom").display())
        );
        // c.prom has an untyped job_ok, a.prom a gauge: c is skipped.
        let job = out.iter().find(|f| f.name == "job_ok").unwrap();
        assert_eq!(job.samples.len(), 1);
        assert!(value(&out, "ignored").is_none());
        assert!(value(&out, "stamped").is_none());
        let mtimes = out
            .iter()
            .find(|f| f.name == "node_textfile_mtime_seconds")
            .unwrap();
        let files: Vec<String> = mtimes
            .samples
            .iter()
            .map(|s| s.labels[0].1.clone())
            .collect();
        assert_eq!(files, [dir.path().join("a.prom").display().to_string()]);
        assert!(mtimes.samples[0].value > 1.6e9);
    }

    #[test]
    fn no_directory_means_no_error_and_a_missing_one_is_an_error() {
        let mut out = Vec::new();
        TextfileCollector::new(&Config::default())
            .collect(&mut out)
            .unwrap();
        assert_eq!(value(&out, "node_textfile_scrape_error"), Some(0.0));
        let out = collect(Path::new("/nonexistent/textfiles"));
        assert_eq!(value(&out, "node_textfile_scrape_error"), Some(1.0));
    }

    #[test]
    fn the_sample_limit_skips_the_file_that_goes_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.prom"), "a 1\nb 2\n").unwrap();
        std::fs::write(dir.path().join("b.prom"), "c 1\nd 2\n").unwrap();
        let mut collector = TextfileCollector::new(&Config {
            directory: Some(dir.path().to_owned()),
            sample_limit: 3,
            ..Config::default()
        });
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        assert_eq!(value(&out, "a"), Some(1.0));
        assert!(value(&out, "c").is_none());
        assert_eq!(value(&out, "node_textfile_scrape_error"), Some(1.0));
    }
}
