//! `node_hwmon_*{chip,sensor}` from /sys/class/hwmon: temperatures, fans,
//! voltages, currents, power and energy of every hardware monitor, named and
//! scaled as node_exporter's hwmon collector names and scales them. A host
//! without /sys/class/hwmon (most VMs) gets no series.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// The sensor file types node_exporter reads; other files are skipped.
const SENSOR_TYPES: &[&str] = &[
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

/// `temp1_input` → (`temp`, 1, `input`); `update_interval` →
/// (`update_interval`, 0, ``). None for names of another shape.
pub fn explode_sensor_filename(name: &str) -> Option<(&str, u32, &str)> {
    let type_end = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    if type_end == 0 {
        return None;
    }
    let (kind, rest) = name.split_at(type_end);
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, rest) = rest.split_at(digits_end);
    let number = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let property = match rest {
        "" => "",
        _ => rest.strip_prefix('_').filter(|p| !p.is_empty())?,
    };
    Some((kind, number, property))
}

/// Lower case, anything but `[a-z0-9:_]` made `_`, `_` trimmed.
pub fn clean_name(name: &str) -> String {
    let cleaned: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    cleaned.trim_matches('_').to_owned()
}

/// Sensor (`temp1`) → property (``, `input`, `label`, …) → raw value.
type SensorData = BTreeMap<String, BTreeMap<String, String>>;

fn collect_sensor_files(dir: &Path, data: &mut SensorData) -> Result<(), CollectError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CollectError::Read {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.filter_map(Result::ok) {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        let Some((kind, number, property)) = explode_sensor_filename(name) else {
            continue;
        };
        if !SENSOR_TYPES.contains(&kind) {
            continue;
        }
        // Unreadable attributes (write-only, or a sensor that errors) are
        // skipped, as node_exporter does.
        let Ok(raw) = std::fs::read(entry.path()) else {
            continue;
        };
        let value = String::from_utf8_lossy(&raw)
            .trim_end_matches('\n')
            .to_owned();
        data.entry(format!("{kind}{number}"))
            .or_default()
            .insert(property.to_owned(), value);
    }
    Ok(())
}

/// The `chip` label: the device's bus and name (`platform_coretemp_0`),
/// else the `name` attribute, else the folder's name.
fn chip_name(dir: &Path) -> Option<String> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let name = device.file_name().map(|n| clean_name(&n.to_string_lossy()));
        let bus = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean_name(&n.to_string_lossy()));
        match (bus, name) {
            (Some(bus), Some(name)) if !bus.is_empty() && !name.is_empty() => {
                return Some(format!("{bus}_{name}"));
            }
            (_, Some(name)) if !name.is_empty() => return Some(name),
            _ => {}
        }
    }
    if let Some(name) = human_chip_name(dir) {
        return Some(name);
    }
    let real = std::fs::canonicalize(dir).ok()?;
    Some(clean_name(&real.file_name()?.to_string_lossy())).filter(|n| !n.is_empty())
}

fn human_chip_name(dir: &Path) -> Option<String> {
    let raw = std::fs::read_to_string(dir.join("name")).ok()?;
    Some(clean_name(&raw)).filter(|n| !n.is_empty())
}

/// Families by name, in first-seen order.
struct Families(Vec<Family>);

