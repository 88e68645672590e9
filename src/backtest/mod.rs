//! `outrider backtest`: replays recorded series through the baselines and
//! rules the sidecar runs, and reports where they would have fired.
//!
//! - `input`: CSV files and Prometheus range queries become `Series`.
//! - `replay`: the series go through `Tracker` and `Evaluator`, one tick per
//!   timestamp, with `now` from the data.
//! - `output`: per-sample CSV, per-rule transitions, a summary table.
//! - `plot`: an SVG per series (value, band, firings), written by hand.
//! - `nab`: the Numenta Anomaly Benchmark's scoring, to measure detectors.

pub mod input;
pub mod nab;
pub mod output;
pub mod plot;
pub mod replay;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::baseline;
use crate::rules::RuleSet;
use input::Series;
use output::{RuleSummary, SeriesSummary};
use plot::PlotPoint;

/// What to replay and where to write it.
pub struct Options {
    pub series: Vec<Series>,
    /// The baselines section; every series it does not pick is tracked
    /// with its settings (see `replay::track_everything`).
    pub baselines: baseline::Config,
    pub rules: RuleSet,
    pub output: PathBuf,
    pub plot: bool,
    /// The anomaly score counted as anomalous in the summary and plots.
    pub threshold: f64,
    /// Labelled anomaly windows: the summary then scores the anomaly score
    /// as the Numenta Anomaly Benchmark does.
    pub windows: Vec<nab::LabelledSeries>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn create(path: &Path) -> Result<BufWriter<std::fs::File>, WriteError> {
    std::fs::File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|source| WriteError {
            path: path.to_owned(),
            source,
        })
}

/// The NAB scores of the anomaly score on the labelled series: per profile,
/// at `threshold` and at the best threshold, and with each category left
/// out when there are several.
fn nab_summary(
    series: &[Series],
    scores: &[Vec<f64>],
    windows: &[nab::LabelledSeries],
    threshold: f64,
) -> String {
    let corpus: Vec<nab::CorpusFile> = series
        .iter()
        .zip(scores)
        .filter_map(|(s, scores)| {
            let labelled = windows.iter().find(|w| w.series == s.name)?;
            Some(nab::CorpusFile {
                category: &labelled.category,
                times: &s.times,
                windows: &labelled.windows,
                scores,
            })
        })
        .collect();
    let mut out = format!(
        "\nNAB scores of the anomaly score ({} labelled series, {} windows):\n",
        corpus.len(),
        corpus.iter().map(|f| f.windows.len()).sum::<usize>()
    );
    out.push_str(&format!(
        "{:<20} {:>14} {:>15} {:>10}\n",
        "profile",
        format!("at {threshold}"),
        "best threshold",
        "best score"
    ));
    for report in nab::evaluate(&corpus) {
        let profile = nab::PROFILES
            .iter()
            .find(|(name, _)| *name == report.profile)
            .map_or(nab::STANDARD, |(_, p)| *p);
        out.push_str(&format!(
            "{:<20} {:>14.1} {:>15.3} {:>10.1}\n",
            report.profile,
            nab::corpus_score_at(&corpus, threshold, profile),
            report.threshold,
            report.whole
        ));
        if report.left_out.len() > 1 {
            for left in &report.left_out {
                out.push_str(&format!(
                    "  {} left out: {:.1} at {:.3} fitted on the others, {} detections\n",
                    left.category, left.score, left.threshold, left.detections
                ));
            }
        }
    }
    out
}

