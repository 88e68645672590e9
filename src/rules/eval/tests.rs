//! The state machine and every kind of condition, stepped through time.

use super::*;
use crate::metric::{Sample, label_value};
use crate::rules::{RuleSet, parse};

fn evaluator(rules: &str) -> Evaluator {
    let groups = parse(
        &format!("groups:\n  - name: g\n    rules:\n{rules}"),
        "t.yml",
    )
    .unwrap();
    Evaluator::new(
        RuleSet::from_groups(groups).unwrap(),
        Duration::from_secs(60),
    )
}

fn gauge(name: &'static str, device: &str, value: f64) -> Family {
    let mut f = Family::gauge(name, "x");
    f.push([("device", device)], value);
    f
}

fn disk(avail: f64) -> Vec<Family> {
    vec![gauge("avail", "sda", avail), gauge("size", "sda", 100.0)]
}

const DISK_RULE: &str = "      - alert: DiskFull\n        selector: avail\n        threshold: {divide_by: size, below: {warning: 0.2, critical: 0.1}}\n        for: 30s\n        keep_firing_for: 20s\n        summary: '{{ $labels.device }} at {{ $value | humanizePercentage }}'\n";

fn states(outcome: &Outcome) -> Vec<(String, f64)> {
    outcome.families[0]
        .samples
        .iter()
        .map(|s| {
            (
                label_value(&s.labels, "severity").unwrap().to_owned(),
                s.value,
            )
        })
        .collect()
}

#[test]
fn pending_then_firing_then_kept_then_resolved() {
    let mut e = evaluator(DISK_RULE);
    assert!(states(&e.evaluate(&disk(50.0), 0.0)).is_empty());
    let o = e.evaluate(&disk(15.0), 15.0);
    assert_eq!(states(&o), [("warning".to_owned(), 1.0)]);
    assert_eq!(o.transitions[0].to, "pending");
    assert!(o.notifications.is_empty());
    // 30 s after it became true: firing, and sent.
    let o = e.evaluate(&disk(15.0), 45.0);
    assert_eq!(states(&o), [("warning".to_owned(), 2.0)]);
    assert_eq!(o.notifications.len(), 1);
    let alert = &o.notifications[0];
    assert_eq!(alert.labels["alertname"], "DiskFull");
    assert_eq!(alert.labels["severity"], "warning");
    assert_eq!(alert.annotations["summary"], "sda at 15%");
    // Worse: the same alert, now critical.
    let o = e.evaluate(&disk(5.0), 60.0);
    assert_eq!(states(&o), [("critical".to_owned(), 2.0)]);
    assert_eq!(o.transitions[0].severity, Severity::Critical);
    // Clears, but keep_firing_for (20 s) holds it.
    let o = e.evaluate(&disk(50.0), 75.0);
    assert_eq!(states(&o), [("critical".to_owned(), 2.0)]);
    let o = e.evaluate(&disk(50.0), 90.0);
    assert!(states(&o).is_empty());
    assert_eq!(o.transitions[0].to, "resolved");
    assert!(o.notifications[0].ends_at.is_some());
    assert_eq!(o.families[3].samples[0].value, 100.0);
}

#[test]
fn health_score_counts_firing_alerts() {
    let mut e = evaluator(
        "      - alert: Hot\n        selector: t\n        threshold: {above: {warning: 1, critical: 2}}\n",
    );
    let mut t = Family::gauge("t", "x");
    for (i, v) in [3.0, 3.0, 1.5].into_iter().enumerate() {
        t.push([("i", i.to_string())], v);
    }
    let o = e.evaluate(&[t], 0.0);
    assert_eq!(o.families[3].samples[0].value, 100.0 - 20.0 - 3.0);
}

