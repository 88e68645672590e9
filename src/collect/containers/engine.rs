//! The engine client: a task that polls a Docker-compatible API (bollard)
//! and keeps the latest figures for the collector to read.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::query_parameters::StatsOptionsBuilder;
use bollard::{API_DEFAULT_VERSION, Docker};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::debug;

use super::stats::{container_metrics, device_name};
use super::{COLLECTOR, ContainerMetrics};
pub(super) use crate::model::backoff::Backoff;
use crate::model::clock::unix_now;
// The lock is only held to swap values in and out: a panic elsewhere
// cannot leave the state half-written.
pub(super) use crate::model::sync::lock;

/// The first wait before asking an engine that did not answer again.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts while the engine does not answer.
const LAST_RETRY: Duration = Duration::from_secs(30);

/// The socket path of a `unix://` address.
pub(super) fn socket_path(host: &str) -> Result<&str, String> {
    match host.strip_prefix("unix://") {
        Some(path) if !path.is_empty() => Ok(path),
        _ => Err(format!(
            "{host:?} is not a unix:// address; outrider reaches the engine over its Unix socket only"
        )),
    }
}

/// Waits before asking an engine that did not answer again: 1 s, doubling,
/// at most 30 s, and back to 1 s once it answers.
pub fn backoff() -> Backoff {
    Backoff::new(FIRST_RETRY, LAST_RETRY)
}

/// What the poller and the collector agree on.
pub(super) struct Settings {
    pub(super) host: String,
    pub(super) timeout: Duration,
    pub(super) label_keys: Vec<String>,
    /// `<sysfs>/dev/block`, where block devices are named by major:minor.
    pub(super) dev_block: PathBuf,
    /// Where the containers' cgroup files are found (procfs, sysfs).
    pub(super) paths: crate::paths::HostPaths,
}

#[derive(Debug, Default)]
pub(super) enum Health {
    /// No poll has finished yet.
    #[default]
    Pending,
    Answering,
    NotAnswering(String),
}

#[derive(Default)]
pub(super) struct State {
    pub(super) health: Health,
    pub(super) containers: Arc<BTreeMap<String, ContainerMetrics>>,
}

fn store(state: &Mutex<State>, health: Health, containers: BTreeMap<String, ContainerMetrics>) {
    let mut state = lock(state);
    state.health = health;
    state.containers = Arc::new(containers);
}

/// The poller: polls at once, then after every tick; while the engine does
/// not answer, after each backoff delay. Ends when the collector is dropped.
pub(super) async fn poll_engine(
    settings: Arc<Settings>,
    state: Arc<Mutex<State>>,
    mut ticks: watch::Receiver<()>,
) {
    let mut client: Option<Docker> = None;
    let mut backoff = backoff();
    loop {
        let previous = Arc::clone(&lock(&state).containers);
        match poll(&settings, &mut client, &previous).await {
            Ok(containers) => {
                backoff.reset();
                store(&state, Health::Answering, containers);
                if ticks.changed().await.is_err() {
                    return;
                }
            }
            Err(reason) => {
                client = None;
                let delay = backoff.next_delay();
                debug!(collector = COLLECTOR, host = %settings.host, error = %reason, retry_in = ?delay, "container engine not answering");
                store(&state, Health::NotAnswering(reason), BTreeMap::new());
                let deadline = tokio::time::Instant::now() + delay;
                loop {
                    match tokio::time::timeout_at(deadline, ticks.changed()).await {
                        Ok(Ok(())) => continue,
                        Ok(Err(_)) => return,
                        Err(_) => break,
                    }
                }
            }
        }
    }
}

