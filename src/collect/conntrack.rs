//! `node_nf_conntrack_*`: the connection tracking table's size and limit
//! (/proc/sys/net/netfilter) and its per-CPU statistics summed
//! (/proc/net/stat/nf_conntrack), as node_exporter's conntrack collector.
//! Without the nf_conntrack module there are no such files and no series.

use std::path::{Path, PathBuf};

use super::procfile::{self, parse_error, parse_single_u64};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// The statistics node_exporter exports, by column: the kernel has kept
/// these positions since 2.6.35, whatever the header calls the others.
const STATS: &[(usize, &str, &str)] = &[
    (
        2,
        "node_nf_conntrack_stat_found",
        "Number of searched entries which were successful.",
    ),
    (
        4,
        "node_nf_conntrack_stat_invalid",
        "Number of packets seen which can not be tracked.",
    ),
    (
        5,
        "node_nf_conntrack_stat_ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    (
        8,
        "node_nf_conntrack_stat_insert",
        "Number of entries inserted into the list.",
    ),
    (
        9,
        "node_nf_conntrack_stat_insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    (
        10,
        "node_nf_conntrack_stat_drop",
        "Number of packets dropped due to conntrack failure.",
    ),
    (
        11,
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        16,
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

/// The per-CPU rows of /proc/net/stat/nf_conntrack (hexadecimal), summed by
/// column. Rows have 16 or 17 columns.
pub fn parse_conntrack_stat(text: &str) -> Result<[u64; 17], String> {
    let mut sums = [0u64; 17];
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let count = line.split_ascii_whitespace().count();
        if !(16..=17).contains(&count) {
            return Err(format!("expected 16 or 17 columns, got {count}"));
        }
        for (sum, field) in sums.iter_mut().zip(line.split_ascii_whitespace()) {
            let value = u64::from_str_radix(field, 16)
                .map_err(|_| format!("invalid hexadecimal {field:?}"))?;
            *sum = sum.wrapping_add(value);
        }
    }
    Ok(sums)
}

pub struct ConntrackCollector {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
    buffer: String,
}

impl ConntrackCollector {
    pub fn new(paths: &HostPaths) -> Self {
        ConntrackCollector {
            count: paths.proc("sys/net/netfilter/nf_conntrack_count"),
            max: paths.proc("sys/net/netfilter/nf_conntrack_max"),
            stat: paths.proc("net/stat/nf_conntrack"),
            buffer: String::new(),
        }
    }
}

fn read_or_no_data(path: &Path, buffer: &mut String) -> Result<(), CollectError> {
    if procfile::read_into(path, buffer)? {
        Ok(())
    } else {
        Err(CollectError::NoData(
            "no connection tracking (nf_conntrack not loaded)".into(),
        ))
    }
}

impl Collector for ConntrackCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        read_or_no_data(&self.count, &mut self.buffer)?;
        let count = parse_single_u64(&self.buffer).map_err(|r| parse_error(&self.count, r))?;
        read_or_no_data(&self.max, &mut self.buffer)?;
        let max = parse_single_u64(&self.buffer).map_err(|r| parse_error(&self.max, r))?;
        read_or_no_data(&self.stat, &mut self.buffer)?;
        let sums = parse_conntrack_stat(&self.buffer).map_err(|r| parse_error(&self.stat, r))?;
        out.push(
            Family::gauge(
                "node_nf_conntrack_entries",
                "Number of currently allocated flow entries for connection tracking.",
            )
            .single(count as f64),
        );
        out.push(
            Family::gauge(
                "node_nf_conntrack_entries_limit",
                "Maximum size of connection tracking table.",
            )
            .single(max as f64),
        );
        for (column, name, help) in STATS {
            out.push(Family::gauge(*name, *help).single(sums[*column] as f64));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_cpus_and_reads_the_table_size() {
        let paths = HostPaths {
            procfs: "tests/fixtures/proc".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        ConntrackCollector::new(&paths).collect(&mut out).unwrap();
        let value = |name: &str| out.iter().find(|f| f.name == name).unwrap().samples[0].value;
        assert_eq!(value("node_nf_conntrack_entries"), 16.0);
        assert_eq!(value("node_nf_conntrack_entries_limit"), 262144.0);
        // 0x1a on one CPU and 0x2 on the other.
        assert_eq!(value("node_nf_conntrack_stat_invalid"), 28.0);
        assert_eq!(out.len(), 10);
        assert!(parse_conntrack_stat("h\n1 2 3\n").is_err());
        assert!(parse_conntrack_stat(&format!("h\n{}\n", ["zz"; 16].join(" "))).is_err());
    }
}
