//! Scores outrider's anomaly score and two simple detectors on a Numenta
//! Anomaly Benchmark corpus (a folder of `<category>/<file>.csv` and a
//! `windows.json`), with NAB's standard profile and one threshold per
//! detector for the whole corpus; and per category left out, with the
//! threshold fitted on the others, under NAB's three profiles. A second
//! table gives every category of the corpus left out in turn, so any
//! corpus in that layout can be scored (tests/data/cloud-monitoring too).
//!
//! cargo run --release --example nab_score -- tests/data/nab [--every N]
//!     [--offset X] [--jitter S] [--stretch K] [--gaps H] [--keep P]
//!     [--repeat K] [--scrape S [--changing | --transits]] [--skyline]
//!
//! `--skyline` adds a fourth detector, Skyline's consensus as NAB runs it
//! (see `skyline`), for comparison with its published scores.
//!
//! The options change the series, not the labels, to see whether the score
//! holds on the same anomalies recorded differently:
//! - `--every N`: each run of N points averaged into one (12: the 5-minute
//!   series sampled hourly);
//! - `--offset X`: X added to every value (a unit with another zero);
//! - `--jitter S`: each timestamp moved by up to S/2 seconds either way, the
//!   same for every run (scrape times that wander);
//! - `--stretch K`: every interval, and the windows with them, K times as
//!   long (the same shapes, sampled K times as seldom over K times as long;
//!   a daily cycle becomes a K-day one);
//! - `--gaps H`: no samples for H hours every 36 hours, from the 30th hour
//!   on (a target that was down, scrapes that failed), so the gaps fall at
//!   every hour of the day in turn;
//! - `--keep P`: each sample kept with probability P, the same samples
//!   every run (scrapes lost at random; intervals as uneven as those of a
//!   sensor that reports when it can);
//! - `--repeat K`: each file played K times, a day apart, its windows with
//!   it (files K times as long, as real exports over months are; NAB's
//!   probation grows with them). The day between copies brings each
//!   anomaly back on another day of the week, not at an hour of the week
//!   the profile has learned it at.
//! - `--scrape S`: each value held and sampled every S seconds until the
//!   next (a gauge that changes at the file's pace, scraped every S
//!   seconds); each sample of the file is judged by the highest score of
//!   its scrapes, so the labels and NAB's probation are those of the file.
//! - `--changing`, with `--scrape`: each scrape reads the straight line
//!   from a value to the next instead of holding it (a gauge that changes
//!   at every scrape with the file's shapes: a queue that builds, memory
//!   that grows).
//! - `--transits`, with `--scrape`: each value held, but its first scrape
//!   reads halfway from the one before (a figure caught half-written).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use outrider::backtest::input::{self, Series};
use outrider::backtest::nab::{self, CorpusFile};
use outrider::backtest::replay;
use outrider::baseline;
use outrider::rules::RuleSet;

struct File {
    category: String,
    /// The series as the detectors see it.
    series: Series,
    /// The file's own sample times, each followed by `scrapes[i]` samples
    /// of `series` (all 1 unless `--scrape`).
    times: Vec<f64>,
    scrapes: Vec<usize>,
    windows: Vec<(f64, f64)>,
}

/// How the series are changed before scoring; see the options above.
struct Recording {
    every: usize,
    offset: f64,
    jitter: f64,
    stretch: f64,
    gap_hours: f64,
    keep: f64,
    repeat: usize,
    scrape: f64,
    changing: bool,
    transits: bool,
}

/// A fixed linear congruential sequence of uniform numbers in [0, 1): the
/// same jitter and the same lost samples every run.
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Keeps the samples of `series` whose time `accept` takes, in order.
fn retain(series: &mut Series, mut accept: impl FnMut(f64) -> bool) {
    let kept: Vec<(f64, f64)> = series
        .times
        .iter()
        .zip(&series.values)
        .filter(|(time, _)| accept(**time))
        .map(|(time, value)| (*time, *value))
        .collect();
    (series.times, series.values) = kept.into_iter().unzip();
}

impl Recording {
    /// `time` on a timeline `stretch` times as slow from `start`.
    fn stretched(&self, start: f64, time: f64) -> f64 {
        start + (time - start) * self.stretch
    }

    /// How far each copy of a series played `repeat` times is moved: its
    /// span, one interval and a day.
    fn period(series: &Series) -> f64 {
        match series.times[..] {
            [first, second, ..] => {
                series.times[series.times.len() - 1] - first + (second - first) + 86400.0
            }
            _ => 0.0,
        }
    }

