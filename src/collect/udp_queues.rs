//! `node_udp_queues{ip,queue}` from /proc/net/udp and /proc/net/udp6: the
//! bytes queued in UDP sockets' send and receive buffers, summed.

use std::path::PathBuf;

use super::procfile::{self, parse_error};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// (tx, rx) queued bytes summed over the sockets of a /proc/net/udp file.
pub fn parse_udp_queues(text: &str) -> Result<(u64, u64), String> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let queues = line
            .split_ascii_whitespace()
            .nth(4)
            .ok_or_else(|| format!("no queue column in {line:?}"))?;
        let (t, r) = queues
            .split_once(':')
            .ok_or_else(|| format!("invalid queues {queues:?}"))?;
        let hex = |v: &str| u64::from_str_radix(v, 16).map_err(|_| format!("invalid queue {v:?}"));
        tx = tx.wrapping_add(hex(t)?);
        rx = rx.wrapping_add(hex(r)?);
    }
    Ok((tx, rx))
}

pub struct UdpQueuesCollector {
    files: [(PathBuf, &'static str); 2],
    buffer: String,
}

impl UdpQueuesCollector {
    pub fn new(paths: &HostPaths) -> Self {
        UdpQueuesCollector {
            files: [
                (paths.proc("net/udp"), "v4"),
                (paths.proc("net/udp6"), "v6"),
            ],
            buffer: String::new(),
        }
    }
}

impl Collector for UdpQueuesCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mut queues = Family::gauge(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
        );
        for (path, ip) in &self.files {
            // udp6 is missing when IPv6 is off; each family of addresses stands alone.
            if !procfile::read_into(path, &mut self.buffer)? {
                continue;
            }
            let (tx, rx) = parse_udp_queues(&self.buffer).map_err(|r| parse_error(path, r))?;
            queues.push([("queue", "tx"), ("ip", *ip)], tx as f64);
            queues.push([("queue", "rx"), ("ip", *ip)], rx as f64);
        }
        if queues.samples.is_empty() {
            return Err(CollectError::NoData("no /proc/net/udp nor udp6".into()));
        }
        out.push(queues);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_queues_of_both_files() {
        let paths = HostPaths {
            procfs: "tests/fixtures/proc".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        UdpQueuesCollector::new(&paths).collect(&mut out).unwrap();
        let values: Vec<f64> = out[0].samples.iter().map(|s| s.value).collect();
        assert_eq!(values, [16.0, 768.0, 32.0, 0.0]);
        assert!(parse_udp_queues("h\n 0: a b c d\n").is_err());
        assert!(parse_udp_queues("h\n 0: a b c zz:00\n").is_err());
    }
}
