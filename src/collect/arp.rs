//! `node_arp_entries{device}` from /proc/net/arp: the neighbour table's
//! entries per interface, in the reader's network namespace.

use std::path::PathBuf;

use super::procfile::{self, parse_error};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// Entries per device, in the order devices first appear.
pub fn parse_arp(text: &str) -> Result<Vec<(&str, u64)>, String> {
    let mut counts: Vec<(&str, u64)> = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [_ip, _hw_type, _flags, _mac, _mask, device] = fields[..] else {
            return Err(format!("expected 6 columns in {line:?}"));
        };
        match counts.iter_mut().find(|(d, _)| *d == device) {
            Some((_, count)) => *count += 1,
            None => counts.push((device, 1)),
        }
    }
    Ok(counts)
}

pub struct ArpCollector {
    path: PathBuf,
    buffer: String,
}

impl ArpCollector {
    pub fn new(paths: &HostPaths) -> Self {
        ArpCollector {
            path: paths.proc("net/arp"),
            buffer: String::new(),
        }
    }
}

impl Collector for ArpCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        if !procfile::read_into(&self.path, &mut self.buffer)? {
            return Err(CollectError::NoData("no /proc/net/arp".into()));
        }
        let counts = parse_arp(&self.buffer).map_err(|r| parse_error(&self.path, r))?;
        if counts.is_empty() {
            return Ok(());
        }
        let mut entries = Family::gauge("node_arp_entries", "ARP entries by device");
        for (device, count) in counts {
            entries.push([("device", device)], count as f64);
        }
        out.push(entries);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_device() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n\
                    192.0.2.2        0x1         0x0         00:00:00:00:00:00     *        eth0\n\
                    10.0.0.1         0x1         0x2         02:fc:00:00:00:06     *        eth1\n";
        assert_eq!(parse_arp(text).unwrap(), vec![("eth0", 2), ("eth1", 1)]);
        assert!(parse_arp("header\n1 2 3\n").is_err());
        assert_eq!(parse_arp("header only\n").unwrap(), vec![]);
    }
}
