//! Sources: the host, its processes and its containers. One file per
//! collector, one table of them below: the table gives each collector its
//! config key and its `collector` label.
//!
//! Collectors run on the tick, one after the other, on a blocking thread. A
//! collector that fails sets its `outrider_collector_success` to 0 and logs once
//! (and once more when it recovers); the others carry on. A collector that
//! panics counts as one that failed: the panic is caught at its call, so it
//! never takes the tick (and every other collector's data) with it.

use std::path::PathBuf;
use std::time::Instant;

use serde::Deserialize;
use tracing::{debug, info, warn};

use crate::metric::{Family, HostNames};
use crate::paths::HostPaths;

pub mod arp;
pub mod background;
pub mod cgroups;
pub mod conntrack;
pub mod containers;
pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod edac;
pub mod entropy;
pub mod filefd;
pub mod filesystem;
pub mod hwmon;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod mountinfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod os;
pub mod powersupplyclass;
pub mod pressure;
pub mod probes;
pub mod processes;
pub mod procfile;
pub mod push;
pub mod schedstat;
pub mod scope;
pub mod scrape;
pub mod self_process;
pub mod selinux;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;

/// Why a collector produced nothing this tick.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// A peer the collector asks (a container engine) did not answer.
    #[error("{peer}: {reason}")]
    Peer { peer: String, reason: String },
    /// The host has nothing for this collector (no PSI, no conntrack
    /// module): not a failure, but node_exporter's
    /// `node_scrape_collector_success` is 0, as its `ErrNoData` makes it.
    #[error("no data: {0}")]
    NoData(String),
    /// What the collector reads is not visible from here (a pod that does
    /// not share its process namespace, a cgroup outside this container's
    /// view): what is missing, and what to change so it is seen.
    #[error("{what}; {fix}")]
    NotVisible { what: String, fix: String },
    /// The collector panicked: a bug, reported like a failure so the tick
    /// and the other collectors go on.
    #[error("panicked: {message}")]
    Panicked { message: String },
}

impl From<crate::paths::ReadError> for CollectError {
    fn from(error: crate::paths::ReadError) -> Self {
        CollectError::Read {
            path: error.path,
            source: error.source,
        }
    }
}

thread_local! {
    /// Set while this thread runs a collector under `catch_unwind`; the panic
    /// hook then leaves the place of the panic here instead of printing it,
    /// and the failure is logged once, like any other.
    static CATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PANIC_PLACE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Installs, once, a panic hook that is quiet for panics caught in a
/// collector (they are logged as the collector's failure, once) and hands
/// every other panic to the hook that was there before.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(std::cell::Cell::get) {
                let place = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_PLACE.with(|p| *p.borrow_mut() = place);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs one collector, turning a panic into [`CollectError::Panicked`] with
/// its message and place.
fn collect_catching(
    collector: &mut dyn Collector,
    out: &mut Vec<Family>,
) -> Result<(), CollectError> {
    CATCHING.with(|c| c.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| collector.collect(out)));
    CATCHING.with(|c| c.set(false));
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        let message = match PANIC_PLACE.with(|p| p.borrow_mut().take()) {
            Some(place) => format!("{message} at {place}"),
            None => message,
        };
        Err(CollectError::Panicked { message })
    })
}

/// A collector's options that make it refuse to start.
#[derive(Debug, thiserror::Error)]
#[error("collector {collector}: {reason}")]
pub struct BuildError {
    pub collector: &'static str,
    pub reason: String,
}

pub trait Collector: Send {
    /// Appends this tick's families. "No data here" (no disks, no swap) is not
    /// an error: it appends nothing and returns Ok.
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError>;
}

/// A collector with no options of its own.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Toggle {
    /// Whether the collector runs.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

fn enabled_by_default() -> bool {
    true
}

/// The `collectors:` section: one key per collector in the table.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorsConfig {
    pub cgroups: cgroups::Config,
    pub containers: containers::Config,
    pub cpu: Toggle,
    pub diskstats: diskstats::Config,
    pub filesystem: filesystem::Config,
    pub loadavg: Toggle,
    pub meminfo: Toggle,
    pub netclass: netclass::Config,
    pub netdev: netdev::Config,
    pub processes: processes::Config,
    #[serde(rename = "self")]
    pub self_process: Toggle,
    pub stat: Toggle,
    pub time: Toggle,
    pub uname: Toggle,
    pub vmstat: vmstat::Config,
    pub netstat: netstat::Config,
    pub sockstat: Toggle,
    pub filefd: Toggle,
    pub pressure: Toggle,
    pub conntrack: Toggle,
    pub entropy: Toggle,
    pub timex: Toggle,
    pub os: Toggle,
    pub softnet: Toggle,
    pub arp: Toggle,
    pub schedstat: Toggle,
    pub udp_queues: Toggle,
    pub selinux: Toggle,
    pub textfile: textfile::Config,
    pub cpufreq: Toggle,
    pub thermal_zone: Toggle,
    pub edac: Toggle,
    pub hwmon: Toggle,
    pub powersupplyclass: Toggle,
    pub mdadm: Toggle,
}

