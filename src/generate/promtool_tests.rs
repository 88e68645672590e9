//! `promtool test rules` unit tests for the generated alerts. Per rule, one
//! series per severity that fires it (a critical value fires the warning
//! too, as in Prometheus) and one series that must not fire anything, each
//! told apart by a `case` label; the expected annotations are the rule's
//! templates rendered by outrider's own renderer, so promtool also checks
//! that outrider and Prometheus render them alike.
//!
//! Values are chosen so that Prometheus computes them exactly (powers of
//! two for SLO error ratios, windows that start on a sample), because
//! promtool compares annotations character for character.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::prometheus_rules::{annotations, labels};
use super::promql::{self, Severity, SloWindows};
use crate::rules::format::{Anomaly, Direction, Levels, Slo, Threshold};
use crate::rules::template::Template;
use crate::rules::{Group, Kind, Rule};
use crate::selector::{MatchOp, Matcher, Selector};

const CASE: &str = "case";

#[derive(Serialize)]
pub struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: String,
    tests: Vec<TestGroup>,
}

#[derive(Serialize)]
struct TestGroup {
    name: String,
    interval: String,
    input_series: Vec<InputSeries>,
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Serialize)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Serialize)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Serialize)]
struct ExpectedAlert {
    exp_labels: BTreeMap<String, String>,
    exp_annotations: BTreeMap<String, String>,
}

type Labels = BTreeMap<String, String>;

fn series_text(metric: &str, labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", promql::quote(v)))
        .collect();
    format!("{metric}{{{}}}", pairs.join(", "))
}

/// `start+stepxN` in promtool's expanding notation: N + 1 values.
fn values(start: f64, step: f64, samples: u64) -> String {
    let sign = if step < 0.0 { "-" } else { "+" };
    format!(
        "{}{sign}{}x{}",
        promql::number(start),
        promql::number(step.abs()),
        samples.saturating_sub(1)
    )
}

/// Candidate values for a label, tried in turn against its matchers.
fn candidates(matchers: &[&Matcher]) -> Vec<String> {
    let mut out = Vec::new();
    for m in matchers {
        match &m.op {
            MatchOp::Equal(v) | MatchOp::NotEqual(v) => out.push(v.clone()),
            MatchOp::Regex(r) | MatchOp::NotRegex(r) => out.extend(
                promql::pattern(r)
                    .split('|')
                    .filter(|alt| {
                        alt.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_-/:".contains(c))
                    })
                    .map(str::to_owned),
            ),
        }
    }
    out.extend(["test", "500", "200", "0", "x", "/", "ext4", "+Inf", "0.5"].map(str::to_owned));
    out
}

fn holds(m: &Matcher, value: &str) -> bool {
    match &m.op {
        MatchOp::Equal(v) => value == v,
        MatchOp::NotEqual(v) => value != v,
        MatchOp::Regex(r) => r.is_match(value),
        MatchOp::NotRegex(r) => !r.is_match(value),
    }
}

/// Labels that the selector's matchers accept (and, with `against`, that
/// those matchers reject on at least one label).
fn labels_for(selector: &Selector, against: Option<&Selector>) -> Result<Labels, String> {
    let mut by_label: BTreeMap<&str, Vec<&Matcher>> = BTreeMap::new();
    for m in &selector.matchers {
        by_label.entry(&m.label).or_default().push(m);
    }
    // The target labels a scrape adds, unless the selector picks its own.
    let mut out = Labels::from([
        ("instance".to_owned(), "10.0.0.1:9100".to_owned()),
        ("job".to_owned(), "outrider".to_owned()),
    ]);
    for (label, matchers) in &by_label {
        let value = candidates(matchers)
            .into_iter()
            .find(|v| matchers.iter().all(|m| holds(m, v)))
            .ok_or_else(|| {
                format!("no test value found for label {label} of selector {selector}")
            })?;
        if value.is_empty() {
            out.remove(*label);
        } else {
            out.insert((*label).to_owned(), value);
        }
    }
    if let Some(against) = against {
        // Break one of the other selector's matchers, keeping this one's.
        for m in &against.matchers {
            let own: Vec<&Matcher> = by_label.get(m.label.as_str()).cloned().unwrap_or_default();
            let mut all = own.clone();
            all.push(m);
            if let Some(v) = candidates(&all)
                .into_iter()
                .find(|v| !v.is_empty() && !holds(m, v) && own.iter().all(|o| holds(o, v)))
            {
                out.insert(m.label.clone(), v);
                return Ok(out);
            }
        }
        return Err(format!(
            "no test series found that {selector} matches and {against} does not"
        ));
    }
    Ok(out)
}

