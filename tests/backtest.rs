//! `outrider backtest` end to end: the anomaly score on the labelled NAB
//! dev split (tests/data/nab), whole, with a category left out and sampled
//! hourly, and on a second labelled corpus (tests/data/cloud-monitoring);
//! byte-identical output for the same input; bad input refused with its
//! line number.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use outrider::backtest::input::{self, Series};
use outrider::backtest::nab;
use outrider::backtest::replay;
use outrider::baseline;
use outrider::baseline::likelihood::FIRING_LEVEL;
use outrider::rules::RuleSet;

fn data() -> PathBuf {
    corpus_dir("nab")
}

fn corpus_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn windows(dir: &Path) -> BTreeMap<String, Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(dir.join("windows.json")).unwrap();
    let raw: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(&text).unwrap();
    raw.into_iter()
        .map(|(file, spans)| {
            let spans = spans
                .iter()
                .map(|(a, b)| {
                    (
                        input::parse_timestamp(a).unwrap(),
                        input::parse_timestamp(b).unwrap(),
                    )
                })
                .collect();
            (file, spans)
        })
        .collect()
}

/// The anomaly score of every sample, as `outrider backtest` computes it.
fn scores(series: &Series) -> Vec<f64> {
    let mut out = Vec::new();
    replay::replay(
        std::slice::from_ref(series),
        replay::track_everything(baseline::Config::default()),
        RuleSet::default(),
        &mut |p| out.push(p.score.and_then(|s| s.anomaly).unwrap_or(0.0)),
        &mut |_| {},
    );
    out
}

/// Scores measured when the detector was last changed (see
/// docs/backtest.md), less a margin for harmless numeric change: the
/// whole split at its best threshold, and each category with the
/// threshold fitted on the other two.
const FLOORS: [(&str, f64, f64, f64); 3] = [
    // profile, whole split, realAWSCloudwatch left out, artificialWithAnomaly left out
    ("standard", 70.5, 63.0, 90.0),
    ("reward_low_FP_rate", 68.0, 61.0, 89.0),
    ("reward_low_FN_rate", 73.0, 66.0, 92.5),
];

/// The whole split's scores at the firing level the rules use (0.5),
/// unfitted, as measured when the detector was last changed, less the
/// same margin.
const FLOORS_AT_FIRING_LEVEL: [f64; 3] = [66.0, 65.0, 68.5];

/// A labelled file: its category, its series and its windows.
type LabelledFile = (String, Series, Vec<(f64, f64)>);

/// How a series is scraped: every so many seconds, with the index of the
/// sample each scrape reads (`Series::scraped`, `Series::scraped_changing`).
type Scrape = fn(&Series, f64) -> (Series, Vec<usize>);

/// A labelled corpus's files, each averaged over runs of `every` points,
/// with their categories, windows and anomaly scores.
struct Corpus {
    files: Vec<LabelledFile>,
    scores: Vec<Vec<f64>>,
}

impl Corpus {
    /// The NAB dev split.
    fn dev_split(every: usize) -> Self {
        let split = Corpus::load(&data(), every);
        assert_eq!(split.files.len(), 28);
        split
    }

    fn load(dir: &Path, every: usize) -> Self {
        let files: Vec<LabelledFile> = windows(dir)
            .into_iter()
            .map(|(file, spans)| {
                let series = input::read_file(&dir.join(&file))
                    .unwrap()
                    .remove(0)
                    .averaged(every);
                let category = file.split('/').next().unwrap().to_owned();
                (category, series, spans)
            })
            .collect();
        let scores = files.iter().map(|(_, s, _)| scores(s)).collect();
        Corpus { files, scores }
    }

    /// The NAB dev split averaged over `every` samples (see
    /// `Series::averaged`) and scraped every `seconds` by `scrape` (each
    /// value held, `Series::scraped`, or drawn as a line to the next,
    /// `Series::scraped_changing`), each sample judged by the highest
    /// score of its scrapes.
    fn dev_split_scraped(every: usize, seconds: f64, scrape: Scrape) -> Self {
        let mut split = Corpus::dev_split(every);
        split.scores = split
            .files
            .iter()
            .map(|(_, series, _)| {
                let (scraped, scrapes) = scrape(series, seconds);
                input::highest_per_point(&scores(&scraped), &scrapes)
            })
            .collect();
        split
    }

    fn corpus(&self) -> Vec<nab::CorpusFile<'_>> {
        self.files
            .iter()
            .zip(&self.scores)
            .map(|((category, series, spans), scores)| nab::CorpusFile {
                category,
                times: &series.times,
                windows: spans,
                scores,
            })
            .collect()
    }
}

fn left_out<'a>(report: &'a nab::ProfileReport, category: &str) -> &'a nab::LeftOut {
    report
        .left_out
        .iter()
        .find(|l| l.category == category)
        .unwrap()
}

/// Series without anomalies get no detection after the probation, whether
/// their category took part in fitting the threshold or not, and no score
/// of `level` or more from their sample `from` on (0: anywhere, the first
/// days included).
fn assert_quiet_without_anomalies(
    corpus: &[nab::CorpusFile],
    report: &nab::ProfileReport,
    level: f64,
    from: usize,
) {
    assert_eq!(
        left_out(report, "artificialNoAnomaly").detections,
        0,
        "{report:?}"
    );
    let loud: usize = corpus
        .iter()
        .filter(|f| f.category == "artificialNoAnomaly")
        .map(|f| f.scores.iter().skip(from).filter(|s| **s >= level).count())
        .sum();
    assert_eq!(loud, 0, "{report:?}");
}

