//! `namedprocess_namegroup_*`: processes grouped as process-exporter groups
//! them, with its names, labels and counter semantics.
//!
//! Grouping: the first `process_names` item whose matchers all match names
//! the process (`comm` list, `exe` list, `cmdline` regexes that must all
//! match); a process no item matches joins its parent's group when the parent
//! is grouped. Counters stay monotonic while processes come and go: a group
//! accumulates the increase of each of its processes from tick to tick, a
//! process started after outrider counts from zero, and a group whose last
//! process exits keeps its counters. smaps is never read (it stalls on large
//! processes).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{BuildError, CollectError, Collector};
use crate::metric::Family;
use crate::paths::{self, HostPaths};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether the collector runs.
    pub enabled: bool,
    /// Groups, in process-exporter's format; the first item that matches
    /// a process names its group.
    pub process_names: Vec<MatcherConfig>,
    /// Put processes no item matches into their parent's group.
    pub children: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            // Every process with a command line (so not kernel threads), by comm.
            process_names: vec![MatcherConfig {
                name: "{{.Comm}}".to_owned(),
                comm: None,
                exe: None,
                cmdline: Some(vec![".+".to_owned()]),
            }],
            children: true,
        }
    }
}

/// One `process_names` item.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatcherConfig {
    /// The group name template: `{{.Comm}}`, `{{.ExeBase}}`, `{{.ExeFull}}`,
    /// `{{.Username}}`, `{{.PID}}`, `{{.Matches.NAME}}` and literal text.
    #[serde(default = "default_name")]
    pub name: String,
    /// Process names (comm) that match.
    pub comm: Option<Vec<String>>,
    /// Executables (argv[0]) that match: a base name, or a full path.
    pub exe: Option<Vec<String>>,
    /// Regexes the command line (arguments joined by spaces) must all match;
    /// named groups are available as `{{.Matches.NAME}}`.
    pub cmdline: Option<Vec<String>>,
}

fn default_name() -> String {
    "{{.ExeBase}}".to_owned()
}

#[derive(Clone, Debug, PartialEq)]
enum NamePart {
    Text(String),
    Comm,
    ExeBase,
    ExeFull,
    Username,
    Pid,
    Match(String),
}

fn parse_template(template: &str) -> Result<Vec<NamePart>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(NamePart::Text(rest[..start].to_owned()));
        }
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("name template {template:?}: unclosed {{{{"))?;
        let field = rest[start + 2..start + end].trim();
        parts.push(match field {
            ".Comm" => NamePart::Comm,
            ".ExeBase" => NamePart::ExeBase,
            ".ExeFull" => NamePart::ExeFull,
            ".Username" => NamePart::Username,
            ".PID" => NamePart::Pid,
            f => match f.strip_prefix(".Matches.") {
                Some(name) if !name.is_empty() => NamePart::Match(name.to_owned()),
                _ => {
                    return Err(format!(
                        "name template {template:?}: unknown field {field:?}"
                    ));
                }
            },
        });
        rest = &rest[start + end + 2..];
    }
    if !rest.is_empty() {
        parts.push(NamePart::Text(rest.to_owned()));
    }
    Ok(parts)
}

struct Matcher {
    name: Vec<NamePart>,
    comm: Option<HashSet<String>>,
    /// Base name → full path that must match ("" for any path).
    exe: Option<HashMap<String, String>>,
    cmdline: Vec<regex::Regex>,
}

/// What matching and naming look at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessIdentity {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub cmdline: Vec<String>,
    pub uid: u32,
}

