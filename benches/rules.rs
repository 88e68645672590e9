//! Cost of rule evaluation: one `Evaluator::evaluate` tick of 1,000 rules
//! over 100k series (the target: under 50 ms on one core), and the
//! memory the evaluator holds.
//!
//! The workload:
//! - 100 gauge metrics `bench_metric_0..99` × 1,000 series each, labelled
//!   `instance` (host-000..host-099), `zone` (z0..z3, by host) and `shard`
//!   (0..9). Metrics 0..89 are usages in per mille of a capacity; 90..99 are
//!   the capacities (1000) that `divide_by` rules divide by.
//! - The baseline gauges the anomaly rules read, as the tracker exports them
//!   (source labels + `metric`, one label set shared by the three families):
//!   `outrider_anomaly_ratio`, `outrider_anomaly_zscore` and
//!   `outrider_baseline` for the 10k series of metrics 0..9.
//! - 1,000 rules, 10 per metric, in four groups by kind: 820 threshold,
//!   90 threshold with `divide_by`, 40 anomaly, 50 absent. Selectors take the
//!   whole metric or a slice of it (`shard!="0"`, `zone=~"z0|z1|z2"`,
//!   `instance!~"host-09."`, ...); the printed summary says how many rules
//!   watch a series on average.
//! - 0.2% of the usage series sit over the levels (and their baselines'
//!   ratio and z-score with them), and another 0.05% flap on a given tick;
//!   10 absent rules name a host that does not exist. So alerts are pending
//!   and firing, and every tick has transitions, as in steady state.
//!
//! The second case, `firing_alerts`, is one rule (`selector: al_g,
//! threshold: {above: {warning: 0}}`) over N pushed gauges that all fire,
//! N = 3k, 10k, 30k, with short labels and with a 1 KB label each: the
//! rule's part of a tick (evaluate, the exposition of its series, the
//! /api/v1/rules and /api/v1/alerts documents). The time per alert should
//! not grow with N.
//!
//! Run: `cargo bench --bench rules` (one case: `cargo bench --bench rules --
//! firing_alerts`)

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use outrider::exposition::Exposition;
use outrider::metric::{Family, Labels, Sample, label_value};
use outrider::rules::eval::{Evaluator, State};
use outrider::rules::{Kind, RuleSet, parse};

const METRICS: usize = 100;
const SERIES_PER_METRIC: usize = 1000;
const SHARDS: usize = 10;
/// Metrics 0..ANOMALOUS have anomaly rules, so the baselines track them.
const ANOMALOUS: usize = 10;
/// Metrics CAPACITY.. are the capacities the divide_by rules divide by.
const CAPACITY: usize = 90;
/// Absent rules that watch metrics 10..10 + ABSENT, one series each.
const ABSENT: usize = 50;
/// Of them, every MISSING_EVERY-th names a host that does not exist.
const MISSING_EVERY: usize = 5;
const START: f64 = 1_700_000_000.0;
const TICK: f64 = 15.0;
/// The budget for one tick.
const BUDGET_MS: f64 = 50.0;

fn metric_name(m: usize) -> String {
    format!("bench_metric_{m}")
}

/// splitmix64: deterministic per-series noise without a dependency.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hash(m: usize, i: usize, salt: u64) -> u64 {
    mix(((m as u64) << 32 | i as u64) ^ salt.wrapping_mul(0x2545_f491_4f6c_dd1d))
}

/// A uniform number in [0, 1).
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether a usage series is over its levels on this tick: 0.2% always, and
/// another 0.05% on a given tick.
fn hot(m: usize, i: usize, tick: u64) -> bool {
    m < CAPACITY && (hash(m, i, 0) % 500 == 0 || hash(m, i, tick + 1) % 2000 == 0)
}