#[test]
fn the_score_holds_on_the_dev_split_whole_and_with_a_category_left_out() {
    let split = Corpus::dev_split(1);
    let corpus = split.corpus();
    let reports = nab::evaluate(&corpus);
    for ((profile, whole, aws, artificial), report) in FLOORS.iter().zip(&reports) {
        assert_eq!(*profile, report.profile);
        assert!(report.whole >= *whole, "{report:?}");
        assert!(
            left_out(report, "realAWSCloudwatch").score >= *aws,
            "{report:?}"
        );
        assert!(
            left_out(report, "artificialWithAnomaly").score >= *artificial,
            "{report:?}"
        );
        assert_quiet_without_anomalies(&corpus, report, report.threshold, 0);
    }
    // What the rules page on, at the level they fire at, without a
    // threshold fitted to these files.
    for ((name, profile), floor) in nab::PROFILES.iter().zip(FLOORS_AT_FIRING_LEVEL) {
        let at_firing_level = nab::corpus_score_at(&corpus, FIRING_LEVEL, *profile);
        assert!(at_firing_level >= floor, "{name}: {at_firing_level}");
    }
}

/// Microsoft's Cloud Monitoring Dataset: API latencies, request and
/// ingest rates, crash counts, labelled by the teams that run them, and
/// used to choose three of the detector's behaviours only (see its README). Its
/// anomalies come many to a file, crash spikes come daily and are each
/// labelled, so it scores lower than the dev split; the floors are its
/// figures when the detector was last changed, less a margin, so a change
/// that gains on the dev split by losing here is seen.
#[test]
fn the_score_holds_on_a_second_labelled_corpus() {
    let corpus = Corpus::load(&corpus_dir("cloud-monitoring"), 1);
    assert_eq!(corpus.files.len(), 60);
    let files = corpus.corpus();
    for ((name, profile), floor) in nab::PROFILES.iter().zip([53.0, 40.0, 59.0]) {
        let (threshold, whole) = nab::corpus_best_threshold(&files, *profile);
        assert!(whole >= floor, "{name}: {whole} at {threshold}");
    }
}

/// A gauge that changes every 5 minutes, scraped every minute, repeats
/// each value 5 times. Counted as five observations, a single value filled
/// the likelihood's recent mean: the split scored 60.8 (53.0 every 15 s)
/// against 72.7.
#[test]
fn the_score_holds_on_the_dev_split_scraped_every_minute() {
    // The low-FN profile's threshold (0.20) catches two scores of white
    // noise near it; nothing reaches the level the rules fire at.
    let split = Corpus::dev_split_scraped(1, 60.0, Series::scraped);
    assert_scraped_split_holds(split, [68.0, 62.0, 90.0], 0);
}

/// Hourly values, as a job writes its figure once an hour, scraped every
/// minute: each value is repeated 60 times. Read as a new reading every 5
/// minutes, one value filled the likelihood's recent mean: the split
/// scored 63.0 / 53.3 / 85.2, with 3 detections on the series without
/// anomalies, against 69.2 / 63.9 / 92.8 hourly as recorded.
#[test]
fn the_score_holds_on_hourly_values_of_the_dev_split_scraped_every_minute() {
    let split = Corpus::dev_split_scraped(12, 60.0, Series::scraped);
    assert_scraped_split_holds(split, [67.0, 60.0, 88.0], 0);
}

/// The same hourly values scraped every 30 s, each first read halfway from
/// the value before for one scrape (a figure caught half-written). Counted
/// as one of the last two values, that scrape made the two values after it
/// readings of 5 minutes: the split scored 62.3 / 53.5 / 87.9, with 7
/// detections on the series without anomalies. It scores 66.7 / 59.5 /
/// 92.5; 65.9 / 59.3 / 88.4 while the profile's level learned a series'
/// first night as its whole spread, and 67.4 / 60.3 / 89.7 while each hour
/// of the profile counted these scrapes one by one (see
/// `SeasonalBucket::count`). With the level mended but a step caught
/// halfway at the hour measured as a step, the synthetic series without
/// anomalies were detected 5 times at the fitted threshold, the three with
/// a daily step each on its third day.
#[test]
fn the_score_holds_on_hourly_values_of_the_dev_split_read_once_half_written() {
    let split = Corpus::dev_split_scraped(12, 30.0, Series::scraped_with_transits);
    assert_scraped_split_holds(split, [65.0, 58.0, 91.0], 0);
}

/// A gauge that moves at every 15-s scrape (a queue, memory, a rate): each
/// value of the split drawn as a line to the next. Read sample by sample,
/// the recent mean spanned two minutes and each scrape was measured against
/// records that held the scrape before: the split scored 36.2 / 34.2 /
/// 18.5, with 58 detections on the series without anomalies.
#[test]
fn the_score_holds_on_the_dev_split_changing_at_every_15_s_scrape() {
    let split = Corpus::dev_split_scraped(1, 15.0, Series::scraped_changing);
    // On their second day, the three series whose daily step is drawn as
    // a 5-minute line fire once, as the line leaves the hour before the
    // step: the first day, while the score is silent, taught the hour no
    // such excursion. That is open; from the third day on, nothing fires.
    assert_scraped_split_holds(split, [64.0, 49.0, 89.0], 2 * 288);
}

