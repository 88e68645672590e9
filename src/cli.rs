//! The command line: `outrider [run]`, `outrider check`, `outrider
//! generate` and `outrider backtest`. Flags win over
//! `OUTRIDER_*` environment variables (clap reads both), which win over the
//! config file, which wins over the embedded defaults.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::baseline::Tracker;
use crate::config::{self, Config, ConfigError, LogFormat, LogLevel};
use crate::generate;
use crate::http::{self, Endpoints};
use crate::notify::Notifier;
use crate::pipeline::{self, Core, Published};
use crate::reload;
use crate::rules::{self, eval::Evaluator};

#[derive(Parser, Debug)]
#[command(
    name = "outrider",
    version,
    about = "A monitoring sidecar for Prometheus."
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Collect and serve metrics (the default).
    Run(Box<RunArgs>),
    /// Validate config and rule files; exit 1 when one is invalid.
    Check {
        /// Config, rule or web config files, or folders of them (every
        /// *.yml and *.yaml in it).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write Prometheus rules, promtool tests, an Alertmanager example,
    /// Grafana dashboards and a Kubernetes example from rule files.
    ///
    /// Exits 1 when --check finds stale files, 2 on invalid rule files or
    /// options, 3 when a file cannot be written.
    Generate(GenerateArgs),
    /// Replay recorded series through the baselines and rules and show
    /// where they would have fired.
    Backtest(BacktestArgs),
}

#[derive(Args, Clone, Debug)]
struct GenerateArgs {
    /// Rule files or folders (default: the embedded rules).
    rules: Vec<PathBuf>,
    /// The folder to write alerts/, grafana/ and deploy/ into.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// plain: Prometheus rule files and their promtool tests;
    /// prometheus-operator: PrometheusRule resources.
    #[arg(long, value_enum, default_value_t = generate::Format::Plain)]
    format: generate::Format,
    /// Write nothing; exit 1 when the files under --out differ from what
    /// the rules generate.
    #[arg(long)]
    check: bool,
    /// Divide the SLO windows (5m to 3d) by this, to watch burn-rate alerts
    /// in minutes in a demo or a test. Keep 1 in production.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    slo_window_scale: u32,
}

#[derive(Args, Clone, Debug)]
struct BacktestArgs {
    /// CSV files: `timestamp,value` (one series, named after the file) or a
    /// wide file (`timestamp,a,b,...`, one series per column).
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
}

#[derive(Args, Clone, Debug, Default)]
struct RunArgs {
    /// YAML config file; without one, the embedded defaults apply.
    #[arg(long = "config.file", env = "OUTRIDER_CONFIG_FILE")]
    config_file: Option<PathBuf>,
    /// Address to listen on (host:port, or :port for every interface).
    #[arg(long = "web.listen-address", env = "OUTRIDER_WEB_LISTEN_ADDRESS")]
    listen_address: Option<String>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", env = "OUTRIDER_WEB_TELEMETRY_PATH")]
    telemetry_path: Option<String>,
    /// exporter-toolkit web config file: TLS, basic auth, response headers.
    #[arg(long = "web.config.file", env = "OUTRIDER_WEB_CONFIG_FILE")]
    web_config_file: Option<PathBuf>,
    /// Requests served at once at most; more get 503 (0: no limit).
    #[arg(long = "web.max-requests", env = "OUTRIDER_WEB_MAX_REQUESTS")]
    max_requests: Option<usize>,
    /// Open connections at most; more wait to be accepted (0: no limit).
    #[arg(long = "web.max-connections", env = "OUTRIDER_WEB_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// How often to collect (humantime: 15s, 1m).
    #[arg(long = "collect.interval", env = "OUTRIDER_COLLECT_INTERVAL")]
    collect_interval: Option<humantime::Duration>,
    /// Only log messages at or above this level.
    #[arg(long = "log.level", env = "OUTRIDER_LOG_LEVEL", value_enum)]
    log_level: Option<LogLevel>,
    /// Output format of log messages.
    #[arg(long = "log.format", env = "OUTRIDER_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Directory for state kept across restarts.
    #[arg(long = "storage.path", env = "OUTRIDER_STORAGE_PATH")]
    storage_path: Option<PathBuf>,
    /// Where outrider runs: host (every collector) or pod (a sidecar: the
    /// pod's processes, network, volumes and cgroups, not the node's).
    #[arg(long = "scope", env = "OUTRIDER_SCOPE", value_enum)]
    scope: Option<crate::collect::scope::Scope>,
    /// procfs mount point.
    #[arg(long = "path.procfs", env = "OUTRIDER_PATH_PROCFS")]
    procfs: Option<PathBuf>,
    /// sysfs mount point.
    #[arg(long = "path.sysfs", env = "OUTRIDER_PATH_SYSFS")]
    sysfs: Option<PathBuf>,
    /// Root of the host filesystem.
    #[arg(long = "path.rootfs", env = "OUTRIDER_PATH_ROOTFS")]
    rootfs: Option<PathBuf>,
}

