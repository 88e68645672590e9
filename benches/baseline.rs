//! Cost of baselines: updates per second of one series' state, and one full
//! `Tracker::observe` tick over 100k gauge series.
//!
//! Run: `cargo bench --bench baseline`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use outrider::baseline::state::{SeriesState, Settings};
use outrider::baseline::{Config, TrackConfig, Tracker};
use outrider::metric::Family;
use outrider::selector::Selector;

const START: f64 = 1_700_000_000.0;
const TICK: f64 = 15.0;
/// Updates per criterion iteration, so the loop, not the harness, is timed.
const BATCH: usize = 1000;
const TICK_SERIES: usize = 100_000;

/// A deterministic noisy sine: xorshift noise on a 1 h period.
struct Signal(u64);

impl Signal {
    fn noise(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    fn value(&mut self, series: usize, now: f64) -> f64 {
        let phase = series as f64 * 0.1;
        100.0 + 10.0 * (std::f64::consts::TAU * now / 3600.0 + phase).sin() + 4.0 * self.noise()
    }
}

fn seasonal() -> Settings {
    Settings {
        seasonal: true,
        ..Settings::default()
    }
}

/// A state past warm-up, so `score` does the whole computation rather than
/// returning None early.
fn warm_state(settings: &Settings, signal: &mut Signal, now: &mut f64) -> SeriesState {
    let mut state = SeriesState::new(settings);
    for _ in 0..200 {
        state.update(signal.value(0, *now), *now, settings);
        *now += TICK;
    }
    state
}

fn series_state(c: &mut Criterion) {
    let plain = Settings::default();
    let seasonal = seasonal();
    eprintln!(
        "SeriesState::size_bytes: plain {} B, seasonal {} B (x{TICK_SERIES} series: {:.1} MiB / {:.1} MiB)",
        SeriesState::new(&plain).size_bytes(),
        SeriesState::new(&seasonal).size_bytes(),
        (SeriesState::new(&plain).size_bytes() * TICK_SERIES) as f64 / 1048576.0,
        (SeriesState::new(&seasonal).size_bytes() * TICK_SERIES) as f64 / 1048576.0,
    );

    let mut group = c.benchmark_group("series_state");
    group
        .throughput(Throughput::Elements(BATCH as u64))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    // Precomputed so the sine and the noise are not what is measured.
    let mut signal = Signal(0x9e37_79b9_7f4a_7c15);
    let values: Vec<f64> = (0..BATCH)
        .map(|i| signal.value(0, START + i as f64 * TICK))
        .collect();

    for (name, settings) in [("plain", &plain), ("seasonal", &seasonal)] {
        let mut now = START;
        let mut state = warm_state(settings, &mut signal, &mut now);
        group.bench_function(format!("update/{name}"), |b| {
            b.iter(|| {
                for &v in &values {
                    state.update(black_box(v), now, settings);
                    // Time keeps moving, so the windows roll and the
                    // seasonal profile visits every hour of the week.
                    now += TICK;
                }
            })
        });

        let mut now = START;
        let mut state = warm_state(settings, &mut signal, &mut now);
        group.bench_function(format!("update+score/{name}"), |b| {
            b.iter(|| {
                for &v in &values {
                    black_box(state.score(black_box(v), now, settings));
                    state.update(v, now, settings);
                    now += TICK;
                }
            })
        });
    }
    group.finish();
}

fn tracker(series: usize) -> Tracker {
    Tracker::new(Config {
        max_series: series * 2,
        track: vec![TrackConfig {
            selector: Selector::parse("bench_gauge").expect("valid selector"),
            seasonal: Some(false),
            volume_floor: 0.0,
            half_life: None,
            histogram: None,
        }],
        ..Config::default()
    })
}

fn gauges(series: usize, signal: &mut Signal, now: f64) -> Family {
    let mut family = Family::gauge("bench_gauge", "Synthetic gauge for the baseline bench.");
    for i in 0..series {
        family.push([("series", i.to_string())], signal.value(i, now));
    }
    family
}

fn refresh(family: &mut Family, signal: &mut Signal, now: f64) {
    for (i, sample) in family.samples.iter_mut().enumerate() {
        sample.value = signal.value(i, now);
    }
}

fn tracker_tick(c: &mut Criterion) {
    let mut signal = Signal(42);
    let mut now = START;
    let mut families = vec![gauges(TICK_SERIES, &mut signal, now)];
    let mut tracker = tracker(TICK_SERIES);
    // Up to min_samples, so every series exports its full set of gauges, as
    // in steady state; the first tick alone also inserts every series.
    for _ in 0..tracker.config().min_samples {
        refresh(&mut families[0], &mut signal, now);
        black_box(tracker.observe(&families, now));
        now += TICK;
    }
    let exported: usize = tracker
        .observe(&families, now)
        .iter()
        .map(|f| f.samples.len())
        .sum();
    now += TICK;
    eprintln!(
        "tracker: {} series tracked, {exported} samples exported per tick",
        tracker.len()
    );

    let mut group = c.benchmark_group("tracker");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        // A tick takes about a second: room for 10 of them, so criterion
        // does not warn.
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(TICK_SERIES as u64));
    group.bench_function("observe_tick/100k_gauges", |b| {
        // New values each tick (untimed); dropping the output is timed, as a
        // real tick frees it too.
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                refresh(&mut families[0], &mut signal, now);
                let started = Instant::now();
                drop(black_box(tracker.observe(&families, now)));
                spent += started.elapsed();
                now += TICK;
            }
            spent
        })
    });
    group.finish();

    // Criterion gives no programmatic result, so time a few ticks directly
    // for the "share of one core" figure.
    let ticks = 5;
    let mut spent = Duration::ZERO;
    for _ in 0..ticks {
        refresh(&mut families[0], &mut signal, now);
        let started = Instant::now();
        black_box(tracker.observe(&families, now));
        spent += started.elapsed();
        now += TICK;
    }
    let tick_seconds = spent.as_secs_f64() / f64::from(ticks);
    eprintln!(
        "tracker tick, {TICK_SERIES} gauges: {:.1} ms/tick (mean of {ticks}) = {:.2}% of one core at a {TICK} s tick",
        tick_seconds * 1e3,
        tick_seconds / TICK * 100.0,
    );
}

criterion_group!(benches, series_state, tracker_tick);
criterion_main!(benches);