/// A scraped dev split (see `Corpus::dev_split_scraped`) scores at least
/// `floors` (standard: whole, AWS left out, synthetic left out), and nothing
/// without anomalies reaches the level the rules fire at from its sample
/// `quiet_from` on.
fn assert_scraped_split_holds(
    split: Corpus,
    [whole, aws, artificial]: [f64; 3],
    quiet_from: usize,
) {
    let corpus = split.corpus();
    let reports = nab::evaluate(&corpus);
    let standard = &reports[0];
    assert!(standard.whole >= whole, "{standard:?}");
    assert!(
        left_out(standard, "realAWSCloudwatch").score >= aws,
        "{standard:?}"
    );
    assert!(
        left_out(standard, "artificialWithAnomaly").score >= artificial,
        "{standard:?}"
    );
    assert_quiet_without_anomalies(&corpus, standard, FIRING_LEVEL, quiet_from);
}

#[test]
fn the_score_holds_on_the_dev_split_sampled_hourly() {
    // Hourly, each hour of the day is seen once a day: the daily cycle of
    // the synthetic series must be learned from a few days of it, or their
    // anomalies drown in it (the left-out synthetic category scored 32.9
    // when the profile waited for 20 samples of an hour). Their anomalies
    // (jumps, a flat stretch, denser spikes) stay as visible hourly; the
    // AWS ones, often a single 5-minute sample, do not, so AWS is not held
    // to its 5-minute score here.
    let split = Corpus::dev_split(12);
    let corpus = split.corpus();
    let reports = nab::evaluate(&corpus);
    for (report, artificial) in reports.iter().zip([85.0, 89.0, 88.0]) {
        assert!(report.whole >= 58.0, "{report:?}");
        assert!(
            left_out(report, "artificialWithAnomaly").score >= artificial,
            "{report:?}"
        );
        // The first days score lower than the fitted threshold at times,
        // but never reach the level the rules fire at.
        assert_quiet_without_anomalies(&corpus, report, FIRING_LEVEL, 0);
    }
}

fn backtest(args: &[&str], files: &[&Path], out: &Path) -> Output {
    Command::new(common::outrider_binary())
        .arg("backtest")
        .args(args)
        .arg("--output")
        .arg(out)
        .args(files)
        .output()
        .unwrap()
}

fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for (name, bytes) in read_tree(&path) {
                files.insert(format!("{}/{name}", path.display()), bytes);
            }
        } else {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            files.insert(name, std::fs::read(&path).unwrap());
        }
    }
    files
}

const RULES: &str = "groups:
  - name: backtest
    rules:
      - alert: CpuUnusual
        selector: ec2_cpu_utilization_825cc2
        anomaly: {score: {warning: 0.5, critical: 0.8}}
        keep_firing_for: 30m
";

#[test]
fn the_same_input_gives_byte_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let cpu = data().join("realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv");
    let jumps = data().join("artificialWithAnomaly/art_daily_jumpsup.csv");
    let args = ["--plot", "--rules", rules.to_str().unwrap()];
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let first = backtest(&args, &[&cpu, &jumps], &a);
    assert!(first.status.success(), "{first:?}");
    let second = backtest(&args, &[&cpu, &jumps], &b);
    assert_eq!(first.stdout, second.stdout);
    let (tree_a, tree_b) = (read_tree(&a), read_tree(&b));
    let names: Vec<&String> = tree_a.keys().collect();
    assert_eq!(names.len(), 5, "{names:?}");
    for (name, bytes) in &tree_a {
        let other = tree_b
            .iter()
            .find(|(n, _)| n.ends_with(name.rsplit('/').next().unwrap()))
            .map(|(_, b)| b);
        assert_eq!(Some(bytes), other, "{name} differs");
    }

    // What it wrote: every sample, the rule's transitions, the summary.
    let samples = String::from_utf8(tree_a["samples.csv"].clone()).unwrap();
    assert!(
        samples.starts_with("series,timestamp,value,baseline,lower,upper,ratio,zscore,score\n")
    );
    assert_eq!(samples.lines().count(), 1 + 4032 + 4032);
    let alerts = String::from_utf8(tree_a["alerts.csv"].clone()).unwrap();
    let transitions: Vec<&str> = alerts.lines().skip(1).collect();
    assert!(
        transitions
            .iter()
            .any(|l| l.contains(",CpuUnusual,ec2_cpu_utilization_825cc2,inactive,firing,")),
        "{alerts}"
    );
    // It fires inside the labelled window (2014-04-15 07:24 to 04-16 11:54).
    let fired: Vec<f64> = transitions
        .iter()
        .filter(|l| l.contains(",firing,"))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let window = (
        input::parse_timestamp("2014-04-15 07:24:00").unwrap(),
        input::parse_timestamp("2014-04-16 11:54:00").unwrap(),
    );
    assert!(
        fired.iter().all(|t| (window.0..=window.1).contains(t)),
        "{fired:?}"
    );
    let summary = String::from_utf8(first.stdout).unwrap();
    assert!(
        summary.contains("ec2_cpu_utilization_825cc2  4032"),
        "{summary}"
    );
    assert!(summary.contains("CpuUnusual"), "{summary}");
    let svg = tree_a
        .iter()
        .find(|(n, _)| n.ends_with("art_daily_jumpsup.svg"))
        .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
        .unwrap();
    assert!(svg.contains("<polyline") && svg.contains("<polygon"));
}

