//! Import-ready Grafana dashboards: a data source variable, job and
//! instance variables, a fixed uid, and a unit and the data source on every
//! panel. The app, anomaly and SLO dashboards are derived from the rules;
//! the others chart what the sidecar exports.
//!
//! This file is the dashboard model (queries, panels, variables, the
//! dashboard JSON) and the list of dashboards; each dashboard is in a file
//! of its own.

mod anomalies;
mod app;
mod containers;
mod host;
mod overview;
mod processes;
mod sidecar;
mod slos;

use serde_json::{Value, json};

use super::promql::SloWindows;
use crate::rules::RuleSet;

/// The variables every panel query may use; the tests substitute them.
pub const SCOPE: &str = r#"job=~"$job", instance=~"$instance""#;

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// One query of a panel.
pub struct Query {
    pub expr: String,
    pub legend: String,
}

pub fn q(expr: impl Into<String>, legend: &str) -> Query {
    Query {
        expr: expr.into(),
        legend: legend.to_owned(),
    }
}

pub struct Panel {
    pub title: String,
    pub description: String,
    pub kind: &'static str,
    pub unit: &'static str,
    pub queries: Vec<Query>,
    pub width: u32,
    /// Repeat the panel for each value of this variable.
    pub repeat: Option<&'static str>,
    pub max: Option<f64>,
}

pub fn panel(kind: &'static str, title: &str, unit: &'static str, queries: Vec<Query>) -> Panel {
    Panel {
        title: title.to_owned(),
        description: String::new(),
        kind,
        unit,
        queries,
        width: 12,
        repeat: None,
        max: None,
    }
}

impl Panel {
    fn describe(mut self, text: &str) -> Panel {
        self.description = text.to_owned();
        self
    }

    fn width(mut self, width: u32) -> Panel {
        self.width = width;
        self
    }

    fn max(mut self, max: f64) -> Panel {
        self.max = Some(max);
        self
    }
}

fn ts(title: &str, unit: &'static str, queries: Vec<Query>) -> Panel {
    panel("timeseries", title, unit, queries)
}

fn stat(title: &str, unit: &'static str, queries: Vec<Query>) -> Panel {
    panel("stat", title, unit, queries).width(6)
}

/// A variable over a label of a metric, narrowed by the job.
fn variable(name: &str, label: &str, query: &str) -> Value {
    let definition = format!("label_values({query}, {label})");
    json!({
        "name": name,
        "label": name,
        "type": "query",
        "datasource": datasource(),
        "definition": definition,
        "query": {"query": definition, "refId": name},
        "refresh": 2,
        "includeAll": true,
        "multi": true,
        "allValue": ".+",
        "current": {"selected": true, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "sort": 1,
        "hide": 0,
        "regex": "",
    })
}

pub struct Dashboard {
    pub uid: &'static str,
    pub title: String,
    pub description: &'static str,
    /// The metric the job and instance variables read their values from.
    pub scope_metric: String,
    pub extra_variables: Vec<Value>,
    pub rows: Vec<(String, Vec<Panel>)>,
}

impl Dashboard {
    pub fn to_json(&self) -> Value {
        let mut panels = Vec::new();
        let mut id = 1;
        let mut y = 0;
        for (row, row_panels) in &self.rows {
            panels.push(json!({
                "type": "row",
                "id": id,
                "title": row,
                "collapsed": false,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }));
            id += 1;
            y += 1;
            let mut x = 0;
            for p in row_panels {
                if x + p.width > 24 {
                    x = 0;
                    y += 8;
                }
                let targets: Vec<Value> = p
                    .queries
                    .iter()
                    .enumerate()
                    .map(|(i, query)| {
                        json!({
                            "datasource": datasource(),
                            "expr": query.expr,
                            "legendFormat": query.legend,
                            "refId": char::from(b'A' + i as u8).to_string(),
                            "range": true,
                        })
                    })
                    .collect();
                let mut defaults = json!({"unit": p.unit, "min": 0});
                if let Some(max) = p.max {
                    defaults["max"] = json!(max);
                }
                if p.kind == "timeseries" {
                    defaults["custom"] = json!({"fillOpacity": 10, "showPoints": "never"});
                }
                let mut panel = json!({
                    "type": p.kind,
                    "id": id,
                    "title": p.title,
                    "description": p.description,
                    "datasource": datasource(),
                    "gridPos": {"h": 8, "w": p.width, "x": x, "y": y},
                    "fieldConfig": {"defaults": defaults, "overrides": []},
                    "options": match p.kind {
                        "timeseries" => json!({"legend": {"displayMode": "list", "placement": "bottom", "showLegend": true}, "tooltip": {"mode": "multi", "sort": "desc"}}),
                        "stat" => json!({"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false}, "colorMode": "value", "graphMode": "area"}),
                        _ => json!({"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false}, "displayMode": "gradient", "orientation": "horizontal"}),
                    },
                    "targets": targets,
                });
                if let Some(repeat) = p.repeat {
                    panel["repeat"] = json!(repeat);
                    panel["repeatDirection"] = json!("h");
                    panel["maxPerRow"] = json!(2);
                }
                panels.push(panel);
                id += 1;
                x += p.width;
            }
            y += 8;
        }
        let mut variables = vec![
            json!({
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "options": [],
                "refresh": 1,
                "regex": "",
                "hide": 0,
            }),
            variable("job", "job", &self.scope_metric),
            variable(
                "instance",
                "instance",
                &format!("{}{{job=~\"$job\"}}", self.scope_metric),
            ),
        ];
        variables.extend(self.extra_variables.iter().cloned());
        json!({
            "annotations": {"list": [{
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": true,
                "hide": true,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            }]},
            "description": self.description,
            "editable": true,
            "graphTooltip": 1,
            "links": [{"asDropdown": true, "includeVars": true, "keepTime": true, "tags": ["outrider"], "title": "outrider", "type": "dashboards"}],
            "panels": panels,
            "refresh": "30s",
            "schemaVersion": 38,
            "tags": ["outrider"],
            "templating": {"list": variables},
            "time": {"from": "now-6h", "to": "now"},
            "timezone": "",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
        })
    }
}

fn rate(metric: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!("rate({metric}{{{SCOPE}{extra}}}[$__rate_interval])")
}

fn scoped(metric: &str, extra: &str) -> String {
    if extra.is_empty() {
        format!("{metric}{{{SCOPE}}}")
    } else {
        format!("{metric}{{{SCOPE}, {extra}}}")
    }
}

const OUTRIDER: &str = "outrider_build_info";

/// Every dashboard: file name and JSON.
pub fn dashboards(rules: &RuleSet, windows: &SloWindows) -> Vec<(String, Value)> {
    let mut all = vec![
        overview::dashboard(),
        host::dashboard(),
        processes::dashboard(),
        containers::dashboard(),
        app::dashboard(rules),
        anomalies::dashboard(),
        sidecar::dashboard(),
    ];
    all.extend(slos::dashboard(rules, windows));
    all.into_iter()
        .map(|d| (format!("{}.json", d.uid), d.to_json()))
        .collect()
}
