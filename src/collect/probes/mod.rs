//! Probes of the services the app depends on, exported under
//! blackbox_exporter's names: `probe_success`, `probe_duration_seconds`,
//! `probe_dns_lookup_time_seconds`, and for HTTP probes
//! `probe_http_status_code`, `probe_http_duration_seconds{phase}`,
//! `probe_http_content_length`, `probe_http_version` and `probe_http_ssl`;
//! for TCP probes `probe_failed_due_to_regex`; for probes over TLS
//! `probe_tls_version_info{version}` and `probe_ssl_earliest_cert_expiry`. Every series carries the probe's name
//! as `probe`, where blackbox users get a target label from relabelling.
//!
//! Beyond blackbox, `outrider_probe_failure_info{probe,reason}` says why a
//! probe fails, which blackbox only logs: `timeout`, `refused`, `status`,
//! `expect`, `tls`, `dns` or `error` (anything else: a reset connection, a
//! malformed reply). It is 1 while the probe fails and absent while it
//! succeeds.
//!
//! Probes never run on the tick. Each probe has its own task on the tokio
//! runtime that runs it every `interval`, bounded by `timeout`, and keeps the
//! outcome of the last run; `collect()` only reads those, so a slow peer
//! never delays a tick. The tasks start on the first tick rather than when
//! the collector is built: `outrider check` and config validation build
//! collectors too, and must not send anything to the peers. As in blackbox,
//! there is no result before a probe's first run ends, so until then the
//! probe exports nothing.
//!
//! TLS is rustls with ring. Certificates are checked against the host's CA
//! certificates, or a `ca_file`; the certificates are read when the config
//! is, so a missing file is a config error, not a failing probe.
//!
//! `config` holds the options and their checks, `outcome` what a run found,
//! `http`, `tcp` and `tls` how a run is made; this file runs the probes'
//! tasks and turns their outcomes into families.

mod config;
mod http;
mod outcome;
mod tcp;
#[cfg(test)]
mod tests;
mod tls;

pub use config::{HttpProbeConfig, Probe, ProbeConfig, TcpProbeConfig, TcpStep, TlsConfig};
pub use outcome::{Failure, HttpFigures, Outcome, PHASES, Reason};
pub use tls::earliest_expiry;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::collect::background::Background;
use crate::collect::{BuildError, CollectError, Collector};
use crate::metric::{Family, Sample};
use crate::model::sync::lock;
use tls::*;

const COLLECTOR: &str = "probes";

struct Running {
    probe: Arc<Probe>,
    last: Arc<Mutex<Option<Outcome>>>,
}

/// The `probes:` list: one task per probe, started on the first tick.
pub struct ProbesCollector {
    probes: Vec<Running>,
    /// Dropping the collector closes it, and the probes' tasks end.
    stop: watch::Sender<()>,
    background: Background,
}

impl ProbesCollector {
    /// Checks every probe: unique names, exactly one of http and tcp,
    /// parsable URLs and addresses, valid regexes, timeouts within
    /// intervals.
    pub fn new(configs: &[ProbeConfig]) -> Result<Self, BuildError> {
        let mut names = HashSet::new();
        let mut roots = HostRoots::default();
        let mut probes = Vec::with_capacity(configs.len());
        for (index, config) in configs.iter().enumerate() {
            if !names.insert(config.name.as_str()) {
                return Err(BuildError {
                    collector: COLLECTOR,
                    reason: format!(
                        "probes[{index}]: the name {:?} is already taken; names must be unique",
                        config.name
                    ),
                });
            }
            probes.push(Running {
                probe: Arc::new(Probe::with_roots(config, index, &mut roots)?),
                last: Arc::default(),
            });
        }
        let (stop, _) = watch::channel(());
        Ok(ProbesCollector {
            probes,
            stop,
            background: Background::new("probes", "no tokio runtime to run the probes on"),
        })
    }
}

impl Collector for ProbesCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let (probes, stop) = (&self.probes, &self.stop);
        self.background.start_once(|runtime| {
            for running in probes {
                runtime.spawn(run_probe(
                    Arc::clone(&running.probe),
                    Arc::clone(&running.last),
                    stop.subscribe(),
                ));
            }
        })?;
        let outcomes: Vec<(&str, Option<Outcome>)> = self
            .probes
            .iter()
            .map(|r| (r.probe.name.as_str(), lock(&r.last).clone()))
            .collect();
        out.extend(families(
            outcomes
                .iter()
                .filter_map(|(name, outcome)| Some((*name, outcome.as_ref()?))),
        ));
        Ok(())
    }
}