/// The test series of a threshold or anomaly rule carry every label its
/// templates read (the alert has the series' labels), so the expected
/// annotations are rendered text, not blanks.
fn with_template_labels(rule: &Rule, mut labels: Labels) -> Labels {
    for template in rule.summary.iter().chain(&rule.description) {
        for label in template.labels() {
            if label != CASE {
                labels
                    .entry(label.to_owned())
                    .or_insert_with(|| format!("test-{label}"));
            }
        }
    }
    labels
}

/// A value that reaches `level` in the direction, by a margin.
fn beyond(level: f64, above: bool) -> f64 {
    match (above, level > 0.0) {
        (true, true) => level * 2.0,
        (true, false) => level + 1.0,
        (false, true) => level / 2.0,
        (false, false) => level - 1.0,
    }
}

fn short_of(level: f64, above: bool) -> f64 {
    beyond(level, !above)
}

/// The values of the test cases: per case name, the value and the
/// severities it fires.
fn cases(levels: &Levels, above: bool) -> Vec<(&'static str, f64, Vec<Severity>)> {
    let mut out = Vec::new();
    match (levels.warning, levels.critical) {
        (Some(w), Some(c)) => {
            out.push(("warning", (w + c) / 2.0, vec![Severity::Warning]));
            out.push((
                "critical",
                beyond(c, above),
                vec![Severity::Warning, Severity::Critical],
            ));
            out.push(("quiet", short_of(w, above), vec![]));
        }
        (Some(w), None) => {
            out.push(("warning", beyond(w, above), vec![Severity::Warning]));
            out.push(("quiet", short_of(w, above), vec![]));
        }
        (None, Some(c)) => {
            out.push(("critical", beyond(c, above), vec![Severity::Critical]));
            out.push(("quiet", short_of(c, above), vec![]));
        }
        (None, None) => {}
    }
    out
}

/// Whole test intervals, rounded up.
fn steps(d: Duration, interval: Duration) -> u64 {
    d.as_millis().div_ceil(interval.as_millis().max(1)) as u64
}

struct Builder<'a> {
    interval: Duration,
    windows: &'a SloWindows,
}

