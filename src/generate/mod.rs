//! `outrider generate`: the rule files the sidecar evaluates, turned into
//! what Prometheus, Alertmanager and Grafana need:
//!
//! - `alerts/<group>.rules.yml`: Prometheus rule groups (`prometheus_rules`);
//! - `alerts/<group>.test.yml`: their `promtool test rules` tests
//!   (`promtool_tests`);
//! - `alerts/alertmanager.yml`: an example Alertmanager config
//!   (`alertmanager`);
//! - `grafana/*.json`: dashboards (`grafana`);
//! - `deploy/`: a Kubernetes example with the rules as `PrometheusRule`s
//!   (`operator`);
//! - `.outrider-generated`: the manifest of every file above.
//!
//! Every expression comes from the parsed `RuleSet` through `promql`. The
//! output is deterministic (sorted keys, rule order), so `--check` compares
//! bytes.
//!
//! `--out` is often the root of an ops repository, where `alerts/` and
//! `deploy/` also hold a team's own files. A stale file is removed only when
//! the manifest of the previous run lists it with the SHA-256 of its
//! content, and the content is still that: a manifest works for JSON, which
//! cannot carry a comment header; a generated file copied by hand under
//! another name, or edited since, is the team's, not ours. The manifest's
//! lines are those of `sha256sum`, so `sha256sum -c` checks them too.

pub mod alertmanager;
pub mod grafana;
pub mod operator;
pub mod prometheus_rules;
pub mod promql;
pub mod promtool_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::rules::RuleSet;
use promql::SloWindows;

/// The folders `generate` writes into under `--out`.
pub const FOLDERS: &[&str] = &["alerts", "grafana", "deploy"];

/// The manifest under `--out`: the files the last run wrote, one
/// `<sha256>  <path>` a line, so the next run removes those it no longer
/// generates, unless they were edited since, and nothing else.
pub const MANIFEST: &str = ".outrider-generated";

/// Where `--format prometheus-operator` writes its `PrometheusRule`s: apart
/// from `alerts/*.rules.yml`, which stay files promtool loads.
pub const OPERATOR_FOLDER: &str = "alerts/operator";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Plain Prometheus rule files, with their promtool tests.
    #[default]
    Plain,
    /// prometheus-operator `PrometheusRule` resources, in
    /// `alerts/operator/<group>.yaml`.
    PrometheusOperator,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub format: Format,
    /// Divides the SLO windows (5m … 3d) by this, for demos and tests that
    /// cannot wait hours; 1 in production.
    pub slo_window_scale: u32,
    /// Where the rules came from, for the generated files' header.
    pub source: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Plain,
            slo_window_scale: 1,
            source: "the embedded rules/*.yml".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("group {group}: {message}")]
    Tests { group: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Generated files by path relative to the output folder.
pub type Files = BTreeMap<PathBuf, String>;

fn json(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values encode");
    text.push('\n');
    text
}

/// Everything `generate` writes, in memory.
pub fn generate(rules: &RuleSet, options: &Options) -> Result<Files, GenerateError> {
    let windows = SloWindows::scaled(options.slo_window_scale);
    let header = prometheus_rules::header(&options.source);
    let mut files = Files::new();
    let mut operator_rules = Vec::new();
    for group in &rules.groups {
        let groups = prometheus_rules::groups(group, &windows);
        let rule_file = format!("{}.rules.yml", group.name);
        let resource = operator::prometheus_rule(&group.name, &groups);
        match options.format {
            Format::Plain => {
                let file = prometheus_rules::RuleFile { groups };
                files.insert(
                    Path::new("alerts").join(&rule_file),
                    format!("{header}{}", prometheus_rules::yaml(&file)),
                );
                let tests =
                    promtool_tests::tests(group, &rule_file, &windows).map_err(|message| {
                        GenerateError::Tests {
                            group: group.name.clone(),
                            message,
                        }
                    })?;
                files.insert(
                    Path::new("alerts").join(format!("{}.test.yml", group.name)),
                    format!(
                        "{header}# Run with: promtool test rules alerts/{}.test.yml\n{}",
                        group.name,
                        prometheus_rules::yaml(&tests)
                    ),
                );
            }
            Format::PrometheusOperator => {
                files.insert(
                    Path::new(OPERATOR_FOLDER).join(format!("{}.yaml", group.name)),
                    format!("{header}{}", prometheus_rules::yaml(&resource)),
                );
            }
        }
        operator_rules.push(resource);
    }
    files.insert(
        Path::new("alerts").join("alertmanager.yml"),
        alertmanager::config(),
    );
    let dashboards: Vec<(String, String)> = grafana::dashboards(rules, &windows)
        .iter()
        .map(|(name, value)| (name.clone(), json(value)))
        .collect();
    for (name, text) in &dashboards {
        files.insert(Path::new("grafana").join(name), text.clone());
    }
    let yaml_docs = |docs: &[serde_json::Value]| {
        let mut out = header.clone();
        for (i, doc) in docs.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(&prometheus_rules::yaml(doc));
        }
        out
    };
    let deploy = [
        (
            "deployment.yml",
            yaml_docs(&[
                operator::config_map(),
                operator::deployment(crate::build::VERSION),
            ]),
        ),
        (
            "podmonitor.yml",
            yaml_docs(&[operator::pod_monitor()]).replacen(
                "apiVersion:",
                &format!("{}apiVersion:", operator::POD_MONITOR_NOTE),
                1,
            ),
        ),
        ("prometheus-rules.yml", yaml_docs(&operator_rules)),
        (
            "grafana-dashboards.yml",
            yaml_docs(&[operator::dashboards_config_map(&dashboards)]),
        ),
    ];
    let names: Vec<&str> = deploy.iter().map(|(name, _)| *name).collect();
    let kustomization = yaml_docs(&[operator::kustomization(&names)]);
    for (name, text) in deploy {
        files.insert(Path::new("deploy").join(name), text);
    }
    files.insert(Path::new("deploy").join("kustomization.yml"), kustomization);
    let manifest = manifest(&header, &files);
    files.insert(PathBuf::from(MANIFEST), manifest);
    Ok(files)
}

