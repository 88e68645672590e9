//! `node_selinux_enabled`, and with SELinux on, `node_selinux_config_mode`
//! and `node_selinux_current_mode` (-1 disabled, 0 permissive, 1
//! enforcing), from selinuxfs and /etc/selinux/config.

use std::path::PathBuf;

use super::procfile::{self, parse_error, parse_single_u64};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// The mode `SELINUX=` sets in /etc/selinux/config.
pub fn parse_config_mode(text: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("SELINUX="))
        .next_back()
        .map(|mode| match mode.trim().trim_matches('"') {
            "enforcing" => 1.0,
            "permissive" => 0.0,
            _ => -1.0,
        })
}

pub struct SelinuxCollector {
    enforce: PathBuf,
    config: PathBuf,
    buffer: String,
}

impl SelinuxCollector {
    pub fn new(paths: &HostPaths) -> Self {
        SelinuxCollector {
            enforce: paths.sys("fs/selinux/enforce"),
            config: paths.under_rootfs("/etc/selinux/config"),
            buffer: String::new(),
        }
    }
}

impl Collector for SelinuxCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let enabled = Family::gauge(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
        );
        if !procfile::read_into(&self.enforce, &mut self.buffer)? {
            out.push(enabled.single(0.0));
            return Ok(());
        }
        let current =
            parse_single_u64(&self.buffer).map_err(|r| parse_error(&self.enforce, r))? as f64;
        let config_mode = if procfile::read_into(&self.config, &mut self.buffer)? {
            parse_config_mode(&self.buffer).unwrap_or(-1.0)
        } else {
            -1.0
        };
        out.push(enabled.single(1.0));
        out.push(
            Family::gauge(
                "node_selinux_config_mode",
                "Configured SELinux enforcement mode",
            )
            .single(config_mode),
        );
        out.push(
            Family::gauge(
                "node_selinux_current_mode",
                "Current SELinux enforcement mode",
            )
            .single(current),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_without_selinuxfs_and_modes_with_it() {
        let bare = HostPaths {
            sysfs: "tests/fixtures/nowhere".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        SelinuxCollector::new(&bare).collect(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].samples[0].value, 0.0);
        assert_eq!(parse_config_mode("# x\nSELINUX=enforcing\n"), Some(1.0));
        assert_eq!(parse_config_mode("SELINUX=permissive\n"), Some(0.0));
        assert_eq!(parse_config_mode("SELINUX=disabled\n"), Some(-1.0));
        assert_eq!(parse_config_mode("nothing\n"), None);
    }
}