impl RunArgs {
    fn config(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config_file {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        fn set<T: Clone>(slot: &mut T, flag: &Option<T>) {
            if let Some(value) = flag {
                *slot = value.clone();
            }
        }
        set(&mut config.web.listen_address, &self.listen_address);
        set(&mut config.web.telemetry_path, &self.telemetry_path);
        if let Some(file) = &self.web_config_file {
            config.web.config_file = Some(file.clone());
        }
        set(&mut config.web.limits.max_requests, &self.max_requests);
        set(
            &mut config.web.limits.max_connections,
            &self.max_connections,
        );
        set(&mut config.log.level, &self.log_level);
        set(&mut config.log.format, &self.log_format);
        set(&mut config.storage.path, &self.storage_path);
        set(&mut config.scope, &self.scope);
        set(&mut config.paths.procfs, &self.procfs);
        set(&mut config.paths.sysfs, &self.sysfs);
        set(&mut config.paths.rootfs, &self.rootfs);
        if let Ok(token) = std::env::var("OUTRIDER_PUSH_TOKEN") {
            config.push.token = Some(token);
        }
        if let Ok(token) = std::env::var("OUTRIDER_RELOAD_TOKEN") {
            config.web.reload_token = Some(token);
        }
        if let Some(interval) = self.collect_interval {
            config.collect_interval = interval.into();
        }
        config.validate()?;
        Ok(config)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { files }) => check(&files),
        Some(Command::Generate(args)) => generate_command(&args),
        Some(Command::Run(args)) => run(&args),
        Some(Command::Backtest(args)) => backtest(&args),
        None => run(&cli.run),
    }
}

/// What to check for one argument: the file, or every `*.yml` and `*.yaml`
/// in a folder (sorted), as the config's `rules:` and `generate` read one.
fn check_targets(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    found.sort();
    Ok(found)
}

/// A hint for files of the other tools outrider's output feeds, which
/// `check` cannot read: Prometheus rule and test files, Alertmanager
/// configs.
fn foreign_file_hint(document: &serde_yaml_ng::Value) -> Option<&'static str> {
    let mut rules = document
        .get("groups")
        .and_then(|g| g.as_sequence())
        .into_iter()
        .flatten()
        .filter_map(|group| group.get("rules").and_then(|r| r.as_sequence()))
        .flatten();
    if rules.any(|rule| rule.get("expr").is_some() || rule.get("record").is_some()) {
        return Some(
            "hint: this is a Prometheus rule file (its rules have expr:); check it with `promtool check rules`. outrider check reads outrider rule files (rules/README.md).",
        );
    }
    if document.get("rule_files").is_some() && document.get("tests").is_some() {
        return Some("hint: this is a promtool test file; run it with `promtool test rules`.");
    }
    if document.get("route").is_some() && document.get("receivers").is_some() {
        return Some("hint: this is an Alertmanager config; check it with `amtool check-config`.");
    }
    None
}