fn manifest(header: &str, files: &Files) -> String {
    let mut text = format!(
        "{header}# The files below are removed by the next run that no longer generates\n# them, unless they were edited since; no other file is.\n"
    );
    for (path, content) in files {
        text.push_str(&format!("{}  {}\n", sha256(content), path.display()));
    }
    text
}

fn sha256(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The paths a manifest lists that are safe to remove, with the hash of
/// what was written: relative, under one of the generated folders, without
/// `..`. A hand-edited manifest cannot point the removal anywhere else, and
/// a line without a hash names nothing to remove.
fn listed(manifest: &str) -> Vec<(PathBuf, String)> {
    manifest
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once("  "))
        .map(|(hash, path)| (PathBuf::from(path), hash.to_owned()))
        .filter(|(path, _)| {
            let top = path.components().next();
            top.is_some_and(|c| FOLDERS.iter().any(|f| c.as_os_str() == *f))
                && path
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
        })
        .collect()
}

/// Files the previous run wrote (its manifest lists them) that this one
/// would not write and that are still there.
fn stale_files(out: &Path, files: &Files) -> Vec<PathBuf> {
    let Ok(previous) = std::fs::read_to_string(out.join(MANIFEST)) else {
        return Vec::new();
    };
    let mut stale: Vec<PathBuf> = listed(&previous)
        .into_iter()
        .filter(|(path, _)| !files.contains_key(path))
        .filter(|(path, hash)| {
            std::fs::read_to_string(out.join(path)).is_ok_and(|text| sha256(&text) == *hash)
        })
        .map(|(path, _)| path)
        .collect();
    stale.sort();
    stale.dedup();
    stale
}

/// What differs between `out` and the generated files: missing, changed
/// and stale paths, relative to `out`.
pub fn differences(out: &Path, files: &Files) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in files {
        match std::fs::read_to_string(out.join(path)) {
            Ok(on_disk) if on_disk == *text => {}
            Ok(_) => found.push(format!("{}: differs", path.display())),
            Err(_) => found.push(format!("{}: missing", path.display())),
        }
    }
    for path in stale_files(out, files) {
        found.push(format!(
            "{}: generated before, not from these rules",
            path.display()
        ));
    }
    found
}

