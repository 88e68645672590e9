//! `node_time_seconds`: the host's clock, so skew shows up next to the scrape
//! timestamp; `node_time_zone_offset_seconds{time_zone}`, and the kernel's
//! clock sources (`node_time_clocksource_*_info`) from sysfs, as
//! node_exporter's time collector.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::procfile;
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

pub struct TimeCollector {
    clocksources: PathBuf,
    buffer: String,
}

impl TimeCollector {
    pub fn new(paths: &HostPaths) -> Self {
        TimeCollector {
            clocksources: paths.sys("devices/system/clocksource"),
            buffer: String::new(),
        }
    }

    /// The clock sources of every `clocksourceN` device, sorted by device.
    fn clocksources(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let Ok(entries) = std::fs::read_dir(&self.clocksources) else {
            return Ok(());
        };
        let mut devices: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let device = name.strip_prefix("clocksource")?.to_owned();
                Some((device, e.path()))
            })
            .collect();
        if devices.is_empty() {
            return Ok(());
        }
        devices.sort();
        let mut available = Family::gauge(
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
        );
        let mut current = Family::gauge(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
        );
        for (device, path) in &devices {
            if procfile::read_into(&path.join("available_clocksource"), &mut self.buffer)? {
                for source in self.buffer.split_ascii_whitespace() {
                    available.push([("clocksource", source), ("device", device)], 1.0);
                }
            }
            if procfile::read_into(&path.join("current_clocksource"), &mut self.buffer)? {
                let source = self.buffer.trim();
                if !source.is_empty() {
                    current.push([("clocksource", source), ("device", device)], 1.0);
                }
            }
        }
        out.push(available);
        out.push(current);
        Ok(())
    }
}

/// The local time zone's abbreviation and offset from UTC now, as the C
/// library sees them (TZ, else /etc/localtime).
#[allow(unsafe_code)]
fn local_zone(now: i64) -> Option<(String, i64)> {
    let time = libc::time_t::try_from(now).ok()?;
    // SAFETY: an all-zero `struct tm` is valid; localtime_r writes into it
    // and returns it or null; tm_zone then points at a static string of the
    // C library, valid until the next tzset, which this thread does not call
    // before copying it.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() || tm.tm_zone.is_null() {
            return None;
        }
        let zone = std::ffi::CStr::from_ptr(tm.tm_zone)
            .to_string_lossy()
            .into_owned();
        Some((zone, tm.tm_gmtoff))
    }
}

impl Collector for TimeCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        out.push(
            Family::gauge(
                "node_time_seconds",
                "System time in seconds since epoch (1970).",
            )
            .single(now),
        );
        if let Some((zone, offset)) = local_zone(now as i64) {
            let mut family = Family::gauge(
                "node_time_zone_offset_seconds",
                "System time zone offset in seconds.",
            );
            family.push([("time_zone", zone)], offset as f64);
            out.push(family);
        }
        self.clocksources(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::label_value;

    #[test]
    fn clocksources_from_a_fixture_tree() {
        let paths = HostPaths {
            sysfs: "tests/fixtures/sys".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        TimeCollector::new(&paths).collect(&mut out).unwrap();
        let family = |name: &str| out.iter().find(|f| f.name == name).unwrap();
        let available: Vec<&str> = family("node_time_clocksource_available_info")
            .samples
            .iter()
            .map(|s| label_value(&s.labels, "clocksource").unwrap())
            .collect();
        assert_eq!(available, ["tsc", "hpet", "acpi_pm"]);
        let current = &family("node_time_clocksource_current_info").samples[0].labels;
        assert_eq!(label_value(current, "clocksource"), Some("tsc"));
        assert_eq!(label_value(current, "device"), Some("0"));
        assert!(
            out.iter()
                .any(|f| f.name == "node_time_zone_offset_seconds")
        );
    }
}
