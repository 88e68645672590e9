//! `node_entropy_available_bits` and `node_entropy_pool_size_bits` from
//! /proc/sys/kernel/random.

use std::path::{Path, PathBuf};

use super::procfile::{self, parse_error, parse_single_u64};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

pub struct EntropyCollector {
    available: PathBuf,
    pool_size: PathBuf,
    buffer: String,
}

impl EntropyCollector {
    pub fn new(paths: &HostPaths) -> Self {
        EntropyCollector {
            available: paths.proc("sys/kernel/random/entropy_avail"),
            pool_size: paths.proc("sys/kernel/random/poolsize"),
            buffer: String::new(),
        }
    }
}

fn read_number(path: &Path, buffer: &mut String) -> Result<f64, CollectError> {
    if !procfile::read_into(path, buffer)? {
        return Err(CollectError::NoData(format!("no {}", path.display())));
    }
    parse_single_u64(buffer)
        .map(|v| v as f64)
        .map_err(|r| parse_error(path, r))
}

impl Collector for EntropyCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let available = read_number(&self.available, &mut self.buffer)?;
        let pool_size = read_number(&self.pool_size, &mut self.buffer)?;
        out.push(
            Family::gauge("node_entropy_available_bits", "Bits of available entropy.")
                .single(available),
        );
        out.push(
            Family::gauge("node_entropy_pool_size_bits", "Bits of entropy pool.").single(pool_size),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_from_a_fixture_tree() {
        let paths = HostPaths {
            procfs: "tests/fixtures/proc".into(),
            ..HostPaths::default()
        };
        let mut out = Vec::new();
        EntropyCollector::new(&paths).collect(&mut out).unwrap();
        let values: Vec<(&str, f64)> = out
            .iter()
            .map(|f| (f.name.as_ref(), f.samples[0].value))
            .collect();
        assert_eq!(
            values,
            [
                ("node_entropy_available_bits", 256.0),
                ("node_entropy_pool_size_bits", 256.0)
            ]
        );
    }
}