impl Builder<'_> {
    fn expected(
        &self,
        rule: &Rule,
        severity: Severity,
        series: &Labels,
        value: f64,
    ) -> ExpectedAlert {
        let mut exp_labels = series.clone();
        exp_labels.extend(labels(rule, severity));
        let mut exp_annotations = annotations(rule);
        for text in exp_annotations.values_mut() {
            if let Ok(template) = Template::parse(text) {
                *text = template.render(series, value);
            }
        }
        ExpectedAlert {
            exp_labels,
            exp_annotations,
        }
    }

    fn threshold(&self, rule: &Rule, s: &Selector, t: &Threshold) -> Result<TestGroup, String> {
        let metric = s.metric.clone().unwrap_or_default();
        let base = with_template_labels(rule, labels_for(s, None)?);
        let (levels, above) = match (&t.above, &t.below) {
            (Some(l), _) => (l, true),
            (None, Some(l)) => (l, false),
            (None, None) => return Err("threshold without levels".to_owned()),
        };
        // rate() divides by its whole window: evaluate once it is full.
        let warm_up = if t.rate {
            promql::RATE_WINDOW
        } else {
            Duration::ZERO
        };
        let eval = steps(rule.for_duration + warm_up, self.interval) + 2;
        let samples = eval + 1;
        let mut input = Vec::new();
        let mut exp = Vec::new();
        for (case, value, fires) in cases(levels, above) {
            let mut labels = base.clone();
            labels.insert(CASE.to_owned(), case.to_owned());
            let series = if t.rate {
                let per_step = value.max(0.0) * self.interval.as_secs_f64();
                values(0.0, per_step, samples)
            } else {
                values(value, 0.0, samples)
            };
            input.push(InputSeries {
                series: series_text(&metric, &labels),
                values: series,
            });
            if let Some(divisor) = &t.divide_by {
                input.push(InputSeries {
                    series: series_text(divisor, &labels),
                    values: values(1.0, 0.0, samples),
                });
            }
            for severity in fires {
                exp.push(self.expected(rule, severity, &labels, value));
            }
        }
        Ok(self.test(rule, input, eval, exp))
    }

    fn anomaly(&self, rule: &Rule, s: &Selector, a: &Anomaly) -> Result<TestGroup, String> {
        let mut base = Labels::new();
        for (k, v) in labels_for(s, None)? {
            let k = if k == "metric" {
                "exported_metric".to_owned()
            } else {
                k
            };
            base.insert(k, v);
        }
        base.insert("metric".to_owned(), s.metric.clone().unwrap_or_default());
        let base = with_template_labels(rule, base);
        let eval = steps(rule.for_duration, self.interval) + 2;
        let samples = eval + 1;
        // Which gauge the test series cross the levels with.
        #[derive(PartialEq)]
        enum By {
            Ratio,
            Zscore,
            Score,
        }
        let (levels, by) = match (&a.ratio, &a.zscore, &a.score) {
            (Some(l), _, _) => (l, By::Ratio),
            (None, Some(l), _) => (l, By::Zscore),
            (None, None, Some(l)) => (l, By::Score),
            (None, None, None) => return Err("anomaly without levels".to_owned()),
        };
        let mut input = Vec::new();
        let mut exp = Vec::new();
        for (case, size, fires) in cases(levels, true) {
            let mut labels = base.clone();
            labels.insert(CASE.to_owned(), case.to_owned());
            let (ratio, zscore, score) = match (&by, a.direction) {
                (By::Ratio, Direction::Down) => (1.0 / size, 0.0, 0.0),
                (By::Ratio, _) => (size, 0.0, 0.0),
                (By::Zscore, Direction::Down) => (1.0, -size, 0.0),
                (By::Zscore, _) => (1.0, size, 0.0),
                (By::Score, _) => (1.0, 0.0, size),
            };
            for (gauge, value) in [
                ("outrider_anomaly_ratio", ratio),
                ("outrider_anomaly_zscore", zscore),
                ("outrider_anomaly_score", score),
            ] {
                input.push(InputSeries {
                    series: series_text(gauge, &labels),
                    values: values(value, 0.0, samples),
                });
            }
            for severity in fires {
                exp.push(self.expected(rule, severity, &labels, ratio));
            }
        }
        Ok(self.test(rule, input, eval, exp))
    }

    fn absent(&self, rule: &Rule, s: &Selector, after: Duration) -> Result<Vec<TestGroup>, String> {
        let eval = steps(after + rule.for_duration, self.interval) + 2;
        let labels = rule.absent_labels();
        let fires = self.test(
            rule,
            Vec::new(),
            eval,
            vec![self.expected(rule, Severity::Critical, &labels, 1.0)],
        );
        let mut present = labels_for(s, None)?;
        present.insert(CASE.to_owned(), "quiet".to_owned());
        let mut quiet = self.test(
            rule,
            vec![InputSeries {
                series: series_text(s.metric.as_deref().unwrap_or_default(), &present),
                values: values(1.0, 0.0, eval + 1),
            }],
            eval,
            Vec::new(),
        );
        quiet.name = format!("{} (present)", rule.name);
        Ok(vec![fires, quiet])
    }

    fn slo(&self, rule: &Rule, slo: &Slo) -> Result<TestGroup, String> {
        let budget = promql::budget(slo);
        // Error ratios that are powers of two keep Prometheus' sums and
        // divisions exact, so the rendered burn rate is predictable.
        let mut critical = 1.0;
        while critical / 2.0 / budget > 14.4 {
            critical /= 2.0;
        }
        let mut warning = 1.0;
        while warning / budget > 6.0 {
            warning /= 2.0;
        }
        let mut cases: Vec<(&str, f64, f64, Vec<Severity>)> = Vec::new();
        let mut rate = 1.0;
        while rate < slo.min_rate * 2.0 {
            rate *= 2.0;
        }
        if critical / budget > 14.4 {
            cases.push((
                "critical",
                critical,
                rate,
                vec![Severity::Warning, Severity::Critical],
            ));
            if slo.min_rate > 0.0 {
                cases.push(("idle", critical, slo.min_rate / 4.0, vec![]));
            }
        }
        if warning / budget > 3.0 {
            cases.push(("warning", warning, rate, vec![Severity::Warning]));
        }
        cases.push(("quiet", warning / 8.0, rate, vec![]));
        // The value is the long window's burn rate: evaluate once the
        // longest window with a value is full.
        let eval = steps(self.windows.long_ticket + rule.for_duration, self.interval) + 10;
        let samples = eval + 1;
        let step = self.interval.as_secs_f64();
        let (part, is_errors) = match (&slo.errors, &slo.good) {
            (Some(e), _) => (e, true),
            (None, Some(g)) => (g, false),
            (None, None) => return Err("slo without errors or good".to_owned()),
        };
        let same_metric = part.metric == slo.total.metric;
        let mut input = Vec::new();
        let mut exp = Vec::new();
        for (case, ratio, total_rate, fires) in cases {
            // Every `by` label tells the cases apart, so the expected
            // alerts carry them all and the templates render them.
            let job = |mut l: Labels| {
                for label in &slo.by {
                    l.insert(label.clone(), format!("{case}-{label}"));
                }
                l
            };
            let part_rate = if is_errors { ratio } else { 1.0 - ratio } * total_rate;
            let part_metric = part.metric.clone().unwrap_or_default();
            let total_metric = slo.total.metric.clone().unwrap_or_default();
            if same_metric {
                let mut both = labels_for(part, None)?;
                for (k, v) in labels_for(&slo.total, None)? {
                    both.entry(k).or_insert(v);
                }
                let other = labels_for(&slo.total, Some(part))?;
                input.push(InputSeries {
                    series: series_text(&part_metric, &job(both)),
                    values: values(0.0, part_rate * step, samples),
                });
                input.push(InputSeries {
                    series: series_text(&total_metric, &job(other)),
                    values: values(0.0, (total_rate - part_rate) * step, samples),
                });
            } else {
                input.push(InputSeries {
                    series: series_text(&part_metric, &job(labels_for(part, None)?)),
                    values: values(0.0, part_rate * step, samples),
                });
                input.push(InputSeries {
                    series: series_text(&total_metric, &job(labels_for(&slo.total, None)?)),
                    values: values(0.0, total_rate * step, samples),
                });
            }
            let alert_labels = job(Labels::from([(
                promql::SLO_LABEL.to_owned(),
                rule.name.clone(),
            )]));
            for severity in fires {
                exp.push(self.expected(rule, severity, &alert_labels, ratio / budget));
            }
        }
        Ok(self.test(rule, input, eval, exp))
    }

    fn test(
        &self,
        rule: &Rule,
        input_series: Vec<InputSeries>,
        eval: u64,
        exp_alerts: Vec<ExpectedAlert>,
    ) -> TestGroup {
        TestGroup {
            name: rule.name.clone(),
            interval: promql::duration(self.interval),
            input_series,
            alert_rule_test: vec![AlertTest {
                eval_time: promql::duration(self.interval * eval as u32),
                alertname: rule.name.clone(),
                exp_alerts,
            }],
        }
    }
}

