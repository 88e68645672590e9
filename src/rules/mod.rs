//! Rules as data: `rules/*.yml` say what to watch. This module loads and
//! checks rule files (with file and line in every message) and compiles them
//! for `eval`; the generator reads the same `RuleSet`.
//!
//! The default rule files in the repository's `rules/` are embedded, so a
//! plain `outrider run` watches the host; a `rules:` list in the config
//! replaces them.

pub mod alert;
pub mod api;
pub mod eval;
pub mod format;
pub mod promql;
pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use format::{GroupConfig, RuleConfig, RuleFile};
use template::Template;

use crate::selector::{MatchOp, Selector};
use alert::Alert;

/// The rule files shipped with outrider, compiled in.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("rules/host.yml", include_str!("../../rules/host.yml")),
    (
        "rules/processes.yml",
        include_str!("../../rules/processes.yml"),
    ),
    (
        "rules/containers.yml",
        include_str!("../../rules/containers.yml"),
    ),
    ("rules/app.yml", include_str!("../../rules/app.yml")),
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Threshold(format::Threshold),
    Anomaly(format::Anomaly),
    Absent(Duration),
    Slo(format::Slo),
}

/// A checked rule, ready to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub name: String,
    pub selector: Option<Selector>,
    pub kind: Kind,
    pub for_duration: Duration,
    pub keep_firing_for: Duration,
    pub labels: BTreeMap<String, String>,
    pub summary: Option<Template>,
    pub description: Option<Template>,
    pub runbook_url: Option<String>,
    /// The rule as written, to tell whether a reload changed it.
    pub config: RuleConfig,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub name: String,
    pub file: String,
    /// The `limit:` as written (0: none); see `alert_limit`.
    pub limit: Option<usize>,
    pub rules: Vec<Rule>,
}

/// The alerts one rule holds in process when its group sets no `limit:`.
/// A sidecar watches one pod or one host: a thousand alerts from one rule
/// there is past what anyone reads or Alertmanager groups usefully, and
/// nearly always a label that should not be one (a request id, a path).
/// At a thousand a rule's state stays about a megabyte with 1 KB labels and
/// its share of a tick a few milliseconds, where an unbounded rule let one
/// push of 30,000 matching series hold the tick for seconds.
pub const DEFAULT_ALERT_LIMIT: usize = 1000;

