//! Scoring detectors as the Numenta Anomaly Benchmark does, and the simple
//! detectors outrider's score is measured against.
//!
//! NAB's scoring, standard profile: the first 15% of each file (at most 750
//! points) is probation and not scored. A detection inside a labelled window
//! earns `tp` times a scaled sigmoid of how early in the window it came (1 at
//! the window's start, about 0 at its end); only the window's best detection
//! counts, and a window without one costs `fn`. Every detection outside the
//! windows costs `fp`, less if it comes just after a window. The raw sum is
//! normalised so that detecting nothing scores 0 and detecting every window
//! at its start scores 100. A detector's threshold is one setting for the
//! whole corpus, chosen to maximise the total.

use super::input::Series;

/// Labelled windows of a NAB labels file (`combined_windows.json`: file ->
/// list of [start, end]), by the series each file becomes (its stem, made a
/// metric name), with the file's folder as its category.
pub fn parse_windows(text: &str) -> Result<Vec<LabelledSeries>, String> {
    let raw: std::collections::BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(text).map_err(|e| format!("expected file -> [[start, end]]: {e}"))?;
    raw.into_iter()
        .map(|(file, spans)| {
            let windows = spans
                .iter()
                .map(|(a, b)| {
                    let start =
                        super::input::parse_timestamp(a).map_err(|e| format!("{file}: {e}"))?;
                    let end =
                        super::input::parse_timestamp(b).map_err(|e| format!("{file}: {e}"))?;
                    Ok((start, end))
                })
                .collect::<Result<Vec<_>, String>>()?;
            let (category, name) = file.rsplit_once('/').unwrap_or(("", &file));
            let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
            Ok(LabelledSeries {
                series: super::input::metric_name(stem),
                category: category.to_owned(),
                windows,
            })
        })
        .collect()
}

/// The windows of one series of a labels file.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledSeries {
    pub series: String,
    pub category: String,
    pub windows: Vec<(f64, f64)>,
}

/// Weights of the application profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Profile {
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
}

pub const STANDARD: Profile = Profile {
    tp: 1.0,
    fp: 0.11,
    fn_: 1.0,
};

/// "Reward low false positives": a false positive costs twice as much.
pub const LOW_FP: Profile = Profile {
    tp: 1.0,
    fp: 0.22,
    fn_: 1.0,
};

/// "Reward low false negatives": a missed window costs twice as much.
pub const LOW_FN: Profile = Profile {
    tp: 1.0,
    fp: 0.11,
    fn_: 2.0,
};

/// NAB's three application profiles, by the names it reports them under.
pub const PROFILES: [(&str, Profile); 3] = [
    ("standard", STANDARD),
    ("reward_low_FP_rate", LOW_FP),
    ("reward_low_FN_rate", LOW_FN),
];

/// One labelled file of a corpus and a detector's scores on it.
pub struct CorpusFile<'a> {
    /// The file's category (its folder in NAB: `realAWSCloudwatch`, ...).
    pub category: &'a str,
    pub times: &'a [f64],
    pub windows: &'a [(f64, f64)],
    pub scores: &'a [f64],
}