#[test]
fn bad_input_is_refused_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "timestamp,value\n1700000000,1\n1700000015,1.5\n1700000030,oops\n",
            ":4: value \"oops\"",
        ),
        (
            "timestamp,value\n2014-02-14 14:30:00,1\n2014-02-31 14:35:00,2\n",
            ":3: timestamp \"2014-02-31 14:35:00\"",
        ),
        (
            "timestamp,value\n1700000000,1\n1700000015\n",
            ":3: 1 fields",
        ),
    ];
    for (i, (text, needle)) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.csv"));
        std::fs::write(&file, text).unwrap();
        let out = backtest(&[], &[&file], &dir.path().join("out"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("bad{i}.csv{needle}")),
            "{text:?}: {stderr}"
        );
    }
    let missing = backtest(
        &[],
        &[&dir.path().join("missing.csv")],
        &dir.path().join("out"),
    );
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn a_timestamp_that_goes_back_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clock.csv");
    // An hour of 15 s samples, then the clock steps back 5 minutes.
    let mut text = String::from("timestamp,value\n");
    for i in 0..240 {
        text.push_str(&format!("{},{}\n", 1_700_000_000 + 15 * i, 10 + i % 3));
    }
    for i in 220..260 {
        text.push_str(&format!("{},{}\n", 1_700_000_000 + 15 * i, 10 + i % 3));
    }
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    let run = backtest(&[], &[&file], &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("clock.csv: clock: skipped 19 sample(s) whose timestamp went back (the first at line 242)"),
        "{stderr}"
    );
    // 240 before the step back; after it, the repeat of the last time and 20 more.
    let samples = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    assert_eq!(samples.lines().count(), 1 + 240 + 1 + 20, "{samples}");
}

#[test]
fn a_wide_file_is_one_series_per_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wide.csv");
    let mut text = String::from("timestamp,web_cpu,db_cpu\n");
    for i in 0..100 {
        let db = if i == 80 {
            40.0
        } else {
            5.0 + f64::from(i % 3)
        };
        text.push_str(&format!("{},{},{db}\n", 1_700_000_000 + i * 60, 1 + i % 2));
    }
    std::fs::write(&file, text).unwrap();
    let out = backtest(&[], &[&file], &dir.path().join("out"));
    assert!(out.status.success(), "{out:?}");
    let samples = std::fs::read_to_string(dir.path().join("out/samples.csv")).unwrap();
    let per_series = |name: &str| samples.lines().filter(|l| l.starts_with(name)).count();
    assert_eq!((per_series("web_cpu,"), per_series("db_cpu,")), (100, 100));
    let spike = samples
        .lines()
        .find(|l| l.starts_with(&format!("db_cpu,{},", 1_700_000_000 + 80 * 60)))
        .unwrap();
    let ratio: f64 = spike.split(',').nth(6).unwrap().parse().unwrap();
    assert!(ratio > 5.0, "{spike}");
}

#[test]
fn an_export_from_grafana_or_a_spreadsheet_replays_as_the_plain_file_does() {
    let dir = tempfile::tempdir().unwrap();
    // Three days every 5 minutes, and a spike on the third.
    let points: Vec<(u64, f64)> = (0..864u64)
        .map(|i| {
            let value = if i == 700 {
                90.0
            } else {
                20.0 + wobble(i as usize)
            };
            (1_700_000_000 + 300 * i, value)
        })
        .collect();
    let plain = dir.path().join("plain.csv");
    let mut text = String::from("timestamp,value\n");
    // Grafana quotes its header, names the series by its labels and
    // writes milliseconds; a spreadsheet in many locales separates by `;`.
    let exported = dir.path().join("exported.csv");
    let mut export = String::from("\"Time\";\"cpu{mode=\"\"user\"\", cpu=\"\"0\"\"}\"\r\n");
    for (time, value) in &points {
        text.push_str(&format!("{time},{value}\n"));
        export.push_str(&format!("{}000;\"{value}\"\r\n", time));
    }
    std::fs::write(&plain, text).unwrap();
    std::fs::write(&exported, export).unwrap();
    let run = |file: &Path, out: &str| {
        let out = dir.path().join(out);
        let run = backtest(&[], &[file], &out);
        assert!(run.status.success(), "{run:?}");
        out.join("samples.csv")
    };
    let (plain_samples, exported_samples) = (run(&plain, "plain"), run(&exported, "exported"));
    let scores = score_column(&plain_samples);
    assert!(
        scores
            .iter()
            .any(|s| s.parse::<f64>().is_ok_and(|s| s >= 0.5)),
        "the spike scores"
    );
    // Every field after the series' name: only the name may hold commas.
    let after_names = |samples: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(samples).unwrap();
        text.lines()
            .map(|l| l.rsplitn(9, ',').take(8).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(after_names(&exported_samples), after_names(&plain_samples));
    let exported_text = std::fs::read_to_string(&exported_samples).unwrap();
    assert!(
        exported_text
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("\"cpu{mode=\"\"user\"\",cpu=\"\"0\"\"}\",1700000000,"),
        "{exported_text:.200}"
    );
    // The same series from two files is refused, not replayed as one.
    let twice = backtest(
        &[],
        &[&plain, &dir.path().join("plain.csv")],
        &dir.path().join("twice"),
    );
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("both hold the series plain"),
        "{twice:?}"
    );
}