impl Matcher {
    fn compile(config: &MatcherConfig) -> Result<Self, String> {
        let cmdline = config
            .cmdline
            .iter()
            .flatten()
            .map(|r| regex::Regex::new(r).map_err(|e| format!("cmdline regex {r:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if config.comm.is_none() && config.exe.is_none() && config.cmdline.is_none() {
            return Err(format!(
                "group {:?} has no comm, exe or cmdline matcher",
                config.name
            ));
        }
        Ok(Matcher {
            name: parse_template(&config.name)?,
            comm: config.comm.as_ref().map(|c| c.iter().cloned().collect()),
            exe: config.exe.as_ref().map(|exes| {
                exes.iter()
                    .map(|e| match e.rsplit_once('/') {
                        Some((_, base)) => (base.to_owned(), e.clone()),
                        None => (e.clone(), String::new()),
                    })
                    .collect()
            }),
            cmdline,
        })
    }

    /// The group name when the process matches.
    fn name(&self, process: &ProcessIdentity, usernames: &mut Usernames) -> Option<String> {
        if let Some(comm) = &self.comm {
            if !comm.contains(&process.comm) {
                return None;
            }
        }
        let exe_full = process
            .cmdline
            .first()
            .cloned()
            .unwrap_or_else(|| process.comm.clone());
        let exe_base = exe_full.rsplit('/').next().unwrap_or(&exe_full).to_owned();
        if let Some(exe) = &self.exe {
            if process.cmdline.is_empty() {
                return None;
            }
            match exe.get(&exe_base) {
                Some(path) if path.is_empty() || *path == exe_full => {}
                _ => return None,
            }
        }
        let mut captures = HashMap::new();
        if !self.cmdline.is_empty() {
            let line = process.cmdline.join(" ");
            for regex in &self.cmdline {
                let found = regex.captures(&line)?;
                for name in regex.capture_names().flatten() {
                    if let Some(m) = found.name(name) {
                        captures.insert(name.to_owned(), m.as_str().to_owned());
                    }
                }
            }
        }
        let mut name = String::new();
        for part in &self.name {
            match part {
                NamePart::Text(t) => name.push_str(t),
                NamePart::Comm => name.push_str(&process.comm),
                NamePart::ExeBase => name.push_str(&exe_base),
                NamePart::ExeFull => name.push_str(&exe_full),
                NamePart::Username => name.push_str(&usernames.name(process.uid)),
                NamePart::Pid => name.push_str(&process.pid.to_string()),
                NamePart::Match(key) => name.push_str(captures.get(key).map_or("", String::as_str)),
            }
        }
        Some(name)
    }
}

/// uid → user name from the host's /etc/passwd, read once.
struct Usernames {
    passwd: PathBuf,
    names: Option<HashMap<u32, String>>,
}

impl Usernames {
    fn name(&mut self, uid: u32) -> String {
        let names = self.names.get_or_insert_with(|| {
            std::fs::read_to_string(&self.passwd)
                .map(|t| parse_passwd(&t))
                .unwrap_or_default()
        });
        names.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }
}

pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

/// Counters of one process (or the accumulated counters of a group).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    pub cpu_user_ticks: f64,
    pub cpu_system_ticks: f64,
    pub read_bytes: f64,
    pub write_bytes: f64,
    pub major_faults: f64,
    pub minor_faults: f64,
    pub voluntary_switches: f64,
    pub nonvoluntary_switches: f64,
}

impl Counters {
    fn fields(&mut self) -> [&mut f64; 8] {
        [
            &mut self.cpu_user_ticks,
            &mut self.cpu_system_ticks,
            &mut self.read_bytes,
            &mut self.write_bytes,
            &mut self.major_faults,
            &mut self.minor_faults,
            &mut self.voluntary_switches,
            &mut self.nonvoluntary_switches,
        ]
    }

    /// Adds how much `now` grew over `before`; a field that shrank (it
    /// cannot, but /proc/PID/io can become unreadable) adds nothing.
    fn add_increase(&mut self, mut now: Counters, mut before: Counters) {
        for ((sum, n), b) in self
            .fields()
            .into_iter()
            .zip(now.fields())
            .zip(before.fields())
        {
            *sum += (*n - *b).max(0.0);
        }
    }
}

/// One process as read from /proc/PID.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessSample {
    pub identity: ProcessIdentity,
    pub start_ticks: u64,
    pub state: char,
    pub threads: f64,
    pub virtual_bytes: f64,
    pub resident_pages: f64,
    pub swapped_bytes: f64,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub counters: Counters,
    /// /proc/PID/fd could not be read (another user's process, for a
    /// non-root reader): its open fds are unknown, not 0.
    pub fd_unreadable: bool,
    /// /proc/PID/io could not be read: its bytes read and written are unknown.
    pub io_unreadable: bool,
}