/// A detector's scores under one profile: over the whole corpus at the
/// threshold that is best for it, and per category at the threshold that
/// is best for the other categories (the category left out, as if its
/// data were hidden).
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileReport {
    pub profile: &'static str,
    pub threshold: f64,
    pub whole: f64,
    /// Per category: the threshold fitted without it, the normalised score
    /// there (0 for a category without windows), and how many detections
    /// it made after probation.
    pub left_out: Vec<LeftOut>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LeftOut {
    pub category: String,
    pub threshold: f64,
    pub score: f64,
    pub detections: usize,
}

/// Scores a detector on a corpus under every profile, whole and with each
/// category left out.
pub fn evaluate(files: &[CorpusFile]) -> Vec<ProfileReport> {
    let mut categories: Vec<&str> = files.iter().map(|f| f.category).collect();
    categories.sort_unstable();
    categories.dedup();
    PROFILES
        .iter()
        .map(|&(name, profile)| {
            let labelled: Vec<Labelled> = files
                .iter()
                .map(|f| label(f.times, f.windows, profile))
                .collect();
            let scored = |keep: &dyn Fn(&CorpusFile) -> bool| -> Vec<Scored> {
                files
                    .iter()
                    .zip(&labelled)
                    .filter(|(f, _)| keep(f))
                    .map(|(f, l)| Scored {
                        labelled: l,
                        scores: f.scores,
                    })
                    .collect()
            };
            let (threshold, whole) = best_threshold(&scored(&|_| true), profile);
            let left_out = categories
                .iter()
                .map(|&category| {
                    let (threshold, _) =
                        best_threshold(&scored(&|f| f.category != category), profile);
                    let held = scored(&|f| f.category == category);
                    let detections = held
                        .iter()
                        .map(|s| {
                            s.scores
                                .iter()
                                .skip(s.labelled.probation)
                                .filter(|v| **v >= threshold)
                                .count()
                        })
                        .sum();
                    LeftOut {
                        category: category.to_owned(),
                        threshold,
                        score: normalised(&held, threshold, profile),
                        detections,
                    }
                })
                .collect();
            ProfileReport {
                profile: name,
                threshold,
                whole,
                left_out,
            }
        })
        .collect()
}

/// `2 / (1 + e^(5x)) - 1`: 0.987 at x = -1 (a window's start), 0 at 0 (its
/// end), towards -1 after it; NAB caps it at -1 beyond 3.
pub fn scaled_sigmoid(x: f64) -> f64 {
    if x > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// What a detection at each point of a file would be worth.
#[derive(Clone, Debug, PartialEq)]
pub struct Labelled {
    /// Per point: the window it lies in, if any.
    pub window: Vec<Option<usize>>,
    /// Per point: the weighted score of a detection there.
    pub weight: Vec<f64>,
    /// Points before this index are probation.
    pub probation: usize,
    /// Windows with at least one point after probation.
    pub windows: usize,
}

/// Labels the points of a file (timestamps in order) with its windows
/// (`[start, end]`, inclusive, in order).
pub fn label(times: &[f64], windows: &[(f64, f64)], profile: Profile) -> Labelled {
    let n = times.len();
    let probation = ((0.15 * n as f64).floor() as usize).min(750);
    let mut window = vec![None; n];
    let mut weight = vec![0.0; n];
    let bounds: Vec<(usize, usize)> = windows
        .iter()
        .filter_map(|&(start, end)| {
            let left = times.iter().position(|&t| t >= start)?;
            let right = times.iter().rposition(|&t| t <= end)?;
            (left <= right).then_some((left, right))
        })
        .collect();
    let mut previous: Option<(usize, usize)> = None;
    for (i, w) in window.iter_mut().enumerate() {
        if let Some((index, &(left, right))) = bounds
            .iter()
            .enumerate()
            .find(|(_, (l, r))| (*l..=*r).contains(&i))
        {
            let width = (right - left + 1) as f64;
            let position = -((right - i + 1) as f64) / width;
            weight[i] = scaled_sigmoid(position) * profile.tp / scaled_sigmoid(-1.0);
            *w = Some(index);
            previous = Some((left, right));
        } else if let Some((left, right)) = previous {
            let width = (right - left + 1) as f64;
            let past = (i - right) as f64 / (width - 1.0).max(1.0);
            weight[i] = scaled_sigmoid(past) * profile.fp;
        } else {
            weight[i] = -profile.fp;
        }
    }
    let windows = bounds.iter().filter(|(_, r)| *r >= probation).count();
    Labelled {
        window,
        weight,
        probation,
        windows,
    }
}

/// The raw score of one file's detections.
pub fn raw_score(labelled: &Labelled, detected: impl Fn(usize) -> bool, profile: Profile) -> f64 {
    let mut best = vec![-profile.fn_; labelled.window.len().max(1)];
    let mut counted = vec![false; best.len()];
    let mut false_positives = 0.0;
    for i in labelled.probation..labelled.window.len() {
        match labelled.window[i] {
            Some(w) => {
                counted[w] = true;
                if detected(i) {
                    best[w] = best[w].max(labelled.weight[i]);
                }
            }
            None if detected(i) => false_positives += labelled.weight[i],
            None => {}
        }
    }
    let windows: f64 = best
        .iter()
        .zip(&counted)
        .filter(|(_, c)| **c)
        .map(|(b, _)| b)
        .sum();
    windows + false_positives
}

/// One file's detector output and labels.
pub struct Scored<'a> {
    pub labelled: &'a Labelled,
    pub scores: &'a [f64],
}

/// The normalised NAB score (0 = detect nothing, 100 = perfect) of a set of
/// files at `threshold`.
pub fn normalised(files: &[Scored], threshold: f64, profile: Profile) -> f64 {
    let mut raw = 0.0;
    let mut windows = 0.0;
    for file in files {
        raw += raw_score(file.labelled, |i| file.scores[i] >= threshold, profile);
        windows += file.labelled.windows as f64;
    }
    let null = -profile.fn_ * windows;
    let perfect = profile.tp * windows;
    if perfect == null {
        return 0.0;
    }
    100.0 * (raw - null) / (perfect - null)
}

/// The normalised NAB score of a corpus at a fixed `threshold`, not fitted
/// to it: what a rule firing at that level would have earned.
pub fn corpus_score_at(files: &[CorpusFile], threshold: f64, profile: Profile) -> f64 {
    with_labels(files, profile, |scored| {
        normalised(scored, threshold, profile)
    })
}

/// The threshold that is best for a whole corpus, and its normalised score
/// there (see `best_threshold`).
pub fn corpus_best_threshold(files: &[CorpusFile], profile: Profile) -> (f64, f64) {
    with_labels(files, profile, |scored| best_threshold(scored, profile))
}

/// `measure` of the corpus's files labelled under `profile`.
fn with_labels<T>(
    files: &[CorpusFile],
    profile: Profile,
    measure: impl FnOnce(&[Scored]) -> T,
) -> T {
    let labelled: Vec<Labelled> = files
        .iter()
        .map(|f| label(f.times, f.windows, profile))
        .collect();
    let scored: Vec<Scored> = files
        .iter()
        .zip(&labelled)
        .map(|(f, labelled)| Scored {
            labelled,
            scores: f.scores,
        })
        .collect();
    measure(&scored)
}

/// Thresholds worth trying: the distinct high scores, and quantiles of the
/// rest.
pub fn candidate_thresholds(files: &[Scored]) -> Vec<f64> {
    let mut all: Vec<f64> = files
        .iter()
        .flat_map(|f| f.scores.iter().copied())
        .filter(|s| *s > 0.0 && s.is_finite())
        .collect();
    all.sort_by(f64::total_cmp);
    let mut out: Vec<f64> = all.iter().rev().take(400).copied().collect();
    let step = (all.len() / 400).max(1);
    out.extend(all.iter().step_by(step).copied());
    out.push(f64::INFINITY);
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// Scores within this many points of the best count as equally good when
/// a threshold is fitted: a false positive just after a window costs
/// almost nothing, so such differences say nothing about a threshold.
const EQUALLY_GOOD: f64 = 0.1;

/// The threshold that maximises the normalised score over `files`, and
/// the score there. Every threshold above one candidate and up to the next
/// detects the same; where a range of them scores as well as the best
/// (within `EQUALLY_GOOD`), the middle of that range: its top is a score
/// the data happened to reach, where the result falls, and a threshold
/// fitted there falls over on other data.
pub fn best_threshold(files: &[Scored], profile: Profile) -> (f64, f64) {
    let scored: Vec<(f64, f64)> = candidate_thresholds(files)
        .into_iter()
        .map(|t| (t, normalised(files, t, profile)))
        .collect();
    let Some(best) = (0..scored.len()).max_by(|&a, &b| scored[a].1.total_cmp(&scored[b].1)) else {
        return (f64::INFINITY, f64::NEG_INFINITY);
    };
    let good = |i: &usize| scored[*i].1 >= scored[best].1 - EQUALLY_GOOD;
    let first = (0..=best).rev().take_while(good).last().unwrap_or(best);
    let last = (best..scored.len()).take_while(good).last().unwrap_or(best);
    let below = first.checked_sub(1).map_or(0.0, |i| scored[i].0);
    let top = scored[last].0;
    if !top.is_finite() {
        // Nothing detected scores best: any threshold above every score.
        return scored[last];
    }
    let middle = (below + top) / 2.0;
    (middle, normalised(files, middle, profile))
}

/// A static threshold: distance from the mean of the file's probation
/// period, in that period's standard deviations. The level is learned once
/// and never moves.
pub fn static_threshold(series: &Series) -> Vec<f64> {
    let n = series.values.len();
    let learn = ((0.15 * n as f64).floor() as usize).clamp(1, 750).min(n);
    let head = &series.values[..learn];
    let mean = head.iter().sum::<f64>() / learn as f64;
    let variance = head.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / learn as f64;
    let sigma = variance.sqrt().max(mean.abs() * 0.01).max(1e-9);
    series
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i < learn {
                0.0
            } else {
                ((v - mean) / sigma).abs()
            }
        })
        .collect()
}

