//! `outrider backtest`: replays recorded series through the baselines
//! and rules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::backtest::input::{Series, same_series};
use crate::config::{Config, ConfigError};
use crate::rules::{self};

#[derive(Args, Clone, Debug)]
pub(super) struct BacktestArgs {
    /// Files of series: CSV (`timestamp,value`, one series named after the
    /// file, or `timestamp,a,b,...`, one series per column), a Prometheus
    /// answer saved as JSON, or exposition text with timestamps (as
    /// `promtool tsdb dump-openmetrics` writes it).
    #[arg(required_unless_present = "prometheus")]
    files: Vec<PathBuf>,
    /// Read the series from this Prometheus (http://host:9090) instead.
    #[arg(long, requires_all = ["query", "start", "end"])]
    prometheus: Option<String>,
    /// The range query's expression.
    #[arg(long)]
    query: Option<String>,
    /// Start of the range (epoch seconds or RFC 3339).
    #[arg(long)]
    start: Option<String>,
    /// End of the range (epoch seconds or RFC 3339).
    #[arg(long)]
    end: Option<String>,
    /// Resolution of the range query.
    #[arg(long, default_value = "15s")]
    step: humantime::Duration,
    /// Config file whose `baselines` section (and `rules`) to use; the
    /// embedded defaults otherwise.
    #[arg(long = "config.file")]
    config_file: Option<PathBuf>,
    /// Rule files or folders to evaluate (instead of the config's `rules`).
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    /// Folder for samples.csv, alerts.csv, summary.txt and plots/.
    #[arg(long, default_value = "backtest")]
    output: PathBuf,
    /// Also draw an SVG per series into <output>/plots.
    #[arg(long)]
    plot: bool,
    /// The anomaly score counted as anomalous in the summary and plots.
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Labelled anomaly windows (NAB's `combined_windows.json` format: file
    /// -> [[start, end]]); the summary then gives the NAB scores per profile.
    #[arg(long)]
    windows: Option<PathBuf>,
}

/// Reads the input, replays it and writes the results; exit 1 on bad input
/// or a write failure, 2 on a bad configuration.
pub(super) fn backtest(args: &BacktestArgs) -> ExitCode {
    use crate::backtest::{self, input};
    let config = match &args.config_file {
        Some(path) => Config::load(path).and_then(|c| c.validate().map(|()| c)),
        None => Ok(Config::default()),
    };
    let rules = config.and_then(|config| {
        let rules = if !args.rules.is_empty() {
            rules::RuleSet::load(&args.rules).map_err(ConfigError::Rules)?
        } else if config.rules.is_some() {
            config.load_rules()?
        } else {
            // The embedded rules watch host series a recording rarely has.
            rules::RuleSet::default()
        };
        Ok((config, rules))
    });
    let (config, rules) = match rules {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("outrider backtest: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let series = match &args.prometheus {
        Some(url) => {
            let time = |text: &Option<String>, what: &str| {
                input::parse_timestamp(text.as_deref().unwrap_or_default())
                    .map_err(|e| format!("--{what}: {e}"))
            };
            time(&args.start, "start")
                .and_then(|start| Ok((start, time(&args.end, "end")?)))
                .and_then(|(start, end)| {
                    input::query_prometheus(&input::RangeQuery {
                        url: url.clone(),
                        query: args.query.clone().unwrap_or_default(),
                        start,
                        end,
                        step: args.step.into(),
                    })
                    .map_err(|e| e.to_string())
                })
        }
        None => args
            .files
            .iter()
            .map(|f| {
                let series = input::read_file(f)?;
                for warning in series
                    .iter()
                    .filter_map(|s| s.out_of_order_warning(&f.display().to_string()))
                {
                    eprintln!("outrider backtest: warning: {warning}");
                }
                Ok::<_, input::InputError>(series)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
            .and_then(|files| one_series_per_name(&args.files, files)),
    };
    let series = match series {
        Ok(series) if series.is_empty() => {
            eprintln!("outrider backtest: no series to replay");
            return ExitCode::FAILURE;
        }
        Ok(series) => series,
        Err(e) => {
            eprintln!("outrider backtest: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The config's own track entries score as the sidecar scores them; the
    // backtest's seasonal default is for the series it adds (by rules or
    // its catch-all), so a series scores the same with and without rules.
    let mut config = config;
    config.baselines.settle_seasonal();
    let windows = match &args.windows {
        None => Vec::new(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| backtest::nab::parse_windows(&text))
        {
            Ok(windows) => windows,
            Err(e) => {
                eprintln!("outrider backtest: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
    };
    let options = backtest::Options {
        windows,
        series,
        baselines: config.baseline_config(&rules),
        rules,
        output: args.output.clone(),
        plot: args.plot,
        threshold: args.threshold,
    };
    match backtest::run(options) {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("outrider backtest: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The series of all `files` (as read from `paths`), or an error naming the
/// two files that hold the same series: replayed together, they would be
/// one series sampled twice a tick.
fn one_series_per_name(paths: &[PathBuf], files: Vec<Vec<Series>>) -> Result<Vec<Series>, String> {
    let file_of: Vec<usize> = files
        .iter()
        .enumerate()
        .flat_map(|(f, series)| std::iter::repeat_n(f, series.len()))
        .collect();
    let series: Vec<Series> = files.into_iter().flatten().collect();
    match same_series(&series) {
        None => Ok(series),
        Some((first, second)) => Err(format!(
            "{} and {} both hold the series {}: a series is replayed from one file",
            paths[file_of[first]].display(),
            paths[file_of[second]].display(),
            series[first].display_name()
        )),
    }
}