    /// `series` played `repeat` times, each copy `period` after the last.
    fn repeated(&self, mut series: Series, period: f64) -> Series {
        let (times, values) = (series.times.clone(), series.values.clone());
        for copy in 1..self.repeat {
            series
                .times
                .extend(times.iter().map(|t| t + copy as f64 * period));
            series.values.extend_from_slice(&values);
        }
        series
    }

    fn apply(&self, series: Series) -> Series {
        let mut series = series.averaged(self.every);
        for value in &mut series.values {
            *value += self.offset;
        }
        if let Some(&start) = series.times.first() {
            for time in &mut series.times {
                *time = self.stretched(start, *time);
            }
        }
        let mut uniform = Uniform(11);
        for time in &mut series.times {
            *time += self.jitter * (uniform.next() - 0.5);
        }
        if self.gap_hours > 0.0 {
            let start = series.times.first().copied().unwrap_or_default();
            retain(&mut series, |time| {
                let since = (time - start) / 3600.0 - 30.0;
                !(since >= 0.0 && since.rem_euclid(36.0) < self.gap_hours)
            });
        }
        if self.keep < 1.0 {
            let mut uniform = Uniform(7);
            retain(&mut series, |_| uniform.next() < self.keep);
        }
        series
    }
}

fn load(dir: &Path, recording: &Recording) -> Vec<File> {
    let windows_text = std::fs::read_to_string(dir.join("windows.json")).expect("windows.json");
    let windows: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(&windows_text).expect("windows.json: file -> [[start, end]]");
    let mut files = Vec::new();
    for (name, spans) in windows {
        let path: PathBuf = dir.join(&name);
        let series = input::read_file(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0);
        let start = series.times.first().copied().unwrap_or_default();
        let period = Recording::period(&series);
        let series = recording.apply(recording.repeated(series, period));
        let spans: Vec<(f64, f64)> = (0..recording.repeat)
            .flat_map(|copy| {
                let shift = copy as f64 * period;
                spans.iter().map(move |(a, b)| {
                    let at = |t: &str| input::parse_timestamp(t).expect("window time") + shift;
                    (at(a), at(b))
                })
            })
            .map(|(a, b)| (recording.stretched(start, a), recording.stretched(start, b)))
            .collect();
        let times = series.times.clone();
        let (series, scrapes) = if recording.scrape > 0.0 && recording.changing {
            series.scraped_changing(recording.scrape)
        } else if recording.scrape > 0.0 && recording.transits {
            series.scraped_with_transits(recording.scrape)
        } else if recording.scrape > 0.0 {
            series.scraped(recording.scrape)
        } else {
            let ones = vec![1; series.times.len()];
            (series, ones)
        };
        files.push(File {
            category: name.split('/').next().unwrap_or_default().to_owned(),
            series,
            times,
            scrapes,
            windows: spans,
        });
    }
    files
}

