//! The PromQL form of the parsed rules, for the generated rules and
//! dashboards and for `/api/v1/rules`: the one place selectors, levels and
//! windows become query text.

use std::fmt::Write as _;
use std::time::Duration;

use crate::rules::format::{Anomaly, Direction, Levels, Slo, Threshold};
use crate::rules::{Kind, Rule};
use crate::selector::{MatchOp, Matcher, Selector};

/// The window of `rate()` for thresholds on a counter's rate: long enough to
/// span a few scrapes at the usual 15-30 s interval.
pub const RATE_WINDOW: Duration = Duration::from_secs(300);

/// The label the SLO recording rules and alerts carry the rule's name in.
pub use crate::rules::SLO_LABEL;

/// A PromQL string literal that reads back as `value`: backslashes,
/// quotes and control characters escaped, as Go's `strconv.Quote` does.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() && c.is_ascii() => {
                write!(out, "\\x{:02x}", u32::from(c)).expect("writing to a String cannot fail");
            }
            c if c.is_control() => {
                write!(out, "\\u{:04x}", u32::from(c)).expect("writing to a String cannot fail");
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The regex a matcher was written with (the selector anchors it).
pub fn pattern(regex: &regex::Regex) -> &str {
    let text = regex.as_str();
    text.strip_prefix("^(?:")
        .and_then(|t| t.strip_suffix(")$"))
        .unwrap_or(text)
}

pub fn matcher(m: &Matcher) -> String {
    let (op, value) = match &m.op {
        MatchOp::Equal(v) => ("=", v.as_str()),
        MatchOp::NotEqual(v) => ("!=", v.as_str()),
        MatchOp::Regex(r) => ("=~", pattern(r)),
        MatchOp::NotRegex(r) => ("!~", pattern(r)),
    };
    format!("{}{op}{}", m.label, quote(value))
}

/// `metric{matchers}` with the selector's matchers after `first`.
pub fn selector_with(metric: &str, first: &[String], selector: Option<&Selector>) -> String {
    let mut all: Vec<String> = first.to_vec();
    all.extend(selector.iter().flat_map(|s| s.matchers.iter()).map(matcher));
    if all.is_empty() {
        metric.to_owned()
    } else {
        format!("{metric}{{{}}}", all.join(", "))
    }
}

/// The selector as PromQL, in a canonical form.
pub fn selector(s: &Selector) -> String {
    selector_with(s.metric.as_deref().unwrap_or_default(), &[], Some(s))
}

/// A PromQL duration: `5m`, `1h30m`, `90s`, `1d`.
pub fn duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        // Weeks only when whole: 28d reads better than 4w.
        if unit == "w" {
            continue;
        }
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    out
}

/// A number as PromQL reads it back exactly.
pub fn number(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    format!("{value}")
}

/// The value a threshold rule compares: the series (or its rate, or its
/// predicted value), divided by the divisor with the same labels.
pub fn threshold_value(selector: &Selector, t: &Threshold) -> String {
    let base = self::selector(selector);
    let mut expr = if t.rate {
        format!("rate({base}[{}])", duration(RATE_WINDOW))
    } else if let Some(ahead) = t.predict {
        // The in-process trend halves its weights every quarter of the
        // span; a quarter of it is also the range node-mixin fits over.
        format!(
            "predict_linear({base}[{}], {})",
            duration(ahead / 4),
            ahead.as_secs()
        )
    } else {
        base
    };
    if let Some(divisor) = &t.divide_by {
        // The selector's matchers on the divisor too: the same result, and
        // Prometheus fetches fewer series.
        let _ = write!(expr, " / {}", selector_with(divisor, &[], Some(selector)));
    }
    expr
}

fn level(levels: &Option<Levels>, severity: Severity) -> Option<f64> {
    levels.as_ref().and_then(|l| match severity {
        Severity::Warning => l.warning,
        Severity::Critical => l.critical,
    })
}

pub use crate::rules::eval::Severity;

