//! The tick: run the collectors, update the baselines, encode the exposition,
//! publish it. Scrapes read the last published exposition and never run a
//! collector. The clock is read here, once per tick, and handed down.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::{debug, error, info, warn};

use bytes::Bytes;

use crate::baseline::{Tracker, snapshot};
use crate::collect::Registry;
use crate::config::{Config, ConfigError};
use crate::events::EventsLog;
use crate::exposition::Exposition;
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

/// The last tick, shared between the tick loop and the HTTP handlers.
#[derive(Default)]
pub struct Published {
    current: RwLock<Option<Arc<Tick>>>,
}

impl Published {
    pub fn get(&self) -> Option<Arc<Tick>> {
        self.current
            .read()
            .expect("published tick lock poisoned")
            .clone()
    }

    pub fn publish(&self, tick: Tick) {
        *self.current.write().expect("published tick lock poisoned") = Some(Arc::new(tick));
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Everything a tick touches: the collectors, the baselines and where their
/// snapshots go.
/// Reads the configuration again (flags, environment and file), for a
/// reload.
pub type LoadConfig = Box<dyn Fn() -> Result<Config, ConfigError> + Send>;

pub struct Core {
    registry: Registry,
    load_config: LoadConfig,
    last_reload_ok: bool,
    last_reload_success: f64,
    tracker: Tracker,
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
                // Damage is copied aside before the next snapshot replaces
                // it; a file that cannot be read has nothing to copy.
                let damaged = !matches!(e, snapshot::SnapshotError::Io { .. });
                let aside = damaged
                    .then(|| crate::storage::set_aside(&storage.join(snapshot::FILE_NAME)).ok())
                    .flatten();
                warn!(error = %e, damaged_copy = ?aside, "baseline snapshot ignored; baselines start afresh");
            }
        }
        Core {
            registry,
            load_config,
            last_reload_ok: true,
            last_reload_success: now,
            tracker,
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
        for name in dropped.names {
            // Once per name: the same clash recurs on every tick.
            if self.warned_names.len() < 1000 && !self.warned_names.contains(&name) {
                warn!(family = %name, "series dropped: the name is given by another source with another type, or a series is given twice");
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
        let baselines = self.tracker.observe(&families, now);
        families.extend(baselines);
        let outcome = self.evaluator.evaluate(&families, now);
        families.extend(outcome.families);
        if let Err(e) = self.events.append(&outcome.transitions) {
            self.event_errors += 1;
            warn!(error = %e, "events log write failed");
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
        Tick {
            exposition: Exposition::new(families),
            rules_json: Bytes::from(crate::rules::api::rules(
                &self.evaluator,
                self.interval_seconds,
            )),
            alerts_json: Bytes::from(crate::rules::api::alerts(&self.evaluator)),
        }
    }

    /// Reloads the configuration and the rules, all or nothing: a file that
    /// does not parse or validate is refused and the running rules go on.
    /// Alert state of unchanged rules and the baselines of series still
    /// tracked are kept. Collector and listener settings take effect on a
    /// restart.
    pub fn reload(&mut self, now: f64) {
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
                self.last_reload_ok = true;
                self.last_reload_success = now;
                info!("configuration and rules reloaded");
            }
            Err(e) => {
                self.last_reload_ok = false;
                error!(error = %e, "reload refused; the previous configuration and rules keep running");
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

/// Ticks every `interval` until `shutdown` turns true, then writes a last
/// snapshot. Ticks run on a blocking thread, so a slow collector never
/// stalls the HTTP workers.
pub async fn run(
    mut core: Core,
    interval: Duration,
    published: Arc<Published>,
    mut shutdown: watch::Receiver<bool>,
    mut reloads: tokio::sync::mpsc::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => break,
            Some(()) = reloads.recv() => {
                // An editor's save is several events: let them settle and
                // reload once.
                tokio::time::sleep(Duration::from_millis(200)).await;
                while reloads.try_recv().is_ok() {}
                core = match tokio::task::spawn_blocking(move || {
                    core.reload(unix_now());
                    core
                })
                .await
                {
                    Ok(core) => core,
                    Err(e) => {
                        error!(error = %e, "reload failed; collection stops");
                        return;
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
                debug!(time = now, elapsed = ?started.elapsed(), "tick done");
            }
            Err(e) => {
                // A panic in a collector is a bug; the state went with it.
                error!(error = %e, "tick failed; collection stops");
                return;
            }
        }
    }
    let notifier = core.notifier.clone();
    let _ = tokio::task::spawn_blocking(move || core.snapshot(unix_now())).await;
    if let Some(notifier) = notifier {
        notifier.flush(Duration::from_secs(5)).await;
    }
}
