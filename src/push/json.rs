//! The JSON push body:
//!
//! ```json
//! {"service": "checkout", "ttl": "10m",
//!  "metrics": [{"name": "orders_total", "type": "counter", "value": 3,
//!               "labels": {"region": "eu"}, "timestamp": 1760000000.5}]}
//! ```
//!
//! Counters add, gauges set, histograms observe the value into buckets
//! from the config. A batch is checked whole before anything is applied.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Kind, PushConfig, SeriesKey, StoredFamily};
use crate::textparse::{is_label_name, is_metric_name};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    service: String,
    #[serde(default)]
    ttl: Option<String>,
    metrics: Vec<Metric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Metric {
    name: String,
    #[serde(rename = "type")]
    kind: UpdateKind,
    value: f64,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(default)]
    help: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateKind {
    Counter,
    Gauge,
    Histogram,
}

impl UpdateKind {
    pub fn stored(self) -> Kind {
        match self {
            UpdateKind::Counter => Kind::Counter,
            UpdateKind::Gauge => Kind::Gauge,
            UpdateKind::Histogram => Kind::Histogram,
        }
    }
}

/// One checked update of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub name: String,
    pub kind: UpdateKind,
    /// Sorted by name.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp: Option<f64>,
    pub help: String,
    /// A histogram's upper bounds (from the config when the batch came).
    pub bounds: Vec<f64>,
}

/// A parsed and checked batch.
pub struct Batch {
    pub service: String,
    pub ttl: Option<f64>,
    pub updates: Vec<Update>,
}

/// Parses and checks a body; the error names the field (`metrics[3].value`)
/// or the line and column of malformed JSON.
pub fn parse(body: &[u8], config: &PushConfig) -> Result<Batch, String> {
    let body: Body = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    if body.service.is_empty() || body.service.chars().any(char::is_control) {
        return Err("service: must be a non-empty name without control characters".into());
    }
    let ttl = body
        .ttl
        .as_deref()
        .map(|t| parse_ttl(t).map_err(|e| format!("ttl: {e}")))
        .transpose()?;
    let mut updates = Vec::with_capacity(body.metrics.len());
    for (i, metric) in body.metrics.into_iter().enumerate() {
        let field = |f: &str| format!("metrics[{i}].{f}");
        if !is_metric_name(&metric.name) {
            return Err(format!(
                "{}: {:?} is not a valid metric name",
                field("name"),
                metric.name
            ));
        }
        if metric.name.starts_with("outrider_")
            || metric.name == "push_time_seconds"
            || metric.name == "push_failure_time_seconds"
        {
            return Err(format!(
                "{}: {} is a name outrider exports itself",
                field("name"),
                metric.name
            ));
        }
        if !metric.value.is_finite() {
            return Err(format!("{}: must be a finite number", field("value")));
        }
        if metric.kind == UpdateKind::Counter && metric.value < 0.0 {
            return Err(format!(
                "{}: a counter only goes up; {} is negative",
                field("value"),
                metric.value
            ));
        }
        if let Some(t) = metric.timestamp {
            if !t.is_finite() || t < 0.0 {
                return Err(format!(
                    "{}: must be seconds since the epoch",
                    field("timestamp")
                ));
            }
        }
        for name in metric.labels.keys() {
            if !is_label_name(name) || name.starts_with("__") || name == "service" {
                return Err(format!(
                    "{}: {name:?} is not a label name that can be pushed",
                    field("labels")
                ));
            }
            if metric.kind == UpdateKind::Histogram && name == "le" {
                return Err(format!(
                    "{}: le is the bucket label of a histogram",
                    field("labels")
                ));
            }
        }
        let bounds = match metric.kind {
            UpdateKind::Histogram => config.buckets_for(&metric.name).to_vec(),
            _ => Vec::new(),
        };
        updates.push(Update {
            name: metric.name,
            kind: metric.kind,
            labels: metric
                .labels
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            value: metric.value,
            timestamp: metric.timestamp,
            help: metric.help.unwrap_or_default(),
            bounds,
        });
    }
    Ok(Batch {
        service: body.service,
        ttl,
        updates,
    })
}

