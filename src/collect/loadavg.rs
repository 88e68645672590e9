//! `node_load1`, `node_load5`, `node_load15` from /proc/loadavg.

use std::path::PathBuf;

use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::{self, HostPaths};

pub fn parse_loadavg(text: &str) -> Result<[f64; 3], String> {
    let mut loads = [0.0; 3];
    let mut fields = text.split_ascii_whitespace();
    for load in &mut loads {
        let field = fields
            .next()
            .ok_or_else(|| format!("expected 3 load averages in {text:?}"))?;
        *load = field
            .parse()
            .map_err(|_| format!("invalid load average {field:?}"))?;
    }
    Ok(loads)
}

pub struct LoadavgCollector {
    loadavg: PathBuf,
}

impl LoadavgCollector {
    pub fn new(paths: &HostPaths) -> Self {
        LoadavgCollector {
            loadavg: paths.proc("loadavg"),
        }
    }
}

impl Collector for LoadavgCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let text = paths::read(&self.loadavg)?;
        let [one, five, fifteen] = parse_loadavg(&text).map_err(|reason| CollectError::Parse {
            path: self.loadavg.clone(),
            reason,
        })?;
        out.push(Family::gauge("node_load1", "1m load average.").single(one));
        out.push(Family::gauge("node_load5", "5m load average.").single(five));
        out.push(Family::gauge("node_load15", "15m load average.").single(fifteen));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_averages() {
        assert_eq!(
            parse_loadavg("0.21 0.37 0.39 1/80 1234\n").unwrap(),
            [0.21, 0.37, 0.39]
        );
        assert!(parse_loadavg("0.21 0.37").is_err());
        assert!(parse_loadavg("a b c").is_err());
    }
}