/// The step of the test series: a minute; for SLO rules half the shortest
/// window, which still puts a sample on both ends of every window and keeps
/// the day-long test short.
pub fn interval(group: &Group, windows: &SloWindows) -> Duration {
    if group.rules.iter().any(|r| matches!(r.kind, Kind::Slo(_))) {
        windows.short_page / 2
    } else {
        Duration::from_secs(60)
    }
}

/// The unit tests of one group's generated rule file.
pub fn tests(group: &Group, rule_file: &str, windows: &SloWindows) -> Result<TestFile, String> {
    let interval = interval(group, windows);
    let builder = Builder { interval, windows };
    let mut tests = Vec::new();
    for rule in &group.rules {
        let made = match (&rule.kind, &rule.selector) {
            (Kind::Threshold(t), Some(s)) => builder.threshold(rule, s, t).map(|t| vec![t]),
            (Kind::Anomaly(a), Some(s)) => builder.anomaly(rule, s, a).map(|t| vec![t]),
            (Kind::Absent(after), Some(s)) => builder.absent(rule, s, *after),
            (Kind::Slo(slo), _) => builder.slo(rule, slo).map(|t| vec![t]),
            (_, None) => Ok(Vec::new()),
        };
        tests.extend(made.map_err(|e| format!("rule {}: {e}", rule.name))?);
    }
    Ok(TestFile {
        rule_files: vec![rule_file.to_owned()],
        evaluation_interval: promql::duration(interval),
        tests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_series_satisfy_the_selector_or_break_the_other_one() {
        let errors = Selector::parse(r#"req_total{code=~"5..", path!~"/health|/ready"}"#).unwrap();
        let labels = labels_for(&errors, None).unwrap();
        assert_eq!(labels["code"], "500");
        assert_eq!(labels["path"], "test");
        assert_eq!(labels["job"], "outrider");
        let total = Selector::parse("req_total").unwrap();
        let other = labels_for(&total, Some(&errors)).unwrap();
        assert!(
            !errors
                .matchers
                .iter()
                .all(|m| holds(m, other.get(&m.label).map_or("", String::as_str)))
        );
        let impossible = Selector::parse(r#"x{a=~"[0-9]{12}"}"#).unwrap();
        assert!(
            labels_for(&impossible, None)
                .unwrap_err()
                .contains("label a")
        );
    }

    #[test]
    fn cases_straddle_the_levels() {
        let levels = Levels {
            warning: Some(0.5),
            critical: Some(0.25),
        };
        let below = cases(&levels, false);
        let values: Vec<(&str, f64)> = below.iter().map(|(c, v, _)| (*c, *v)).collect();
        assert_eq!(
            values,
            [("warning", 0.375), ("critical", 0.125), ("quiet", 1.0)]
        );
    }
}
