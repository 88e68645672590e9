//! `node_edac_{correctable,uncorrectable}_errors_total{controller}` and
//! `node_edac_csrow_{correctable,uncorrectable}_errors_total{controller,csrow}`
//! from the memory controllers in /sys/devices/system/edac/mc, as
//! node_exporter's edac collector. No EDAC driver, no series.

use std::path::{Path, PathBuf};

use super::procfile::{self, numbered_entries, parse_error};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

pub struct EdacCollector {
    controllers: PathBuf,
    buffer: String,
}

impl EdacCollector {
    pub fn new(paths: &HostPaths) -> Self {
        EdacCollector {
            controllers: paths.sys("devices/system/edac/mc"),
            buffer: String::new(),
        }
    }

    /// A count the kernel always writes: its absence is an error, as for
    /// node_exporter.
    fn count(&mut self, path: &Path) -> Result<f64, CollectError> {
        procfile::read_i64(path, &mut self.buffer)?
            .map(|v| v as f64)
            .ok_or_else(|| parse_error(path, "missing".into()))
    }
}

impl Collector for EdacCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let controllers = numbered_entries(&self.controllers, "mc");
        if controllers.is_empty() {
            return Ok(());
        }
        let mut correctable = Family::counter(
            "node_edac_correctable_errors_total",
            "Total correctable memory errors.",
        );
        let mut uncorrectable = Family::counter(
            "node_edac_uncorrectable_errors_total",
            "Total uncorrectable memory errors.",
        );
        let mut csrow_correctable = Family::counter(
            "node_edac_csrow_correctable_errors_total",
            "Total correctable memory errors for this csrow.",
        );
        let mut csrow_uncorrectable = Family::counter(
            "node_edac_csrow_uncorrectable_errors_total",
            "Total uncorrectable memory errors for this csrow.",
        );
        for (controller, dir) in controllers {
            let mc = controller.as_str();
            correctable.push([("controller", mc)], self.count(&dir.join("ce_count"))?);
            csrow_correctable.push(
                [("controller", mc), ("csrow", "unknown")],
                self.count(&dir.join("ce_noinfo_count"))?,
            );
            uncorrectable.push([("controller", mc)], self.count(&dir.join("ue_count"))?);
            csrow_uncorrectable.push(
                [("controller", mc), ("csrow", "unknown")],
                self.count(&dir.join("ue_noinfo_count"))?,
            );
            for (csrow, row) in numbered_entries(&dir, "csrow") {
                let labels = [("controller", mc), ("csrow", csrow.as_str())];
                csrow_correctable.push(labels, self.count(&row.join("ce_count"))?);
                csrow_uncorrectable.push(labels, self.count(&row.join("ue_count"))?);
            }
        }
        out.extend([
            correctable,
            uncorrectable,
            csrow_correctable,
            csrow_uncorrectable,
        ]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllers_and_csrows_from_a_fixture_tree() {
        let paths = HostPaths {
            sysfs: "tests/fixtures/sys".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        EdacCollector::new(&paths).collect(&mut out).unwrap();
        assert_eq!(out[0].samples[0].value, 1.0);
        assert_eq!(out[1].samples[0].value, 5.0);
        let csrows: Vec<(&str, f64)> = out[2]
            .samples
            .iter()
            .map(|s| (s.labels[1].1.as_str(), s.value))
            .collect();
        assert_eq!(csrows, [("unknown", 2.0), ("0", 3.0)]);
    }
}