/// Parses /proc/PID/stat into the sample. CPU time stays in clock ticks,
/// so sums over many processes and ticks stay exact integers.
pub fn parse_stat(text: &str, sample: &mut ProcessSample) -> Result<(), String> {
    let open = text.find('(').ok_or("no '(' before the command name")?;
    let close = text.rfind(')').ok_or("no ')' after the command name")?;
    if close < open {
        return Err("malformed command name".into());
    }
    sample.identity.comm = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let field = |n: usize| -> Result<f64, String> {
        let raw = fields
            .get(n - 3)
            .ok_or_else(|| format!("missing field {n}"))?;
        raw.parse::<i64>()
            .map(|v| v as f64)
            .map_err(|_| format!("field {n}: invalid value {raw:?}"))
    };
    sample.state = fields
        .first()
        .and_then(|s| s.chars().next())
        .ok_or("missing state")?;
    sample.identity.ppid = field(4)? as u32;
    sample.counters.minor_faults = field(10)?;
    sample.counters.major_faults = field(12)?;
    sample.counters.cpu_user_ticks = field(14)?;
    sample.counters.cpu_system_ticks = field(15)?;
    sample.threads = field(20)?;
    sample.start_ticks = field(22)? as u64;
    sample.virtual_bytes = field(23)?;
    sample.resident_pages = field(24)?;
    Ok(())
}

/// Parses the fields of /proc/PID/status the metrics need.
pub fn parse_status(text: &str, sample: &mut ProcessSample) {
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let mut words = value.split_ascii_whitespace();
        let first = words.next().and_then(|w| w.parse::<f64>().ok());
        match (key, first) {
            ("Uid", Some(_)) => {
                // Real, effective, saved, filesystem: process-exporter names
                // by the effective uid.
                sample.identity.uid = value
                    .split_ascii_whitespace()
                    .nth(1)
                    .and_then(|u| u.parse().ok())
                    .unwrap_or(0);
            }
            ("VmSwap", Some(kb)) => sample.swapped_bytes = kb * 1024.0,
            ("voluntary_ctxt_switches", Some(n)) => sample.counters.voluntary_switches = n,
            ("nonvoluntary_ctxt_switches", Some(n)) => sample.counters.nonvoluntary_switches = n,
            _ => {}
        }
    }
}

/// Parses /proc/PID/io (readable only by the process's owner or root).
pub fn parse_io(text: &str, sample: &mut ProcessSample) {
    for line in text.lines() {
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim().parse::<f64>().unwrap_or(0.0);
            match key {
                "read_bytes" => sample.counters.read_bytes = value,
                "write_bytes" => sample.counters.write_bytes = value,
                _ => {}
            }
        }
    }
}

struct TrackedProcess {
    /// None: seen and matched by no item (nor by a parent's group).
    group: Option<String>,
    /// The comm it was grouped by; an exec changes it (a container's
    /// process is first seen as the runtime's init, then execs the app).
    comm: String,
    counters: Counters,
    seen: u64,
}

/// A group's gauges this tick; its counters live in `accumulated`.
#[derive(Default)]
struct Group {
    procs: f64,
    threads: f64,
    resident: f64,
    virtual_bytes: f64,
    swapped: f64,
    open_fds: f64,
    worst_fd_ratio: f64,
    oldest_start: Option<f64>,
    states: [f64; 5],
    /// Processes whose fd or io could not be read: the group's fd or byte
    /// figures are left out rather than undercounted.
    fd_unreadable: f64,
    io_unreadable: f64,
}

pub struct ProcessesCollector {
    procfs: PathBuf,
    matchers: Vec<Matcher>,
    children: bool,
    usernames: Usernames,
    ticks_per_second: f64,
    page_size: f64,
    /// By (pid, start time): a pid can be reused by a new process.
    tracked: HashMap<(u32, u64), TrackedProcess>,
    /// Counters of every group ever seen; they never go down.
    accumulated: HashMap<String, Counters>,
    boot_time: Option<f64>,
    first_tick_start_ticks: Option<f64>,
    ticks: u64,
    /// Pod scope: fail, saying what to add to the manifest, when only
    /// outrider's own container's processes are visible.
    pod: bool,
}