/// Etsy Skyline's consensus as NAB runs it: seven tests vote on each
/// value against the whole history so far, and the score is the share
/// that say anomalous. A tail is the mean of the last three values; each
/// test asks whether it (or the value) lies more than three deviations
/// from: the mean of all values; the mean of all values before it; an
/// EWMA of centre of mass 50 and its deviation; the mean and deviation of
/// the hour a day ago; a least-squares line through all values (its
/// residuals' deviation, both rounding to nonzero). And whether the value
/// lies over 6 median absolute deviations from the median, and whether
/// the tail falls in one of 15 equal bins of the history's range that
/// holds 20 values or fewer. Each step reads all the history, so it is
/// slow on long files: only with `--skyline`.
fn skyline(series: &Series) -> Vec<f64> {
    const TESTS: f64 = 7.0;
    let (times, values) = (&series.times, &series.values);
    let mut scores = Vec::with_capacity(values.len());
    let (mut sum, mut squares) = (0.0, 0.0);
    // Least squares over (days since the first sample, value).
    let (mut sum_x, mut sum_xx, mut sum_xy) = (0.0, 0.0, 0.0);
    // pandas' adjusted EWMA and its bias-corrected deviation.
    let keep = 1.0 - 1.0 / 51.0;
    let (mut w, mut w2, mut wx, mut wxx) = (0.0, 0.0, 0.0, 0.0);
    let mut sorted: Vec<f64> = Vec::with_capacity(values.len());
    let mut distances: Vec<f64> = Vec::with_capacity(values.len());
    let three_sigma = |x: f64, mean: f64, sd: f64| (x - mean).abs() > 3.0 * sd;
    let x_of = |i: usize| (times[i] - times[0]) / 86400.0;
    for (i, &v) in values.iter().enumerate() {
        let n = (i + 1) as f64;
        let tail = values[i.saturating_sub(2)..=i].iter().sum::<f64>() / (i.min(2) + 1) as f64;
        let mut votes = 0.0;
        let before = (
            sum / i as f64,
            ((squares - sum * sum / i as f64) / (i as f64 - 1.0))
                .max(0.0)
                .sqrt(),
        );
        sum += v;
        squares += v * v;
        let x = x_of(i);
        sum_x += x;
        sum_xx += x * x;
        sum_xy += x * v;
        w = w * keep + 1.0;
        w2 = w2 * keep * keep + 1.0;
        wx = wx * keep + v;
        wxx = wxx * keep + v * v;
        let pos = sorted.partition_point(|&s| s < v);
        sorted.insert(pos, v);
        if i >= 1 {
            let mean = sum / n;
            let sd = ((squares - sum * mean) / (n - 1.0)).max(0.0).sqrt();
            votes += f64::from(u8::from(three_sigma(tail, mean, sd)));
            let ewma = wx / w;
            let biased = (wxx / w - ewma * ewma).max(0.0);
            let ewm_sd = (biased * w * w / (w * w - w2)).sqrt();
            votes += f64::from(u8::from(three_sigma(v, ewma, ewm_sd)));
        }
        if i >= 2 {
            votes += f64::from(u8::from(three_sigma(v, before.0, before.1)));
            let (mean_x, mean_y) = (sum_x / n, sum / n);
            let sxx = sum_xx - n * mean_x * mean_x;
            if sxx > 0.0 {
                let slope = (sum_xy - n * mean_x * mean_y) / sxx;
                let intercept = mean_y - slope * mean_x;
                let syy = squares - n * mean_y * mean_y;
                let sd = ((syy - slope * (sum_xy - n * mean_x * mean_y)).max(0.0) / n).sqrt();
                let residual = (i - 2..=i)
                    .map(|j| values[j] - (slope * x_of(j) + intercept))
                    .sum::<f64>()
                    / 3.0;
                if residual.abs() > 3.0 * sd && sd.round() != 0.0 && residual.round() != 0.0 {
                    votes += 1.0;
                }
            }
        }
        // The hour that ended 23 hours ago.
        let from = times.partition_point(|&t| t < times[i] - 86400.0);
        let to = times.partition_point(|&t| t < times[i] - 82800.0);
        if to >= from + 2 {
            let hour = &values[from..to];
            let m = hour.len() as f64;
            let mean = hour.iter().sum::<f64>() / m;
            let sd = (hour.iter().map(|h| (h - mean).powi(2)).sum::<f64>() / (m - 1.0)).sqrt();
            votes += f64::from(u8::from(three_sigma(tail, mean, sd)));
        }
        let k = sorted.len();
        let centre = if k % 2 == 1 {
            sorted[k / 2]
        } else {
            (sorted[k / 2 - 1] + sorted[k / 2]) / 2.0
        };
        distances.clear();
        distances.extend(sorted.iter().map(|s| (s - centre).abs()));
        let (lower, &mut upper, _) = distances.select_nth_unstable_by(k / 2, f64::total_cmp);
        let spread = if k % 2 == 1 {
            upper
        } else {
            (lower.iter().copied().fold(f64::MIN, f64::max) + upper) / 2.0
        };
        if spread > 0.0 && (v - centre).abs() / spread > 6.0 {
            votes += 1.0;
        }
        let (low, high) = (sorted[0], sorted[i]);
        let width = (high - low) / 15.0;
        if width > 0.0 {
            let bin = (((tail - low) / width).floor() as usize).min(14);
            let edge = |k: usize| low + width * k as f64;
            let below = |x: f64| sorted.partition_point(|&s| s < x);
            let count = if bin == 14 {
                sorted.len() - below(edge(14))
            } else {
                below(edge(bin + 1)) - below(edge(bin))
            };
            // As Skyline wrote it, the first bin only counts a tail at the
            // very lowest value, and the last never one at the highest.
            let counted = match bin {
                0 => tail <= low,
                14 => tail < high,
                _ => true,
            };
            if counted && count <= 20 {
                votes += 1.0;
            }
        }
        scores.push(votes / TESTS);
    }
    scores
}