impl Families {
    fn push(
        &mut self,
        name: String,
        help: String,
        counter: bool,
        labels: [(&'static str, &str); 2],
        value: f64,
    ) {
        let at = match self.0.iter().position(|f| f.name == name) {
            Some(at) => at,
            None => {
                self.0.push(if counter {
                    Family::counter(name, help)
                } else {
                    Family::gauge(name, help)
                });
                self.0.len() - 1
            }
        };
        self.0[at].push(labels, value);
    }
}

fn export_chip(chip: &str, data: &SensorData, families: &mut Families) {
    for (sensor, properties) in data {
        let labels = [("chip", chip), ("sensor", sensor.as_str())];
        let Some((kind, _, _)) = explode_sensor_filename(sensor) else {
            continue;
        };
        if let Some(label) = properties.get("label") {
            let mut family =
                Family::gauge("node_hwmon_sensor_label", "Label for given chip and sensor");
            family.push(
                [
                    ("chip", chip),
                    ("sensor", sensor.as_str()),
                    ("label", label.as_str()),
                ],
                1.0,
            );
            merge(families, family);
        }
        let plain = properties.get("").map(String::as_str);
        match kind {
            "beep_enable" => {
                let value = if plain == Some("1") { 1.0 } else { 0.0 };
                families.push(
                    "node_hwmon_beep_enabled".into(),
                    "Hardware beep enabled".into(),
                    false,
                    labels,
                    value,
                );
                continue;
            }
            "vrm" => {
                if let Some(v) = plain.and_then(|p| p.parse::<f64>().ok()) {
                    families.push(
                        "node_hwmon_voltage_regulator_version".into(),
                        "Hardware voltage regulator".into(),
                        false,
                        labels,
                        v,
                    );
                }
                continue;
            }
            "update_interval" => {
                if let Some(v) = plain.and_then(|p| p.parse::<f64>().ok()) {
                    families.push(
                        "node_hwmon_update_interval_seconds".into(),
                        "Hardware monitor update interval".into(),
                        false,
                        labels,
                        v * 0.001,
                    );
                }
                continue;
            }
            _ => {}
        }
        let prefix = format!("node_hwmon_{kind}");
        for (element, value) in properties {
            if element == "label" {
                continue;
            }
            let mut name = prefix.clone();
            if element == "input" {
                if plain.is_some() {
                    name.push_str("_input");
                }
            } else if !element.is_empty() {
                name.push('_');
                name.push_str(&clean_name(element));
            }
            let Ok(v) = value.trim().parse::<f64>() else {
                continue;
            };
            let e = element.as_str();
            let (name, help, counter, v) = match (kind, e) {
                (_, "fault" | "alarm") => (
                    name,
                    format!("Hardware sensor {e} status ({kind})"),
                    false,
                    v,
                ),
                (_, "beep") => (
                    format!("{name}_enabled"),
                    "Hardware monitor sensor has beeping enabled".into(),
                    false,
                    v,
                ),
                ("in" | "cpu", _) => (
                    format!("{name}_volts"),
                    format!("Hardware monitor for voltage ({e})"),
                    false,
                    v * 0.001,
                ),
                ("temp", "type") => (
                    name,
                    format!("Hardware monitor {kind} element {e}"),
                    false,
                    v,
                ),
                ("temp", _) => {
                    let e = if e.is_empty() { "input" } else { e };
                    (
                        format!("{name}_celsius"),
                        format!("Hardware monitor for temperature ({e})"),
                        false,
                        v * 0.001,
                    )
                }
                ("curr", _) => (
                    format!("{name}_amps"),
                    format!("Hardware monitor for current ({e})"),
                    false,
                    v * 0.001,
                ),
                ("energy", _) => (
                    format!("{name}_joule_total"),
                    format!("Hardware monitor for joules used so far ({e})"),
                    true,
                    v / 1e6,
                ),
                ("power", "accuracy") => (
                    name,
                    "Hardware monitor power meter accuracy, as a ratio".into(),
                    false,
                    v / 1e6,
                ),
                ("power", "average_interval" | "average_interval_min" | "average_interval_max") => {
                    (
                        format!("{name}_seconds"),
                        format!("Hardware monitor power usage update interval ({e})"),
                        false,
                        v * 0.001,
                    )
                }
                ("power", _) => (
                    format!("{name}_watt"),
                    format!("Hardware monitor for power usage in watts ({e})"),
                    false,
                    v / 1e6,
                ),
                ("humidity", _) => (
                    name,
                    format!(
                        "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({e})"
                    ),
                    false,
                    v / 1e6,
                ),
                ("fan", "input" | "min" | "max" | "target") => (
                    format!("{name}_rpm"),
                    format!("Hardware monitor for fan revolutions per minute ({e})"),
                    false,
                    v,
                ),
                _ => (
                    name,
                    format!("Hardware monitor {kind} element {e}"),
                    false,
                    v,
                ),
            };
            families.push(name, help, counter, labels, v);
        }
    }
}

/// Adds a family's series to the family of the same name, or adds it.
fn merge(families: &mut Families, family: Family) {
    match families.0.iter_mut().find(|f| f.name == family.name) {
        Some(existing) => existing.samples.extend(family.samples),
        None => families.0.push(family),
    }
}

pub struct HwmonCollector {
    class: PathBuf,
}

impl HwmonCollector {
    pub fn new(paths: &HostPaths) -> Self {
        HwmonCollector {
            class: paths.sys("class/hwmon"),
        }
    }
}

impl Collector for HwmonCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let entries = match std::fs::read_dir(&self.class) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::NoData("no /sys/class/hwmon".into()));
            }
            Err(source) => {
                return Err(CollectError::Read {
                    path: self.class.clone(),
                    source,
                });
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        let mut families = Families(Vec::new());
        let mut last_error = None;
        for dir in dirs {
            let Some(chip) = chip_name(&dir) else {
                continue;
            };
            let mut data = SensorData::new();
            if let Err(e) = collect_sensor_files(&dir, &mut data) {
                last_error = Some(e);
                continue;
            }
            let device = dir.join("device");
            if device.is_dir() {
                if let Err(e) = collect_sensor_files(&device, &mut data) {
                    last_error = Some(e);
                    continue;
                }
            }
            if let Some(human) = human_chip_name(&dir) {
                let mut family = Family::gauge(
                    "node_hwmon_chip_names",
                    "Annotation metric for human-readable chip names",
                );
                family.push(
                    [("chip", chip.as_str()), ("chip_name", human.as_str())],
                    1.0,
                );
                merge(&mut families, family);
            }
            export_chip(&chip, &data, &mut families);
        }
        out.extend(families.0);
        // Like node_exporter: the other chips' series stand, and the
        // collector reports the failure.
        last_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::label_value;

    #[test]
    fn sensor_file_names() {
        assert_eq!(
            explode_sensor_filename("temp1_input"),
            Some(("temp", 1, "input"))
        );
        assert_eq!(
            explode_sensor_filename("in0_input"),
            Some(("in", 0, "input"))
        );
        assert_eq!(explode_sensor_filename("fan12"), Some(("fan", 12, "")));
        assert_eq!(
            explode_sensor_filename("update_interval"),
            Some(("update_interval", 0, ""))
        );
        assert_eq!(
            explode_sensor_filename("power1_average_interval"),
            Some(("power", 1, "average_interval"))
        );
        assert_eq!(explode_sensor_filename("temp1x"), None);
        assert_eq!(explode_sensor_filename("temp1_"), None);
        assert_eq!(explode_sensor_filename("1abc"), None);
        assert_eq!(clean_name("Core 0\n"), "core_0");
    }

    #[test]
    fn chips_and_sensors_from_a_fixture_tree() {
        let paths = HostPaths {
            sysfs: "tests/fixtures/sys".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        HwmonCollector::new(&paths).collect(&mut out).unwrap();
        let family = |name: &str| {
            out.iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        let temp = family("node_hwmon_temp_celsius");
        assert_eq!(temp.samples[0].value, 55.0);
        assert_eq!(
            label_value(&temp.samples[0].labels, "chip"),
            Some("coretemp")
        );
        assert_eq!(
            label_value(&temp.samples[0].labels, "sensor"),
            Some("temp1")
        );
        assert_eq!(
            family("node_hwmon_temp_crit_celsius").samples[0].value,
            100.0
        );
        assert_eq!(family("node_hwmon_fan_rpm").samples[0].value, 1200.0);
        assert_eq!(family("node_hwmon_in_volts").samples[0].value, 1.2);
        let label = &family("node_hwmon_sensor_label").samples[0].labels;
        assert_eq!(label_value(label, "label"), Some("Package id 0"));
        let chip = &family("node_hwmon_chip_names").samples[0].labels;
        assert_eq!(label_value(chip, "chip_name"), Some("coretemp"));

        let bare = HostPaths {
            sysfs: "tests/fixtures/nowhere".into(),
            ..HostPaths::default()
        };
        let result = HwmonCollector::new(&bare).collect(&mut Vec::new());
        assert!(matches!(result, Err(CollectError::NoData(_))));
    }
}