impl Group {
    /// The most alerts one rule of the group may hold; `None`: no limit.
    pub fn alert_limit(&self) -> Option<usize> {
        match self.limit {
            None => Some(DEFAULT_ALERT_LIMIT),
            Some(0) => None,
            Some(limit) => Some(limit),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleSet {
    pub groups: Vec<Group>,
}

/// Where in `text` the rule named `alert` starts, 1-based; (1, 1) when it
/// cannot be found.
fn position_of(text: &str, alert: &str) -> (usize, usize) {
    for (index, line) in text.lines().enumerate() {
        if let Some(column) = line.find("alert:") {
            if line[column + 6..].trim().trim_matches(['"', '\'']) == alert {
                return (index + 1, column + 1);
            }
        }
    }
    (1, 1)
}

fn is_camel_case(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn check_levels(levels: &format::Levels, above: bool, what: &str) -> Result<(), String> {
    if levels.warning.is_none() && levels.critical.is_none() {
        return Err(format!("{what}: give a warning or a critical level"));
    }
    if let (Some(w), Some(c)) = (levels.warning, levels.critical) {
        if (above && c < w) || (!above && c > w) {
            return Err(format!(
                "{what}: critical ({c}) must be {} warning ({w})",
                if above { "at or above" } else { "at or below" }
            ));
        }
    }
    Ok(())
}

/// The label SLO alerts and recording rules carry the rule's name in.
pub const SLO_LABEL: &str = "slo";

fn check_slo_by(by: &[String]) -> Result<(), String> {
    if by.is_empty() {
        return Err(
            "slo.by: give at least one label that tells services apart (such as job)".to_owned(),
        );
    }
    for (i, label) in by.iter().enumerate() {
        let valid = label
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || label.starts_with("__") {
            return Err(format!("slo.by: {label:?} is not a label name"));
        }
        if label == SLO_LABEL || label == "alertname" || label == "severity" {
            return Err(format!("slo.by: {label} is set by outrider"));
        }
        if by[..i].contains(label) {
            return Err(format!("slo.by: {label} is listed twice"));
        }
    }
    Ok(())
}

fn compile_rule(config: &RuleConfig) -> Result<Rule, String> {
    if !is_camel_case(&config.alert) {
        return Err(format!(
            "alert name {:?} must be CamelCase (HostDiskFull)",
            config.alert
        ));
    }
    let kinds = [
        config.threshold.is_some(),
        config.anomaly.is_some(),
        config.absent.is_some(),
        config.slo.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err("give exactly one of threshold, anomaly, absent or slo".to_owned());
    }
    let kind = if let Some(t) = &config.threshold {
        if t.above.is_none() && t.below.is_none() {
            return Err("threshold: give above or below".to_owned());
        }
        if let Some(levels) = &t.above {
            check_levels(levels, true, "threshold.above")?;
        }
        if let Some(levels) = &t.below {
            check_levels(levels, false, "threshold.below")?;
        }
        Kind::Threshold(t.clone())
    } else if let Some(a) = &config.anomaly {
        if a.ratio.is_none() && a.zscore.is_none() && a.score.is_none() {
            return Err("anomaly: give ratio, zscore or score levels".to_owned());
        }
        if let Some(levels) = &a.score {
            check_levels(levels, true, "anomaly.score")?;
        }
        if let Some(levels) = &a.ratio {
            check_levels(levels, true, "anomaly.ratio")?;
        }
        if let Some(levels) = &a.zscore {
            check_levels(levels, true, "anomaly.zscore")?;
        }
        Kind::Anomaly(a.clone())
    } else if let Some(after) = config.absent {
        if after.is_zero() {
            return Err("absent: the duration must be more than 0s".to_owned());
        }
        Kind::Absent(after)
    } else {
        let slo = config.slo.clone().expect("one kind is set");
        if !(slo.objective > 0.0 && slo.objective < 100.0) {
            return Err(format!(
                "slo.objective {} must be a percentage between 0 and 100",
                slo.objective
            ));
        }
        if slo.period.is_zero() {
            return Err("slo.period must be more than 0s".to_owned());
        }
        if slo.errors.is_some() == slo.good.is_some() {
            return Err("slo: give errors or good, not both".to_owned());
        }
        let events = slo.errors.iter().chain(&slo.good).chain([&slo.total]);
        if events.into_iter().any(|s| s.metric.is_none()) {
            return Err(
                "slo: the errors, good and total selectors must name their metric".to_owned(),
            );
        }
        check_slo_by(&slo.by)?;
        // An SLO alert carries its `by` labels and `slo` only: a template
        // reading any other label would render empty.
        let templates = [&config.summary, &config.description];
        for text in templates.into_iter().flatten() {
            let template = Template::parse(text)?;
            if let Some(label) = template
                .labels()
                .find(|l| *l != SLO_LABEL && !slo.by.iter().any(|b| b == l))
            {
                return Err(format!(
                    "slo: the template {text:?} reads $labels.{label}, which the alert does not carry (it has slo and by: [{}])",
                    slo.by.join(", ")
                ));
            }
        }
        Kind::Slo(slo)
    };
    let needs_selector = !matches!(kind, Kind::Slo(_));
    match (&config.selector, needs_selector) {
        (None, true) => {
            return Err("selector: required for threshold, anomaly and absent rules".to_owned());
        }
        (Some(s), true) if s.metric.is_none() => {
            return Err(format!("selector {s}: must name its metric"));
        }
        (Some(_), false) => {
            return Err("selector: slo rules take errors and total instead".to_owned());
        }
        _ => {}
    }
    let template = |text: &Option<String>| text.as_deref().map(Template::parse).transpose();
    for reserved in ["alertname", "severity"] {
        if config.labels.contains_key(reserved) {
            return Err(format!("labels: {reserved} is set by outrider"));
        }
    }
    Ok(Rule {
        name: config.alert.clone(),
        selector: config.selector.clone(),
        kind,
        for_duration: config.for_duration.unwrap_or_default(),
        keep_firing_for: config.keep_firing_for.unwrap_or_default(),
        labels: config.labels.clone(),
        summary: template(&config.summary)?,
        description: template(&config.description)?,
        runbook_url: config.runbook_url.clone(),
        config: config.clone(),
    })
}

/// The anchor of an alert's runbook section: its name in lower case, as
/// Markdown renderers (GitHub's among them) make the anchor of a
/// `## AlertName` heading.
pub fn runbook_anchor(alert: &str) -> String {
    alert
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Parses and checks one rule file.
pub fn parse(text: &str, file: &str) -> Result<Vec<Group>, RuleError> {
    parse_all(text, file).map_err(|mut errors| errors.swap_remove(0))
}

/// Parses and checks one rule file, with every rule's error, not only the
/// first (`outrider check` shows them all). Never an empty error list.
pub fn parse_all(text: &str, file: &str) -> Result<Vec<Group>, Vec<RuleError>> {
    let parsed: RuleFile = serde_yaml_ng::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        vec![RuleError {
            file: file.to_owned(),
            line,
            column,
            message: e.to_string(),
        }]
    })?;
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for GroupConfig {
        name,
        limit,
        runbook_base_url,
        rules,
    } in parsed.groups
    {
        let mut compiled = Vec::new();
        if let Some(base) = runbook_base_url
            .as_deref()
            .filter(|b| b.is_empty() || b.contains('#'))
        {
            let (line, column) = text
                .lines()
                .enumerate()
                .find_map(|(i, l)| {
                    l.find("runbook_base_url:")
                        .filter(|_| l.contains(base))
                        .map(|c| (i + 1, c + 1))
                })
                .unwrap_or((1, 1));
            errors.push(RuleError {
                file: file.to_owned(),
                line,
                column,
                message: format!(
                    "group {name}: runbook_base_url {base:?} must be a URL without a #fragment; each alert's anchor is added to it"
                ),
            });
        }
        for config in &rules {
            match compile_rule(config) {
                Ok(mut rule) => {
                    if rule.runbook_url.is_none() {
                        rule.runbook_url = runbook_base_url
                            .as_deref()
                            .map(|base| format!("{base}#{}", runbook_anchor(&rule.name)));
                    }
                    compiled.push(rule);
                }
                Err(message) => {
                    let (line, column) = position_of(text, &config.alert);
                    errors.push(RuleError {
                        file: file.to_owned(),
                        line,
                        column,
                        message: format!("rule {}: {message}", config.alert),
                    });
                }
            }
        }
        groups.push(Group {
            name,
            file: file.to_owned(),
            limit,
            rules: compiled,
        });
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

impl RuleSet {
    /// Builds a set from parsed files; group names must be unique, since
    /// each becomes a generated file.
    pub fn from_groups(groups: Vec<Group>) -> Result<RuleSet, RuleError> {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for group in &groups {
            if let Some(other) = seen.insert(&group.name, &group.file) {
                return Err(RuleError {
                    file: group.file.clone(),
                    line: 1,
                    column: 1,
                    message: format!("group {:?} is also defined in {other}", group.name),
                });
            }
        }
        Ok(RuleSet { groups })
    }

    /// The embedded default rules.
    pub fn embedded() -> RuleSet {
        let groups = EMBEDDED
            .iter()
            .flat_map(|(file, text)| {
                parse(text, file).expect("embedded rule files are checked by tests")
            })
            .collect();
        RuleSet::from_groups(groups).expect("embedded group names are unique")
    }

    /// Loads rule files and folders (every *.yml and *.yaml in it, sorted).
    pub fn load(sources: &[PathBuf]) -> Result<RuleSet, RuleError> {
        let mut files = Vec::new();
        for source in sources {
            if source.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(source)
                    .map_err(|e| io_error(source, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                    .collect();
                found.sort();
                files.extend(found);
            } else {
                files.push(source.clone());
            }
        }
        let mut groups = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| io_error(&file, e))?;
            groups.extend(parse(&text, &file.display().to_string())?);
        }
        RuleSet::from_groups(groups)
    }

    /// Every rule with an anomaly condition, for the baselines to track.
    pub fn anomaly_rules(&self) -> impl Iterator<Item = (&Rule, &format::Anomaly)> {
        self.groups
            .iter()
            .flat_map(|g| g.rules.iter())
            .filter_map(|r| match &r.kind {
                Kind::Anomaly(a) => Some((r, a)),
                _ => None,
            })
    }
}

fn io_error(path: &Path, error: std::io::Error) -> RuleError {
    RuleError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        message: error.to_string(),
    }
}

impl Rule {
    /// The labels of an absent rule's alert: the selector's equality
    /// matchers, as Prometheus' absent() has them.
    pub fn absent_labels(&self) -> BTreeMap<String, String> {
        self.selector
            .iter()
            .flat_map(|s| s.matchers.iter())
            .filter_map(|m| match &m.op {
                MatchOp::Equal(v) => Some((m.label.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }

    /// The notification for an alert; `resolved_at` for its resolution.
    pub fn alert(&self, state: &eval::AlertState, resolved_at: Option<f64>) -> Alert {
        let mut labels = state.labels.clone();
        labels.extend(self.labels.clone());
        labels.insert("alertname".to_owned(), self.name.clone());
        labels.insert("severity".to_owned(), state.severity.as_str().to_owned());
        let mut annotations = BTreeMap::new();
        let render =
            |t: &Option<Template>| t.as_ref().map(|t| t.render(&state.labels, state.value));
        if let Some(summary) = render(&self.summary) {
            annotations.insert("summary".to_owned(), summary);
        }
        if let Some(description) = render(&self.description) {
            annotations.insert("description".to_owned(), description);
        }
        if let Some(url) = &self.runbook_url {
            annotations.insert("runbook_url".to_owned(), url.clone());
        }
        let at = |seconds: f64| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0));
        Alert {
            labels,
            annotations,
            starts_at: at(state.active_since),
            ends_at: resolved_at.map(at),
            generator_url: format!("/api/v1/rules#{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_parse() {
        let set = RuleSet::embedded();
        assert!(set.groups.len() >= 4);
        assert!(set.anomaly_rules().count() >= 3);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: lowercase\n        selector: x\n        threshold: {above: {warning: 1}}\n";
        let e = parse(text, "bad.yml").unwrap_err();
        assert_eq!((e.line, e.column), (4, 9), "{e}");
        assert!(
            e.to_string()
                .starts_with("bad.yml:4:9: rule lowercase: alert name"),
            "{e}"
        );

        let text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        selector: x\n        treshold: {}\n";
        let e = parse(text, "typo.yml").unwrap_err();
        assert!(e.message.contains("unknown field `treshold`"), "{e}");
        assert!(e.line >= 4, "{e}");
    }

    #[test]
    fn rule_checks_say_what_is_wrong() {
        let rule = |body: &str| {
            let text = format!("groups:\n  - name: g\n    rules:\n      - alert: A\n{body}");
            parse(&text, "t.yml").map(|_| ()).map_err(|e| e.message)
        };
        assert!(rule("        selector: x\n        threshold: {above: {warning: 1}}\n").is_ok());
        let cases = [
            ("        selector: x\n", "exactly one"),
            (
                "        selector: x\n        threshold: {}\n",
                "above or below",
            ),
            (
                "        selector: x\n        threshold: {above: {warning: 2, critical: 1}}\n",
                "critical (1) must be at or above",
            ),
            (
                "        selector: x\n        threshold: {below: {warning: 1, critical: 2}}\n",
                "at or below",
            ),
            (
                "        threshold: {above: {warning: 1}}\n",
                "selector: required",
            ),
            (
                "        selector: '{a=\"b\"}'\n        threshold: {above: {warning: 1}}\n",
                "must name its metric",
            ),
            (
                "        selector: x\n        anomaly: {}\n",
                "ratio, zscore or score",
            ),
            (
                "        slo: {objective: 120, errors: e, total: t, period: 28d}\n",
                "between 0 and 100",
            ),
            (
                "        selector: x\n        absent: 5m\n        labels: {severity: page}\n",
                "severity is set by outrider",
            ),
            (
                "        slo: {objective: 99, errors: e, total: t, period: 28d, by: []}\n",
                "slo.by: give at least one label",
            ),
            (
                "        slo: {objective: 99, errors: e, total: t, period: 28d, by: [job, 'a-b']}\n",
                "\"a-b\" is not a label name",
            ),
            (
                "        slo: {objective: 99, errors: e, total: t, period: 28d, by: [slo]}\n",
                "slo is set by outrider",
            ),
            (
                "        slo: {objective: 99, errors: e, total: t, period: 28d, by: [job]}\n        summary: '{{ $labels.service }} burns'\n",
                "reads $labels.service, which the alert does not carry",
            ),
            (
                "        selector: x\n        absent: 5m\n        summary: '{{ $nope }}'\n",
                "unknown",
            ),
        ];
        for (body, expected) in cases {
            let error = rule(body).unwrap_err();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }

    #[test]
    fn every_bad_rule_is_reported() {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: lower\n        selector: x\n        threshold: {above: {warning: 1}}\n      - alert: Good\n        selector: x\n        threshold: {above: {warning: 1}}\n      - alert: NoLevels\n        selector: x\n        threshold: {}\n";
        let errors = parse_all(text, "bad.yml").unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [4, 10], "{errors:?}");
        assert_eq!(parse(text, "bad.yml").unwrap_err(), errors[0]);
    }

    #[test]
    fn duplicate_groups_are_refused() {
        let text = "groups:\n  - name: g\n    rules: []\n";
        let mut groups = parse(text, "a.yml").unwrap();
        groups.extend(parse(text, "b.yml").unwrap());
        let e = RuleSet::from_groups(groups).unwrap_err();
        assert!(e.to_string().contains("also defined in a.yml"), "{e}");
    }
}