/// A Prometheus holding three days of history answers the backtest's range
/// query; the answer saved as it came, and the OpenMetrics file the history
/// was backfilled from, replay to the same output.
#[test]
fn a_range_query_its_saved_answer_and_the_backfilled_file_replay_alike() {
    let dir = tempfile::tempdir().unwrap();
    let step = 300;
    let points = 864;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let end = now / step * step;
    let start = end - step * (points - 1);
    let mut history = String::from("# TYPE queue_depth gauge\n");
    for (queue, spike_at) in [("a", Some(700)), ("b", None)] {
        for i in 0..points {
            let value = if Some(i) == spike_at {
                90.0
            } else {
                20.0 + wobble(i as usize)
            };
            history.push_str(&format!(
                "queue_depth{{job=\"checkout\",queue=\"{queue}\"}} {value} {}\n",
                start + step * i
            ));
        }
    }
    history.push_str("# EOF\n");
    let (_prometheus, api) = common::prometheus_with_history(&history, dir.path());
    let range = [
        "--start".to_owned(),
        start.to_string(),
        "--end".to_owned(),
        end.to_string(),
    ];
    let queried = dir.path().join("queried");
    let mut args = vec![
        "--prometheus",
        &api,
        "--query",
        "queue_depth",
        "--step",
        "5m",
    ];
    args.extend(range.iter().map(String::as_str));
    let run = backtest(&args, &[], &queried);
    assert!(run.status.success(), "{run:?}");
    let answer = common::get(
        &format!("{api}/api/v1/query_range?query=queue_depth&start={start}&end={end}&step={step}"),
        &[],
    );
    assert_eq!(answer.status, 200);
    let saved = dir.path().join("answer.json");
    std::fs::write(&saved, answer.body).unwrap();
    let samples = |out: &Path| std::fs::read_to_string(out.join("samples.csv")).unwrap();
    let queried_samples = samples(&queried);
    assert_eq!(queried_samples.lines().count(), 1 + 2 * points as usize);
    let spike = queried_samples
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "\"queue_depth{{job=\"\"checkout\"\",queue=\"\"a\"\"}}\",{},",
                start + 700 * step
            ))
        })
        .expect("the spike's sample");
    let score: f64 = spike.rsplit(',').next().unwrap().parse().unwrap();
    assert!(score >= FIRING_LEVEL, "{spike}");
    for file in [saved, dir.path().join("history.om")] {
        let out = dir.path().join(format!(
            "from_{}",
            file.file_name().unwrap().to_string_lossy()
        ));
        let run = backtest(&[], &[&file], &out);
        assert!(run.status.success(), "{}: {run:?}", file.display());
        assert_eq!(samples(&out), queried_samples, "{}", file.display());
    }
}

/// The score column of samples.csv, by line.
fn score_column(samples: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(samples).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == "score").unwrap();
    lines
        .map(|l| l.split(',').nth(at).unwrap_or_default().to_owned())
        .collect()
}

/// A series scores the same whether an anomaly rule tracks it or only the
/// backtest does: both take the one default of the baselines section
/// (seasonal in a backtest), unless the rule itself says otherwise.
#[test]
fn a_series_scores_the_same_with_and_without_rules() {
    let dir = tempfile::tempdir().unwrap();
    let daily = data().join("artificialWithAnomaly/art_daily_jumpsup.csv");
    let rule = |extra: &str| {
        format!(
            "groups:\n  - name: b\n    rules:\n      - alert: Jumps\n        selector: art_daily_jumpsup\n        anomaly: {{score: {{warning: 0.5}}{extra}}}\n"
        )
    };
    let run = |name: &str, rules: Option<String>| {
        let out = dir.path().join(name);
        let mut args = Vec::new();
        let file = dir.path().join(format!("{name}.yml"));
        if let Some(text) = rules {
            std::fs::write(&file, text).unwrap();
            args = vec!["--rules", file.to_str().unwrap()];
        }
        let output = backtest(&args, &[&daily], &out);
        assert!(output.status.success(), "{output:?}");
        score_column(&out.join("samples.csv"))
    };
    let without = run("without", None);
    let with = run("with", Some(rule("")));
    assert_eq!(without.len(), 4032);
    assert!(without.iter().any(|s| !s.is_empty()), "scored at all");
    let differing = without.iter().zip(&with).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "{differing} scores differ with --rules");
    // A rule that asks for no profile gets none, and that shows.
    let flat = run("flat", Some(rule(", seasonal: false")));
    assert_ne!(without, flat);
}