/// The severities a rule alerts with, least severe first.
pub fn severities(rule: &Rule) -> Vec<Severity> {
    let has = |s: Severity| match &rule.kind {
        Kind::Threshold(t) => level(&t.above, s).is_some() || level(&t.below, s).is_some(),
        Kind::Anomaly(a) => {
            level(&a.ratio, s).is_some()
                || level(&a.zscore, s).is_some()
                || level(&a.score, s).is_some()
        }
        Kind::Absent(_) => s == Severity::Critical,
        Kind::Slo(_) => true,
    };
    [Severity::Warning, Severity::Critical]
        .into_iter()
        .filter(|s| has(*s))
        .collect()
}

pub fn threshold(selector: &Selector, t: &Threshold, severity: Severity) -> String {
    let value = threshold_value(selector, t);
    let parts: Vec<String> = [
        level(&t.above, severity).map(|l| format!("{value} >= {}", number(l))),
        level(&t.below, severity).map(|l| format!("{value} <= {}", number(l))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        format!("({}) or ({})", parts[0], parts[1])
    }
}

/// A baseline gauge of the selector's series: the source labels plus
/// `metric`, the source's name (a source label named `metric` is exported
/// as `exported_metric`).
pub fn baseline_gauge(gauge: &str, selector: &Selector) -> String {
    let metric = selector.metric.as_deref().unwrap_or_default();
    let renamed: Vec<Matcher> = selector
        .matchers
        .iter()
        .map(|m| Matcher {
            label: if m.label == "metric" {
                "exported_metric".to_owned()
            } else {
                m.label.clone()
            },
            op: m.op.clone(),
        })
        .collect();
    let mut all = vec![format!("metric={}", quote(metric))];
    all.extend(renamed.iter().map(matcher));
    format!("{gauge}{{{}}}", all.join(", "))
}

/// An anomaly alert's expression: the anomaly ratio (the alert's value)
/// of the series whose ratio or z-score reaches the severity's level in the
/// rule's direction, as the sidecar evaluates it.
pub fn anomaly(selector: &Selector, a: &Anomaly, severity: Severity) -> String {
    let ratio = baseline_gauge("outrider_anomaly_ratio", selector);
    let zscore = baseline_gauge("outrider_anomaly_zscore", selector);
    let mut parts = Vec::new();
    if let Some(l) = level(&a.ratio, severity) {
        let l = number(l);
        let up = format!("{ratio} >= {l}");
        // Down compares baseline / current; a zero ratio claims nothing.
        let down = format!("1 / ({ratio} > 0) >= {l}");
        match a.direction {
            Direction::Up => parts.push(up),
            Direction::Down => parts.push(down),
            Direction::Both => {
                parts.push(up);
                parts.push(down);
            }
        }
    }
    if let Some(l) = level(&a.zscore, severity) {
        let l = number(l);
        parts.push(match a.direction {
            Direction::Up => format!("{zscore} >= {l}"),
            Direction::Down => format!("{zscore} <= -{l}"),
            Direction::Both => format!("abs({zscore}) >= {l}"),
        });
    }
    let score = baseline_gauge("outrider_anomaly_score", selector);
    if let Some(l) = level(&a.score, severity) {
        // The score is 0..1 whatever the direction.
        parts.push(format!("{score} >= {}", number(l)));
    }
    // The score is absent for a series' first day, so `and` it drops the
    // series of a young baseline.
    let warmed_up = if a.wait_for_score {
        format!(" and {score}")
    } else {
        String::new()
    };
    if parts.len() == 1 && a.direction == Direction::Up && a.ratio.is_some() {
        return format!("{}{warmed_up}", parts.remove(0));
    }
    let condition = if parts.len() == 1 {
        parts.remove(0)
    } else {
        parts
            .iter()
            .map(|p| format!("({p})"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    format!("{ratio} and ({condition}){warmed_up}")
}

pub fn absent(selector: &Selector, after: Duration) -> String {
    format!(
        "absent_over_time({}[{}])",
        self::selector(selector),
        duration(after)
    )
}

/// The SRE workbook's windows for a 30-day budget, divided by `scale` (1
/// in production; tests use a larger one to see an hour in a minute).
#[derive(Clone, Debug)]
pub struct SloWindows {
    pub short_page: Duration,
    pub medium_page: Duration,
    pub long_page: Duration,
    pub short_ticket: Duration,
    pub long_page_slow: Duration,
    pub long_ticket: Duration,
    pub longest_ticket: Duration,
}

impl SloWindows {
    pub fn scaled(scale: u32) -> SloWindows {
        let w = |seconds: u64| Duration::from_secs(seconds) / scale.max(1);
        SloWindows {
            short_page: w(300),
            medium_page: w(1800),
            long_page: w(3600),
            short_ticket: w(7200),
            long_page_slow: w(6 * 3600),
            long_ticket: w(86_400),
            longest_ticket: w(3 * 86_400),
        }
    }

    /// Every window a recording rule is kept for, shortest first.
    pub fn all(&self) -> [Duration; 7] {
        [
            self.short_page,
            self.medium_page,
            self.long_page,
            self.short_ticket,
            self.long_page_slow,
            self.long_ticket,
            self.longest_ticket,
        ]
    }

    /// (long, short, burn factor) pairs: critical pages, warning tickets.
    pub fn pairs(&self, severity: Severity) -> [(Duration, Duration, f64); 2] {
        match severity {
            Severity::Critical => [
                (self.long_page, self.short_page, 14.4),
                (self.long_page_slow, self.medium_page, 6.0),
            ],
            Severity::Warning => [
                (self.long_ticket, self.short_ticket, 3.0),
                (self.longest_ticket, self.long_page_slow, 1.0),
            ],
        }
    }
}

/// The fraction of events the objective allows to fail.
pub fn budget(slo: &Slo) -> f64 {
    (100.0 - slo.objective) / 100.0
}

/// The recorded error ratio of every SLO over `window`, summed by each
/// SLO's own `by` labels; the `slo` label tells them apart. The `slo:`
/// level says so, as sloth names its recordings, since no one fixed set of
/// labels would be true of them all.
pub fn error_ratio_record(window: &str) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// The recorded rate of an SLO's events over `window`.
pub fn requests_record(window: &str) -> String {
    format!("slo:sli_requests:rate{window}")
}

/// `sum by (namespace, service, job)`, for an SLO's `by` labels.
pub fn sum_by(by: &[String]) -> String {
    format!("sum by ({})", by.join(", "))
}

fn sum_rate(selector: &Selector, window: Duration, by: &[String]) -> String {
    format!(
        "{} (rate({}[{}]))",
        sum_by(by),
        self::selector(selector),
        duration(window)
    )
}

/// The rate of an SLO's events over `window`, by its labels.
pub fn requests_rate(slo: &Slo, window: Duration) -> String {
    sum_rate(&slo.total, window, &slo.by)
}

/// The error ratio over `window`: errors / total, or (total − good) / total.
pub fn error_ratio(slo: &Slo, window: Duration) -> String {
    let total = sum_rate(&slo.total, window, &slo.by);
    match (&slo.errors, &slo.good) {
        (Some(errors), _) => format!("{}\n/\n{total}", sum_rate(errors, window, &slo.by)),
        (None, Some(good)) => format!(
            "(\n  {total}\n  -\n  {}\n)\n/\n{total}",
            sum_rate(good, window, &slo.by)
        ),
        (None, None) => String::new(),
    }
}

/// The error ratio over the whole period, from the 5m ratios already
/// recorded: one series per service instead of weeks of raw counters.
pub fn period_error_ratio(name: &str, windows: &SloWindows, period: Duration) -> String {
    let short = error_ratio_record(&duration(windows.short_page));
    let selector = format!("{short}{{{SLO_LABEL}={}}}", quote(name));
    let period = duration(period);
    format!("sum_over_time({selector}[{period}])\n/\ncount_over_time({selector}[{period}])")
}

/// A multi-window, multi-burn-rate alert: either pair's both windows burn
/// faster than its factor, and the long page window saw enough traffic. The
/// value is the burn rate of the firing pair's long window. Series are
/// matched on the SLO's `by` labels, so each service burns its own budget.
pub fn slo_alert(name: &str, slo: &Slo, windows: &SloWindows, severity: Severity) -> String {
    let budget = number(budget(slo));
    let by = format!("{}, {SLO_LABEL}", slo.by.join(", "));
    let burn = |window: Duration, factor: f64| {
        format!(
            "{}{{{SLO_LABEL}={}}} / {budget} > {}",
            error_ratio_record(&duration(window)),
            quote(name),
            number(factor)
        )
    };
    let pairs: Vec<String> = windows
        .pairs(severity)
        .iter()
        .map(|(long, short, factor)| {
            format!(
                "  (\n    {}\n    and on ({by})\n    {}\n  )",
                burn(*long, *factor),
                burn(*short, *factor)
            )
        })
        .collect();
    format!(
        "(\n{}\n)\nand on ({by})\n{}{{{SLO_LABEL}={}}} >= {}",
        pairs.join("\n  or\n"),
        requests_record(&duration(windows.long_page)),
        quote(name),
        number(slo.min_rate)
    )
}

/// The expression of one rule's alert at one severity.
pub fn alert(rule: &Rule, severity: Severity, windows: &SloWindows) -> String {
    match (&rule.kind, &rule.selector) {
        (Kind::Threshold(t), Some(s)) => threshold(s, t, severity),
        (Kind::Anomaly(a), Some(s)) => anomaly(s, a, severity),
        (Kind::Absent(after), Some(s)) => absent(s, *after),
        (Kind::Slo(slo), _) => slo_alert(&rule.name, slo, windows, severity),
        // Checked when the rule was parsed: these kinds need a selector.
        (_, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_render_canonically() {
        let s = Selector::parse(
            r#"node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs", mountpoint="/"}"#,
        )
        .unwrap();
        assert_eq!(
            selector(&s),
            r#"node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs", mountpoint="/"}"#
        );
        let q = Selector::parse(r#"x{a="say \"hi\"\\"}"#).unwrap();
        assert_eq!(selector(&q), r#"x{a="say \"hi\"\\"}"#);
        // A raw string's backslashes are escaped: the same regex for promtool.
        let raw = Selector::parse(r"x{code=~`5\d\d`, b='\t\x01\u0085'}").unwrap();
        assert_eq!(selector(&raw), r#"x{code=~"5\\d\\d", b="\t\x01\u0085"}"#);
        assert_eq!(
            baseline_gauge(
                "outrider_anomaly_ratio",
                &Selector::parse(r#"x{metric="y"}"#).unwrap()
            ),
            r#"outrider_anomaly_ratio{metric="x", exported_metric="y"}"#
        );
    }

    #[test]
    fn durations_are_promql_durations() {
        assert_eq!(duration(Duration::from_secs(300)), "5m");
        assert_eq!(duration(Duration::from_secs(86_400 * 28)), "28d");
        assert_eq!(duration(Duration::from_secs(4320)), "1h12m");
        assert_eq!(duration(Duration::from_millis(1500)), "1s500ms");
    }

    #[test]
    fn anomaly_directions() {
        let s = Selector::parse("m").unwrap();
        let a = |direction| Anomaly {
            ratio: Some(Levels {
                warning: Some(1.5),
                critical: None,
            }),
            zscore: None,
            score: None,
            direction,
            half_life: None,
            seasonal: None,
            volume_floor: 0.0,
            wait_for_score: false,
        };
        assert_eq!(
            anomaly(&s, &a(Direction::Up), Severity::Warning),
            r#"outrider_anomaly_ratio{metric="m"} >= 1.5"#
        );
        assert_eq!(
            anomaly(&s, &a(Direction::Down), Severity::Warning),
            r#"outrider_anomaly_ratio{metric="m"} and (1 / (outrider_anomaly_ratio{metric="m"} > 0) >= 1.5)"#
        );
        // A young baseline, whose score is still absent, holds nothing.
        let waiting = |direction| Anomaly {
            wait_for_score: true,
            ..a(direction)
        };
        assert_eq!(
            anomaly(&s, &waiting(Direction::Up), Severity::Warning),
            r#"outrider_anomaly_ratio{metric="m"} >= 1.5 and outrider_anomaly_score{metric="m"}"#
        );
        assert_eq!(
            anomaly(&s, &waiting(Direction::Down), Severity::Warning),
            r#"outrider_anomaly_ratio{metric="m"} and (1 / (outrider_anomaly_ratio{metric="m"} > 0) >= 1.5) and outrider_anomaly_score{metric="m"}"#
        );
    }
}