fn usage(m: usize, i: usize, tick: u64) -> f64 {
    if m >= CAPACITY {
        1000.0
    } else if hot(m, i, tick) {
        930.0 + 65.0 * unit(hash(m, i, 7))
    } else {
        100.0 + 650.0 * unit(hash(m, i, 0)) + 20.0 * (unit(hash(m, i, tick + 1)) - 0.5)
    }
}

fn ratio(m: usize, i: usize, tick: u64) -> f64 {
    if hot(m, i, tick) {
        2.2 + unit(hash(m, i, 9))
    } else {
        1.0 + 0.2 * (unit(hash(m, i, tick + 11)) - 0.5)
    }
}

fn zscore(m: usize, i: usize, tick: u64) -> f64 {
    if hot(m, i, tick) {
        5.0 + 3.0 * unit(hash(m, i, 13))
    } else {
        3.0 * (unit(hash(m, i, tick + 17)) - 0.5)
    }
}

fn series_labels(i: usize) -> Labels {
    let host = i / SHARDS;
    vec![
        ("instance".into(), format!("host-{host:03}")),
        ("zone".into(), format!("z{}", host % 4)),
        ("shard".into(), (i % SHARDS).to_string()),
    ]
}

/// The tick's families: 100k source series, then the three baseline
/// families of the anomalous metrics.
struct Workload {
    families: Vec<Family>,
    tick: u64,
}

impl Workload {
    fn new() -> Self {
        let mut families: Vec<Family> = (0..METRICS)
            .map(|m| {
                let mut family =
                    Family::gauge(metric_name(m), "Synthetic series for the rules bench.");
                family.samples = (0..SERIES_PER_METRIC)
                    .map(|i| Sample {
                        labels: Arc::new(series_labels(i)),
                        value: 0.0,
                    })
                    .collect();
                family
            })
            .collect();
        let mut baselines = [
            Family::gauge(
                "outrider_anomaly_ratio",
                "Current value divided by the baseline.",
            ),
            Family::gauge(
                "outrider_anomaly_zscore",
                "Standard deviations from the baseline.",
            ),
            Family::gauge("outrider_baseline", "Expected value of the series."),
        ];
        for m in 0..ANOMALOUS {
            for i in 0..SERIES_PER_METRIC {
                let mut labels = series_labels(i);
                labels.push(("metric".into(), metric_name(m)));
                let labels = Arc::new(labels);
                for family in &mut baselines {
                    family.samples.push(Sample {
                        labels: Arc::clone(&labels),
                        value: 0.0,
                    });
                }
            }
        }
        families.extend(baselines);
        let mut workload = Workload { families, tick: 0 };
        workload.refresh();
        workload
    }

    /// This tick's values.
    fn refresh(&mut self) {
        let tick = self.tick;
        for (m, family) in self.families.iter_mut().take(METRICS).enumerate() {
            for (i, sample) in family.samples.iter_mut().enumerate() {
                sample.value = usage(m, i, tick);
            }
        }
        let [ratios, zscores, baselines] = &mut self.families[METRICS..] else {
            unreachable!("three baseline families");
        };
        for (k, ((r, z), b)) in ratios
            .samples
            .iter_mut()
            .zip(&mut zscores.samples)
            .zip(&mut baselines.samples)
            .enumerate()
        {
            let (m, i) = (k / SERIES_PER_METRIC, k % SERIES_PER_METRIC);
            r.value = ratio(m, i, tick);
            z.value = zscore(m, i, tick);
            b.value = 450.0;
        }
    }

    fn series(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }
}

/// One rule as YAML, in the group of its kind.
struct RuleText {
    group: &'static str,
    yaml: String,
}

fn rule(group: &'static str, alert: &str, selector: &str, body: &str) -> RuleText {
    let mut yaml = format!("      - alert: {alert}\n        selector: '{selector}'\n");
    for line in body.lines() {
        let _ = writeln!(yaml, "        {line}");
    }
    let _ = writeln!(
        yaml,
        "        summary: '{{{{ $labels.instance }}}} shard {{{{ $labels.shard }}}} at {{{{ $value | humanize }}}}'"
    );
    RuleText { group, yaml }
}