/// Writes the files (only those that changed) and removes those the
/// previous run wrote and this one does not; returns how many were written
/// and removed.
pub fn write(out: &Path, files: &Files) -> Result<(usize, usize), GenerateError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| GenerateError::Io { path, source }
    };
    // Read before the new manifest replaces it.
    let stale = stale_files(out, files);
    let mut written = 0;
    // The manifest goes last: it names the new files once they are there.
    let (manifest, rest): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|(path, _)| path.as_path() == Path::new(MANIFEST));
    for (path, text) in rest.into_iter().chain(manifest) {
        let full = out.join(path);
        if std::fs::read_to_string(&full).is_ok_and(|t| t == *text) {
            continue;
        }
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&full, text).map_err(io(&full))?;
        written += 1;
    }
    for path in &stale {
        let full = out.join(path);
        std::fs::remove_file(&full).map_err(io(&full))?;
    }
    Ok((written, stale.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_generate_every_file_the_same_way_twice() {
        let rules = RuleSet::embedded();
        let files = generate(&rules, &Options::default()).unwrap();
        let names: Vec<String> = files.keys().map(|p| p.display().to_string()).collect();
        for expected in [
            "alerts/host.rules.yml",
            "alerts/host.test.yml",
            "alerts/app.rules.yml",
            "alerts/alertmanager.yml",
            "grafana/outrider-overview.json",
            "grafana/outrider-slos.json",
            "deploy/prometheus-rules.yml",
            "deploy/kustomization.yml",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert_eq!(files, generate(&rules, &Options::default()).unwrap());
        let operator = Options {
            format: Format::PrometheusOperator,
            ..Options::default()
        };
        let resources = generate(&rules, &operator).unwrap();
        assert!(
            !resources
                .keys()
                .any(|p| p.to_string_lossy().ends_with(".test.yml"))
        );
        assert!(resources[Path::new("alerts/operator/host.yaml")].contains("kind: PrometheusRule"));
        assert!(
            !resources.contains_key(Path::new("alerts/host.rules.yml")),
            "alerts/*.rules.yml are for promtool"
        );
        assert_eq!(
            resources[Path::new("deploy/prometheus-rules.yml")],
            files[Path::new("deploy/prometheus-rules.yml")]
        );
    }

    #[test]
    fn every_alert_has_a_severity_summary_and_description_and_no_made_up_runbook() {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: Bare\n        selector: x\n        threshold: {above: {warning: 1, critical: 2}}\n";
        let rules = RuleSet::from_groups(crate::rules::parse(text, "t.yml").unwrap()).unwrap();
        let files = generate(&rules, &Options::default()).unwrap();
        let generated = &files[Path::new("alerts/g.rules.yml")];
        assert_eq!(generated.matches("alert: Bare").count(), 2, "{generated}");
        for expected in [
            "severity: warning",
            "severity: critical",
            "summary: Bare is firing",
            "description: The value is {{ $value }}.",
        ] {
            assert!(generated.contains(expected), "{expected}:\n{generated}");
        }
        assert!(!generated.contains("runbook_url"), "{generated}");
        let text = text.replace(
            "threshold:",
            "runbook_url: https://wiki.example/bare\n        threshold:",
        );
        let rules = RuleSet::from_groups(crate::rules::parse(&text, "t.yml").unwrap()).unwrap();
        let files = generate(&rules, &Options::default()).unwrap();
        let generated = &files[Path::new("alerts/g.rules.yml")];
        assert!(
            generated.contains("runbook_url: https://wiki.example/bare"),
            "{generated}"
        );
    }

    #[test]
    fn the_manifest_names_only_safe_paths_under_the_generated_folders() {
        let listed: Vec<PathBuf> = listed(
            "# comment\naa  alerts/a.rules.yml\n\nbb  grafana/x.json\ncc  ../etc/passwd\ndd  /etc/passwd\nee  alerts/../../x\nff  src/main.rs\n00  alerts/operator/g.yaml\nalerts/without-a-hash.yml\n",
        )
        .into_iter()
        .map(|(path, _)| path)
        .collect();
        assert_eq!(
            listed,
            [
                PathBuf::from("alerts/a.rules.yml"),
                PathBuf::from("grafana/x.json"),
                PathBuf::from("alerts/operator/g.yaml"),
            ]
        );
    }
}
