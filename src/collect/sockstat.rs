//! `node_sockstat_*` from /proc/net/sockstat and /proc/net/sockstat6: sockets
//! in use by protocol and state, and the pages of `mem` also in bytes, as
//! node_exporter's sockstat collector.

use std::path::PathBuf;

use super::procfile::{self, parse_error, parse_number};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// One `PROTO: state value state value` line, or `sockets: used N`.
#[derive(Debug, PartialEq)]
pub struct ProtocolLine<'a> {
    pub protocol: &'a str,
    pub states: Vec<(&'a str, f64)>,
}

pub fn parse_sockstat(text: &str) -> Result<Vec<ProtocolLine<'_>>, String> {
    let mut lines = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (protocol, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("no protocol in {line:?}"))?;
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        if fields.len() % 2 != 0 {
            return Err(format!("odd number of fields in {line:?}"));
        }
        let states = fields
            .chunks_exact(2)
            .map(|pair| parse_number(pair[1]).map(|v| (pair[0], v)))
            .collect::<Result<_, _>>()?;
        lines.push(ProtocolLine { protocol, states });
    }
    Ok(lines)
}

pub struct SockstatCollector {
    sockstat: PathBuf,
    sockstat6: PathBuf,
    page_size: f64,
    buffer: String,
    /// The pod scope: only what Linux keeps per network namespace.
    pod: bool,
}

/// The states the kernel counts for the whole node, whatever the network
/// namespace: allocated and orphaned sockets, and socket memory.
const NODE_WIDE_STATES: [&str; 3] = ["alloc", "orphan", "mem"];

impl SockstatCollector {
    pub fn new(paths: &HostPaths) -> Self {
        SockstatCollector {
            sockstat: paths.proc("net/sockstat"),
            sockstat6: paths.proc("net/sockstat6"),
            page_size: rustix::param::page_size() as f64,
            buffer: String::new(),
            pod: false,
        }
    }

    /// In a pod: the pod's sockets in use, without the node-wide states.
    pub fn for_pod(paths: &HostPaths) -> Self {
        SockstatCollector {
            pod: true,
            ..Self::new(paths)
        }
    }

    fn export(&self, lines: Vec<ProtocolLine<'_>>, out: &mut Vec<Family>) {
        for line in lines {
            if line.protocol == "sockets" {
                if let Some((_, used)) = line.states.iter().find(|(s, _)| *s == "used") {
                    out.push(
                        Family::gauge(
                            "node_sockstat_sockets_used",
                            "Number of IPv4 sockets in use.",
                        )
                        .single(*used),
                    );
                }
                continue;
            }
            for (state, value) in line.states {
                if self.pod && NODE_WIDE_STATES.contains(&state) {
                    continue;
                }
                out.push(self.family(line.protocol, state, value));
                if state == "mem" {
                    out.push(self.family(line.protocol, "mem_bytes", value * self.page_size));
                }
            }
        }
    }

    fn family(&self, protocol: &str, state: &str, value: f64) -> Family {
        Family::gauge(
            format!("node_sockstat_{protocol}_{state}"),
            format!("Number of {protocol} sockets in state {state}."),
        )
        .single(value)
    }
}

impl Collector for SockstatCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mut buffer = std::mem::take(&mut self.buffer);
        let result = (|| {
            if !procfile::read_into(&self.sockstat, &mut buffer)? {
                return Err(CollectError::NoData("no /proc/net/sockstat".into()));
            }
            let lines = parse_sockstat(&buffer).map_err(|r| parse_error(&self.sockstat, r))?;
            self.export(lines, out);
            // No sockstat6 when IPv6 is off: the IPv4 figures still stand.
            if procfile::read_into(&self.sockstat6, &mut buffer)? {
                let lines = parse_sockstat(&buffer).map_err(|r| parse_error(&self.sockstat6, r))?;
                self.export(lines, out);
            }
            Ok(())
        })();
        self.buffer = buffer;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_states_and_mem_in_bytes() {
        let paths = HostPaths {
            procfs: "tests/fixtures/proc".into(),
            ..HostPaths::default()
        };
        let mut collector = SockstatCollector::new(&paths);
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        let value = |name: &str| {
            out.iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .samples[0]
                .value
        };
        assert_eq!(value("node_sockstat_sockets_used"), 20.0);
        assert_eq!(value("node_sockstat_TCP_mem"), 153.0);
        assert_eq!(
            value("node_sockstat_TCP_mem_bytes"),
            153.0 * collector.page_size
        );
        assert_eq!(value("node_sockstat_FRAG_memory"), 0.0);
        assert_eq!(value("node_sockstat_TCP6_inuse"), 0.0);
        assert!(
            !out.iter()
                .any(|f| f.name == "node_sockstat_FRAG_memory_bytes")
        );
        assert!(parse_sockstat("TCP: inuse\n").is_err());
        assert!(parse_sockstat("TCP inuse 1\n").is_err());
    }
}
