//! The tick: run the collectors, update the baselines, encode the exposition,
//! publish it. Scrapes read the last published exposition and never run a
//! collector. The clock is read here, once per tick, and handed down.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::{debug, error, info, warn};

use bytes::Bytes;

use crate::baseline::warm_start::WarmStart;
use crate::baseline::{Tracker, snapshot};
use crate::collect::Registry;
use crate::config::{Config, ConfigError};
use crate::events::EventsLog;
use crate::exposition::Exposition;
use crate::external_labels::ExternalLabels;
use crate::metric::Family;
use crate::notify::Notifier;
use crate::rules::eval::Evaluator;

/// What one tick publishes: the exposition and the rules API documents,
/// all encoded once.
pub struct Tick {
    pub exposition: Exposition,
    pub rules_json: Bytes,
    pub alerts_json: Bytes,
}

impl Tick {
    /// A tick with only an exposition (no rules evaluated).
    pub fn of(exposition: Exposition) -> Tick {
        let empty = |doc: &str| Bytes::from(format!("{{\"status\":\"success\",\"data\":{doc}}}"));
        Tick {
            exposition,
            rules_json: empty("{\"groups\":[]}"),
            alerts_json: empty("{\"alerts\":[]}"),
        }
    }
}

/// A tick older than this many collect intervals means collection has
/// stalled (a collector hangs, or the tick died).
const STALE_INTERVALS: u32 = 3;
/// The shortest age called stale, so that at a short collect interval one
/// slow tick on a busy machine does not take the sidecar out of service.
pub const STALE_FLOOR: Duration = Duration::from_secs(5);

/// How old the last published tick may be before readiness fails.
pub fn stale_after(interval: Duration) -> Duration {
    interval.saturating_mul(STALE_INTERVALS).max(STALE_FLOOR)
}

/// Whether the published data is fit to be scraped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// No tick has been published yet.
    NotYet,
    Ready,
    /// The last tick was published `age` ago, longer than the limit.
    Stale {
        age: Duration,
    },
}

/// The last tick, shared between the tick loop and the HTTP handlers, and
/// when it was published.
pub struct Published {
    current: RwLock<Option<(Arc<Tick>, Instant)>>,
    stale_after: Duration,
}

impl Default for Published {
    fn default() -> Self {
        Published::new(crate::config::Config::default().collect_interval)
    }
}

impl Published {
    /// For ticks every `interval`.
    pub fn new(interval: Duration) -> Self {
        Published {
            current: RwLock::new(None),
            stale_after: stale_after(interval),
        }
    }

    pub fn get(&self) -> Option<Arc<Tick>> {
        self.current
            .read()
            .expect("published tick lock poisoned")
            .as_ref()
            .map(|(tick, _)| Arc::clone(tick))
    }

    pub fn publish(&self, tick: Tick) {
        self.publish_at(tick, Instant::now());
    }

    /// Publishes a tick as of `at` (tests step the clock).
    pub fn publish_at(&self, tick: Tick, at: Instant) {
        *self.current.write().expect("published tick lock poisoned") = Some((Arc::new(tick), at));
    }

    /// Ready once a tick is published, and as long as the last one is
    /// recent: a stalled collection must not look healthy while scrapes
    /// get frozen values.
    pub fn readiness(&self, now: Instant) -> Readiness {
        match &*self.current.read().expect("published tick lock poisoned") {
            None => Readiness::NotYet,
            Some((_, at)) => {
                let age = now.saturating_duration_since(*at);
                if age > self.stale_after {
                    Readiness::Stale { age }
                } else {
                    Readiness::Ready
                }
            }
        }
    }
}

pub use crate::model::clock::unix_now;

/// Everything a tick touches: the collectors, the baselines and where their
/// snapshots go.
/// Reads the configuration again (flags, environment and file), for a
/// reload.
pub type LoadConfig = Box<dyn Fn() -> Result<Config, ConfigError> + Send>;

pub struct Core {
    registry: Registry,
    load_config: LoadConfig,
    /// The configuration the process started with: what a reload does not
    /// apply stays as it is here.
    running: Config,
    last_reload_ok: bool,
    last_reload_success: f64,
    tracker: Tracker,
    warm_start: WarmStart,
    evaluator: Evaluator,
    events: EventsLog,
    event_errors: u64,
    notifier: Option<Notifier>,
    interval_seconds: f64,
    storage: PathBuf,
    last_snapshot: f64,
    snapshot_errors: u64,
    last_snapshot_success: Option<f64>,
    dropped_type_conflicts: u64,
    dropped_duplicates: u64,
    warned_names: std::collections::HashSet<String>,
}

