//! `node_netstat_<Proto>_<Field>` from /proc/net/netstat, /proc/net/snmp and
//! /proc/net/snmp6: the fields matching node_exporter's
//! `--collector.netstat.fields`, untyped as node_exporter exports them. The
//! files belong to the reader's network namespace.

use std::path::PathBuf;

use regex::Regex;
use serde::Deserialize;

use super::procfile::{self, header_value_pairs, key_values, parse_error, parse_number};
use super::{BuildError, CollectError, Collector, compile_regex};
use crate::metric::{Family, MetricType};
use crate::paths::HostPaths;

/// node_exporter's default `--collector.netstat.fields`.
pub const DEFAULT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether the collector runs.
    pub enabled: bool,
    /// Regex of the `Proto_Field` names to export
    /// (`--collector.netstat.fields`).
    pub fields: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            fields: DEFAULT_FIELDS.to_owned(),
        }
    }
}

/// The `Proto_Field` statistics of /proc/net/netstat or /proc/net/snmp that
/// `fields` matches, appended to `out`.
pub fn parse_snmp(text: &str, fields: &Regex, out: &mut Vec<(String, f64)>) -> Result<(), String> {
    let mut first_error = None;
    let mut key = String::new();
    header_value_pairs(text, |proto, name, value| {
        key.clear();
        key.push_str(proto);
        key.push('_');
        key.push_str(name);
        if !fields.is_match(&key) {
            return;
        }
        match parse_number(value) {
            Ok(v) => out.push((key.clone(), v)),
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{key}: {e}"));
            }
        }
    })?;
    first_error.map_or(Ok(()), Err)
}

/// The statistics of /proc/net/snmp6 (`Ip6InOctets 22676`), split after the
/// `6` into `Ip6_InOctets` as node_exporter names them; lines without a `6`
/// are skipped, as node_exporter does.
pub fn parse_snmp6(text: &str, fields: &Regex, out: &mut Vec<(String, f64)>) -> Result<(), String> {
    for pair in key_values(text) {
        let (stat, value) = pair?;
        let Some(six) = stat.find('6') else { continue };
        let key = format!("{}_{}", &stat[..=six], &stat[six + 1..]);
        if fields.is_match(&key) {
            out.push((key, parse_number(value)?));
        }
    }
    Ok(())
}

pub struct NetstatCollector {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    fields: Regex,
    buffer: String,
    stats: Vec<(String, f64)>,
}

impl NetstatCollector {
    pub fn new(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        Ok(NetstatCollector {
            netstat: paths.proc("net/netstat"),
            snmp: paths.proc("net/snmp"),
            snmp6: paths.proc("net/snmp6"),
            fields: compile_regex("netstat", "fields", &config.fields)?,
            buffer: String::new(),
            stats: Vec::new(),
        })
    }
}

impl Collector for NetstatCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        self.stats.clear();
        for path in [&self.netstat, &self.snmp] {
            if !procfile::read_into(path, &mut self.buffer)? {
                return Err(CollectError::Read {
                    path: path.clone(),
                    source: std::io::ErrorKind::NotFound.into(),
                });
            }
            parse_snmp(&self.buffer, &self.fields, &mut self.stats)
                .map_err(|r| parse_error(path, r))?;
        }
        // No snmp6 when IPv6 is off: the IPv4 statistics still stand.
        if procfile::read_into(&self.snmp6, &mut self.buffer)? {
            parse_snmp6(&self.buffer, &self.fields, &mut self.stats)
                .map_err(|r| parse_error(&self.snmp6, r))?;
        }
        for (key, value) in self.stats.drain(..) {
            let help = format!("Statistic {}.", key.replacen('_', "", 1));
            out.push(
                Family::new(format!("node_netstat_{key}"), help, MetricType::Untyped).single(value),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> HostPaths {
        HostPaths {
            procfs: "tests/fixtures/proc".into(),
            ..HostPaths::default()
        }
    }

    #[test]
    fn default_fields_from_the_three_files() {
        let mut collector = NetstatCollector::new(&Config::default(), &fixture()).unwrap();
        let mut out = Vec::new();
        collector.collect(&mut out).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        for expected in [
            "node_netstat_TcpExt_ListenDrops",
            "node_netstat_IpExt_InOctets",
            "node_netstat_Ip_Forwarding",
            "node_netstat_Tcp_CurrEstab",
            "node_netstat_Udp_InDatagrams",
            "node_netstat_UdpLite_InErrors",
            "node_netstat_Icmp_InMsgs",
            "node_netstat_Ip6_InOctets",
            "node_netstat_Udp6_InDatagrams",
            "node_netstat_Icmp6_OutMsgs",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(!names.contains(&"node_netstat_TcpExt_TW"));
        let forwarding = out
            .iter()
            .find(|f| f.name == "node_netstat_Ip_Forwarding")
            .unwrap();
        assert_eq!(forwarding.help, "Statistic IpForwarding.");
        assert_eq!(forwarding.kind, MetricType::Untyped);
    }

    #[test]
    fn mismatched_lines_are_errors_and_snmp6_splits_after_the_six() {
        let all = Regex::new("").unwrap();
        let mut out = Vec::new();
        assert!(parse_snmp("Tcp: A B\nTcp: 1\n", &all, &mut out).is_err());
        assert!(parse_snmp("Tcp: A\nTcp: x\n", &all, &mut out).is_err());
        parse_snmp6("Ip6InOctets 5\nIcmp6OutMsgs 7\nnosix 1\n", &all, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                ("Ip6_InOctets".to_owned(), 5.0),
                ("Icmp6_OutMsgs".to_owned(), 7.0)
            ]
        );
    }
}