/// The ten rules of metric `m`.
fn rules_of(m: usize) -> Vec<RuleText> {
    let name = metric_name(m);
    let sel = |matchers: &str| {
        if matchers.is_empty() {
            name.clone()
        } else {
            format!("{name}{{{matchers}}}")
        }
    };
    let t = |n: usize, matchers: &str, body: &str| {
        rule("threshold", &format!("Usage{m}T{n}"), &sel(matchers), body)
    };
    if m >= CAPACITY {
        // Capacities: watched for shrinking, whole and per zone.
        let mut rules = vec![
            t(
                0,
                "",
                "threshold: {below: {warning: 500, critical: 100}}\nfor: 5m",
            ),
            t(1, "", "threshold: {above: {warning: 2000}}"),
            t(2, "shard=~\"[0-4]\"", "threshold: {below: {warning: 900}}"),
            t(3, "shard=~\"[5-9]\"", "threshold: {below: {warning: 900}}"),
            t(
                4,
                "instance!=\"host-000\"",
                "threshold: {below: {critical: 1}}",
            ),
            t(
                5,
                "shard!=\"0\"",
                "threshold: {below: {warning: 800}}\nfor: 10m",
            ),
        ];
        for zone in 0..4 {
            rules.push(t(
                6 + zone,
                &format!("zone=\"z{zone}\""),
                "threshold: {below: {warning: 700, critical: 300}}\nfor: 1m",
            ));
        }
        return rules;
    }
    let capacity = metric_name(CAPACITY + m % (METRICS - CAPACITY));
    let mut rules = vec![
        t(
            0,
            "",
            "threshold: {above: {warning: 900, critical: 950}}\nfor: 1m",
        ),
        t(1, "", "threshold: {above: {critical: 980}}\nfor: 10m"),
        t(
            2,
            "shard!=\"0\"",
            "threshold: {above: {warning: 850}}\nkeep_firing_for: 5m",
        ),
        t(
            3,
            "zone=~\"z0|z1|z2\"",
            "threshold: {above: {warning: 920, critical: 960}}\nfor: 2m",
        ),
        t(4, "zone=\"z3\"", "threshold: {above: {warning: 800}}"),
        rule(
            "divide_by",
            &format!("Usage{m}Ratio"),
            &sel(""),
            &format!(
                "threshold: {{divide_by: {capacity}, above: {{warning: 0.9, critical: 0.95}}}}\nfor: 1m"
            ),
        ),
    ];
    if m < ANOMALOUS {
        let a = |n: usize, matchers: &str, body: &str| {
            rule(
                "anomaly",
                &format!("Usage{m}Anomaly{n}"),
                &sel(matchers),
                body,
            )
        };
        rules.extend([
            a(
                0,
                "",
                "anomaly: {ratio: {warning: 1.5, critical: 2}}\nfor: 2m",
            ),
            a(
                1,
                "",
                "anomaly: {zscore: {warning: 4, critical: 6}, direction: both}",
            ),
            a(
                2,
                "shard!=\"0\"",
                "anomaly: {ratio: {warning: 1.4, critical: 1.6}, zscore: {warning: 3}}",
            ),
            a(
                3,
                "zone=\"z0\"",
                "anomaly: {ratio: {warning: 1.3}, direction: down}",
            ),
        ]);
    } else {
        rules.extend([
            t(
                5,
                "instance!~\"host-09.\"",
                "threshold: {below: {warning: 1}}\nfor: 5m",
            ),
            t(
                6,
                "instance!=\"host-000\"",
                "threshold: {above: {critical: 990}}",
            ),
            t(
                7,
                "shard=~\"[0-7]\"",
                "threshold: {above: {warning: 940}}\nfor: 10m",
            ),
        ]);
        if m < ANOMALOUS + ABSENT {
            let k = m - ANOMALOUS;
            // Every fifth names a host that is gone: it fires.
            let host = if k % MISSING_EVERY == 0 { 100 } else { k };
            rules.push(rule(
                "absent",
                &format!("Usage{m}Absent"),
                &sel(&format!(
                    "instance=\"host-{host:03}\", shard=\"{}\"",
                    k % SHARDS
                )),
                "absent: 5m",
            ));
        } else {
            rules.push(t(8, "", "threshold: {above: {warning: 850}}\nfor: 30m"));
        }
    }
    rules
}