impl Core {
    /// Restores baselines from the storage directory. A missing snapshot is
    /// normal on a first start; a damaged one is reported and set aside.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        registry: Registry,
        load_config: LoadConfig,
        running: Config,
        mut tracker: Tracker,
        evaluator: Evaluator,
        notifier: Option<Notifier>,
        interval: Duration,
        storage: PathBuf,
        now: f64,
    ) -> Self {
        match snapshot::read(&storage) {
            Ok(Some(series)) => {
                let total = series.len();
                let kept = tracker.restore(series);
                info!(kept, total, "baselines restored from snapshot");
            }
            Ok(None) => debug!("no baseline snapshot yet"),
            Err(e) => {
                // Damage is moved aside before the next snapshot replaces
                // it; a file that cannot be read has nothing to keep.
                let damaged = !matches!(e, snapshot::SnapshotError::Io { .. });
                let aside = damaged
                    .then(|| crate::storage::set_aside(&storage.join(snapshot::FILE_NAME)).ok())
                    .flatten();
                warn!(error = %e, damaged_copy = ?aside, "baseline snapshot ignored; baselines start afresh");
            }
        }
        let warm_start = WarmStart::new(
            tracker.config().warm_start.as_ref(),
            &running.external_labels,
            &tracker,
            now,
        );
        Core {
            registry,
            load_config,
            running,
            last_reload_ok: true,
            last_reload_success: now,
            tracker,
            warm_start,
            evaluator,
            events: EventsLog::new(&storage, crate::events::DEFAULT_MAX_BYTES),
            event_errors: 0,
            notifier,
            interval_seconds: interval.as_secs_f64(),
            storage,
            last_snapshot: now,
            snapshot_errors: 0,
            last_snapshot_success: None,
            dropped_type_conflicts: 0,
            dropped_duplicates: 0,
            warned_names: std::collections::HashSet::new(),
        }
    }

    fn record_dropped(&mut self, dropped: crate::series::Dropped) {
        self.dropped_type_conflicts += dropped.type_conflicts as u64;
        self.dropped_duplicates += dropped.duplicates as u64;
        for (name, reason) in dropped.names {
            // Once per name: the same clash recurs on every tick.
            if self.warned_names.len() < 1000 && !self.warned_names.contains(&name) {
                let why = match reason {
                    "type_conflict" => {
                        "an earlier source (host collectors, then scrape targets in order, then pushes) gives the name another type"
                    }
                    _ => {
                        "an earlier source (host collectors, then scrape targets in order, then pushes) gives the same series; set the later source's labels to tell them apart"
                    }
                };
                warn!(family = %name, reason, why, "series dropped, counted in outrider_series_dropped_total");
                self.warned_names.insert(name);
            }
        }
    }

    fn dropped_family(&self) -> Family {
        let mut family = Family::counter(
            "outrider_series_dropped_total",
            "Series dropped because another source gives the same name another type, or the same series twice.",
        );
        family.push(
            [("reason", "type_conflict")],
            self.dropped_type_conflicts as f64,
        );
        family.push([("reason", "duplicate")], self.dropped_duplicates as f64);
        family
    }

    /// One tick at `now`: collect, update baselines, evaluate the rules,
    /// log and notify their transitions, snapshot when due, and encode.
    pub fn tick(&mut self, now: f64) -> Tick {
        let (mut families, dropped) = crate::series::merge(self.registry.collect_all());
        self.record_dropped(dropped);
        families.push(self.dropped_family());
        self.warm_start.apply(&mut self.tracker);
        let baselines = self.tracker.observe(&families, now);
        let warm_start = self.warm_start.observe(&self.tracker, &families, now);
        families.extend(baselines);
        families.extend(warm_start);
        let outcome = self.evaluator.evaluate(&families, now);
        families.extend(outcome.families);
        if let Err(e) = self.events.append(&outcome.transitions) {
            self.event_errors += 1;
            warn!(path = %e.path.display(), error = %e, "events log write failed");
        }
        families.push(
            Family::counter(
                "outrider_events_log_errors_total",
                "Alert transitions that could not be written to the events log.",
            )
            .single(self.event_errors as f64),
        );
        if let Some(notifier) = &self.notifier {
            notifier.send(outcome.notifications);
            families.extend(notifier.families());
        }
        families.push(
            Family::gauge(
                "outrider_config_last_reload_successful",
                "Whether the last configuration reload succeeded.",
            )
            .single(if self.last_reload_ok { 1.0 } else { 0.0 }),
        );
        families.push(
            Family::gauge(
                "outrider_config_last_reload_success_timestamp_seconds",
                "When the configuration was last loaded successfully.",
            )
            .single(self.last_reload_success),
        );
        if now - self.last_snapshot >= self.tracker.config().snapshot_interval.as_secs_f64() {
            self.snapshot(now);
        }
        families.push(
            Family::counter(
                "outrider_baseline_snapshot_errors_total",
                "Baseline snapshots that could not be written.",
            )
            .single(self.snapshot_errors as f64),
        );
        // The `now` baselines and rules saw this tick, so a recording of
        // the exposition can be replayed with the same clock.
        families.push(
            Family::gauge(
                "outrider_tick_timestamp_seconds",
                "When the tick that produced this exposition started (the time baselines and rules were evaluated at).",
            )
            .single(now),
        );
        if let Some(at) = self.last_snapshot_success {
            families.push(
                Family::gauge(
                    "outrider_baseline_snapshot_last_success_timestamp_seconds",
                    "When baselines were last written to disk.",
                )
                .single(at),
            );
        }
        let (rules_json, alerts_json) =
            crate::rules::api::documents(&self.evaluator, self.interval_seconds);
        Tick {
            exposition: Exposition::new(families),
            rules_json: Bytes::from(rules_json),
            alerts_json: Bytes::from(alerts_json),
        }
    }

    /// Reloads the configuration and the rules, all or nothing: a file that
    /// does not parse or validate is refused and the running rules go on.
    /// Alert state of unchanged rules and the baselines of series still
    /// tracked are kept. The rules and the baseline settings apply; every
    /// other setting takes effect on a restart, and the outcome names those
    /// that changed.
    pub fn reload(&mut self, now: f64) -> crate::reload::Outcome {
        let loaded = (self.load_config)().and_then(|config| {
            let rules = config.load_rules()?;
            Ok((config, rules))
        });
        match loaded {
            Ok((config, rules)) => {
                let placeholder = Tracker::new(crate::baseline::Config::default());
                let tracker = std::mem::replace(&mut self.tracker, placeholder);
                self.tracker = tracker.reconfigure(config.baseline_config(&rules));
                self.evaluator.replace_rules(rules);
                self.evaluator
                    .set_external_labels(ExternalLabels::from_env(&config.external_labels));
                self.last_reload_ok = true;
                self.last_reload_success = now;
                let needs_restart = needs_restart(&self.running, &config);
                if needs_restart.is_empty() {
                    info!("configuration and rules reloaded");
                } else {
                    warn!(
                        settings = %needs_restart.join(", "),
                        "configuration and rules reloaded; changed settings take effect on a restart"
                    );
                }
                Ok(crate::reload::Applied { needs_restart })
            }
            Err(e) => {
                self.last_reload_ok = false;
                error!(error = %e, "reload refused; the previous configuration and rules keep running");
                Err(e.to_string())
            }
        }
    }

    /// Writes the baselines to disk; failures are counted and logged.
    pub fn snapshot(&mut self, now: f64) {
        self.last_snapshot = now;
        let series: Vec<_> = self.tracker.series().collect();
        match snapshot::write(&self.storage, &series) {
            Ok(()) => {
                self.last_snapshot_success = Some(now);
                debug!(series = series.len(), "baselines written");
            }
            Err(e) => {
                self.snapshot_errors += 1;
                warn!(error = %e, "baseline snapshot failed");
            }
        }
    }
}