/// A series scores the same whatever else is replayed with it: an hourly
/// series with three hours missing, alone and beside one sampled every 5
/// minutes through the gap. A sidecar keeps a series' baselines through
/// an outage shorter than `idle_timeout`, whether or not it saw other
/// series meanwhile.
#[test]
fn a_series_scores_the_same_alone_and_beside_others() {
    let dir = tempfile::tempdir().unwrap();
    let csv = |name: &str, step: usize, skip: &dyn Fn(usize) -> bool| {
        let path = dir.path().join(format!("{name}.csv"));
        let rows: String = (MONDAY..MONDAY + 4 * DAY)
            .step_by(step)
            .enumerate()
            .filter(|&(_, t)| !skip(t))
            .map(|(i, t)| format!("{t},{}\n", 100.0 + 10.0 * wobble(i)))
            .collect();
        std::fs::write(&path, format!("timestamp,value\n{rows}")).unwrap();
        path
    };
    let outage = MONDAY + 2 * DAY..MONDAY + 2 * DAY + 3 * 3600;
    let hourly = csv("hourly", 3600, &|t| outage.contains(&t));
    let busy = csv("busy", 300, &|_| false);
    let scores_of_hourly = |name: &str, files: &[&Path]| {
        let out = dir.path().join(name);
        let output = backtest(&[], files, &out);
        assert!(output.status.success(), "{output:?}");
        let text = std::fs::read_to_string(out.join("samples.csv")).unwrap();
        text.lines()
            .filter(|l| l.starts_with("hourly,"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let alone = scores_of_hourly("alone", &[&hourly]);
    let beside = scores_of_hourly("beside", &[&hourly, &busy]);
    assert_eq!(alone.len(), 4 * 24 - 3);
    let differing = alone.iter().zip(&beside).filter(|(a, b)| a != b).count();
    assert_eq!(
        differing, 0,
        "{differing} of the hourly series' samples differ"
    );
    // Scored straight after the outage, not warming up afresh.
    let after = &alone[2 * 24];
    assert!(!after.ends_with(','), "{after}");
}

/// Replays `samples` (timestamp, value) as series `name` through the rules
/// in `rules` and returns the alert transitions (the lines of alerts.csv).
fn alert_transitions(
    name: &str,
    samples: impl IntoIterator<Item = (usize, f64)>,
    rules: &Path,
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.csv"));
    let mut text = String::from("timestamp,value\n");
    for (t, v) in samples {
        text.push_str(&format!("{t},{v}\n"));
    }
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    let run = backtest(&["--rules", rules.to_str().unwrap()], &[&file], &out);
    assert!(run.status.success(), "{run:?}");
    let alerts = std::fs::read_to_string(out.join("alerts.csv")).unwrap();
    alerts.lines().skip(1).map(str::to_owned).collect()
}

/// A rules file in `dir` holding one group with one `rule` (a YAML flow
/// mapping).
fn one_rule(dir: &Path, rule: &str) -> PathBuf {
    let path = dir.join("rules.yml");
    std::fs::write(
        &path,
        format!("groups:\n  - name: b\n    rules:\n      - {rule}\n"),
    )
    .unwrap();
    path
}

/// The alert transitions of the rules in `rules` over `samples`, as
/// (seconds since `MONDAY`, "from,to").
fn transitions_since_monday(
    name: &str,
    samples: impl IntoIterator<Item = (usize, f64)>,
    rules: &Path,
) -> Vec<(usize, String)> {
    alert_transitions(name, samples, rules)
        .iter()
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            let t: f64 = fields[0].parse().unwrap();
            (t as usize - MONDAY, fields[3..5].join(","))
        })
        .collect()
}

/// The transitions to firing of the rules in `rules` over `samples`.
fn rule_firings(
    name: &str,
    samples: impl IntoIterator<Item = (usize, f64)>,
    rules: &Path,
) -> Vec<String> {
    alert_transitions(name, samples, rules)
        .into_iter()
        .filter(|l| l.contains(",firing,"))
        .collect()
}

/// Replays `values` (one a minute) as series `name` through the host rules
/// and returns the alert transitions to firing.
fn host_rule_firings(name: &str, values: &[f64]) -> Vec<String> {
    let samples = values
        .iter()
        .enumerate()
        .map(|(i, v)| (1_700_000_000 + 60 * i, *v));
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/host.yml");
    rule_firings(name, samples, &rules)
}

/// Monday 00:00 UTC, where the hour-of-week profile starts, and a day in
/// seconds.
const MONDAY: usize = 1_699_833_600;
const DAY: usize = 86400;

/// Deterministic noise in [-1, 1].
fn wobble(i: usize) -> f64 {
    let x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11;
    2.0 * (x as f64 / (1u64 << 53) as f64) - 1.0
}

#[test]
fn the_host_anomaly_rules_stay_quiet_on_deploy_steps_cycles_and_noise() {
    const SAMPLES_A_DAY: usize = 1440;
    let gib = 1024.0 * 1024.0 * 1024.0;
    // Flat within 0.2%, then settles 12% lower after a deploy.
    let deploy: Vec<f64> = (0..3 * SAMPLES_A_DAY)
        .map(|i| {
            let level = if i < 2 * SAMPLES_A_DAY {
                24.0 * gib
            } else {
                21.0 * gib
            };
            level * (1.0 + 0.002 * wobble(i))
        })
        .collect();
    let fired = host_rule_firings("node_memory_MemAvailable_bytes", &deploy);
    assert!(fired.is_empty(), "{fired:?}");
    // A daily cycle of load between 1 and 4.
    let cycle: Vec<f64> = (0..3 * SAMPLES_A_DAY)
        .map(|i| {
            let phase = (i % SAMPLES_A_DAY) as f64 / SAMPLES_A_DAY as f64 * std::f64::consts::TAU;
            2.5 - 1.5 * phase.cos() + 0.2 * wobble(i)
        })
        .collect();
    let fired = host_rule_firings("node_load15", &cycle);
    assert!(fired.is_empty(), "{fired:?}");
    // Flat but noisy memory: 5% either way.
    let noisy: Vec<f64> = (0..3 * SAMPLES_A_DAY)
        .map(|i| 16.0 * gib * (1.0 + 0.05 * wobble(i)))
        .collect();
    let fired = host_rule_firings("node_memory_MemAvailable_bytes", &noisy);
    assert!(fired.is_empty(), "{fired:?}");
    // What the rule is for: available memory down to half, and staying.
    let leak: Vec<f64> = (0..3 * SAMPLES_A_DAY)
        .map(|i| {
            let level = if i < 2 * SAMPLES_A_DAY {
                24.0 * gib
            } else {
                10.0 * gib
            };
            level * (1.0 + 0.002 * wobble(i))
        })
        .collect();
    let fired = host_rule_firings("node_memory_MemAvailable_bytes", &leak);
    assert!(
        fired.iter().any(|l| l.contains(",HostMemoryUsageAnomaly,")),
        "{fired:?}"
    );
}

#[test]
fn a_fresh_start_does_not_page_on_a_baseline_minutes_old() {
    const SAMPLES_A_DAY: usize = 1440;
    let step_at = |at: usize| -> Vec<f64> {
        (0..at + 360)
            .map(|i| (if i < at { 2.0 } else { 6.0 }) * (1.0 + 0.02 * wobble(i)))
            .collect()
    };
    // Load 2 for the twenty minutes the baseline needs to be warm, then
    // three times that for six hours: the baseline has not seen a day.
    let fired = host_rule_firings("node_load15", &step_at(20));
    assert!(fired.is_empty(), "{fired:?}");
    // The same step two days in pages.
    let fired = host_rule_firings("node_load15", &step_at(2 * SAMPLES_A_DAY));
    assert!(
        fired.iter().any(|l| l.contains(",HostLoadAnomaly,")),
        "{fired:?}"
    );
}

#[test]
fn the_summary_scores_the_anomaly_score_as_nab_does_given_the_windows() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
        "artificialWithAnomaly/art_daily_jumpsup.csv",
        "artificialNoAnomaly/art_noisy.csv",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| data().join(f)).collect();
    let path_refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let labels = data().join("windows.json");
    let run = backtest(
        &["--windows", labels.to_str().unwrap()],
        &path_refs,
        &dir.path().join("out"),
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{run:?}");
    assert!(
        stdout.contains("NAB scores of the anomaly score (3 labelled series, 2 windows)"),
        "{stdout}"
    );
    // The same figure as the library's scorer on the same replay.
    let all = windows(&data());
    for (name, profile) in nab::PROFILES {
        let labelled: Vec<(Series, nab::Labelled)> = files
            .iter()
            .map(|f| {
                let series = input::read_file(&data().join(f)).unwrap().remove(0);
                let labelled = nab::label(&series.times, &all[*f], profile);
                (series, labelled)
            })
            .collect();
        let all_scores: Vec<Vec<f64>> = labelled.iter().map(|(s, _)| scores(s)).collect();
        let scored: Vec<nab::Scored> = labelled
            .iter()
            .zip(&all_scores)
            .map(|((_, l), s)| nab::Scored {
                labelled: l,
                scores: s,
            })
            .collect();
        let at_half = nab::normalised(&scored, 0.5, profile);
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {stdout}"));
        let shown: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!((shown - at_half).abs() < 0.051, "{line} vs {at_half}");
    }
    // Each category left out is reported, with its detections.
    assert!(
        stdout.contains("artificialNoAnomaly left out: 0.0 at"),
        "{stdout}"
    );
}

