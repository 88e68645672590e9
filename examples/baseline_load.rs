//! A steady load for comparing costs: outrider's `Tracker` keeping the 1h
//! baseline (EWMA mean and deviation, plus the default rolling windows) of N
//! synthetic gauge series, one tick every STEP seconds, until killed.
//!
//! Usage: `baseline_load [N=10000] [STEP_SECONDS=15]`
//! A smaller step (e.g. 1) compresses time for a short run.
//!
//! Only the baseline work is done: no scrape, parse or HTTP exposition, so
//! the figures are what tracking adds on top of an outrider that already
//! collects the series.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use outrider::baseline::{Config, TrackConfig, Tracker};
use outrider::metric::Family;
use outrider::selector::Selector;

fn arg<T: std::str::FromStr>(args: &[String], index: usize, name: &str, default: T) -> T {
    match args.get(index) {
        None => default,
        Some(raw) => raw.parse().unwrap_or_else(|_| {
            eprintln!("baseline_load: {name} must be a number, got '{raw}'");
            eprintln!("usage: baseline_load [N=10000] [STEP_SECONDS=15]");
            std::process::exit(2);
        }),
    }
}

fn wall_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A noisy sine per series (1h period, xorshift noise), as the script's
/// Prometheus side serves.
fn fill(family: &mut Family, rng: &mut u64, now: f64) {
    for (i, sample) in family.samples.iter_mut().enumerate() {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let noise = (*rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        sample.value = 100.0
            + 10.0 * (std::f64::consts::TAU * now / 3600.0 + i as f64 * 0.1).sin()
            + 4.0 * noise;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let series: usize = arg(&args, 1, "N", 10_000);
    let step: f64 = arg(&args, 2, "STEP_SECONDS", 15.0);
    if series == 0 || !step.is_finite() || step <= 0.0 {
        eprintln!("baseline_load: N and STEP_SECONDS must be finite and more than 0");
        std::process::exit(2);
    }
    let step = Duration::from_secs_f64(step);

    let mut tracker = Tracker::new(Config {
        max_series: series * 2,
        track: vec![TrackConfig {
            selector: Selector::parse("bench_gauge").expect("valid selector"),
            seasonal: Some(false),
            volume_floor: 0.0,
            half_life: None,
            histogram: None,
        }],
        ..Config::default()
    });

    let mut family = Family::gauge("bench_gauge", "Synthetic gauge.");
    for i in 0..series {
        family.push([("series", i.to_string())], 0.0);
    }
    let mut families = vec![family];
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;

    eprintln!(
        "baseline_load: pid {}, {series} series, one tick every {:?}",
        std::process::id(),
        step
    );
    // Back-dated ticks up to min_samples, so the run measures the steady
    // state (every series exporting its baseline and scores) rather than the
    // first minutes, when only the windows are exported.
    let warm_up = tracker.config().min_samples;
    let start = wall_seconds() - f64::from(warm_up) * step.as_secs_f64();
    for k in 0..warm_up {
        let then = start + f64::from(k) * step.as_secs_f64();
        fill(&mut families[0], &mut rng, then);
        tracker.observe(&families, then);
    }
    eprintln!("baseline_load: warm after {warm_up} back-dated ticks");
    // Report about every 10 s: enough to see the tick cost, too rare to add
    // to it.
    let report_every = (10.0 / step.as_secs_f64()).ceil().max(1.0) as u64;
    let (mut ticks, mut spent, mut worst) = (0u64, Duration::ZERO, Duration::ZERO);
    let mut next = Instant::now();
    loop {
        // Wall-clock time, so the 1h half-life means an hour of this run, as
        // the 1h range does for Prometheus.
        let now = wall_seconds();
        let started = Instant::now();
        fill(&mut families[0], &mut rng, now);
        let exported: usize = tracker
            .observe(&families, now)
            .iter()
            .map(|f| f.samples.len())
            .sum();
        let took = started.elapsed();
        ticks += 1;
        spent += took;
        worst = worst.max(took);
        if ticks % report_every == 0 {
            eprintln!(
                "baseline_load: ticks={ticks} tracked={} exported={exported} mean_tick_ms={:.3} max_tick_ms={:.3}",
                tracker.len(),
                spent.as_secs_f64() * 1e3 / ticks as f64,
                worst.as_secs_f64() * 1e3,
            );
        }
        // A fixed schedule, so a slow tick does not shift the later ones;
        // when behind, skip to the next slot rather than burst.
        next += step;
        let current = Instant::now();
        while next <= current {
            next += step;
        }
        std::thread::sleep(next - current);
    }
}