/// A time to live: a humantime duration of at least one second.
pub fn parse_ttl(text: &str) -> Result<f64, String> {
    let ttl = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration like 10m or 1h: {e}"))?;
    if ttl.as_secs() < 1 {
        return Err(format!("{text:?} is shorter than one second"));
    }
    Ok(ttl.as_secs_f64())
}

fn key(name: &str, labels: &[(String, String)]) -> SeriesKey {
    (name.to_owned(), labels.to_vec())
}

fn with_le(labels: &[(String, String)], bound: f64) -> Vec<(String, String)> {
    let mut out = labels.to_vec();
    let le = if bound.is_infinite() {
        "+Inf".to_owned()
    } else {
        bound.to_string()
    };
    let at = out.partition_point(|(n, _)| n.as_str() < "le");
    out.insert(at, ("le".to_owned(), le));
    out
}

impl Update {
    /// Series this update adds to `existing` (its family in the group).
    pub fn new_series(&self, existing: Option<&StoredFamily>) -> usize {
        let probe = match self.kind {
            UpdateKind::Histogram => key(&format!("{}_count", self.name), &self.labels),
            _ => key(&self.name, &self.labels),
        };
        if existing.is_some_and(|f| f.series.contains(&probe.0, &probe.1)) {
            return 0;
        }
        match self.kind {
            UpdateKind::Histogram => {
                let bounds = existing
                    .map(|f| f.bounds.len())
                    .filter(|&n| n > 0)
                    .unwrap_or(self.bounds.len());
                bounds + 3
            }
            _ => 1,
        }
    }

    /// The series this update adds its value to (a counter, or a
    /// histogram's `_sum`) with the value it holds now, so a batch can be
    /// refused before a sum overflows to +Inf.
    pub fn summed(&self, existing: Option<&StoredFamily>) -> Option<(SeriesKey, f64)> {
        let series = match self.kind {
            UpdateKind::Counter => key(&self.name, &self.labels),
            UpdateKind::Histogram => key(&format!("{}_sum", self.name), &self.labels),
            UpdateKind::Gauge => return None,
        };
        let held = existing
            .and_then(|f| f.series.get(&series.0, &series.1))
            .map_or(0.0, |v| v.value);
        Some((series, held))
    }