#[test]
fn anomaly_rules_read_the_baseline_gauges() {
    let mut e = evaluator(
        "      - alert: Busy\n        selector: 'cpu{mode=\"user\"}'\n        anomaly: {ratio: {warning: 1.5, critical: 2}, zscore: {warning: 10}}\n",
    );
    let baseline = |ratio: f64, z: f64| {
        let mut r = Family::gauge("outrider_anomaly_ratio", "r");
        r.push([("mode", "user"), ("metric", "cpu")], ratio);
        r.push([("mode", "system"), ("metric", "cpu")], 9.0);
        let mut zf = Family::gauge("outrider_anomaly_zscore", "z");
        zf.push([("mode", "user"), ("metric", "cpu")], z);
        vec![r, zf]
    };
    assert!(states(&e.evaluate(&baseline(1.2, 3.0), 0.0)).is_empty());
    assert_eq!(
        states(&e.evaluate(&baseline(1.2, 11.0), 15.0)),
        [("warning".to_owned(), 2.0)]
    );
    let o = e.evaluate(&baseline(2.5, 0.0), 30.0);
    assert_eq!(states(&o), [("critical".to_owned(), 2.0)]);
    assert!(!o.notifications.is_empty() || e.active_alerts().len() == 1);
}

#[test]
fn rate_thresholds_and_absent_rules() {
    let mut e = evaluator(
        "      - alert: Errors\n        selector: errors_total\n        threshold: {rate: true, above: {critical: 1}}\n      - alert: Gone\n        selector: 'up{job=\"app\"}'\n        absent: 1m\n",
    );
    let tick = |e: &mut Evaluator, errors: f64, up: bool, now: f64| {
        let mut families = vec![Family::counter("errors_total", "e").single(errors)];
        if up {
            let mut u = Family::gauge("up", "u");
            u.push([("job", "app")], 1.0);
            families.push(u);
        }
        let o = e.evaluate(&families, now);
        o.families[0]
            .samples
            .iter()
            .map(|s| label_value(&s.labels, "rule").unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(tick(&mut e, 0.0, true, 0.0).is_empty());
    // 30 errors in 15 s: 2/s.
    assert_eq!(tick(&mut e, 30.0, true, 15.0), ["Errors"]);
    assert!(tick(&mut e, 31.0, false, 30.0).is_empty());
    assert!(tick(&mut e, 31.0, false, 60.0).is_empty());
    let o = e.evaluate(&[], 91.0);
    let gone: Vec<_> = o.families[0]
        .samples
        .iter()
        .filter(|s| label_value(&s.labels, "rule") == Some("Gone"))
        .collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(label_value(&gone[0].labels, "job"), Some("app"));
}

#[test]
fn slo_pages_on_a_fast_burn_and_not_when_idle() {
    let rule = "      - alert: Burn\n        slo: {objective: 99, errors: 'req_total{code=\"500\"}', total: req_total, period: 28d, min_rate: 1}\n";
    let requests = |ok: f64, failed: f64| {
        let mut f = Family::counter("req_total", "r");
        f.push([("code", "200")], ok);
        f.push([("code", "500")], failed);
        vec![f]
    };
    // 20% errors at 10 req/s: 20x the 1% budget.
    let mut e = evaluator(rule);
    let mut fired = false;
    for tick in 0..=240 {
        let t = f64::from(tick) * 15.0;
        let o = e.evaluate(&requests(t * 8.0, t * 2.0), t);
        fired |= o.families[0].samples.iter().any(|s| s.value == 2.0);
    }
    assert!(fired);
    // The same ratio at 0.1 req/s is under min_rate: no page.
    let mut idle = evaluator(rule);
    for tick in 0..=240 {
        let t = f64::from(tick) * 15.0;
        let o = idle.evaluate(&requests(t * 0.08, t * 0.02), t);
        assert!(o.families[0].samples.is_empty());
    }
}

#[test]
fn a_latency_slo_counts_slow_requests_from_the_good_bucket() {
    let rule = "      - alert: Slow\n        slo: {objective: 99, good: 'latency_bucket{le=\"0.5\"}', total: latency_count, period: 28d}\n";
    let mut e = evaluator(rule);
    let mut fired = false;
    for tick in 0..=240 {
        let t = f64::from(tick) * 15.0;
        // 10 req/s, of which 8 within 0.5 s: 20% slow, 20x the budget.
        let mut bucket = Family::counter("latency_bucket", "b");
        bucket.push([("le", "0.5")], t * 8.0);
        bucket.push([("le", "+Inf")], t * 10.0);
        let count = Family::counter("latency_count", "c").single(t * 10.0);
        let o = e.evaluate(&[bucket, count], t);
        fired |= o.families[0].samples.iter().any(|s| s.value == 2.0);
    }
    assert!(fired);
}

#[test]
fn a_disk_filling_up_is_predicted_not_a_steady_one() {
    let rule = "      - alert: FillingUp\n        selector: avail\n        threshold: {divide_by: size, predict: 24h, below: {critical: 0}}\n";
    let run = |loss_per_hour: f64| {
        let mut e = evaluator(rule);
        let mut fired_at = None;
        for minute in 0..=(6 * 60) {
            let t = f64::from(minute) * 60.0;
            let avail =
                60.0 - loss_per_hour * t / 3600.0 + if minute % 2 == 0 { 0.5 } else { -0.5 };
            let o = e.evaluate(&disk(avail), t);
            if fired_at.is_none() && o.families[0].samples.iter().any(|s| s.value == 2.0) {
                fired_at = Some(t / 3600.0);
            }
        }
        fired_at
    };
    // 60% left, losing 4% an hour: empty in 15 h, so within 24 h.
    let fired = run(4.0).expect("a filling disk is predicted full");
    assert!(
        (3.0..3.1).contains(&fired),
        "predicted only after {fired} h"
    );
    // Losing 1% an hour: 60 h left; nothing to say.
    assert_eq!(run(1.0), None);
    assert_eq!(run(0.0), None);
}

#[test]
fn a_reload_keeps_state_of_unchanged_rules_only() {
    let two = format!(
        "{DISK_RULE}      - alert: Other\n        selector: avail\n        threshold: {{below: {{warning: 90}}}}\n"
    );
    let mut e = evaluator(&two);
    e.evaluate(&disk(15.0), 0.0);
    assert_eq!(e.active_alerts().len(), 2);
    let changed = two.replace("warning: 90", "warning: 95");
    let groups = parse(
        &format!("groups:\n  - name: g\n    rules:\n{changed}"),
        "t.yml",
    )
    .unwrap();
    e.replace_rules(RuleSet::from_groups(groups).unwrap());
    let kept: Vec<&str> = e
        .active_alerts()
        .iter()
        .map(|(_, r, _)| r.name.as_str())
        .collect();
    assert_eq!(kept, ["DiskFull"]);
}

#[test]
fn a_reload_drops_the_counters_of_a_changed_rule_whose_name_extends_another() {
    let rules = |errors_level: &str| {
        format!(
            "      - alert: Err\n        selector: errors_total\n        threshold: {{rate: true, above: {{critical: 1}}}}\n      - alert: Errors\n        selector: errors_total\n        threshold: {{rate: true, above: {{warning: {errors_level}}}}}\n"
        )
    };
    let mut e = evaluator(&rules("1"));
    let errors = |count: f64| vec![Family::counter("errors_total", "e").single(count)];
    let active = |e: &Evaluator| {
        let mut names: Vec<String> = e
            .active_alerts()
            .iter()
            .map(|(_, r, _)| r.name.clone())
            .collect();
        names.sort();
        names
    };
    e.evaluate(&errors(0.0), 0.0);
    e.evaluate(&errors(30.0), 15.0);
    assert_eq!(active(&e), ["Err", "Errors"]);
    let groups = parse(
        &format!("groups:\n  - name: g\n    rules:\n{}", rules("1.5")),
        "t.yml",
    )
    .unwrap();
    e.replace_rules(RuleSet::from_groups(groups).unwrap());
    assert_eq!(active(&e), ["Err"]);
    // Err still has its last reading, so it has a rate at once; the
    // changed Errors starts afresh and needs two readings.
    e.evaluate(&errors(60.0), 30.0);
    assert_eq!(active(&e), ["Err"]);
    e.evaluate(&errors(90.0), 45.0);
    assert_eq!(active(&e), ["Err", "Errors"]);
}

/// The health of rule `i` of the one group, and the group's failures.
fn health_of(e: &Evaluator, outcome: &Outcome, i: usize) -> (Option<String>, f64) {
    let group = &e.rules().groups[0];
    let failures = outcome
        .families
        .iter()
        .find(|f| f.name == "outrider_rule_evaluation_failures_total")
        .unwrap();
    (
        e.health(group, &group.rules[i]).last_error,
        failures.samples[0].value,
    )
}

#[test]
fn a_divisor_missing_for_a_series_is_a_failure_until_it_is_there() {
    let mut e = evaluator(DISK_RULE);
    let wrong_device = vec![gauge("avail", "sda", 15.0), gauge("size", "sdb", 100.0)];
    let o = e.evaluate(&wrong_device, 0.0);
    let (error, failures) = health_of(&e, &o, 0);
    assert_eq!(
        error.as_deref(),
        Some("divide_by: no series size{device=\"sda\"} to divide by")
    );
    assert_eq!(failures, 1.0);
    let o = e.evaluate(&[gauge("avail", "sda", 15.0)], 15.0);
    assert_eq!(health_of(&e, &o, 0).1, 2.0, "one failure per evaluation");
    // The divisor shows up: healthy again, and the count stays.
    let o = e.evaluate(&disk(15.0), 30.0);
    assert_eq!(health_of(&e, &o, 0), (None, 2.0));
    // A zero divisor (no limit) and no data at all are not failures.
    let o = e.evaluate(
        &[gauge("avail", "sda", 15.0), gauge("size", "sda", 0.0)],
        45.0,
    );
    assert_eq!(health_of(&e, &o, 0), (None, 2.0));
    let o = e.evaluate(&[], 60.0);
    assert_eq!(health_of(&e, &o, 0), (None, 2.0));
}

#[test]
fn a_rate_of_a_gauge_is_a_failure() {
    let mut e = evaluator(
        "      - alert: Errors\n        selector: errors\n        threshold: {rate: true, above: {critical: 1}}\n",
    );
    let o = e.evaluate(&[Family::gauge("errors", "e").single(3.0)], 0.0);
    assert_eq!(
        health_of(&e, &o, 0),
        (
            Some("rate: errors is a gauge; a rate needs a counter".to_owned()),
            1.0
        )
    );
    let o = e.evaluate(&[Family::counter("errors", "e").single(3.0)], 15.0);
    assert_eq!(health_of(&e, &o, 0), (None, 1.0));
}

#[test]
fn an_slo_with_errors_but_no_total_is_a_failure() {
    let mut e = evaluator(
        "      - alert: Burn\n        slo: {objective: 99, errors: 'errors_total', total: requests_total, period: 28d}\n",
    );
    // No traffic metrics at all: no data, not a failure.
    let o = e.evaluate(&[], 0.0);
    assert_eq!(health_of(&e, &o, 0), (None, 0.0));
    let errors = Family::counter("errors_total", "e").single(1.0);
    let o = e.evaluate(std::slice::from_ref(&errors), 15.0);
    let (error, failures) = health_of(&e, &o, 0);
    assert_eq!(
        error.as_deref(),
        Some("total: no series match requests_total, so the burn rate cannot be computed")
    );
    assert_eq!(failures, 1.0);
    let total = Family::counter("requests_total", "r").single(10.0);
    let o = e.evaluate(&[errors, total], 30.0);
    assert_eq!(health_of(&e, &o, 0), (None, 1.0));
    // A gauge where the SLO counts events.
    let o = e.evaluate(&[Family::gauge("requests_total", "r").single(10.0)], 45.0);
    assert_eq!(
        health_of(&e, &o, 0).0.as_deref(),
        Some("requests_total is a gauge; an SLO counts counters")
    );
}

#[test]
fn a_severity_change_resolves_the_old_severity_in_the_same_notification_batch() {
    let mut e = evaluator(DISK_RULE);
    e.evaluate(&disk(15.0), 0.0);
    let o = e.evaluate(&disk(15.0), 30.0);
    assert_eq!(o.notifications.len(), 1);
    assert_eq!(o.notifications[0].labels["severity"], "warning");
    let sent = |o: &Outcome| {
        o.notifications
            .iter()
            .map(|a| (a.labels["severity"].clone(), a.ends_at.is_some()))
            .collect::<Vec<_>>()
    };
    // Worse: the warning ends, the critical starts, at once.
    let o = e.evaluate(&disk(5.0), 45.0);
    assert_eq!(
        sent(&o),
        [("warning".to_owned(), true), ("critical".to_owned(), false)]
    );
    // Better again: the other way round.
    let o = e.evaluate(&disk(15.0), 60.0);
    assert_eq!(
        sent(&o),
        [("critical".to_owned(), true), ("warning".to_owned(), false)]
    );
    // No change: nothing new until the resend interval.
    assert!(e.evaluate(&disk(15.0), 75.0).notifications.is_empty());
}

#[test]
fn an_alert_that_ends_records_the_value_that_ended_it() {
    let mut e = evaluator(DISK_RULE);
    e.evaluate(&disk(15.0), 0.0);
    e.evaluate(&disk(5.0), 30.0);
    // keep_firing_for holds it at 45 s; it resolves at 60 s.
    e.evaluate(&disk(40.0), 45.0);
    let o = e.evaluate(&disk(50.0), 60.0);
    let ended = &o.transitions[0];
    assert_eq!((ended.from, ended.to), ("firing", "resolved"));
    assert_eq!(ended.value, 0.5, "the ratio now, not the last firing one");
    // A pending alert that ends, likewise.
    let mut e = evaluator(DISK_RULE);
    e.evaluate(&disk(15.0), 0.0);
    let o = e.evaluate(&disk(30.0), 15.0);
    let ended = &o.transitions[0];
    assert_eq!(
        (ended.from, ended.to, ended.value),
        ("pending", "inactive", 0.3)
    );
    // A series that is gone has no value to record.
    let mut e = evaluator(DISK_RULE);
    e.evaluate(&disk(15.0), 0.0);
    let o = e.evaluate(&[], 15.0);
    assert!(o.transitions[0].value.is_nan());
}

/// `count` gauges `hot{i="00000".."count-1"}` that all fire, listed in
/// reverse order, each with a 1 KB label.
fn hot(count: usize) -> Vec<Family> {
    let mut f = Family::gauge("hot", "h");
    let blob = "x".repeat(1000);
    for i in (0..count).rev() {
        f.push([("blob", blob.clone()), ("i", format!("{i:05}"))], 1.0);
    }
    vec![f]
}

fn limited(limit: &str) -> Evaluator {
    let text = format!(
        "groups:\n  - name: g\n{limit}    rules:\n      - alert: Hot\n        selector: hot\n        threshold: {{above: {{warning: 0}}}}\n"
    );
    let groups = parse(&text, "t.yml").unwrap();
    Evaluator::new(
        RuleSet::from_groups(groups).unwrap(),
        Duration::from_secs(60),
    )
}

fn family<'a>(o: &'a Outcome, name: &str) -> Option<&'a Family> {
    o.families.iter().find(|f| f.name == name)
}