type Build = fn(&CollectorsConfig, &HostPaths) -> Result<Box<dyn Collector>, BuildError>;

struct Entry {
    name: &'static str,
    enabled: fn(&CollectorsConfig) -> bool,
    build: Build,
}

/// Every collector: its name (config key and `collector` label), whether the
/// config enables it, and how to build it.
const COLLECTORS: &[Entry] = &[
    Entry {
        name: "cgroups",
        enabled: |c| c.cgroups.enabled,
        build: |_, p| Ok(Box::new(cgroups::CgroupsCollector::new(p))),
    },
    Entry {
        name: "containers",
        enabled: |c| c.containers.enabled,
        build: |c, p| {
            Ok(Box::new(containers::ContainersCollector::new(
                &c.containers,
                p,
            )?))
        },
    },
    Entry {
        name: "cpu",
        enabled: |c| c.cpu.enabled,
        build: |_, p| Ok(Box::new(cpu::CpuCollector::new(p))),
    },
    Entry {
        name: "diskstats",
        enabled: |c| c.diskstats.enabled,
        build: |c, p| {
            Ok(Box::new(diskstats::DiskstatsCollector::new(
                &c.diskstats,
                p,
            )?))
        },
    },
    Entry {
        name: "filesystem",
        enabled: |c| c.filesystem.enabled,
        build: |c, p| {
            Ok(Box::new(filesystem::FilesystemCollector::new(
                &c.filesystem,
                p,
            )?))
        },
    },
    Entry {
        name: "loadavg",
        enabled: |c| c.loadavg.enabled,
        build: |_, p| Ok(Box::new(loadavg::LoadavgCollector::new(p))),
    },
    Entry {
        name: "meminfo",
        enabled: |c| c.meminfo.enabled,
        build: |_, p| Ok(Box::new(meminfo::MeminfoCollector::new(p))),
    },
    Entry {
        name: "netclass",
        enabled: |c| c.netclass.enabled,
        build: |c, p| Ok(Box::new(netclass::NetclassCollector::new(&c.netclass, p)?)),
    },
    Entry {
        name: "netdev",
        enabled: |c| c.netdev.enabled,
        build: |c, p| Ok(Box::new(netdev::NetdevCollector::new(&c.netdev, p)?)),
    },
    Entry {
        name: "processes",
        enabled: |c| c.processes.enabled,
        build: |c, p| {
            Ok(Box::new(processes::ProcessesCollector::new(
                &c.processes,
                p,
            )?))
        },
    },
    Entry {
        name: "self",
        enabled: |c| c.self_process.enabled,
        build: |_, p| Ok(Box::new(self_process::SelfCollector::new(p))),
    },
    Entry {
        name: "stat",
        enabled: |c| c.stat.enabled,
        build: |_, p| Ok(Box::new(stat::StatCollector::new(p))),
    },
    Entry {
        name: "time",
        enabled: |c| c.time.enabled,
        build: |_, p| Ok(Box::new(time::TimeCollector::new(p))),
    },
    Entry {
        name: "uname",
        enabled: |c| c.uname.enabled,
        build: |_, _| Ok(Box::new(uname::UnameCollector)),
    },
    Entry {
        name: "vmstat",
        enabled: |c| c.vmstat.enabled,
        build: |c, p| Ok(Box::new(vmstat::VmstatCollector::new(&c.vmstat, p)?)),
    },
    Entry {
        name: "netstat",
        enabled: |c| c.netstat.enabled,
        build: |c, p| Ok(Box::new(netstat::NetstatCollector::new(&c.netstat, p)?)),
    },
    Entry {
        name: "sockstat",
        enabled: |c| c.sockstat.enabled,
        build: |_, p| Ok(Box::new(sockstat::SockstatCollector::new(p))),
    },
    Entry {
        name: "filefd",
        enabled: |c| c.filefd.enabled,
        build: |_, p| Ok(Box::new(filefd::FilefdCollector::new(p))),
    },
    Entry {
        name: "pressure",
        enabled: |c| c.pressure.enabled,
        build: |_, p| Ok(Box::new(pressure::PressureCollector::new(p))),
    },
    Entry {
        name: "conntrack",
        enabled: |c| c.conntrack.enabled,
        build: |_, p| Ok(Box::new(conntrack::ConntrackCollector::new(p))),
    },
    Entry {
        name: "entropy",
        enabled: |c| c.entropy.enabled,
        build: |_, p| Ok(Box::new(entropy::EntropyCollector::new(p))),
    },
    Entry {
        name: "timex",
        enabled: |c| c.timex.enabled,
        build: |_, _| Ok(Box::new(timex::TimexCollector)),
    },
    Entry {
        name: "os",
        enabled: |c| c.os.enabled,
        build: |_, p| Ok(Box::new(os::OsCollector::new(p))),
    },
    Entry {
        name: "softnet",
        enabled: |c| c.softnet.enabled,
        build: |_, p| Ok(Box::new(softnet::SoftnetCollector::new(p))),
    },
    Entry {
        name: "arp",
        enabled: |c| c.arp.enabled,
        build: |_, p| Ok(Box::new(arp::ArpCollector::new(p))),
    },
    Entry {
        name: "schedstat",
        enabled: |c| c.schedstat.enabled,
        build: |_, p| Ok(Box::new(schedstat::SchedstatCollector::new(p))),
    },
    Entry {
        name: "udp_queues",
        enabled: |c| c.udp_queues.enabled,
        build: |_, p| Ok(Box::new(udp_queues::UdpQueuesCollector::new(p))),
    },
    Entry {
        name: "selinux",
        enabled: |c| c.selinux.enabled,
        build: |_, p| Ok(Box::new(selinux::SelinuxCollector::new(p))),
    },
    Entry {
        name: "textfile",
        enabled: |c| c.textfile.enabled,
        build: |c, _| Ok(Box::new(textfile::TextfileCollector::new(&c.textfile))),
    },
    Entry {
        name: "cpufreq",
        enabled: |c| c.cpufreq.enabled,
        build: |_, p| Ok(Box::new(cpufreq::CpufreqCollector::new(p))),
    },
    Entry {
        name: "thermal_zone",
        enabled: |c| c.thermal_zone.enabled,
        build: |_, p| Ok(Box::new(thermal_zone::ThermalZoneCollector::new(p))),
    },
    Entry {
        name: "edac",
        enabled: |c| c.edac.enabled,
        build: |_, p| Ok(Box::new(edac::EdacCollector::new(p))),
    },
    Entry {
        name: "hwmon",
        enabled: |c| c.hwmon.enabled,
        build: |_, p| Ok(Box::new(hwmon::HwmonCollector::new(p))),
    },
    Entry {
        name: "powersupplyclass",
        enabled: |c| c.powersupplyclass.enabled,
        build: |_, p| {
            Ok(Box::new(powersupplyclass::PowerSupplyClassCollector::new(
                p,
            )))
        },
    },
    Entry {
        name: "mdadm",
        enabled: |c| c.mdadm.enabled,
        build: |_, p| Ok(Box::new(mdadm::MdadmCollector::new(p))),
    },
];