impl ProcessesCollector {
    pub fn new(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        let matchers = config
            .process_names
            .iter()
            .map(Matcher::compile)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| BuildError {
                collector: "processes",
                reason,
            })?;
        Ok(ProcessesCollector {
            procfs: paths.procfs.clone(),
            matchers,
            children: config.children,
            usernames: Usernames {
                passwd: paths.under_rootfs("/etc/passwd"),
                names: None,
            },
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as f64,
            tracked: HashMap::new(),
            accumulated: HashMap::new(),
            boot_time: None,
            first_tick_start_ticks: None,
            ticks: 0,
            pod: false,
        })
    }

    /// The pod scope's processes: those of the pod's containers, seen
    /// through the pod's shared process namespace.
    pub fn for_pod(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        Ok(ProcessesCollector {
            pod: true,
            ..Self::new(config, paths)?
        })
    }

    /// In a pod that does not share its process namespace, every process
    /// seen is in outrider's own container (its cgroup).
    fn only_own_container(&self, samples: &[ProcessSample]) -> bool {
        let cgroup = |pid: &str| std::fs::read_to_string(self.procfs.join(pid).join("cgroup")).ok();
        let Some(own) = cgroup("self") else {
            return false;
        };
        samples
            .iter()
            .all(|s| cgroup(&s.identity.pid.to_string()).is_none_or(|c| c == own))
    }

    fn read_process(&self, dir: &Path, pid: u32) -> Option<ProcessSample> {
        // A process can exit between listing and reading: skip it quietly.
        let mut sample = ProcessSample::default();
        sample.identity.pid = pid;
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        parse_stat(&stat, &mut sample).ok()?;
        if let Ok(status) = std::fs::read_to_string(dir.join("status")) {
            parse_status(&status, &mut sample);
        }
        match std::fs::read_to_string(dir.join("io")) {
            Ok(io) => parse_io(&io, &mut sample),
            Err(e) if gone(&e) => return None,
            Err(_) => sample.io_unreadable = true,
        }
        if let Ok(cmdline) = std::fs::read(dir.join("cmdline")) {
            sample.identity.cmdline = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
        }
        match std::fs::read_dir(dir.join("fd")) {
            Ok(fds) => sample.open_fds = Some(fds.count() as f64),
            Err(e) if gone(&e) => return None,
            Err(_) => sample.fd_unreadable = true,
        }
        sample.max_fds = std::fs::read_to_string(dir.join("limits"))
            .ok()
            .and_then(|l| super::self_process::parse_max_fds(&l).ok());
        Some(sample)
    }

    fn group_of(
        &mut self,
        sample: &ProcessSample,
        groups_by_pid: &HashMap<u32, String>,
    ) -> Option<String> {
        for matcher in &self.matchers {
            if let Some(name) = matcher.name(&sample.identity, &mut self.usernames) {
                return Some(name);
            }
        }
        if self.children {
            return groups_by_pid.get(&sample.identity.ppid).cloned();
        }
        None
    }
}

/// The process exited while it was being read (its /proc directory is
/// gone): not an unreadable field.
fn gone(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::NotFound || error.raw_os_error() == Some(3) // ESRCH
}

const STATES: [&str; 5] = ["Running", "Sleeping", "Waiting", "Zombie", "Other"];

fn state_index(state: char) -> usize {
    match state {
        'R' => 0,
        'S' => 1,
        'D' => 2,
        'Z' => 3,
        _ => 4,
    }
}