fn held(e: &Evaluator) -> Vec<String> {
    e.active_alerts()
        .iter()
        .map(|(_, _, a)| a.labels["i"].clone())
        .collect()
}

#[test]
fn a_rule_over_its_limit_keeps_what_it_held_and_counts_the_cut() {
    let mut e = limited("    limit: 3\n");
    let o = e.evaluate(&hot(5), 0.0);
    // The least label sets, whatever order the series came in.
    assert_eq!(held(&e), ["00000", "00001", "00002"]);
    assert_eq!(family(&o, "outrider_rule_state").unwrap().samples.len(), 3);
    assert_eq!(o.notifications.len(), 3);
    let cut = |o: &Outcome| {
        let f = family(o, "outrider_rule_alerts_cut_total").unwrap();
        assert_eq!(label_value(&f.samples[0].labels, "rule"), Some("Hot"));
        assert_eq!(label_value(&f.samples[0].labels, "rule_group"), Some("g"));
        f.samples[0].value
    };
    assert_eq!(cut(&o), 2.0);
    let (error, failures) = health_of(&e, &o, 0);
    assert_eq!(
        error.as_deref(),
        Some("limit: 5 alerts hold, over the group's limit of 3; 2 not kept")
    );
    assert_eq!(failures, 1.0);
    // Counted on every evaluation that cuts.
    let o = e.evaluate(&hot(5), 15.0);
    assert_eq!(cut(&o), 4.0);
    // Firing alerts are not pushed out by new series that sort first.
    let mut first = hot(5);
    first[0].push([("blob", "a"), ("i", "new")], 1.0);
    e.evaluate(&first, 30.0);
    assert_eq!(held(&e), ["00000", "00001", "00002"]);
    // One ends: room for the least of the others.
    let mut fewer = hot(5);
    fewer[0]
        .samples
        .retain(|s| label_value(&s.labels, "i") != Some("00001"));
    let o = e.evaluate(&fewer, 45.0);
    assert_eq!(held(&e), ["00000", "00002", "00003"]);
    assert_eq!(cut(&o), 4.0 + 3.0 + 1.0);
    // Back under the limit: healthy, and the count stays.
    let o = e.evaluate(&hot(3), 60.0);
    assert_eq!(health_of(&e, &o, 0), (None, 4.0));
    assert_eq!(cut(&o), 8.0);
}

