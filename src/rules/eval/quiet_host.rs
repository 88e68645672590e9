//! The default rules on the healthy host of the fixture tree.

use std::path::Path;

use super::*;
use crate::collect::filesystem::{self, FilesystemCollector, FsUsage, StatFs};
use crate::collect::{CollectorsConfig, Registry};
use crate::paths::HostPaths;
use crate::rules::RuleSet;

/// Every filesystem a third used, so the test does not depend on the
/// disks of the machine it runs on.
struct RoomyStatFs;

impl StatFs for RoomyStatFs {
    fn statfs(&self, _path: &Path) -> std::io::Result<FsUsage> {
        Ok(FsUsage {
            blocks: 3000,
            block_size: 4096,
            blocks_free: 2000,
            blocks_available: 2000,
            files: 3000,
            files_free: 2000,
        })
    }
}

/// The healthy host of the fixture tree (the golden test's).
fn healthy_host() -> Registry {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let paths = HostPaths {
        procfs: fixtures.join("proc"),
        sysfs: fixtures.join("sys"),
        rootfs: "/".into(),
        udev_data: fixtures.join("udev"),
    };
    let mut config = CollectorsConfig::default();
    config.containers.enabled = false;
    config.filesystem.enabled = false;
    let mut registry = Registry::from_config(&config, &paths).unwrap();
    let statfs = std::sync::Arc::new(RoomyStatFs);
    let filesystems =
        FilesystemCollector::with_statfs(&filesystem::Config::default(), &paths, statfs).unwrap();
    registry.add("filesystem", Box::new(filesystems));
    registry
}

/// The default threshold, absent and SLO rules hold nothing on a healthy
/// host, even with their `for` durations taken away. (Anomaly rules are
/// relative to hours of history and are covered by the baselines' own
/// accuracy tests.)
#[test]
fn default_rules_are_quiet_on_a_healthy_host() {
    let mut rules = RuleSet::embedded();
    for group in &mut rules.groups {
        group.rules.retain(|r| !matches!(r.kind, Kind::Anomaly(_)));
        for rule in &mut group.rules {
            rule.for_duration = Duration::ZERO;
        }
    }
    let mut registry = healthy_host();
    let mut evaluator = Evaluator::new(rules, Duration::from_secs(60));
    for tick in 0..3 {
        let families = registry.collect_all();
        let outcome = evaluator.evaluate(&families, 1_700_000_000.0 + f64::from(tick) * 15.0);
        let loud: Vec<_> = evaluator
            .active_alerts()
            .iter()
            .map(|(_, r, a)| (r.name.clone(), a.labels.clone()))
            .collect();
        assert!(loud.is_empty(), "alerts on a healthy host: {loud:?}");
        // Nor do they fail: missing app metrics are no data, a zero
        // divisor is no limit.
        let failing: Vec<_> = evaluator
            .rules()
            .groups
            .iter()
            .flat_map(|g| g.rules.iter().map(move |r| (g, r)))
            .filter_map(|(g, r)| {
                evaluator
                    .health(g, r)
                    .last_error
                    .map(|e| (r.name.clone(), e))
            })
            .collect();
        assert!(failing.is_empty(), "failing default rules: {failing:?}");
        let health = outcome
            .families
            .iter()
            .find(|f| f.name == "outrider_health_score")
            .expect("the health score is exported");
        assert_eq!(health.samples[0].value, 100.0);
    }
}