/// The collectors that are node_exporter's under the same name: they get
/// `node_scrape_collector_success` and `_duration_seconds` as node_exporter
/// exports them, for the exporter-health panels and alerts that read those,
/// and `collect[]` on /metrics selects among them.
pub const NODE_EXPORTER_COLLECTORS: &[&str] = &[
    "arp",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "edac",
    "entropy",
    "filefd",
    "filesystem",
    "hwmon",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "os",
    "powersupplyclass",
    "pressure",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
];

/// The names of all collectors, in table order.
pub fn collector_names() -> impl Iterator<Item = &'static str> {
    COLLECTORS.iter().map(|e| e.name)
}

struct Running {
    name: &'static str,
    collector: Box<dyn Collector>,
    last_ok: bool,
    /// A host collector, whose family names pushes may not take.
    host: bool,
}

/// The enabled collectors, run together once per tick.
pub struct Registry {
    running: Vec<Running>,
    host_names: HostNames,
}

/// The collectors whose names a push may share: outrider's own `process_*`
/// are what every client library's default registry pushes too.
const SHARED_WITH_PUSHES: &[&str] = &["self"];

impl Registry {
    pub fn from_config(config: &CollectorsConfig, paths: &HostPaths) -> Result<Self, BuildError> {
        Self::from_config_in(config, paths, scope::Scope::Host)
    }

