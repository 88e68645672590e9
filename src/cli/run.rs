//! `outrider run` (the default): the flags and their precedence over the
//! config file, and the composition root that starts collection and the
//! server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::baseline::Tracker;
use crate::config::{self, Config, ConfigError, LogFormat, LogLevel};
use crate::external_labels::ExternalLabels;
use crate::http::{self, Endpoints};
use crate::notify::Notifier;
use crate::pipeline::{self, Core, Published};
use crate::reload;
use crate::rules::eval::Evaluator;

#[derive(Args, Clone, Debug, Default)]
pub(super) struct RunArgs {
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
    /// Directory of `*.prom` files for the textfile collector.
    #[arg(long = "collector.textfile.directory")]
    textfile_directory: Option<PathBuf>,
    /// Regex of the /proc/vmstat fields the vmstat collector exports.
    #[arg(long = "collector.vmstat.fields")]
    vmstat_fields: Option<String>,
    /// Regex of the `Proto_Field` statistics the netstat collector exports.
    #[arg(long = "collector.netstat.fields")]
    netstat_fields: Option<String>,
}

impl RunArgs {
    pub(super) fn config(&self) -> Result<Config, ConfigError> {
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
        if let Some(directory) = &self.textfile_directory {
            config.collectors.textfile.directory = Some(directory.clone());
        }
        set(&mut config.collectors.vmstat.fields, &self.vmstat_fields);
        set(&mut config.collectors.netstat.fields, &self.netstat_fields);
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

pub(super) fn run(args: &RunArgs) -> ExitCode {
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("outrider: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(&config.log);
    crate::model::allocator::bound_arenas();
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
pub(super) enum RunError {
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

pub(super) async fn serve(config: Config, args: RunArgs) -> Result<(), RunError> {
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
    let mut evaluator = Evaluator::new(rules, config.alerting.resend_interval);
    evaluator.set_external_labels(ExternalLabels::from_env(&config.external_labels));
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
pub(super) async fn shutdown_signal() {
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
