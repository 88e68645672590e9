//! `node_thermal_zone_temp{zone,type}` and
//! `node_cooling_device_{cur,max}_state{name,type}` from /sys/class/thermal,
//! as node_exporter's thermal_zone collector. No zones, no series.

use std::path::{Path, PathBuf};

use super::procfile::{self, numbered_entries};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

pub struct ThermalZoneCollector {
    class: PathBuf,
    buffer: String,
    kind: String,
}

/// Kernel errors a zone's sensor gives while it cannot be read (a sensor
/// asleep, a firmware zone): that zone is skipped, as node_exporter does.
fn sensor_unavailable(error: &CollectError) -> bool {
    matches!(error, CollectError::Read { source, .. }
        if matches!(source.raw_os_error(), Some(libc::ENODATA | libc::EAGAIN | libc::EINVAL)))
}

impl ThermalZoneCollector {
    pub fn new(paths: &HostPaths) -> Self {
        ThermalZoneCollector {
            class: paths.sys("class/thermal"),
            buffer: String::new(),
            kind: String::new(),
        }
    }

    fn read_type(&mut self, dir: &Path) -> Result<bool, CollectError> {
        let found = procfile::read_into(&dir.join("type"), &mut self.kind)?;
        let trimmed = self.kind.trim_end().len();
        self.kind.truncate(trimmed);
        Ok(found)
    }
}

impl Collector for ThermalZoneCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mut temp = Family::gauge("node_thermal_zone_temp", "Zone temperature in Celsius");
        for (zone, dir) in numbered_entries(&self.class, "thermal_zone") {
            if !self.read_type(&dir)? {
                continue;
            }
            match procfile::read_i64(&dir.join("temp"), &mut self.buffer) {
                Ok(Some(millidegrees)) => temp.push(
                    [("zone", zone.as_str()), ("type", self.kind.as_str())],
                    millidegrees as f64 / 1000.0,
                ),
                Ok(None) => {}
                Err(e) if sensor_unavailable(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let mut current = Family::gauge(
            "node_cooling_device_cur_state",
            "Current throttle state of the cooling device",
        );
        let mut maximum = Family::gauge(
            "node_cooling_device_max_state",
            "Maximum throttle state of the cooling device",
        );
        for (name, dir) in numbered_entries(&self.class, "cooling_device") {
            if !self.read_type(&dir)? {
                continue;
            }
            let labels = [("name", name.as_str()), ("type", self.kind.as_str())];
            if let Some(value) = procfile::read_i64(&dir.join("max_state"), &mut self.buffer)? {
                maximum.push(labels, value as f64);
            }
            // Some drivers refuse to say while the device is off.
            if let Ok(Some(value)) = procfile::read_i64(&dir.join("cur_state"), &mut self.buffer) {
                current.push(labels, value as f64);
            }
        }
        for family in [temp, current, maximum] {
            if !family.samples.is_empty() {
                out.push(family);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::label_value;

    #[test]
    fn zones_and_cooling_devices_from_a_fixture_tree() {
        let paths = HostPaths {
            sysfs: "tests/fixtures/sys".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        ThermalZoneCollector::new(&paths).collect(&mut out).unwrap();
        let temp = &out[0];
        assert_eq!(temp.name, "node_thermal_zone_temp");
        assert_eq!(temp.samples[0].value, 12.376);
        assert_eq!(
            label_value(&temp.samples[0].labels, "type"),
            Some("bcm2835_thermal")
        );
        assert_eq!(label_value(&temp.samples[1].labels, "zone"), Some("10"));
        assert_eq!(out[1].name, "node_cooling_device_cur_state");
        assert_eq!(out[2].samples[0].value, 50.0);

        let bare = HostPaths {
            sysfs: "tests/fixtures/nowhere".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        ThermalZoneCollector::new(&bare).collect(&mut out).unwrap();
        assert!(out.is_empty());
    }
}