    /// The collectors of the table that run in `scope` (see `scope.rs`).
    pub fn from_config_in(
        config: &CollectorsConfig,
        paths: &HostPaths,
        scope: scope::Scope,
    ) -> Result<Self, BuildError> {
        let mut running = Vec::new();
        for entry in COLLECTORS.iter().filter(|e| (e.enabled)(config)) {
            let Some(collector) = scope::build(scope, entry.name, entry.build, config, paths)?
            else {
                continue;
            };
            running.push(Running {
                name: entry.name,
                collector,
                last_ok: true,
                host: !SHARED_WITH_PUSHES.contains(&entry.name),
            });
        }
        Ok(Registry {
            running,
            host_names: HostNames::default(),
        })
    }

    /// The family names the host collectors exported at the last tick.
    pub fn host_names(&self) -> HostNames {
        self.host_names.clone()
    }

    /// Adds a collector that is not in the host table (the app's sources,
    /// which are lists in the config rather than one key each).
    pub fn add(&mut self, name: &'static str, collector: Box<dyn Collector>) {
        self.running.push(Running {
            name,
            collector,
            last_ok: true,
            host: false,
        });
    }

    /// Builds a registry from collectors made elsewhere (tests inject a
    /// filesystem collector with a statfs that hangs).
    pub fn from_collectors(collectors: Vec<(&'static str, Box<dyn Collector>)>) -> Self {
        let running = collectors
            .into_iter()
            .map(|(name, collector)| Running {
                name,
                collector,
                last_ok: true,
                host: false,
            })
            .collect();
        Registry {
            running,
            host_names: HostNames::default(),
        }
    }

    /// Runs every collector and returns their families plus
    /// `outrider_collector_duration_seconds` and `outrider_collector_success`,
    /// and node_exporter's `node_scrape_collector_*` for its collectors.
    pub fn collect_all(&mut self) -> Vec<Family> {
        install_panic_hook();
        let mut families = Vec::with_capacity(64);
        let mut duration = Family::gauge(
            "outrider_collector_duration_seconds",
            "Seconds the collector took in the last tick.",
        );
        let mut success = Family::gauge(
            "outrider_collector_success",
            "Whether the collector succeeded in the last tick (1) or failed (0).",
        );
        let mut node_duration = Family::gauge(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
        );
        let mut node_success = Family::gauge(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
        );
        // Where each host collector's families sit in `families`.
        let mut host_ranges = Vec::with_capacity(self.running.len());
        for run in &mut self.running {
            let started = Instant::now();
            let read_at = crate::model::clock::unix_now();
            let mut produced = Vec::new();
            // What a panicking collector leaves behind is suspect: its
            // families are dropped, and the next tick tries it again.
            let result = collect_catching(run.collector.as_mut(), &mut produced);
            let origin = NODE_EXPORTER_COLLECTORS
                .contains(&run.name)
                .then_some(run.name)
                .filter(|_| run.host);
            for family in &mut produced {
                family.read_at = Some(read_at);
                family.origin = origin;
            }
            let elapsed = started.elapsed().as_secs_f64();
            let node_ok = result.is_ok();
            let ok = match result {
                Ok(()) => {
                    if !run.last_ok {
                        info!(collector = run.name, "collector recovered");
                    }
                    if run.host {
                        host_ranges.push(families.len()..families.len() + produced.len());
                    }
                    families.append(&mut produced);
                    true
                }
                Err(CollectError::NoData(reason)) => {
                    debug!(collector = run.name, reason = %reason, "collector has no data on this host");
                    true
                }
                Err(error) => {
                    if run.last_ok {
                        warn!(collector = run.name, error = %error, "collector failed");
                    }
                    false
                }
            };
            run.last_ok = ok;
            duration.push([("collector", run.name)], elapsed);
            success.push([("collector", run.name)], if ok { 1.0 } else { 0.0 });
            if run.host && NODE_EXPORTER_COLLECTORS.contains(&run.name) {
                node_duration.push([("collector", run.name)], elapsed);
                node_success.push([("collector", run.name)], if node_ok { 1.0 } else { 0.0 });
            }
        }
        self.host_names.update(
            host_ranges
                .iter()
                .flat_map(|range| &families[range.clone()])
                .map(|f| f.name.as_ref()),
        );
        families.push(duration);
        families.push(success);
        if !node_success.samples.is_empty() {
            families.push(node_duration);
            families.push(node_success);
        }
        families
    }
}

pub use crate::model::error::describe_error;

/// Compiles a config regex, naming the collector and option when it is invalid.
pub fn compile_regex(
    collector: &'static str,
    option: &str,
    pattern: &str,
) -> Result<regex::Regex, BuildError> {
    regex::Regex::new(pattern).map_err(|e| BuildError {
        collector,
        reason: format!("{option}: invalid regex {pattern:?}: {e}"),
    })
}

/// A device filter: an exclude or an include pattern, never both (as
/// node_exporter's `--collector.X.device-exclude` / `-include`).
#[derive(Debug)]
pub struct DeviceFilter {
    exclude: Option<regex::Regex>,
    include: Option<regex::Regex>,
}

impl DeviceFilter {
    pub fn new(
        collector: &'static str,
        exclude: Option<&str>,
        include: Option<&str>,
    ) -> Result<Self, BuildError> {
        if exclude.is_some() && include.is_some() {
            return Err(BuildError {
                collector,
                reason: "device_exclude and device_include are mutually exclusive; set one"
                    .to_owned(),
            });
        }
        Ok(DeviceFilter {
            exclude: exclude
                .map(|p| compile_regex(collector, "device_exclude", p))
                .transpose()?,
            include: include
                .map(|p| compile_regex(collector, "device_include", p))
                .transpose()?,
        })
    }