/// Checks one file: a rule file (it has `groups:`), an exporter-toolkit web
/// config (TLS, HTTP or basic auth keys) or a config file. On failure,
/// every error found, not only the first.
fn check_file(file: &Path) -> Result<String, Vec<String>> {
    let text =
        std::fs::read_to_string(file).map_err(|e| vec![format!("{}: {e}", file.display())])?;
    let document = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).ok();
    let has = |key: &str| document.as_ref().is_some_and(|v| v.get(key).is_some());
    let hinted = |mut errors: Vec<String>| {
        if let Some(hint) = document.as_ref().and_then(foreign_file_hint) {
            errors.push(hint.to_owned());
        }
        errors
    };
    if [
        "tls_server_config",
        "http_server_config",
        "basic_auth_users",
    ]
    .into_iter()
    .any(has)
    {
        crate::web::Active::load(file).map_err(|e| vec![e.to_string()])?;
        return Ok("web config is valid".to_owned());
    }
    let name = file.display().to_string();
    if has("groups") {
        let groups = rules::parse_all(&text, &name)
            .map_err(|errors| hinted(errors.iter().map(ToString::to_string).collect()))?;
        let count: usize = groups.iter().map(|g| g.rules.len()).sum();
        rules::RuleSet::from_groups(groups).map_err(|e| vec![e.to_string()])?;
        return Ok(format!("{count} rules found"));
    }
    let config = Config::from_yaml(&text, &name).map_err(|e| hinted(vec![e.to_string()]))?;
    let problems = config.problems();
    if problems.is_empty() {
        Ok("config is valid".to_owned())
    } else {
        Err(problems.iter().map(|e| format!("{name}: {e}")).collect())
    }
}