fn rule_set() -> RuleSet {
    let mut groups: BTreeMap<&str, String> = BTreeMap::new();
    for m in 0..METRICS {
        for r in rules_of(m) {
            groups.entry(r.group).or_default().push_str(&r.yaml);
        }
    }
    let mut text = String::from("groups:\n");
    for (name, rules) in &groups {
        let _ = write!(text, "  - name: bench_{name}\n    rules:\n{rules}");
    }
    RuleSet::from_groups(parse(&text, "bench.yml").expect("bench rules parse"))
        .expect("unique group names")
}

/// Per rule kind: rules, (series, rule) pairs watched, samples each tick scans.
#[derive(Default)]
struct Coverage {
    rules: usize,
    watched: usize,
    scanned: usize,
}

fn coverage(rules: &RuleSet, families: &[Family]) -> BTreeMap<String, Coverage> {
    let by_name = |n: &str| families.iter().find(|f| f.name == n);
    let mut out: BTreeMap<String, Coverage> = BTreeMap::new();
    for group in &rules.groups {
        for rule in &group.rules {
            let selector = rule.selector.as_ref().expect("no slo rules here");
            let metric = selector.metric.as_deref().expect("named metric");
            let entry = out.entry(group.name.clone()).or_default();
            entry.rules += 1;
            let family = if matches!(rule.kind, Kind::Anomaly(_)) {
                by_name("outrider_anomaly_ratio")
            } else {
                by_name(metric)
            };
            let Some(family) = family else { continue };
            let matched = family
                .samples
                .iter()
                .filter(|s| {
                    selector.matches_labels(&s.labels)
                        && (!matches!(rule.kind, Kind::Anomaly(_))
                            || label_value(&s.labels, "metric") == Some(metric))
                })
                .count();
            entry.scanned += family.samples.len();
            if !matches!(rule.kind, Kind::Absent(_)) {
                entry.watched += matched;
            }
        }
    }
    out
}