/// outrider's anomaly score, as `outrider backtest` computes it with the
/// default baselines section.
fn outrider_score(series: &Series) -> Vec<f64> {
    let mut scores = vec![0.0; series.values.len()];
    let mut at = 0;
    replay::replay(
        std::slice::from_ref(series),
        replay::track_everything(baseline::Config::default()),
        RuleSet::default(),
        &mut |p| {
            scores[at] = p.score.and_then(|s| s.anomaly).unwrap_or(0.0);
            at += 1;
        },
        &mut |_| {},
    );
    scores
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str, default: f64| -> f64 {
        args.iter().position(|a| a == name).map_or(default, |at| {
            args.get(at + 1)
                .and_then(|n| n.parse().ok())
                .filter(|n: &f64| n.is_finite())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        })
    };
    let every = option("--every", 1.0);
    assert!(
        every >= 1.0 && every.fract() == 0.0,
        "--every takes a count of points, 1 or more"
    );
    let stretch = option("--stretch", 1.0);
    assert!(stretch > 0.0, "--stretch takes a factor above 0");
    let repeat = option("--repeat", 1.0);
    assert!(
        repeat >= 1.0 && repeat.fract() == 0.0,
        "--repeat takes a count of plays, 1 or more"
    );
    let keep = option("--keep", 1.0);
    assert!(
        keep > 0.0 && keep <= 1.0,
        "--keep takes a probability above 0, at most 1"
    );
    let scrape = option("--scrape", 0.0);
    assert!(scrape >= 0.0, "--scrape takes an interval in seconds");
    let changing = args.iter().any(|a| a == "--changing");
    assert!(!changing || scrape > 0.0, "--changing goes with --scrape");
    let transits = args.iter().any(|a| a == "--transits");
    assert!(
        !transits || (scrape > 0.0 && !changing),
        "--transits goes with --scrape, not with --changing"
    );
    let recording = Recording {
        every: every as usize,
        offset: option("--offset", 0.0),
        jitter: option("--jitter", 0.0),
        stretch,
        gap_hours: option("--gaps", 0.0),
        keep,
        repeat: repeat as usize,
        scrape,
        changing,
        transits,
    };
    let dir = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "tests/data/nab".to_owned());
    let files = load(Path::new(&dir), &recording);
    type Detector = (&'static str, Box<dyn Fn(&Series) -> Vec<f64>>);
    let mut detectors: Vec<Detector> = vec![
        ("outrider anomaly score", Box::new(outrider_score)),
        ("static threshold", Box::new(nab::static_threshold)),
        (
            "windowed z-score (1 d)",
            Box::new(|s| nab::windowed_zscore(s, 86400.0, 12)),
        ),
    ];
    if args.iter().any(|a| a == "--skyline") {
        detectors.push(("Skyline consensus", Box::new(skyline)));
    }
    println!(
        "| detector | profile | threshold | whole split | realAWSCloudwatch left out | artificialWithAnomaly left out | detections on artificialNoAnomaly left out |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let shown = |threshold: f64| {
        if threshold < 1e4 {
            format!("{threshold:.3}")
        } else {
            format!("{threshold:.1e}")
        }
    };
    let mut by_category = Vec::new();
    for (name, detector) in &detectors {
        let scores: Vec<Vec<f64>> = files
            .iter()
            .map(|f| input::highest_per_point(&detector(&f.series), &f.scrapes))
            .collect();
        let corpus: Vec<CorpusFile> = files
            .iter()
            .zip(&scores)
            .map(|(f, s)| CorpusFile {
                category: &f.category,
                times: &f.times,
                windows: &f.windows,
                scores: s,
            })
            .collect();
        for report in nab::evaluate(&corpus) {
            let left_out = |category: &str| {
                report
                    .left_out
                    .iter()
                    .find(|l| l.category == category)
                    .cloned()
            };
            // A left-out category's score, and the threshold fitted on the
            // others that it was scored at.
            let score = |category: &str| {
                left_out(category).map_or("-".to_owned(), |l| {
                    format!("{:.1} (at {})", l.score, shown(l.threshold))
                })
            };
            println!(
                "| {name} | {} | {} | {:.1} | {} | {} | {} |",
                report.profile,
                shown(report.threshold),
                report.whole,
                score("realAWSCloudwatch"),
                score("artificialWithAnomaly"),
                left_out("artificialNoAnomaly").map_or(0, |l| l.detections),
            );
            for l in &report.left_out {
                by_category.push(format!(
                    "| {name} | {} | {} | {:.1} | {} | {} |",
                    report.profile,
                    l.category,
                    l.score,
                    shown(l.threshold),
                    l.detections
                ));
            }
        }
    }
    // Every category of any corpus, each left out in turn.
    println!();
    println!("| detector | profile | category left out | score | threshold | detections |");
    println!("|---|---|---|---:|---:|---:|");
    for line in by_category {
        println!("{line}");
    }
}