/// A plain windowed z-score: distance from the mean of the samples of the
/// last `window` seconds, in their standard deviations. It keeps the
/// window's samples, which outrider's baselines do not.
pub fn windowed_zscore(series: &Series, window: f64, min_samples: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(series.values.len());
    let mut start = 0;
    let (mut sum, mut squares) = (0.0, 0.0);
    for (i, (&t, &v)) in series.times.iter().zip(&series.values).enumerate() {
        while start < i && series.times[start] < t - window {
            let old = series.values[start];
            sum -= old;
            squares -= old * old;
            start += 1;
        }
        let count = (i - start) as f64;
        let score = if i - start >= min_samples {
            let mean = sum / count;
            let sigma = (squares / count - mean * mean)
                .max(0.0)
                .sqrt()
                .max(mean.abs() * 0.01)
                .max(1e-9);
            ((v - mean) / sigma).abs()
        } else {
            0.0
        };
        out.push(if score.is_finite() { score } else { 0.0 });
        sum += v;
        squares += v * v;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize, window: (usize, usize)) -> (Vec<f64>, Labelled) {
        let times: Vec<f64> = (0..n).map(|i| i as f64 * 300.0).collect();
        let labelled = label(&times, &[(times[window.0], times[window.1])], STANDARD);
        (times, labelled)
    }

    #[test]
    fn the_sigmoid_rewards_early_detection() {
        assert!((scaled_sigmoid(-1.0) - 0.9866).abs() < 1e-4);
        assert_eq!(scaled_sigmoid(0.0), 0.0);
        assert_eq!(scaled_sigmoid(3.5), -1.0);
        let (_, l) = file(1000, (500, 599));
        assert!((l.weight[500] - 1.0).abs() < 1e-12);
        assert!(l.weight[550] > 0.0 && l.weight[550] < l.weight[500]);
        assert!(l.weight[599].abs() < 0.06);
        assert_eq!(l.weight[300], -0.11);
        // Just after a window a false positive costs little, far after it
        // the full weight.
        assert!(l.weight[601] > -0.01 && l.weight[601] < 0.0);
        assert_eq!(l.weight[999], -0.11);
        assert_eq!((l.probation, l.windows), (150, 1));
    }

    #[test]
    fn null_perfect_and_false_positives_normalise_as_nab_does() {
        let (_, l) = file(1000, (500, 599));
        let scores = |hits: &[usize]| {
            let mut s = vec![0.0; 1000];
            for &h in hits {
                s[h] = 1.0;
            }
            s
        };
        let run = |hits: &[usize]| {
            let s = scores(hits);
            normalised(
                &[Scored {
                    labelled: &l,
                    scores: &s,
                }],
                0.5,
                STANDARD,
            )
        };
        assert_eq!(run(&[]), 0.0);
        assert!((run(&[500]) - 100.0).abs() < 1e-9);
        // Only the best detection in a window counts.
        assert!((run(&[500, 520, 590]) - 100.0).abs() < 1e-9);
        assert!(run(&[550]) < 100.0 && run(&[550]) > 50.0);
        // A false positive far from the window costs fp / (2 · tp) of the range.
        assert!((run(&[500, 300]) - (100.0 - 100.0 * 0.11 / 2.0)).abs() < 1e-9);
        // Detections in probation are not scored.
        assert!((run(&[500, 10]) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_fitted_threshold_is_the_middle_of_the_range_that_scores_best() {
        let (_, l) = file(1000, (500, 599));
        let mut scores = vec![0.0; 1000];
        // A detection at the window's start, and a false positive that
        // any threshold above 0.2 leaves out: every threshold in (0.2, 0.8]
        // scores 100, and the fit takes the middle, not the data's 0.8.
        scores[500] = 0.8;
        scores[300] = 0.2;
        let files = [Scored {
            labelled: &l,
            scores: &scores,
        }];
        let (threshold, score) = best_threshold(&files, STANDARD);
        assert!((threshold - 0.5).abs() < 1e-9, "{threshold}");
        assert!((score - 100.0).abs() < 1e-9, "{score}");
    }

    #[test]
    fn the_simple_detectors() {
        let mut s = Series::new("x");
        for i in 0..100 {
            s.times.push(f64::from(i) * 60.0);
            s.values.push(if i == 90 {
                50.0
            } else {
                10.0 + f64::from(i % 2)
            });
        }
        let z = windowed_zscore(&s, 3600.0, 10);
        assert_eq!(z[5], 0.0);
        assert!(z[90] > 50.0 && z[89] < 2.0, "{} {}", z[89], z[90]);
        let st = static_threshold(&s);
        assert!(st[90] > 50.0 && st[89] < 1.5, "{} {}", st[89], st[90]);
    }
}