/// The process' resident memory in KiB, from /proc/self/status.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn evaluate_tick(c: &mut Criterion) {
    let rss_start = rss_kib();
    let mut workload = Workload::new();
    let rss_families = rss_kib();
    let rules = rule_set();
    let covered = coverage(&rules, &workload.families);

    let rss_before = rss_kib();
    let mut evaluator = Evaluator::new(rules, Duration::from_secs(60));
    // Warm-up: two ticks, then one 10 minutes later, so `for` durations up
    // to 10m and the absent rules' 5m have passed, as in steady state.
    let mut now = START;
    for step in [0.0, TICK, 600.0] {
        now += step;
        workload.tick += 1;
        workload.refresh();
        black_box(evaluator.evaluate(&workload.families, now));
    }
    let rss_after = rss_kib();

    // Direct timing of a few ticks (criterion hands back no figure): the
    // summary, and how long to let criterion run.
    let ticks = 5;
    let mut spent = Duration::ZERO;
    let mut transitions = 0;
    let mut notifications = 0;
    for _ in 0..ticks {
        now += TICK;
        workload.tick += 1;
        workload.refresh();
        let started = Instant::now();
        let outcome = evaluator.evaluate(&workload.families, now);
        spent += started.elapsed();
        transitions += outcome.transitions.len();
        notifications += outcome.notifications.len();
        drop(black_box(outcome));
    }
    let tick_seconds = spent.as_secs_f64() / f64::from(ticks);
    let rss_ticked = rss_kib();

    let series = workload.series();
    let source_series = METRICS * SERIES_PER_METRIC;
    let rule_count: usize = evaluator.rules().groups.iter().map(|g| g.rules.len()).sum();
    let watched: usize = covered.values().map(|c| c.watched).sum();
    let scanned: usize = covered.values().map(|c| c.scanned).sum();
    let active = evaluator.active_alerts();
    let firing = active
        .iter()
        .filter(|(_, _, a)| a.state == State::Firing)
        .count();
    eprintln!(
        "rules: {series} series ({source_series} source + {} baseline gauges), {rule_count} rules",
        series - source_series
    );
    eprintln!(
        "rules: {watched} (series, rule) checks per tick = {:.1} rules per source series; {scanned} samples scanned by the selectors",
        watched as f64 / source_series as f64
    );
    for (group, c) in &covered {
        let seconds = evaluator
            .rules()
            .groups
            .iter()
            .find(|g| &g.name == group)
            .map_or(0.0, |g| evaluator.group_seconds(g));
        eprintln!(
            "rules:   {group}: {} rules, {} checks, {} scanned, {:.1} ms in the last tick",
            c.rules,
            c.watched,
            c.scanned,
            seconds * 1e3
        );
    }
    eprintln!(
        "rules: {} alerts active ({firing} firing, {} pending); per tick {:.0} transitions, {:.0} notifications",
        active.len(),
        active.len() - firing,
        transitions as f64 / f64::from(ticks),
        notifications as f64 / f64::from(ticks),
    );
    eprintln!(
        "rules: {:.1} ms/tick (mean of {ticks}) = {:.2}% of one core at a {TICK} s tick; budget {BUDGET_MS} ms: {}",
        tick_seconds * 1e3,
        tick_seconds / TICK * 100.0,
        if tick_seconds * 1e3 <= BUDGET_MS {
            "met"
        } else {
            "MISSED"
        },
    );
    eprintln!(
        "rules: VmRSS (approximate: allocator reuse and the tick's transient output included): start {}, with families {}, rules parsed {}, evaluator built + 3 ticks {} (+{}), after {ticks} more ticks {}",
        mib(rss_start),
        mib(rss_families),
        mib(rss_before),
        mib(rss_after),
        mib(rss_after.zip(rss_before).map(|(a, b)| a.saturating_sub(b))),
        mib(rss_ticked),
    );

    let mut group = c.benchmark_group("rules");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        // Room for the 10 samples with margin, as ticks vary on a busy
        // machine, so criterion does not warn.
        .measurement_time(Duration::from_secs_f64((tick_seconds * 12.0).max(3.0)))
        .throughput(Throughput::Elements(watched as u64));
    group.bench_function("evaluate_tick/1000_rules_100k_series", |b| {
        // New values each tick (untimed); dropping the outcome is timed, as
        // a real tick frees it too.
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                now += TICK;
                workload.tick += 1;
                workload.refresh();
                let started = Instant::now();
                drop(black_box(evaluator.evaluate(&workload.families, now)));
                spent += started.elapsed();
            }
            spent
        })
    });
    group.finish();
}

/// The gauges of the firing-alerts case: `al_g{instance, job[, blob]}`,
/// where `blob` is 1 KB that differs per series in its last bytes.
fn firing_family(n: usize, long: bool) -> Family {
    let mut family = Family::gauge("al_g", "Pushed gauges that all fire.");
    let filler = "x".repeat(1000);
    family.samples = (0..n)
        .map(|i| {
            let mut labels: Labels = Vec::new();
            if long {
                labels.push(("blob".into(), format!("{filler}{i:08}")));
            }
            labels.push(("instance".into(), format!("i-{i:06}")));
            labels.push(("job".into(), "pushed".to_owned()));
            Sample {
                labels: Arc::new(labels),
                value: 1.0 + (i % 7) as f64,
            }
        })
        .collect();
    family
}