/// A probe's task: runs it every interval, keeps the outcome, and logs when
/// it starts failing (or fails for another reason) and when it recovers.
async fn run_probe(
    probe: Arc<Probe>,
    last: Arc<Mutex<Option<Outcome>>>,
    mut stop: watch::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(probe.interval);
    // A run is bounded by the interval, so the ticker only falls behind when
    // the runtime does; runs then keep their spacing instead of bunching.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing: Option<Reason> = None;
    loop {
        let outcome = tokio::select! {
            _ = stop.changed() => return,
            _ = ticker.tick() => tokio::select! {
                _ = stop.changed() => return,
                outcome = probe.run() => outcome,
            },
        };
        match (&outcome.failure, failing) {
            (Some(failure), previous) if previous != Some(failure.reason) => {
                warn!(collector = COLLECTOR, probe = %probe.name, reason = failure.reason.as_str(), error = %failure.detail, "probe failed");
            }
            (Some(failure), _) => {
                debug!(collector = COLLECTOR, probe = %probe.name, reason = failure.reason.as_str(), error = %failure.detail, "probe still failing");
            }
            (None, Some(_)) => info!(collector = COLLECTOR, probe = %probe.name, "probe recovered"),
            (None, None) => {}
        }
        failing = outcome.failure.as_ref().map(|f| f.reason);
        *lock(&last) = Some(outcome);
    }
}

/// The families of the probes' last outcomes, in the order given. Families
/// no probe has a value for are left out.
pub fn families<'a>(outcomes: impl IntoIterator<Item = (&'a str, &'a Outcome)>) -> Vec<Family> {
    let mut success = Family::gauge(
        "probe_success",
        "Displays whether or not the probe was a success",
    );
    let mut duration = Family::gauge(
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
    );
    let mut dns_lookup = Family::gauge(
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
    );
    let mut status_code = Family::gauge("probe_http_status_code", "Response HTTP status code");
    let mut phases = Family::gauge(
        "probe_http_duration_seconds",
        "Duration of http request by phase, summed over all redirects",
    );
    let mut content_length = Family::gauge(
        "probe_http_content_length",
        "Length of http content response",
    );
    let mut version = Family::gauge(
        "probe_http_version",
        "Returns the version of HTTP of the probe response",
    );
    let mut ssl = Family::gauge(
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
    );
    let mut regex = Family::gauge(
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
    );
    let mut tls_version = Family::gauge("probe_tls_version_info", "Contains the TLS version used");
    let mut cert_expiry = Family::gauge(
        "probe_ssl_earliest_cert_expiry",
        "Returns earliest SSL cert expiry in unixtime",
    );
    let mut failure_info = Family::gauge(
        "outrider_probe_failure_info",
        "Why the probe's last run failed (timeout, refused, status, expect, tls, dns or error); absent while it succeeds.",
    );
    for (name, outcome) in outcomes {
        let labels: Arc<crate::metric::Labels> = Arc::new(vec![("probe".into(), name.to_owned())]);
        let put = |family: &mut Family, value: f64| {
            family.samples.push(Sample {
                labels: Arc::clone(&labels),
                value,
            });
        };
        put(
            &mut success,
            if outcome.failure.is_none() { 1.0 } else { 0.0 },
        );
        put(&mut duration, outcome.duration);
        put(&mut dns_lookup, outcome.dns_lookup);
        if let Some(http) = &outcome.http {
            put(&mut status_code, http.status_code);
            put(&mut content_length, http.content_length);
            put(&mut version, http.version);
            put(&mut ssl, if http.ssl { 1.0 } else { 0.0 });
            for (phase, seconds) in PHASES.iter().zip(http.phases) {
                phases.push([("probe", name), ("phase", phase)], seconds);
            }
        }
        if let Some(failed) = outcome.failed_due_to_regex {
            put(&mut regex, if failed { 1.0 } else { 0.0 });
        }
        if let Some(expiry) = outcome.earliest_cert_expiry {
            put(&mut cert_expiry, expiry);
        }
        if let Some(version) = outcome.tls_version {
            tls_version.push([("probe", name), ("version", version)], 1.0);
        }
        if let Some(failure) = &outcome.failure {
            failure_info.push([("probe", name), ("reason", failure.reason.as_str())], 1.0);
        }
    }
    [
        success,
        duration,
        dns_lookup,
        status_code,
        phases,
        content_length,
        version,
        ssl,
        regex,
        tls_version,
        cert_expiry,
        failure_info,
    ]
    .into_iter()
    .filter(|f| !f.samples.is_empty())
    .collect()
}