impl Collector for ProcessesCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let read_error = |source| CollectError::Read {
            path: self.procfs.clone(),
            source,
        };
        if self.boot_time.is_none() {
            let stat_path = self.procfs.join("stat");
            let stat = paths::read(&stat_path)?;
            let kernel = super::stat::parse_stat(&stat).map_err(|reason| CollectError::Parse {
                path: stat_path,
                reason,
            })?;
            self.boot_time = Some(kernel.boot_time);
        }
        let boot_time = self.boot_time.unwrap_or(0.0);
        let mut samples: Vec<ProcessSample> = Vec::new();
        for entry in std::fs::read_dir(&self.procfs).map_err(read_error)? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(sample) = self.read_process(&entry.path(), pid) {
                samples.push(sample);
            }
        }
        if self.pod && self.only_own_container(&samples) {
            return Err(CollectError::NotVisible {
                what: format!(
                    "only the {} processes of outrider's own container are visible, not the pod's other containers",
                    samples.len()
                ),
                fix: "add `shareProcessNamespace: true` to the pod's spec".to_owned(),
            });
        }
        // Parents before children, so a child can join its parent's group.
        samples.sort_by_key(|s| s.start_ticks);
        self.ticks += 1;
        let tick = self.ticks;
        // Processes that were running at the first tick count from then;
        // later ones count from their start.
        let first_tick = *self.first_tick_start_ticks.get_or_insert_with(|| {
            samples
                .iter()
                .map(|s| s.start_ticks as f64)
                .fold(0.0, f64::max)
        });
        let mut groups: HashMap<String, Group> = HashMap::new();
        let mut groups_by_pid: HashMap<u32, String> = HashMap::new();
        for sample in &samples {
            let key = (sample.identity.pid, sample.start_ticks);
            let group = match self.tracked.get(&key) {
                Some(tracked) if tracked.comm == sample.identity.comm => tracked.group.clone(),
                // New, or it exec'd another program since: grouped afresh.
                // What it used before stays counted in its old group, and
                // its counters count from here in the new one.
                Some(_) => {
                    let group = self.group_of(sample, &groups_by_pid);
                    self.tracked.insert(
                        key,
                        TrackedProcess {
                            group: group.clone(),
                            comm: sample.identity.comm.clone(),
                            counters: sample.counters,
                            seen: tick,
                        },
                    );
                    group
                }
                None => {
                    let group = self.group_of(sample, &groups_by_pid);
                    let counters = if sample.start_ticks as f64 > first_tick {
                        Counters::default()
                    } else {
                        sample.counters
                    };
                    self.tracked.insert(
                        key,
                        TrackedProcess {
                            group: group.clone(),
                            comm: sample.identity.comm.clone(),
                            counters,
                            seen: tick,
                        },
                    );
                    group
                }
            };
            let tracked = self.tracked.get_mut(&key).expect("inserted above");
            tracked.seen = tick;
            let Some(name) = group else { continue };
            groups_by_pid.insert(sample.identity.pid, name.clone());
            let accumulated = self.accumulated.entry(name.clone()).or_default();
            accumulated.add_increase(sample.counters, tracked.counters);
            tracked.counters = sample.counters;
            let g = groups.entry(name).or_default();
            g.procs += 1.0;
            g.threads += sample.threads;
            g.resident += sample.resident_pages * self.page_size;
            g.virtual_bytes += sample.virtual_bytes;
            g.swapped += sample.swapped_bytes;
            g.fd_unreadable += f64::from(u8::from(sample.fd_unreadable));
            g.io_unreadable += f64::from(u8::from(sample.io_unreadable));
            if let Some(open) = sample.open_fds {
                g.open_fds += open;
                if let Some(max) = sample.max_fds.filter(|m| *m > 0.0) {
                    g.worst_fd_ratio = g.worst_fd_ratio.max(open / max);
                }
            }
            let start = (boot_time + sample.start_ticks as f64 / self.ticks_per_second).floor();
            g.oldest_start = Some(g.oldest_start.map_or(start, |o: f64| o.min(start)));
            g.states[state_index(sample.state)] += 1.0;
        }
        self.tracked.retain(|_, t| t.seen == tick);
        // Groups whose processes all exited keep their counters.
        for name in self.accumulated.keys() {
            groups.entry(name.clone()).or_default();
        }
        emit(out, groups, &self.accumulated, self.ticks_per_second);
        Ok(())
    }
}