/// The settings that differ between `running` and `new` and that a reload
/// does not apply (all but the rules and the baselines), by config name.
pub fn needs_restart(running: &Config, new: &Config) -> Vec<&'static str> {
    // Every field by name, so a new setting cannot be left out unnoticed.
    let Config {
        scope,
        collect_interval,
        web,
        log,
        storage,
        paths,
        collectors,
        baselines: _,
        rules: _,
        external_labels: _,
        alerting,
        push,
        scrape,
        probes,
    } = new;
    let differs = [
        ("scope", running.scope != *scope),
        (
            "collect_interval",
            running.collect_interval != *collect_interval,
        ),
        (
            "web.listen_address",
            running.web.listen_address != web.listen_address,
        ),
        (
            "web.telemetry_path",
            running.web.telemetry_path != web.telemetry_path,
        ),
        (
            "web.reload_token",
            running.web.reload_token != web.reload_token,
        ),
        (
            "web.config_file",
            running.web.config_file != web.config_file,
        ),
        ("web.allow", running.web.allow != web.allow),
        ("web.limits", running.web.limits != web.limits),
        ("log", running.log != *log),
        ("storage", running.storage != *storage),
        ("paths", running.paths != *paths),
        ("collectors", running.collectors != *collectors),
        ("alerting", running.alerting != *alerting),
        ("push", running.push != *push),
        ("scrape", running.scrape != *scrape),
        ("probes", running.probes != *probes),
    ];
    differs
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name)
        .collect()
}