    /// Applies the update; returns false for a gauge set older than the
    /// value held (a late delivery must not roll a gauge back).
    pub fn apply(&self, families: &mut BTreeMap<String, StoredFamily>) -> bool {
        let family = families
            .entry(self.name.clone())
            .or_insert_with(|| StoredFamily {
                kind: self.kind.stored(),
                help: self.help.clone(),
                bounds: self.bounds.clone(),
                series: super::series_map::SeriesMap::new(),
            });
        if family.help.is_empty() && !self.help.is_empty() {
            family.help.clone_from(&self.help);
        }
        match self.kind {
            UpdateKind::Counter => {
                let value = self.value;
                family
                    .series
                    .update(&self.name, &self.labels, |slot| slot.value += value);
            }
            UpdateKind::Gauge => {
                let set = family.series.update(&self.name, &self.labels, |slot| {
                    if let (Some(held), Some(given)) = (slot.timestamp, self.timestamp) {
                        if given < held {
                            return false;
                        }
                    }
                    slot.value = self.value;
                    slot.timestamp = self.timestamp.or(slot.timestamp);
                    true
                });
                if !set {
                    return false;
                }
            }
            UpdateKind::Histogram => {
                let bounds = if family.bounds.is_empty() {
                    self.bounds.clone()
                } else {
                    family.bounds.clone()
                };
                let bucket = format!("{}_bucket", self.name);
                for bound in bounds.iter().copied().chain([f64::INFINITY]) {
                    let hit = if self.value <= bound { 1.0 } else { 0.0 };
                    family
                        .series
                        .update(&bucket, &with_le(&self.labels, bound), |slot| {
                            slot.value += hit
                        });
                }
                for (suffix, add) in [("_sum", self.value), ("_count", 1.0)] {
                    family
                        .series
                        .update(&format!("{}{suffix}", self.name), &self.labels, |slot| {
                            slot.value += add
                        });
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PushConfig {
        PushConfig::default()
    }

    #[test]
    fn counters_add_gauges_set_histograms_observe() {
        let body = br#"{"service":"s","metrics":[
            {"name":"jobs_total","type":"counter","value":2,"labels":{"q":"a"}},
            {"name":"jobs_total","type":"counter","value":3,"labels":{"q":"a"}},
            {"name":"depth","type":"gauge","value":7},
            {"name":"depth","type":"gauge","value":5},
            {"name":"lat_seconds","type":"histogram","value":0.3}]}"#;
        let batch = parse(body, &config()).unwrap();
        let mut families = BTreeMap::new();
        for update in &batch.updates {
            assert!(update.apply(&mut families));
        }
        let value = |family: &str, name: &str, labels: &[(&str, &str)]| {
            let labels: Vec<(String, String)> = labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            families[family].series.get(name, &labels).unwrap().value
        };
        assert_eq!(value("jobs_total", "jobs_total", &[("q", "a")]), 5.0);
        assert_eq!(value("depth", "depth", &[]), 5.0);
        assert_eq!(
            value("lat_seconds", "lat_seconds_bucket", &[("le", "0.25")]),
            0.0
        );
        assert_eq!(
            value("lat_seconds", "lat_seconds_bucket", &[("le", "0.5")]),
            1.0
        );
        assert_eq!(
            value("lat_seconds", "lat_seconds_bucket", &[("le", "+Inf")]),
            1.0
        );
        assert_eq!(value("lat_seconds", "lat_seconds_count", &[]), 1.0);
        // 11 bounds + Inf + sum + count.
        assert_eq!(families["lat_seconds"].series.len(), 14);
    }

    #[test]
    fn errors_name_the_field() {
        let bad = |body: &str| parse(body.as_bytes(), &config()).err().unwrap();
        assert!(bad("{").contains("line 1"));
        assert!(
            bad(r#"{"service":"s","metrics":[{"name":"a","type":"counter","value":-1}]}"#)
                .contains("metrics[0].value")
        );
        assert!(bad(r#"{"service":"s","metrics":[{"name":"a","type":"gauge","value":1},{"name":"1a","type":"gauge","value":1}]}"#)
            .contains("metrics[1].name"));
        assert!(
            bad(r#"{"service":"s","metrics":[{"name":"a","type":"meter","value":1}]}"#)
                .contains("meter")
        );
        assert!(bad(r#"{"service":"s","metrics":[{"name":"a","type":"gauge","value":1,"labels":{"__x":"y"}}]}"#)
            .contains("metrics[0].labels"));
        assert!(bad(r#"{"service":"s","metrics":[],"extra":1}"#).contains("extra"));
        assert!(bad(r#"{"service":"","metrics":[]}"#).contains("service"));
        assert!(bad(r#"{"service":"s","ttl":"soon","metrics":[]}"#).contains("ttl"));
    }

    #[test]
    fn a_late_gauge_does_not_roll_back() {
        let body = br#"{"service":"s","metrics":[
            {"name":"g","type":"gauge","value":2,"timestamp":200},
            {"name":"g","type":"gauge","value":1,"timestamp":100}]}"#;
        let batch = parse(body, &config()).unwrap();
        let mut families = BTreeMap::new();
        assert!(batch.updates[0].apply(&mut families));
        assert!(!batch.updates[1].apply(&mut families));
        assert_eq!(families["g"].series.iter().next().unwrap().value.value, 2.0);
    }
}