#[test]
fn a_group_without_a_limit_holds_the_default_and_zero_is_no_limit() {
    let mut e = limited("");
    let o = e.evaluate(&hot(crate::rules::DEFAULT_ALERT_LIMIT + 1), 0.0);
    assert_eq!(e.active_alerts().len(), crate::rules::DEFAULT_ALERT_LIMIT);
    assert!(health_of(&e, &o, 0).0.unwrap().contains("limit of 1000"));
    let mut e = limited("    limit: 0\n");
    let o = e.evaluate(&hot(crate::rules::DEFAULT_ALERT_LIMIT + 1), 0.0);
    assert_eq!(e.active_alerts().len(), 1001);
    assert_eq!(health_of(&e, &o, 0), (None, 0.0));
    assert!(
        family(&o, "outrider_rule_alerts_cut_total")
            .unwrap()
            .samples
            .is_empty()
    );
}

#[test]
fn a_reload_that_changes_the_limit_starts_the_group_afresh() {
    let mut e = limited("    limit: 5\n");
    e.evaluate(&hot(5), 0.0);
    let groups = parse(
        "groups:\n  - name: g\n    limit: 2\n    rules:\n      - alert: Hot\n        selector: hot\n        threshold: {above: {warning: 0}}\n",
        "t.yml",
    )
    .unwrap();
    e.replace_rules(RuleSet::from_groups(groups).unwrap());
    assert!(e.active_alerts().is_empty());
    e.evaluate(&hot(5), 15.0);
    assert_eq!(held(&e), ["00000", "00001"]);
}

