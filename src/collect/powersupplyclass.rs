//! `node_power_supply_*{power_supply}` and `node_power_supply_info` from
//! /sys/class/power_supply (batteries, AC adapters, UPSes over USB), named
//! and scaled as node_exporter's powersupplyclass collector.

use std::path::PathBuf;

use super::procfile;
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// (sysfs attribute, family suffix, divisor): counts as they are, µA, µV,
/// µWh and µW to base units, tenths of a degree to degrees.
const NUMBERS: &[(&str, &str, f64)] = &[
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        1e6,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        1e6,
    ),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// The text attributes `node_power_supply_info` carries, by label name.
const INFO: &[&str] = &[
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
    "scope",
];

pub struct PowerSupplyClassCollector {
    class: PathBuf,
    buffer: String,
}

impl PowerSupplyClassCollector {
    pub fn new(paths: &HostPaths) -> Self {
        PowerSupplyClassCollector {
            class: paths.sys("class/power_supply"),
            buffer: String::new(),
        }
    }
}

impl Collector for PowerSupplyClassCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let entries = match std::fs::read_dir(&self.class) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::NoData("no /sys/class/power_supply".into()));
            }
            Err(source) => {
                return Err(CollectError::Read {
                    path: self.class.clone(),
                    source,
                });
            }
        };
        let mut supplies: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        supplies.sort();
        let mut families: Vec<Option<Family>> = vec![None; NUMBERS.len()];
        let mut info = Family::gauge(
            "node_power_supply_info",
            "info of /sys/class/power_supply/<power_supply>.",
        );
        for (supply, dir) in &supplies {
            for ((file, suffix, divisor), slot) in NUMBERS.iter().zip(&mut families) {
                // Attributes a driver lacks, or refuses to give now, are left out.
                let Ok(Some(value)) = procfile::read_i64(&dir.join(file), &mut self.buffer) else {
                    continue;
                };
                slot.get_or_insert_with(|| {
                    Family::gauge(
                        format!("node_power_supply_{suffix}"),
                        format!("{suffix} value of /sys/class/power_supply/<power_supply>."),
                    )
                })
                .push([("power_supply", supply.as_str())], value as f64 / divisor);
            }
            let mut labels = vec![("power_supply", supply.clone())];
            for attribute in INFO {
                if let Ok(true) = procfile::read_into(&dir.join(attribute), &mut self.buffer) {
                    let value = self.buffer.trim();
                    if !value.is_empty() {
                        labels.push((*attribute, value.to_owned()));
                    }
                }
            }
            info.push(labels, 1.0);
        }
        out.extend(families.into_iter().flatten());
        if !info.samples.is_empty() {
            out.push(info);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::label_value;

    #[test]
    fn a_battery_from_a_fixture_tree() {
        let paths = HostPaths {
            sysfs: "tests/fixtures/sys".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        PowerSupplyClassCollector::new(&paths)
            .collect(&mut out)
            .unwrap();
        let value = |name: &str| out.iter().find(|f| f.name == name).unwrap().samples[0].value;
        assert_eq!(value("node_power_supply_capacity"), 81.0);
        assert_eq!(value("node_power_supply_energy_watthour"), 36.58);
        assert_eq!(value("node_power_supply_voltage_volt"), 11.6);
        assert_eq!(value("node_power_supply_temp_celsius"), 25.5);
        let info = out
            .iter()
            .find(|f| f.name == "node_power_supply_info")
            .unwrap();
        let labels = &info.samples[0].labels;
        assert_eq!(label_value(labels, "power_supply"), Some("BAT0"));
        assert_eq!(label_value(labels, "status"), Some("Discharging"));
        assert_eq!(label_value(labels, "usb_type"), None);
    }
}