/// Days since the first sample at which an anomaly-score rule started
/// firing, replaying ten weeks sampled every `step` seconds from a Monday:
/// weekdays follow a daily cycle, weekends stay at 40% of it, and the sixth
/// Wednesday (day 37) is down to a weekend's level all day.
fn weekly_cycle_firing_days(step: usize) -> Vec<usize> {
    let samples = (MONDAY..MONDAY + 70 * DAY)
        .step_by(step)
        .enumerate()
        .map(|(i, t)| {
            let day = (t - MONDAY) / DAY;
            let phase = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
            let quiet = day % 7 >= 5 || day == 37;
            let cycle = 200.0 - 100.0 * phase.cos();
            (t, cycle * if quiet { 0.4 } else { 1.0 } + 8.0 * wobble(i))
        });
    let dir = tempfile::tempdir().unwrap();
    let rules = one_rule(
        dir.path(),
        "{alert: RequestsUnusual, selector: requests, anomaly: {score: {warning: 0.5}}, keep_firing_for: 1h}",
    );
    transitions_since_monday("requests", samples, &rules)
        .into_iter()
        .filter(|(_, change)| change == "inactive,firing")
        .map(|(seconds, _)| seconds / DAY)
        .collect()
}

/// Sampled every half hour or hourly, an hour of the week waits weeks for
/// the samples that make its own mean: until then the weekend is judged by
/// the same hour of every day. From the third week on it pages on the
/// Wednesday that looks like a Sunday, and on no ordinary weekend.
#[test]
fn a_weekday_at_a_weekend_level_pages_once_when_sampled_hourly() {
    for step in [3600, 1800] {
        let fired = weekly_cycle_firing_days(step);
        let after_the_first_week: Vec<usize> = fired.into_iter().filter(|&day| day >= 7).collect();
        assert_eq!(after_the_first_week, [37], "every {step} s");
    }
}

