//! What a backtest writes: every sample with its baseline, band, ratio,
//! z-score and anomaly score (`samples.csv`), every alert state change
//! (`alerts.csv`), and a summary table. Numbers are written in Rust's
//! shortest round-trip form, so the same input gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::input::Series;
use super::replay::Point;
use crate::rules::eval::{Severity, Transition};

pub const SAMPLES_HEADER: &str = "series,timestamp,value,baseline,lower,upper,ratio,zscore,score\n";
pub const ALERTS_HEADER: &str = "timestamp,rule,series,from,to,severity,value\n";

/// A CSV field, quoted when it has to be.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Writes one sample row; empty fields where the baseline has no claim.
pub fn write_sample(out: &mut impl Write, name: &str, point: &Point) -> io::Result<()> {
    let mut line = String::with_capacity(160);
    let _ = write!(line, "{name},{},{}", point.time, point.value);
    match &point.score {
        Some(s) => {
            let _ = write!(line, ",{},{},{}", s.baseline, s.lower, s.upper);
            let optional = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
            let _ = write!(
                line,
                ",{},{},{}",
                optional(s.ratio),
                optional(s.zscore),
                optional(s.anomaly)
            );
        }
        None => line.push_str(",,,,,,"),
    }
    line.push('\n');
    out.write_all(line.as_bytes())
}

/// The series an alert is about, as `name{labels}`; `metric` is the rule
/// selector's.
pub fn alert_series(transition: &Transition, metric: &str) -> String {
    let name = transition
        .labels
        .get("__name__")
        .map_or(metric, String::as_str)
        .to_owned();
    let labels: Vec<String> = transition
        .labels
        .iter()
        .filter(|(n, _)| *n != "__name__")
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    if labels.is_empty() {
        name
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

pub fn write_transition(
    out: &mut impl Write,
    transition: &Transition,
    metric: &str,
) -> io::Result<()> {
    writeln!(
        out,
        "{},{},{},{},{},{},{}",
        transition.time,
        csv_field(&transition.rule),
        csv_field(&alert_series(transition, metric)),
        transition.from,
        transition.to,
        transition.severity.as_str(),
        transition.value
    )
}

/// Per-series figures for the summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesSummary {
    pub samples: u64,
    pub scored: u64,
    pub max_score: f64,
    pub max_score_at: Option<f64>,
    /// Samples whose anomaly score reached the summary's threshold.
    pub anomalous: u64,
    pub first_anomalous: Option<f64>,
}

impl SeriesSummary {
    pub fn add(&mut self, point: &Point, threshold: f64) {
        self.samples += 1;
        let Some(score) = &point.score else { return };
        self.scored += 1;
        let Some(anomaly) = score.anomaly else { return };
        if self.max_score_at.is_none() || anomaly > self.max_score {
            self.max_score = anomaly;
            self.max_score_at = Some(point.time);
        }
        if anomaly >= threshold {
            self.anomalous += 1;
            self.first_anomalous.get_or_insert(point.time);
        }
    }
}

/// Per-rule and series figures for the summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleSummary {
    pub pending: u64,
    pub fired: u64,
    pub resolved: u64,
    pub first_fired: Option<f64>,
    pub worst: Option<Severity>,
}

impl RuleSummary {
    pub fn add(&mut self, transition: &Transition) {
        match transition.to {
            "pending" => self.pending += 1,
            "firing" if transition.from != "firing" => {
                self.fired += 1;
                self.first_fired.get_or_insert(transition.time);
            }
            "resolved" => self.resolved += 1,
            _ => {}
        }
        if transition.to == "firing" {
            self.worst = self.worst.max(Some(transition.severity));
        }
    }
}

fn time(t: Option<f64>) -> String {
    t.map_or_else(|| "-".to_owned(), crate::rules::eval::rfc3339)
}

/// The summary as an aligned text table.
pub fn summary_table(
    series: &[Series],
    per_series: &[SeriesSummary],
    per_rule: &BTreeMap<(String, String), RuleSummary>,
    threshold: f64,
) -> String {
    let mut rows = vec![vec![
        "series".to_owned(),
        "samples".to_owned(),
        "scored".to_owned(),
        "max score".to_owned(),
        "at".to_owned(),
        format!("score>={threshold}"),
        "first".to_owned(),
    ]];
    for (s, summary) in series.iter().zip(per_series) {
        rows.push(vec![
            s.display_name(),
            summary.samples.to_string(),
            summary.scored.to_string(),
            format!("{:.3}", summary.max_score),
            time(summary.max_score_at),
            summary.anomalous.to_string(),
            time(summary.first_anomalous),
        ]);
    }
    let mut text = table(&rows);
    if !per_rule.is_empty() {
        let mut rows = vec![
            [
                "rule",
                "series",
                "pending",
                "fired",
                "resolved",
                "first fired",
                "worst",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for ((rule, series), summary) in per_rule {
            rows.push(vec![
                rule.clone(),
                series.clone(),
                summary.pending.to_string(),
                summary.fired.to_string(),
                summary.resolved.to_string(),
                time(summary.first_fired),
                summary.worst.map_or("-", Severity::as_str).to_owned(),
            ]);
        }
        text.push('\n');
        text.push_str(&table(&rows));
    }
    text
}

fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::Score;

    #[test]
    fn sample_rows_leave_unclaimed_fields_empty() {
        let mut out = Vec::new();
        let mut point = Point {
            series: 0,
            time: 10.5,
            value: 2.0,
            score: None,
        };
        write_sample(&mut out, "cpu", &point).unwrap();
        point.score = Some(Score {
            baseline: 1.0,
            stddev: 0.5,
            upper: 2.5,
            lower: -0.5,
            ratio: Some(2.0),
            zscore: None,
            anomaly: Some(0.25),
        });
        write_sample(&mut out, "cpu", &point).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "cpu,10.5,2,,,,,,\ncpu,10.5,2,1,-0.5,2.5,2,,0.25\n"
        );
        assert_eq!(csv_field("a{b=\"c\",d}"), "\"a{b=\"\"c\"\",d}\"");
    }
}