/// One poll: the running containers and their figures. A container whose
/// read fails keeps its last figures while it is listed; when every read
/// fails, the poll does.
async fn poll(
    settings: &Arc<Settings>,
    client: &mut Option<Docker>,
    previous: &BTreeMap<String, ContainerMetrics>,
) -> Result<BTreeMap<String, ContainerMetrics>, String> {
    let docker = match client {
        Some(docker) => docker.clone(),
        None => {
            let docker = connect(settings).await?;
            *client = Some(docker.clone());
            docker
        }
    };
    let listed = bounded(
        settings.timeout,
        "listing containers",
        docker.list_containers(None),
    )
    .await?;
    let mut reads = JoinSet::new();
    for id in listed.into_iter().filter_map(|c| c.id) {
        let docker = docker.clone();
        let settings = Arc::clone(settings);
        reads.spawn(async move {
            let read = read_container(&docker, &settings, &id).await;
            (id, read)
        });
    }
    let mut containers = BTreeMap::new();
    let mut last_failure = None;
    while let Some(joined) = reads.join_next().await {
        let Ok((id, read)) = joined else {
            continue;
        };
        match read {
            Ok(metrics) => {
                containers.insert(id, metrics);
            }
            Err(reason) => {
                debug!(collector = COLLECTOR, container = %id, error = %reason, "container not read");
                if let Some(old) = previous.get(&id) {
                    containers.insert(id.clone(), old.clone());
                }
                last_failure = Some(format!("container {id}: {reason}"));
            }
        }
    }
    match last_failure {
        Some(reason) if containers.is_empty() => Err(reason),
        _ => Ok(containers),
    }
}

async fn connect(settings: &Settings) -> Result<Docker, String> {
    // bollard's own timeout counts whole seconds; ours, finer, ends first.
    let seconds = settings.timeout.as_secs_f64().ceil().max(1.0) as u64;
    let docker = Docker::connect_with_unix(&settings.host, seconds, API_DEFAULT_VERSION)
        .map_err(|e| crate::collect::describe_error(&e))?;
    bounded(
        settings.timeout,
        "asking its API version",
        docker.negotiate_version(),
    )
    .await
}

async fn read_container(
    docker: &Docker,
    settings: &Settings,
    id: &str,
) -> Result<ContainerMetrics, String> {
    let one_shot = StatsOptionsBuilder::new()
        .stream(false)
        .one_shot(true)
        .build();
    let stats = async {
        let stream = docker.stats(id, Some(one_shot));
        let mut stream = std::pin::pin!(stream);
        stream.next().await.transpose()
    };
    let (inspect, stats) = tokio::join!(
        bounded(
            settings.timeout,
            "inspecting it",
            docker.inspect_container(id, None)
        ),
        bounded(settings.timeout, "reading its stats", stats),
    );
    let (inspect, stats) = (inspect?, stats?.ok_or("the engine sent no stats")?);
    let dev_block = &settings.dev_block;
    let mut metrics = container_metrics(
        &inspect,
        &stats,
        &settings.label_keys,
        &|major, minor| device_name(dev_block, major, minor),
        unix_now(),
    )?;
    let pid = inspect.state.as_ref().and_then(|s| s.pid).unwrap_or(0);
    if let Ok(pid) = u32::try_from(pid) {
        if pid > 0 {
            fill_from_cgroup(&mut metrics, &settings.paths, pid);
        }
    }
    Ok(metrics)
}

/// What the engine's stats omit (podman's working set, RSS and cache; every
/// engine's throttling, CPU quota and OOM kills) from the container's cgroup
/// files, found through its main process. Where they cannot be read, the
/// figures stay left out.
fn fill_from_cgroup(metrics: &mut ContainerMetrics, paths: &crate::paths::HostPaths, pid: u32) {
    let located = crate::collect::cgroups::Hierarchy::read(paths)
        .ok()
        .and_then(|h| h.locate_pid(&paths.procfs, pid));
    let Some((_, location)) = located else {
        debug!(collector = COLLECTOR, container = %metrics.id, pid, "cgroup not visible");
        return;
    };
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    match crate::collect::cgroups::read_stats(&location, ticks) {
        Ok(stats) => crate::collect::cgroups::fill(metrics, &stats),
        Err(error) => {
            debug!(collector = COLLECTOR, container = %metrics.id, error = %error, "cgroup not read");
        }
    }
}

/// One request to the engine, bounded in time.
async fn bounded<T, E: std::error::Error>(
    limit: Duration,
    what: &str,
    request: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what}: {}", crate::collect::describe_error(&e))),
        Err(_) => Err(format!(
            "{what}: no answer within {}",
            humantime::format_duration(limit)
        )),
    }
}