/// The one rule, in a group with `limit` (0: none).
fn firing_rules(limit: usize) -> RuleSet {
    let text = format!(
        "groups:\n  - name: firing\n    limit: {limit}\n    rules:\n      - alert: AllFire\n        selector: al_g\n        threshold: {{above: {{warning: 0}}}}\n        summary: '{{{{ $labels.instance }}}} at {{{{ $value }}}}'\n"
    );
    RuleSet::from_groups(parse(&text, "firing.yml").expect("the bench rule parses"))
        .expect("one group")
}

/// The rule's part of one tick: evaluate, encode its series, the two API
/// documents, and the notifications when due.
fn firing_tick(evaluator: &mut Evaluator, families: &[Family], now: f64) -> usize {
    let outcome = evaluator.evaluate(families, now);
    let sent: usize = outcome
        .notifications
        .iter()
        .map(|a| outrider::notify::encode(a).len())
        .sum();
    let exposition = Exposition::new(outcome.families);
    let (rules, alerts) = outrider::rules::api::documents(evaluator, 1.0);
    black_box((exposition, sent));
    rules.len() + alerts.len()
}

fn firing_alerts(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1));
    // Without a limit, then the default limit of 1,000 kept full by 30,000.
    let cases = [
        (false, 3_000, 0),
        (false, 10_000, 0),
        (false, 30_000, 0),
        (true, 3_000, 0),
        (true, 10_000, 0),
        (true, 30_000, 0),
        (true, 30_000, outrider::rules::DEFAULT_ALERT_LIMIT),
    ];
    for (long, n, limit) in cases {
        let families = vec![firing_family(n, long)];
        let mut evaluator = Evaluator::new(firing_rules(limit), Duration::from_secs(60));
        // The first tick creates the alerts and sends them all; the
        // steady state is what follows, one tick a second.
        let mut now = START;
        let started = Instant::now();
        firing_tick(&mut evaluator, &families, now);
        let first = started.elapsed();
        let ticks = 3;
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..ticks {
            now += 1.0;
            bytes = firing_tick(&mut evaluator, &families, now);
        }
        let steady = started.elapsed().as_secs_f64() / f64::from(ticks);
        // Where one more tick's time goes.
        now += 1.0;
        let started = Instant::now();
        let outcome = evaluator.evaluate(&families, now);
        let evaluated = started.elapsed();
        let exposition = Exposition::new(outcome.families);
        let exposed = started.elapsed() - evaluated;
        black_box(outrider::rules::api::documents(&evaluator, 1.0));
        let documented = started.elapsed() - evaluated - exposed;
        drop(black_box(exposition));
        let label = match (long, limit) {
            (false, _) => "short".to_owned(),
            (true, 0) => "1KB".to_owned(),
            (true, limit) => format!("1KB_limit{limit}"),
        };
        eprintln!(
            "firing_alerts {n} alerts, {label} labels: first tick {:.1} ms, then {:.1} ms/tick = {:.2} µs per alert (evaluate {:.1} ms, exposition {:.1} ms, API {:.1} ms); API documents {:.1} MB; VmRSS {}",
            first.as_secs_f64() * 1e3,
            steady * 1e3,
            steady / n as f64 * 1e6,
            evaluated.as_secs_f64() * 1e3,
            exposed.as_secs_f64() * 1e3,
            documented.as_secs_f64() * 1e3,
            bytes as f64 / 1e6,
            mib(rss_kib()),
        );
        group
            .measurement_time(Duration::from_secs_f64((steady * 12.0).max(3.0)))
            .throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("firing_alerts/{n}_{label}"), |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    now += 1.0;
                    black_box(firing_tick(&mut evaluator, &families, now));
                }
                started.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, evaluate_tick, firing_alerts);
criterion_main!(benches);