/// The hashes and comparisons of alert keys one steady tick does per
/// alert, with `count` alerts held and a tenth of them ending.
fn key_operations_per_alert(count: usize) -> f64 {
    let mut e = limited("    limit: 0\n");
    let families = hot(count);
    e.evaluate(&families, 0.0);
    e.evaluate(&families, 15.0);
    let mut fewer = families.clone();
    fewer[0].samples.truncate(count * 9 / 10);
    for s in &mut fewer[0].samples {
        s.value = if s.value > 0.0 { 1.0 } else { -1.0 };
    }
    fewer[0].samples.extend(
        families[0].samples[count * 9 / 10..]
            .iter()
            .map(|s| Sample {
                labels: Arc::clone(&s.labels),
                value: -1.0,
            }),
    );
    let before = KEY_OPERATIONS.with(|c| c.get());
    let o = e.evaluate(&fewer, 30.0);
    let spent = KEY_OPERATIONS.with(|c| c.get()) - before;
    assert_eq!(o.transitions.len(), count / 10);
    assert!(o.transitions.iter().all(|t| t.value == -1.0));
    spent as f64 / count as f64
}

#[test]
fn a_tick_does_the_same_work_per_alert_at_any_number_of_alerts() {
    // Not timed: counted. Finding a held alert is a hash and a
    // comparison, and so is finding the value that ended one; a scan of
    // the other alerts per alert would grow with their number.
    let small = key_operations_per_alert(300);
    let large = key_operations_per_alert(3000);
    assert!(small <= 3.0, "{small} key operations per alert");
    assert!(
        large <= small * 1.05,
        "{small} per alert at 300, {large} at 3000"
    );
}

#[test]
fn a_held_alert_is_not_copied_on_every_tick() {
    let mut e = limited("");
    let families = hot(50);
    let o = e.evaluate(&families, 0.0);
    let first = family(&o, "outrider_rule_state").unwrap().samples.clone();
    let o = e.evaluate(&families, 15.0);
    let second = &family(&o, "outrider_rule_state").unwrap().samples;
    assert_eq!(first.len(), 50);
    assert!(
        first
            .iter()
            .zip(second)
            .all(|(a, b)| Arc::ptr_eq(&a.labels, &b.labels)),
        "the state series' labels are built again"
    );
    // A new severity is a new series.
    let mut worse = families.clone();
    worse[0].samples[0].value = -1.0;
    let o = e.evaluate(&worse, 30.0);
    assert_eq!(family(&o, "outrider_rule_state").unwrap().samples.len(), 49);
}