/// Like `promtool check`: `Checking FILE` and `SUCCESS: …` on stdout, or
/// `FAILED:` and every error on stderr; exit 1 when any file failed.
fn check(paths: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in paths {
        let files = match check_targets(path) {
            Ok(files) if files.is_empty() => {
                failed = true;
                eprintln!(
                    "{}: no *.yml or *.yaml files in this folder",
                    path.display()
                );
                continue;
            }
            Ok(files) => files,
            Err(e) => {
                failed = true;
                eprintln!("{e}");
                continue;
            }
        };
        for file in files {
            println!("Checking {}", file.display());
            match check_file(&file) {
                Ok(what) => println!("  SUCCESS: {what}"),
                Err(errors) => {
                    failed = true;
                    eprintln!("  FAILED:");
                    for error in errors {
                        eprintln!("{error}");
                    }
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Exit codes of `generate`: 1 stale files (--check), 2 bad rule files,
/// 3 files that cannot be written.
fn generate_command(args: &GenerateArgs) -> ExitCode {
    let (rules, source) = if args.rules.is_empty() {
        (
            rules::RuleSet::embedded(),
            "the embedded rules/*.yml".to_owned(),
        )
    } else {
        match rules::RuleSet::load(&args.rules) {
            Ok(rules) => {
                let names: Vec<String> =
                    args.rules.iter().map(|p| p.display().to_string()).collect();
                (rules, names.join(", "))
            }
            Err(e) => {
                eprintln!("outrider generate: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let options = generate::Options {
        format: args.format,
        slo_window_scale: args.slo_window_scale,
        source,
    };
    let files = match generate::generate(&rules, &options) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("outrider generate: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        let differences = generate::differences(&args.out, &files);
        if differences.is_empty() {
            println!("{} generated files are up to date", files.len());
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "outrider generate --check: the generated files under {} are stale; run `outrider generate` and commit the result:",
            args.out.display()
        );
        for difference in differences {
            eprintln!("  {difference}");
        }
        return ExitCode::FAILURE;
    }
    match generate::write(&args.out, &files) {
        Ok((written, removed)) => {
            println!(
                "{} files generated under {} ({written} written, {removed} stale removed)",
                files.len(),
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("outrider generate: {e}");
            ExitCode::from(3)
        }
    }
}

/// Reads the input, replays it and writes the results; exit 1 on bad input
/// or a write failure, 2 on a bad configuration.
fn backtest(args: &BacktestArgs) -> ExitCode {
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
            .map(|f| input::read_csv(f))
            .collect::<Result<Vec<_>, _>>()
            .map(|files| files.into_iter().flatten().collect())
            .map_err(|e| e.to_string()),
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
    let options = backtest::Options {
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

fn run(args: &RunArgs) -> ExitCode {
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("outrider: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Ticks and pushes run on the blocking pool. Keeping its threads
        // past the tick interval reuses them: a new thread each tick would
        // spread memory over ever more allocator arenas.
        .thread_keep_alive(Duration::from_secs(300))
        .max_blocking_threads(32)
        .thread_name("outrider")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, args.clone())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "outrider stopped");
            match e {
                RunError::Config(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("pushed metrics cannot be restored: {0}")]
    PushState(crate::push::log::LogError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("listening on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Stopped(pipeline::Stopped),
}

async fn serve(config: Config, args: RunArgs) -> Result<(), RunError> {
    // Before anything is restored from the folder or written to it.
    let _storage_lock = crate::storage::lock(&config.storage.path)?;
    let mut registry = config.registry()?;
    let rules = config.load_rules()?;
    let guard = Arc::new(config.web_guard()?);
    let push_active = config.push.active().map_err(ConfigError::Invalid)?;
    // The port opens before state is restored: a long push log takes
    // seconds to replay, and a liveness probe must not kill the process
    // meanwhile. Readiness waits for the first tick, which comes after.
    let address = config::listen_address(&config.web.listen_address)?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| RunError::Listen {
            address: config.web.listen_address.clone(),
            source,
        })?;
    let bound = listener.local_addr().map_or(address, |a| a);
    info!(address = %bound, tls = guard.active().tls.is_some(), telemetry_path = %config.web.telemetry_path, collect_interval = ?config.collect_interval, version = crate::build::VERSION, "listening");

    let published = Arc::new(Published::new(config.collect_interval));
    let (reload_requests, reloads) = tokio::sync::mpsc::channel(1);
    // A SIGHUP's default action ends the process: caught from the moment
    // the port is open, it waits in the channel until the ticks start.
    reload::on_sighup(reload_requests.clone());
    let push_slot = Arc::new(std::sync::OnceLock::new());
    let endpoints = Arc::new(Endpoints {
        telemetry_path: config.web.telemetry_path.clone(),
        published: Arc::clone(&published),
        reload: config
            .web
            .reload_token
            .clone()
            .map(|token| http::ReloadEndpoint {
                token,
                requests: reload_requests.clone(),
            }),
        push: push_active.then(|| http::PushEndpoint {
            token: config.push.token.clone().unwrap_or_default(),
            store: Arc::clone(&push_slot),
        }),
    });
    // A start that fails after the port opened, or a tick loop that dies,
    // stops the server and ends the process with an error, so the
    // orchestrator restarts it rather than it serving frozen values.
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, endpoints, guard, async move {
        tokio::select! {
            () = shutdown_signal() => {}
            Ok(()) = server_stopped => {}
        }
    }));

    let push_store = if push_active {
        let directory = config.storage.path.join("push");
        let limits = crate::push::Limits::new(
            config.web.limits.max_push_series_per_group,
            config.web.limits.max_push_series_total,
            &config.push,
        );
        let push_config = config.push.clone();
        let opened = tokio::task::spawn_blocking(move || {
            crate::push::PushStore::open(&directory, push_config, limits)
        })
        .await
        .expect("restoring pushed metrics does not panic");
        let store = match opened {
            Ok(store) => Arc::new(store.refusing(registry.host_names())),
            Err(e) => {
                let _ = stop_server.send(());
                let _ = server.await;
                return Err(RunError::PushState(e));
            }
        };
        registry.add(
            "push",
            Box::new(crate::collect::push::PushCollector::new(Arc::clone(&store))),
        );
        // Pushes are taken once the first tick has said which names the
        // host collectors export, so none can take one before.
        let (slot, first_tick, opened) = (
            Arc::clone(&push_slot),
            Arc::clone(&published),
            Arc::clone(&store),
        );
        tokio::spawn(async move {
            while first_tick.readiness(std::time::Instant::now()) == pipeline::Readiness::NotYet {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = slot.set(opened);
        });
        Some(store)
    } else {
        None
    };

    let tracker = Tracker::new(config.baseline_config(&rules));
    let evaluator = Evaluator::new(rules, config.alerting.resend_interval);
    let notifier = Notifier::start(&config.alerting);
    let storage = config.storage.path.clone();
    let interval = config.collect_interval;
    // A reload reads flags, environment and file again, as a start does.
    let mut watched: Vec<PathBuf> = args.config_file.iter().cloned().collect();
    watched.extend(config.rules.iter().flatten().cloned());
    let load_config: pipeline::LoadConfig = Box::new(move || args.config());
    let running = config.clone();
    let core = tokio::task::spawn_blocking(move || {
        Core::new(
            registry,
            load_config,
            running,
            tracker,
            evaluator,
            notifier,
            interval,
            storage,
            pipeline::unix_now(),
        )
    })
    .await
    .expect("restoring baselines does not panic");
    let (stop_ticks, ticks_stopped) = watch::channel(false);
    let _watch = reload::watch_files(&watched, reload_requests);
    let ticker = tokio::spawn({
        let run = pipeline::run(
            core,
            config.collect_interval,
            Arc::clone(&published),
            ticks_stopped,
            reloads,
        );
        async move {
            let result = run.await;
            if result.is_err() {
                let _ = stop_server.send(());
            }
            result
        }
    });
    let _ = server.await;
    let _ = stop_ticks.send(true);
    // A tick stuck in a collector must not hold the exit up for long; the
    // last snapshot is written once the tick in flight is done.
    let stopped = match tokio::time::timeout(Duration::from_secs(10), ticker).await {
        Ok(Ok(Err(stopped))) => Some(stopped),
        Ok(Err(join)) => Some(pipeline::Stopped::Tick(join.to_string())),
        Ok(Ok(Ok(()))) | Err(_) => None,
    };
    if let Some(store) = push_store {
        // The next start then has no log to replay.
        if let Err(e) = tokio::task::spawn_blocking(move || store.compact())
            .await
            .unwrap_or(Ok(()))
        {
            warn!(error = %e, "pushed metrics not compacted; the next start replays the log");
        }
    }
    if let Some(stopped) = stopped {
        return Err(RunError::Stopped(stopped));
    }
    info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot watch SIGTERM; stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => info!(signal = "SIGTERM", "shutdown requested"),
        _ = tokio::signal::ctrl_c() => info!(signal = "SIGINT", "shutdown requested"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yml");
        std::fs::write(&file, "collect_interval: 30s\nweb:\n  telemetry_path: /from-file\n  listen_address: 127.0.0.1:1\n").unwrap();
        let cli = Cli::try_parse_from([
            "outrider",
            "--config.file",
            file.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:2",
        ])
        .unwrap();
        let config = cli.run.config().unwrap();
        assert_eq!(config.web.listen_address, "127.0.0.1:2");
        assert_eq!(config.web.telemetry_path, "/from-file");
        assert_eq!(config.collect_interval, Duration::from_secs(30));
    }

    #[test]
    fn run_subcommand_takes_the_same_flags() {
        let cli = Cli::try_parse_from(["outrider", "run", "--collect.interval", "2s"]).unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(
            args.config().unwrap().collect_interval,
            Duration::from_secs(2)
        );
    }
}