/// Why the tick loop stopped before it was asked to: its state went with a
/// panic, so the process must end and be restarted.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error("a tick failed, collection cannot go on: {0}")]
    Tick(String),
    #[error("a reload failed, collection cannot go on: {0}")]
    Reload(String),
}

/// Ticks every `interval` until `shutdown` turns true, then writes a last
/// snapshot. Ticks run on a blocking thread, so a slow collector never
/// stalls the HTTP workers. A tick or reload that dies (a panic outside a
/// collector, which costs only that collector) ends the loop with an error.
pub async fn run(
    mut core: Core,
    interval: Duration,
    published: Arc<Published>,
    mut shutdown: watch::Receiver<bool>,
    mut reloads: tokio::sync::mpsc::Receiver<crate::reload::Request>,
) -> Result<(), Stopped> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => break,
            Some(first) = reloads.recv() => {
                // An editor's save is several events: let them settle and
                // reload once; every request waiting gets that outcome.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let mut replies: Vec<_> = first.reply.into_iter().collect();
                while let Ok(request) = reloads.try_recv() {
                    replies.extend(request.reply);
                }
                core = match tokio::task::spawn_blocking(move || {
                    let outcome = core.reload(unix_now());
                    (core, outcome)
                })
                .await
                {
                    Ok((core, outcome)) => {
                        for reply in replies {
                            // A client that gave up no longer listens.
                            let _ = reply.send(outcome.clone());
                        }
                        core
                    }
                    Err(e) => {
                        error!(error = %e, "reload failed; collection stops and outrider exits");
                        return Err(Stopped::Reload(e.to_string()));
                    }
                };
                continue;
            }
        }
        let started = std::time::Instant::now();
        let now = unix_now();
        let handle = tokio::task::spawn_blocking(move || {
            let tick = core.tick(now);
            (core, tick)
        });
        match handle.await {
            Ok((back, tick)) => {
                core = back;
                published.publish(tick);
                // The previous tick's families and exposition are freed
                // now; give their pages back (see model::allocator).
                tokio::task::spawn_blocking(crate::model::allocator::trim);
                debug!(time = now, elapsed = ?started.elapsed(), "tick done");
            }
            Err(e) => {
                // A bug outside the collectors; the state went with it.
                error!(error = %e, "tick failed; collection stops and outrider exits");
                return Err(Stopped::Tick(e.to_string()));
            }
        }
    }
    let notifier = core.notifier.clone();
    let _ = tokio::task::spawn_blocking(move || core.snapshot(unix_now())).await;
    if let Some(notifier) = notifier {
        notifier.flush(Duration::from_secs(5)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    fn core(load_config: LoadConfig, storage: &std::path::Path) -> Core {
        Core::new(
            Registry::from_collectors(Vec::new()),
            load_config,
            Config::default(),
            Tracker::new(crate::baseline::Config::default()),
            Evaluator::new(
                RuleSet::from_groups(Vec::new()).expect("no rules are a rule set"),
                Duration::from_secs(60),
            ),
            None,
            Duration::from_millis(50),
            storage.to_owned(),
            unix_now(),
        )
    }

    #[test]
    fn readiness_fails_when_the_last_tick_is_stale() {
        let published = Published::new(Duration::from_secs(15));
        let start = Instant::now();
        assert_eq!(published.readiness(start), Readiness::NotYet);
        published.publish_at(Tick::of(Exposition::new(Vec::new())), start);
        assert_eq!(published.readiness(start), Readiness::Ready);
        // Three intervals: still within reach of one late tick.
        let limit = start + Duration::from_secs(45);
        assert_eq!(published.readiness(limit), Readiness::Ready);
        let later = limit + Duration::from_secs(1);
        assert_eq!(
            published.readiness(later),
            Readiness::Stale {
                age: Duration::from_secs(46)
            }
        );
        // A new tick makes it ready again.
        published.publish_at(Tick::of(Exposition::new(Vec::new())), later);
        assert_eq!(published.readiness(later), Readiness::Ready);
        // A short interval is not held to a few hundred milliseconds.
        assert_eq!(stale_after(Duration::from_millis(200)), STALE_FLOOR);
    }

    #[tokio::test]
    async fn a_reload_that_dies_ends_the_loop_with_an_error() {
        let storage = tempfile::tempdir().expect("temp dir");
        let panicking: LoadConfig = Box::new(|| panic!("a bug while reading the config"));
        let published = Arc::new(Published::default());
        let (_stop, shutdown) = watch::channel(false);
        let (reload, reloads) = tokio::sync::mpsc::channel(1);
        let running = tokio::spawn(run(
            core(panicking, storage.path()),
            Duration::from_millis(50),
            Arc::clone(&published),
            shutdown,
            reloads,
        ));
        reload
            .send(crate::reload::Request::default())
            .await
            .expect("the loop takes reload requests");
        let stopped = tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("the loop ends")
            .expect("the loop itself does not panic");
        match stopped {
            Err(Stopped::Reload(message)) => {
                assert!(message.contains("panicked"), "{message}");
            }
            other => panic!("expected a dead reload, got {other:?}"),
        }
    }

    #[test]
    fn a_reload_names_the_changed_settings_it_does_not_apply() {
        let running = Config::default();
        let mut new = running.clone();
        assert!(needs_restart(&running, &new).is_empty());
        new.collect_interval = Duration::from_secs(5);
        new.web.telemetry_path = "/other".to_owned();
        new.collectors.cpu.enabled = false;
        // Applied by a reload: not named.
        new.rules = Some(vec![std::path::PathBuf::from("rules/")]);
        new.baselines.min_samples += 1;
        assert_eq!(
            needs_restart(&running, &new),
            ["collect_interval", "web.telemetry_path", "collectors"]
        );
    }

    #[test]
    fn a_reload_answers_with_its_outcome() {
        let storage = tempfile::tempdir().expect("temp dir");
        let next: Arc<std::sync::Mutex<Result<Config, String>>> =
            Arc::new(std::sync::Mutex::new(Ok(Config::default())));
        let source = Arc::clone(&next);
        let load: LoadConfig = Box::new(move || {
            source
                .lock()
                .expect("config source")
                .clone()
                .map_err(ConfigError::Invalid)
        });
        let mut core = core(load, storage.path());
        assert_eq!(core.reload(1.0), Ok(crate::reload::Applied::default()));
        *next.lock().expect("config source") = Ok(Config {
            collect_interval: Duration::from_secs(1),
            ..Config::default()
        });
        assert_eq!(
            core.reload(2.0),
            Ok(crate::reload::Applied {
                needs_restart: vec!["collect_interval"]
            })
        );
        *next.lock().expect("config source") = Err("rule Broken: bad".to_owned());
        let refused = core.reload(3.0).expect_err("a broken config is refused");
        assert!(refused.contains("rule Broken: bad"), "{refused}");
    }

    #[tokio::test]
    async fn the_loop_ends_cleanly_on_shutdown() {
        let storage = tempfile::tempdir().expect("temp dir");
        let load: LoadConfig = Box::new(|| Ok(Config::default()));
        let published = Arc::new(Published::default());
        let (stop, shutdown) = watch::channel(false);
        let (_reload, reloads) = tokio::sync::mpsc::channel(1);
        let running = tokio::spawn(run(
            core(load, storage.path()),
            Duration::from_millis(50),
            Arc::clone(&published),
            shutdown,
            reloads,
        ));
        while published.get().is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).expect("the loop listens");
        let stopped = tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("the loop ends")
            .expect("the loop itself does not panic");
        assert!(stopped.is_ok(), "{stopped:?}");
    }
}