/// A target that was down for two days: its first samples after the gap
/// are no reason to page on the ordinary afternoon that follows.
#[test]
fn an_ordinary_day_after_two_days_without_samples_does_not_page() {
    let start = MONDAY;
    let (gap_start, gap_end) = (start + 4 * DAY, start + 6 * DAY);
    let samples = (start..gap_end + 2 * DAY)
        .step_by(300)
        .enumerate()
        .filter(|(_, t)| !(gap_start..gap_end).contains(t))
        .map(|(i, t)| {
            let phase = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
            (t, 200.0 - 100.0 * phase.cos() + 20.0 * wobble(i))
        });
    let dir = tempfile::tempdir().unwrap();
    let rules = one_rule(
        dir.path(),
        "{alert: RequestsUnusual, selector: requests, anomaly: {score: {warning: 0.5}, seasonal: false}}",
    );
    let fired = rule_firings("requests", samples, &rules);
    assert!(fired.is_empty(), "{fired:?}");
}

/// Transitions (hours since `MONDAY`, "from,to") of a ratio rule with
/// warning 1.5 over `samples`, sampled hourly with the hour-of-week profile
/// on, as `outrider backtest` keeps it.
fn ratio_rule_transitions(samples: impl IntoIterator<Item = (usize, f64)>) -> Vec<(usize, String)> {
    let dir = tempfile::tempdir().unwrap();
    let rules = one_rule(
        dir.path(),
        "{alert: RowsUnusual, selector: rows, anomaly: {ratio: {warning: 1.5}}}",
    );
    transitions_since_monday("rows", samples, &rules)
        .into_iter()
        .map(|(seconds, change)| (seconds / 3600, change))
        .collect()
}

/// A batch job at 09:00 every day, sampled hourly: the band learns the
/// hour from the same hour of three days, so a ratio rule pages on the
/// job running at night and not on the job itself. It used to wait for
/// twenty samples of the hour of the week: twenty weeks of daily pages.
#[test]
fn a_daily_batch_sampled_hourly_is_in_its_band_from_the_fourth_day() {
    let night_run = MONDAY + 20 * DAY + 3 * 3600;
    let samples = (MONDAY..MONDAY + 28 * DAY)
        .step_by(3600)
        .enumerate()
        .map(|(i, t)| {
            let batch = (t % DAY) / 3600 == 9 || t == night_run;
            (t, if batch { 300.0 } else { 100.0 } + 5.0 * wobble(i))
        });
    let fired: Vec<usize> = ratio_rule_transitions(samples)
        .into_iter()
        .filter(|(hour, change)| *hour >= 72 && change == "inactive,firing")
        .map(|(hour, _)| hour)
        .collect();
    assert_eq!(fired, [(night_run - MONDAY) / 3600]);
}

/// The profile learns an hour once a day or once a week, so a level shift
/// takes weeks to reach it: the band is the profile only while that
/// predicts better than the mean, and the shift resolves within hours.
#[test]
fn a_level_shift_sampled_hourly_resolves_within_hours() {
    let shift = MONDAY + 21 * DAY;
    let samples = (MONDAY..MONDAY + 28 * DAY)
        .step_by(3600)
        .enumerate()
        .map(|(i, t)| {
            let level = if t >= shift { 200.0 } else { 100.0 };
            (t, level + 5.0 * wobble(i))
        });
    let after_warm_up: Vec<(usize, String)> = ratio_rule_transitions(samples)
        .into_iter()
        .filter(|(hour, _)| *hour >= 72)
        .collect();
    let shift_hour = (shift - MONDAY) / 3600;
    assert_eq!(after_warm_up.len(), 2, "{after_warm_up:?}");
    assert_eq!(after_warm_up[0], (shift_hour, "inactive,firing".to_owned()));
    let (resolved, change) = &after_warm_up[1];
    assert_eq!(change, "firing,resolved");
    assert!(*resolved < shift_hour + 12, "{after_warm_up:?}");
}

/// A room whose daily cycle drifts up by 3 a day (the seasons), sampled
/// hourly for ten weeks, and a cooling failure that takes 60 off for 12
/// hours on day 60. Hours come round once a day, so a profile of their
/// values lags the drift by weeks and the score falls back to the slow
/// mean, where the failure hides in the daily swing; the profile's
/// offsets from a level that follows the drift keep the cycle expected,
/// and the failure pages, once.
#[test]
fn a_failure_in_a_drifting_daily_cycle_sampled_hourly_pages_once() {
    let failure = MONDAY + 60 * DAY + 13 * 3600;
    let samples = (MONDAY..MONDAY + 70 * DAY)
        .step_by(3600)
        .enumerate()
        .map(|(i, t)| {
            let phase = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
            let drift = 3.0 * (t - MONDAY) as f64 / DAY as f64;
            let lost = if (failure..failure + 12 * 3600).contains(&t) {
                60.0
            } else {
                0.0
            };
            (
                t,
                200.0 - 100.0 * phase.cos() + drift + 10.0 * wobble(i) - lost,
            )
        });
    let dir = tempfile::tempdir().unwrap();
    let rules = one_rule(
        dir.path(),
        "{alert: RoomUnusual, selector: room, anomaly: {score: {warning: 0.5}, seasonal: true}}",
    );
    let fired: Vec<usize> = transitions_since_monday("room", samples, &rules)
        .into_iter()
        .filter(|(_, change)| change == "inactive,firing")
        .map(|(seconds, _)| seconds + MONDAY)
        .collect();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(
        (failure..failure + 12 * 3600).contains(&fired[0]),
        "{fired:?}"
    );
}