fn emit(
    out: &mut Vec<Family>,
    groups: HashMap<String, Group>,
    accumulated: &HashMap<String, Counters>,
    ticks_per_second: f64,
) {
    let gauge = |name: &'static str, help: &'static str| Family::gauge(name, help);
    let counter = |name: &'static str, help: &'static str| Family::counter(name, help);
    let mut num_procs = gauge(
        "namedprocess_namegroup_num_procs",
        "number of processes in this group",
    );
    let mut cpu = counter(
        "namedprocess_namegroup_cpu_seconds_total",
        "Cpu user usage in seconds",
    );
    let mut read = counter(
        "namedprocess_namegroup_read_bytes_total",
        "number of bytes read by this group",
    );
    let mut write = counter(
        "namedprocess_namegroup_write_bytes_total",
        "number of bytes written by this group",
    );
    let mut major = counter(
        "namedprocess_namegroup_major_page_faults_total",
        "Major page faults",
    );
    let mut minor = counter(
        "namedprocess_namegroup_minor_page_faults_total",
        "Minor page faults",
    );
    let mut switches = counter(
        "namedprocess_namegroup_context_switches_total",
        "Context switches",
    );
    let mut memory = gauge(
        "namedprocess_namegroup_memory_bytes",
        "number of bytes of memory in use",
    );
    let mut open_fds = gauge(
        "namedprocess_namegroup_open_filedesc",
        "number of open file descriptors for this group",
    );
    let mut worst_fd = gauge(
        "namedprocess_namegroup_worst_fd_ratio",
        "the worst (closest to 1) ratio between open fds and max fds among all procs in this group",
    );
    let mut oldest = gauge(
        "namedprocess_namegroup_oldest_start_time_seconds",
        "start time in seconds since 1970/01/01 of oldest process in group",
    );
    let mut threads = gauge("namedprocess_namegroup_num_threads", "Number of threads");
    let mut states = gauge(
        "namedprocess_namegroup_states",
        "Number of processes in states Running, Sleeping, Waiting, Zombie, or Other",
    );
    let mut unreadable = gauge(
        "outrider_process_unreadable",
        "Processes of the group whose field (fd: open file descriptors, io: bytes read and written) could not be read; the group's figures from that field are left out while any is.",
    );
    for (name, g) in groups {
        let c = accumulated.get(&name).copied().unwrap_or_default();
        let n = name.as_str();
        num_procs.push([("groupname", n)], g.procs);
        cpu.push(
            [("groupname", n), ("mode", "user")],
            c.cpu_user_ticks / ticks_per_second,
        );
        cpu.push(
            [("groupname", n), ("mode", "system")],
            c.cpu_system_ticks / ticks_per_second,
        );
        if g.io_unreadable == 0.0 {
            read.push([("groupname", n)], c.read_bytes);
            write.push([("groupname", n)], c.write_bytes);
        }
        major.push([("groupname", n)], c.major_faults);
        minor.push([("groupname", n)], c.minor_faults);
        switches.push(
            [("groupname", n), ("ctxswitchtype", "voluntary")],
            c.voluntary_switches,
        );
        switches.push(
            [("groupname", n), ("ctxswitchtype", "nonvoluntary")],
            c.nonvoluntary_switches,
        );
        memory.push([("groupname", n), ("memtype", "resident")], g.resident);
        memory.push([("groupname", n), ("memtype", "virtual")], g.virtual_bytes);
        memory.push([("groupname", n), ("memtype", "swapped")], g.swapped);
        if g.fd_unreadable == 0.0 {
            open_fds.push([("groupname", n)], g.open_fds);
            worst_fd.push([("groupname", n)], g.worst_fd_ratio);
        }
        unreadable.push([("groupname", n), ("field", "fd")], g.fd_unreadable);
        unreadable.push([("groupname", n), ("field", "io")], g.io_unreadable);
        // process-exporter reports the zero time for a group with no process.
        oldest.push(
            [("groupname", n)],
            g.oldest_start.unwrap_or(-62_135_596_800.0),
        );
        threads.push([("groupname", n)], g.threads);
        for (state, count) in STATES.iter().zip(g.states) {
            states.push([("groupname", n), ("state", state)], count);
        }
    }
    out.extend([
        num_procs, cpu, read, write, major, minor, switches, memory, open_fds, worst_fd, oldest,
        threads, states, unreadable,
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(comm: &str, cmdline: &[&str]) -> ProcessIdentity {
        ProcessIdentity {
            pid: 42,
            ppid: 1,
            comm: comm.into(),
            cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
            uid: 0,
        }
    }

    fn usernames() -> Usernames {
        Usernames {
            passwd: PathBuf::from("/nonexistent"),
            names: Some(parse_passwd(
                "root:x:0:0:root:/root:/bin/bash\nwww:x:33:33::/var/www:/bin/false\n",
            )),
        }
    }

    fn matcher(yaml: &str) -> Matcher {
        Matcher::compile(&serde_yaml_ng::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn names_follow_process_exporter_templates() {
        let mut users = usernames();
        let m = matcher("name: '{{.Comm}}-{{.ExeBase}}-{{.Username}}'\ncmdline: ['.+']");
        let p = identity("nginx", &["/usr/sbin/nginx", "-g", "daemon off;"]);
        assert_eq!(m.name(&p, &mut users).as_deref(), Some("nginx-nginx-root"));
        let m = matcher("name: 'app:{{.Matches.svc}}'\ncmdline: ['--service=(?P<svc>\\w+)']");
        let p = identity("java", &["java", "-jar", "x.jar", "--service=billing"]);
        assert_eq!(m.name(&p, &mut users).as_deref(), Some("app:billing"));
        // No command line (a kernel thread) does not match '.+'.
        let m = matcher("name: '{{.Comm}}'\ncmdline: ['.+']");
        assert_eq!(m.name(&identity("kworker/0:1", &[]), &mut users), None);
    }

    #[test]
    fn comm_exe_and_cmdline_must_all_match() {
        let mut users = usernames();
        let m = matcher(
            "comm: [postgres]\nexe: [/usr/lib/postgresql/15/bin/postgres]\ncmdline: ['-D']",
        );
        let good = identity(
            "postgres",
            &["/usr/lib/postgresql/15/bin/postgres", "-D", "/data"],
        );
        assert_eq!(m.name(&good, &mut users).as_deref(), Some("postgres"));
        let wrong_path = identity("postgres", &["/opt/postgres", "-D", "/data"]);
        assert_eq!(m.name(&wrong_path, &mut users), None);
        let no_flag = identity("postgres", &["/usr/lib/postgresql/15/bin/postgres"]);
        assert_eq!(m.name(&no_flag, &mut users), None);
        let base_only = matcher("exe: [postgres]");
        assert_eq!(
            base_only.name(&wrong_path, &mut users).as_deref(),
            Some("postgres")
        );
    }

    #[test]
    fn bad_matchers_are_refused() {
        let refuse =
            |yaml: &str| Matcher::compile(&serde_yaml_ng::from_str(yaml).unwrap()).is_err();
        assert!(refuse("name: x"));
        assert!(refuse("name: '{{.Nope}}'\ncomm: [a]"));
        assert!(refuse("name: '{{.Comm'\ncomm: [a]"));
        assert!(refuse("cmdline: ['(']"));
    }

    #[test]
    fn parses_stat_status_and_io() {
        let mut s = ProcessSample::default();
        parse_stat(
            "77 (my (odd) proc) S 1 77 77 0 -1 4194560 500 0 3 0 150 50 0 0 20 0 7 0 98765 123456789 2048 18446744073709551615 1",
            &mut s,
        )
        .unwrap();
        assert_eq!(s.identity.comm, "my (odd) proc");
        assert_eq!((s.state, s.identity.ppid), ('S', 1));
        assert_eq!(
            (s.counters.minor_faults, s.counters.major_faults),
            (500.0, 3.0)
        );
        assert_eq!(
            (s.counters.cpu_user_ticks, s.counters.cpu_system_ticks),
            (150.0, 50.0)
        );
        assert_eq!(
            (s.threads, s.start_ticks, s.resident_pages),
            (7.0, 98765, 2048.0)
        );
        parse_status(
            "Uid:\t1000\t33\t33\t33\nVmSwap:\t  12 kB\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t2\n",
            &mut s,
        );
        assert_eq!((s.identity.uid, s.swapped_bytes), (33, 12288.0));
        assert_eq!(
            (
                s.counters.voluntary_switches,
                s.counters.nonvoluntary_switches
            ),
            (5.0, 2.0)
        );
        parse_io("rchar: 1\nread_bytes: 4096\nwrite_bytes: 8192\n", &mut s);
        assert_eq!(
            (s.counters.read_bytes, s.counters.write_bytes),
            (4096.0, 8192.0)
        );
        assert!(parse_stat("77 (x) S 1", &mut s).is_err());
    }

    #[test]
    fn group_counters_never_go_down_when_processes_exit() {
        let mut group = Counters::default();
        let before = Counters {
            cpu_user_ticks: 1.0,
            ..Counters::default()
        };
        let now = Counters {
            cpu_user_ticks: 3.0,
            ..Counters::default()
        };
        group.add_increase(now, before);
        // A process that vanished adds nothing; one whose io became
        // unreadable (0) does not subtract.
        group.add_increase(Counters::default(), now);
        assert_eq!(group.cpu_user_ticks, 2.0);
    }

    /// A /proc with the kernel's stat and one process, pid 7, running `comm`
    /// with `user_ticks` of CPU.
    fn write_proc(root: &Path, comm: &str, user_ticks: u32) {
        let pid = root.join("7");
        std::fs::create_dir_all(&pid).unwrap();
        std::fs::write(root.join("stat"), "cpu 0 0 0 0\nbtime 1700000000\n").unwrap();
        std::fs::write(
            pid.join("stat"),
            format!("7 ({comm}) S 1 7 7 0 -1 0 0 0 0 0 {user_ticks} 0 0 0 20 0 1 0 100 1000 10 18446744073709551615 1"),
        )
        .unwrap();
        std::fs::write(pid.join("cmdline"), format!("/bin/{comm}\0")).unwrap();
        std::fs::write(pid.join("status"), "Uid:\t0\t0\t0\t0\n").unwrap();
        std::fs::write(pid.join("io"), "read_bytes: 0\nwrite_bytes: 0\n").unwrap();
        std::fs::create_dir_all(pid.join("fd")).unwrap();
    }

    fn num_procs(out: &[Family]) -> Vec<(String, f64)> {
        let family = out
            .iter()
            .find(|f| f.name == "namedprocess_namegroup_num_procs")
            .unwrap();
        let mut groups: Vec<(String, f64)> = family
            .samples
            .iter()
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups
    }

    #[test]
    fn a_process_that_execs_another_program_joins_that_programs_group() {
        // A container's process is first seen as the runtime's init, then
        // execs the app: the app must not be counted as the runtime.
        let dir = tempfile::tempdir().unwrap();
        write_proc(dir.path(), "runc:[1:CHILD]", 5);
        let paths = HostPaths {
            procfs: dir.path().to_owned(),
            ..HostPaths::default()
        };
        let mut collector = ProcessesCollector::new(&Config::default(), &paths).unwrap();
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        assert_eq!(num_procs(&out), [("runc:[1:CHILD]".to_owned(), 1.0)]);
        write_proc(dir.path(), "httpd", 9);
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        assert_eq!(
            num_procs(&out),
            [
                ("httpd".to_owned(), 1.0),
                ("runc:[1:CHILD]".to_owned(), 0.0)
            ]
        );
        // The CPU used before the exec stays with the old group; the new
        // group counts from the exec on.
        let cpu = out
            .iter()
            .find(|f| f.name == "namedprocess_namegroup_cpu_seconds_total")
            .unwrap();
        let user = |group: &str| {
            cpu.samples
                .iter()
                .find(|s| {
                    s.labels.iter().any(|(_, v)| v == group)
                        && s.labels.iter().any(|(_, v)| v == "user")
                })
                .map(|s| s.value)
        };
        assert_eq!(user("httpd"), Some(0.0));
    }
}