/// Replays the series and writes `samples.csv`, `alerts.csv`,
/// `summary.txt` and, when asked, `plots/<series>.svg` into the output
/// folder; returns the summary.
pub fn run(options: Options) -> Result<String, WriteError> {
    let dir = &options.output;
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| WriteError { path, source }
    };
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    let samples_path = dir.join("samples.csv");
    let alerts_path = dir.join("alerts.csv");
    let mut samples = create(&samples_path)?;
    let mut alerts = create(&alerts_path)?;
    samples
        .write_all(output::SAMPLES_HEADER.as_bytes())
        .map_err(failed(&samples_path))?;
    alerts
        .write_all(output::ALERTS_HEADER.as_bytes())
        .map_err(failed(&alerts_path))?;

    let series = &options.series;
    let names: Vec<String> = series
        .iter()
        .map(|s| output::csv_field(&s.display_name()))
        .collect();
    let metric_of: HashMap<String, String> = options
        .rules
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| {
            let metric = r.selector.as_ref().and_then(|s| s.metric.clone());
            (r.name.clone(), metric.unwrap_or_default())
        })
        .collect();
    let mut per_series = vec![SeriesSummary::default(); series.len()];
    let mut per_rule: BTreeMap<(String, String), RuleSummary> = BTreeMap::new();
    let mut plotted: Vec<Vec<PlotPoint>> =
        vec![Vec::new(); if options.plot { series.len() } else { 0 }];
    let mut firing: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
    let mut open: HashMap<(String, String), f64> = HashMap::new();
    let (mut sample_error, mut alert_error) = (None, None);
    let mut last_time = f64::NEG_INFINITY;
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); series.len()];
    let scoring = !options.windows.is_empty();
    replay::replay(
        series,
        replay::track_everything(options.baselines),
        options.rules,
        &mut |point| {
            last_time = point.time;
            per_series[point.series].add(&point, options.threshold);
            if scoring {
                scores[point.series].push(point.score.and_then(|s| s.anomaly).unwrap_or(0.0));
            }
            if let Some(points) = plotted.get_mut(point.series) {
                points.push(PlotPoint {
                    time: point.time,
                    value: point.value,
                    band: point.score.map(|s| (s.lower, s.upper)),
                    score: point.score.and_then(|s| s.anomaly).unwrap_or(0.0),
                });
            }
            if sample_error.is_none() {
                if let Err(e) = output::write_sample(&mut samples, &names[point.series], &point) {
                    sample_error = Some(failed(&samples_path)(e));
                }
            }
        },
        &mut |transition| {
            let metric = metric_of.get(&transition.rule).map_or("", String::as_str);
            let target = output::alert_series(&transition, metric);
            let key = (transition.rule.clone(), target.clone());
            per_rule.entry(key.clone()).or_default().add(&transition);
            if transition.to == "firing" && transition.from != "firing" {
                open.insert(key.clone(), transition.time);
            } else if transition.to == "resolved" {
                if let Some(start) = open.remove(&key) {
                    firing
                        .entry(target)
                        .or_default()
                        .push((start, transition.time));
                }
            }
            if alert_error.is_none() {
                if let Err(e) = output::write_transition(&mut alerts, &transition, metric) {
                    alert_error = Some(failed(&alerts_path)(e));
                }
            }
        },
    );
    if let Some(e) = sample_error.or(alert_error) {
        return Err(e);
    }
    // Alerts still firing at the end are drawn up to the last sample.
    let mut still: Vec<_> = open.into_iter().collect();
    still.sort_by(|a, b| a.0.cmp(&b.0));
    for ((_, target), start) in still {
        firing.entry(target).or_default().push((start, last_time));
    }
    samples.flush().map_err(failed(&samples_path))?;
    alerts.flush().map_err(failed(&alerts_path))?;
    let mut summary = output::summary_table(series, &per_series, &per_rule, options.threshold);
    if scoring {
        summary.push_str(&nab_summary(
            series,
            &scores,
            &options.windows,
            options.threshold,
        ));
    }
    let summary_path = dir.join("summary.txt");
    std::fs::write(&summary_path, &summary).map_err(failed(&summary_path))?;
    if options.plot {
        let plots = dir.join("plots");
        std::fs::create_dir_all(&plots).map_err(failed(&plots))?;
        let mut used: HashMap<String, usize> = HashMap::new();
        for (s, points) in series.iter().zip(&plotted) {
            let title = s.display_name();
            // Label values can make two names alike once made file-safe.
            let mut stem = input::metric_name(&title);
            let seen = used.entry(stem.clone()).or_default();
            *seen += 1;
            if *seen > 1 {
                stem = format!("{stem}_{seen}");
            }
            let spans = firing.get(&title).map(Vec::as_slice).unwrap_or_default();
            let path = plots.join(format!("{stem}.svg"));
            std::fs::write(&path, plot::svg(&title, points, spans, options.threshold))
                .map_err(failed(&path))?;
        }
    }
    Ok(summary)
}
