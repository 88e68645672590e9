//! outrider's own cost, as the standard `process_*` set every Prometheus client
//! exports, plus `outrider_build_info`.

use std::path::PathBuf;

use super::{CollectError, Collector, stat::parse_stat};
use crate::metric::Family;
use crate::paths::{self, HostPaths};

/// The fields of /proc/PID/stat the process metrics need.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcStat {
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub threads: u64,
    pub start_ticks: u64,
    pub virtual_bytes: u64,
    pub rss_pages: u64,
}

/// Parses /proc/PID/stat. The command name is in parentheses and may contain
/// spaces and parentheses itself, so fields are counted after the last ')'.
pub fn parse_proc_stat(text: &str) -> Result<ProcStat, String> {
    let after_comm = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or("no ')' after the command name")?;
    // Field 3 (state) is the first after the command name.
    let fields: Vec<&str> = after_comm.split_ascii_whitespace().collect();
    let field = |n: usize| -> Result<u64, String> {
        let raw = fields
            .get(n - 3)
            .ok_or_else(|| format!("missing field {n}"))?;
        raw.parse()
            .map_err(|_| format!("field {n}: invalid value {raw:?}"))
    };
    Ok(ProcStat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        threads: field(20)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The soft limit of "Max open files" in /proc/PID/limits.
pub fn parse_max_fds(limits: &str) -> Result<f64, String> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or("no 'Max open files' line")?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_ascii_whitespace()
        .next()
        .ok_or("no soft limit")?;
    if soft == "unlimited" {
        return Ok(f64::INFINITY);
    }
    soft.parse::<u64>()
        .map(|v| v as f64)
        .map_err(|_| format!("invalid soft limit {soft:?}"))
}

pub struct SelfCollector {
    stat: PathBuf,
    limits: PathBuf,
    fd_dir: PathBuf,
    kernel_stat: PathBuf,
    ticks_per_second: f64,
    page_size: f64,
}

impl SelfCollector {
    pub fn new(paths: &HostPaths) -> Self {
        SelfCollector {
            stat: paths.proc("self/stat"),
            limits: paths.proc("self/limits"),
            fd_dir: paths.proc("self/fd"),
            kernel_stat: paths.proc("stat"),
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as f64,
        }
    }

    fn parse_error(path: &std::path::Path) -> impl Fn(String) -> CollectError + '_ {
        move |reason| CollectError::Parse {
            path: path.to_owned(),
            reason,
        }
    }
}

impl Collector for SelfCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let stat =
            parse_proc_stat(&paths::read(&self.stat)?).map_err(Self::parse_error(&self.stat))?;
        let boot_time = parse_stat(&paths::read(&self.kernel_stat)?)
            .map_err(Self::parse_error(&self.kernel_stat))?
            .boot_time;
        let max_fds =
            parse_max_fds(&paths::read(&self.limits)?).map_err(Self::parse_error(&self.limits))?;
        let open_fds = std::fs::read_dir(&self.fd_dir)
            .map_err(|source| CollectError::Read {
                path: self.fd_dir.clone(),
                source,
            })?
            .count() as f64;
        let tps = self.ticks_per_second;
        out.push(
            Family::counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
            )
            .single((stat.utime_ticks + stat.stime_ticks) as f64 / tps),
        );
        out.push(
            Family::gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            )
            .single(stat.rss_pages as f64 * self.page_size),
        );
        out.push(
            Family::gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            )
            .single(stat.virtual_bytes as f64),
        );
        out.push(
            Family::gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
            )
            .single(boot_time + stat.start_ticks as f64 / tps),
        );
        out.push(
            Family::gauge("process_open_fds", "Number of open file descriptors.").single(open_fds),
        );
        out.push(
            Family::gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
            )
            .single(max_fds),
        );
        out.push(
            Family::gauge("process_threads", "Number of OS threads in the process.")
                .single(stat.threads as f64),
        );
        let mut build = Family::gauge(
            "outrider_build_info",
            "A metric with a constant '1' value labeled by version, revision and rustversion from which outrider was built.",
        );
        build.push(
            [
                ("version", crate::build::VERSION),
                ("revision", crate::build::REVISION),
                ("rustversion", crate::build::RUST_VERSION),
            ],
            1.0,
        );
        out.push(build);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let text = "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 7 0 98765 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_proc_stat(text).unwrap();
        assert_eq!(
            s,
            ProcStat {
                utime_ticks: 150,
                stime_ticks: 50,
                threads: 7,
                start_ticks: 98765,
                virtual_bytes: 123_456_789,
                rss_pages: 2048,
            }
        );
        assert!(parse_proc_stat("1234 (x) S 1 2").is_err());
        assert!(parse_proc_stat("no parens").is_err());
    }

    #[test]
    fn reads_the_soft_fd_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits).unwrap(), 1024.0);
        assert_eq!(
            parse_max_fds("Max open files unlimited unlimited files\n").unwrap(),
            f64::INFINITY
        );
        assert!(parse_max_fds("").is_err());
    }
}
