//! `node_cpu_frequency_{,min_,max_}hertz{cpu}` and
//! `node_cpu_scaling_frequency_{,min_,max_}hertz{cpu}` from each CPU's
//! `cpufreq` folder in sysfs, as node_exporter's cpufreq collector. A CPU
//! without one (a VM, mostly) gets no series.

use std::path::PathBuf;

use super::procfile::{self, numbered_entries};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// (attribute file, family name, help), values in kHz.
const ATTRIBUTES: &[(&str, &str, &str)] = &[
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum cpu thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
];

pub struct CpufreqCollector {
    cpus: PathBuf,
    buffer: String,
}

impl CpufreqCollector {
    pub fn new(paths: &HostPaths) -> Self {
        CpufreqCollector {
            cpus: paths.sys("devices/system/cpu"),
            buffer: String::new(),
        }
    }
}

impl Collector for CpufreqCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mut families: Vec<Family> = ATTRIBUTES
            .iter()
            .map(|(_, name, help)| Family::gauge(*name, *help))
            .collect();
        for (cpu, dir) in numbered_entries(&self.cpus, "cpu") {
            let cpufreq = dir.join("cpufreq");
            if !cpufreq.is_dir() {
                continue;
            }
            for ((file, _, _), family) in ATTRIBUTES.iter().zip(&mut families) {
                // cpuinfo_cur_freq is readable by root only: without it, no series.
                match procfile::read_i64(&cpufreq.join(file), &mut self.buffer) {
                    Ok(Some(khz)) => family.push([("cpu", cpu.as_str())], khz as f64 * 1000.0),
                    Ok(None) => {}
                    Err(CollectError::Read { source, .. })
                        if source.kind() == std::io::ErrorKind::PermissionDenied => {}
                    Err(e) => return Err(e),
                }
            }
        }
        out.extend(families.into_iter().filter(|f| !f.samples.is_empty()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_in_hertz_for_cpus_with_cpufreq() {
        let paths = HostPaths {
            sysfs: "tests/fixtures/sys".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        CpufreqCollector::new(&paths).collect(&mut out).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "node_cpu_frequency_max_hertz",
                "node_cpu_scaling_frequency_hertz",
                "node_cpu_scaling_frequency_min_hertz",
                "node_cpu_scaling_frequency_max_hertz"
            ]
        );
        assert_eq!(out[1].samples.len(), 1);
        assert_eq!(out[1].samples[0].value, 1_699_981_000.0);
        assert_eq!(out[1].samples[0].labels[0].1, "1");
    }
}
