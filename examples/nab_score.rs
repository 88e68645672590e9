//! Scores outrider's anomaly score and two simple detectors on a Numenta
//! Anomaly Benchmark corpus (a folder of `<category>/<file>.csv` and a
//! `windows.json`), with NAB's standard profile and one threshold per
//! detector for the whole corpus; and per category left out, with the
//! threshold fitted on the others, under NAB's three profiles.
//!
//! cargo run --release --example nab_score -- tests/data/nab [--every N]
//!
//! `--every N` scores the corpus averaged over runs of N points (12: the
//! 5-minute series sampled hourly), to see the score at another sampling
//! interval on the same labels.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use outrider::backtest::input::{self, Series};
use outrider::backtest::nab::{self, CorpusFile};
use outrider::backtest::replay;
use outrider::baseline;
use outrider::rules::RuleSet;

struct File {
    category: String,
    series: Series,
    windows: Vec<(f64, f64)>,
}

fn load(dir: &Path, every: usize) -> Vec<File> {
    let windows_text = std::fs::read_to_string(dir.join("windows.json")).expect("windows.json");
    let windows: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(&windows_text).expect("windows.json: file -> [[start, end]]");
    let mut files = Vec::new();
    for (name, spans) in windows {
        let path: PathBuf = dir.join(&name);
        let series = input::read_csv(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
            .averaged(every);
        let spans: Vec<(f64, f64)> = spans
            .iter()
            .map(|(a, b)| {
                (
                    input::parse_timestamp(a).expect("window start"),
                    input::parse_timestamp(b).expect("window end"),
                )
            })
            .collect();
        files.push(File {
            category: name.split('/').next().unwrap_or_default().to_owned(),
            series,
            windows: spans,
        });
    }
    files
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
    let every = match args.iter().position(|a| a == "--every") {
        Some(at) => args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .expect("--every takes a count of points, 1 or more"),
        None => 1,
    };
    let dir = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "tests/data/nab".to_owned());
    let files = load(Path::new(&dir), every);
    type Detector = (&'static str, Box<dyn Fn(&Series) -> Vec<f64>>);
    let detectors: Vec<Detector> = vec![
        ("outrider anomaly score", Box::new(outrider_score)),
        ("static threshold", Box::new(nab::static_threshold)),
        (
            "windowed z-score (1 d)",
            Box::new(|s| nab::windowed_zscore(s, 86400.0, 12)),
        ),
    ];
    println!(
        "| detector | profile | threshold | whole split | realAWSCloudwatch left out | artificialWithAnomaly left out | detections on artificialNoAnomaly left out |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (name, detector) in &detectors {
        let scores: Vec<Vec<f64>> = files.iter().map(|f| detector(&f.series)).collect();
        let corpus: Vec<CorpusFile> = files
            .iter()
            .zip(&scores)
            .map(|(f, s)| CorpusFile {
                category: &f.category,
                times: &f.series.times,
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
            let score = |category: &str| {
                left_out(category).map_or("-".to_owned(), |l| format!("{:.1}", l.score))
            };
            let shown = if report.threshold < 1e4 {
                format!("{:.3}", report.threshold)
            } else {
                format!("{:.1e}", report.threshold)
            };
            println!(
                "| {name} | {} | {shown} | {:.1} | {} | {} | {} |",
                report.profile,
                report.whole,
                score("realAWSCloudwatch"),
                score("artificialWithAnomaly"),
                left_out("artificialNoAnomaly").map_or(0, |l| l.detections),
            );
        }
    }
}