    pub fn ignored(&self, device: &str) -> bool {
        if let Some(exclude) = &self.exclude {
            return exclude.is_match(device);
        }
        if let Some(include) = &self.include {
            return !include.is_match(device);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing;
    impl Collector for Failing {
        fn collect(&mut self, _: &mut Vec<Family>) -> Result<(), CollectError> {
            Err(CollectError::Parse {
                path: PathBuf::from("/nowhere"),
                reason: "broken".into(),
            })
        }
    }

    struct Panicking;
    impl Collector for Panicking {
        fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
            out.push(Family::gauge("half_done", "Pushed before the panic.").single(1.0));
            let index = out.len() + 7;
            // An out-of-bounds index, as a parsing bug would make.
            let value = out[index].samples[0].value;
            out.push(Family::gauge("never", "Never reached.").single(value));
            Ok(())
        }
    }

    struct Fine;
    impl Collector for Fine {
        fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
            out.push(Family::gauge("fine", "A fine gauge.").single(1.0));
            Ok(())
        }
    }

    /// `outrider_collector_success` by collector.
    fn success_by_collector(families: &[Family]) -> Vec<(String, f64)> {
        families
            .iter()
            .find(|f| f.name == "outrider_collector_success")
            .unwrap()
            .samples
            .iter()
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect()
    }

    #[test]
    fn a_failing_collector_reports_zero_and_the_others_carry_on() {
        let mut registry = Registry::from_collectors(vec![
            ("broken", Box::new(Failing)),
            ("fine", Box::new(Fine)),
        ]);
        let families = registry.collect_all();
        assert!(families.iter().any(|f| f.name == "fine"));
        let by_name = success_by_collector(&families);
        assert_eq!(
            by_name,
            vec![("broken".to_owned(), 0.0), ("fine".to_owned(), 1.0)]
        );
    }

    #[test]
    fn a_panicking_collector_costs_only_itself() {
        let mut registry = Registry::from_collectors(vec![
            ("before", Box::new(Fine)),
            ("panics", Box::new(Panicking)),
            ("after", Box::new(Fine)),
        ]);
        // Every tick: the panic is caught each time, not only the first.
        for _ in 0..2 {
            let families = registry.collect_all();
            let names: Vec<&str> = families.iter().map(|f| f.name.as_ref()).collect();
            assert_eq!(
                names,
                [
                    "fine",
                    "fine",
                    "outrider_collector_duration_seconds",
                    "outrider_collector_success"
                ],
                "the panicking collector's half-done families are dropped"
            );
            let by_name = success_by_collector(&families);
            assert_eq!(
                by_name,
                vec![
                    ("before".to_owned(), 1.0),
                    ("panics".to_owned(), 0.0),
                    ("after".to_owned(), 1.0)
                ]
            );
        }
        assert!(!registry.running[1].last_ok);
        // The failure names what went wrong and where, for the one log line.
        let mut out = Vec::new();
        match collect_catching(&mut Panicking, &mut out) {
            Err(CollectError::Panicked { message }) => {
                assert!(message.contains("index out of bounds"), "{message}");
                assert!(message.contains("src/collect/mod.rs:"), "{message}");
            }
            other => panic!("expected a caught panic, got {other:?}"),
        }
    }

    #[test]
    fn device_filter_excludes_or_includes() {
        let f = DeviceFilter::new("t", Some("^lo$"), None).unwrap();
        assert!(f.ignored("lo") && !f.ignored("eth0"));
        let f = DeviceFilter::new("t", None, Some("^eth")).unwrap();
        assert!(!f.ignored("eth0") && f.ignored("lo"));
        assert!(DeviceFilter::new("t", Some("a"), Some("b")).is_err());
        assert!(DeviceFilter::new("t", Some("("), None).is_err());
    }
}
