//! Import-ready Grafana dashboards: a data source variable, job and
//! instance variables, a fixed uid, and a unit and the data source on every
//! panel. The app, anomaly and SLO dashboards are derived from the rules;
//! the others chart what the sidecar exports.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::promql::{self, SloWindows};
use crate::rules::{Kind, RuleSet};

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

fn overview() -> Dashboard {
    Dashboard {
        uid: "outrider-overview",
        title: "outrider / Fleet overview".to_owned(),
        description: "Every sidecar at a glance: health, firing rules and the largest anomalies.",
        scope_metric: OUTRIDER.to_owned(),
        extra_variables: Vec::new(),
        rows: vec![
            (
                "Fleet".to_owned(),
                vec![
                    stat("Sidecars up", "short", vec![q(format!("sum(up{{{SCOPE}}})"), "up")])
                        .describe("Sidecars Prometheus scrapes successfully."),
                    stat(
                        "Lowest health score",
                        "none",
                        vec![q(format!("min({})", scoped("outrider_health_score", "")), "lowest")],
                    )
                    .max(100.0)
                    .describe("100 minus 10 per firing critical and 3 per firing warning alert."),
                    stat(
                        "Firing alerts",
                        "short",
                        vec![q(
                            format!("count({} == 2) or vector(0)", scoped("outrider_rule_state", "")),
                            "firing",
                        )],
                    ),
                    stat(
                        "Tracked series",
                        "short",
                        vec![q(format!("sum({})", scoped("outrider_baseline_series", "")), "series")],
                    ),
                    ts(
                        "Health score by sidecar",
                        "none",
                        vec![q(scoped("outrider_health_score", ""), "{{instance}}")],
                    )
                    .max(100.0),
                    panel(
                        "bargauge",
                        "Top anomalies (current / baseline)",
                        "none",
                        vec![q(
                            format!(
                                "topk(10, max by (instance, metric) ({}))",
                                scoped("outrider_anomaly_ratio", "")
                            ),
                            "{{instance}} {{metric}}",
                        )],
                    )
                    .describe("The series furthest above their baselines."),
                ],
            ),
            (
                "Rules".to_owned(),
                vec![
                    ts(
                        "Firing rules",
                        "short",
                        vec![q(
                            format!("count by (rule, severity) ({} == 2)", scoped("outrider_rule_state", "")),
                            "{{rule}} ({{severity}})",
                        )],
                    )
                    .describe("Alerts the sidecars evaluate in process, by rule."),
                    ts(
                        "Pending rules",
                        "short",
                        vec![q(
                            format!("count by (rule, severity) ({} == 1)", scoped("outrider_rule_state", "")),
                            "{{rule}} ({{severity}})",
                        )],
                    ),
                    ts(
                        "Alerts firing in Prometheus",
                        "short",
                        vec![q(
                            format!("count by (alertname, severity) (ALERTS{{alertstate=\"firing\", {SCOPE}}})"),
                            "{{alertname}} ({{severity}})",
                        )],
                    )
                    .describe("The generated rules' alerts on these sidecars' series."),
                ],
            ),
        ],
    }
}

fn host() -> Dashboard {
    Dashboard {
        uid: "outrider-host",
        title: "outrider / Host".to_owned(),
        description: "Host CPU, memory, load, filesystems, disks and network, as node_exporter names them.",
        scope_metric: OUTRIDER.to_owned(),
        extra_variables: Vec::new(),
        rows: vec![
            (
                "CPU and memory".to_owned(),
                vec![
                    ts(
                        "CPU busy",
                        "percentunit",
                        vec![q(
                            format!(
                                "1 - avg by (instance) ({})",
                                rate("node_cpu_seconds_total", r#"mode="idle""#)
                            ),
                            "{{instance}}",
                        )],
                    )
                    .max(1.0),
                    ts(
                        "Load",
                        "short",
                        vec![
                            q(scoped("node_load1", ""), "{{instance}} 1m"),
                            q(scoped("node_load5", ""), "{{instance}} 5m"),
                            q(scoped("node_load15", ""), "{{instance}} 15m"),
                        ],
                    ),
                    ts(
                        "Memory available",
                        "percentunit",
                        vec![q(
                            format!(
                                "{} / {}",
                                scoped("node_memory_MemAvailable_bytes", ""),
                                scoped("node_memory_MemTotal_bytes", "")
                            ),
                            "{{instance}}",
                        )],
                    )
                    .max(1.0),
                    ts(
                        "Memory",
                        "bytes",
                        vec![
                            q(
                                scoped("node_memory_MemTotal_bytes", ""),
                                "{{instance}} total",
                            ),
                            q(
                                scoped("node_memory_MemAvailable_bytes", ""),
                                "{{instance}} available",
                            ),
                        ],
                    ),
                ],
            ),
            (
                "Filesystems and disks".to_owned(),
                vec![
                    ts(
                        "Filesystem space available",
                        "percentunit",
                        vec![q(
                            format!(
                                "{} / {}",
                                scoped(
                                    "node_filesystem_avail_bytes",
                                    r#"fstype!~"tmpfs|ramfs|squashfs""#
                                ),
                                scoped(
                                    "node_filesystem_size_bytes",
                                    r#"fstype!~"tmpfs|ramfs|squashfs""#
                                )
                            ),
                            "{{instance}} {{mountpoint}}",
                        )],
                    )
                    .max(1.0),
                    ts(
                        "Inodes available",
                        "percentunit",
                        vec![q(
                            format!(
                                "{} / {}",
                                scoped(
                                    "node_filesystem_files_free",
                                    r#"fstype!~"tmpfs|ramfs|squashfs""#
                                ),
                                scoped(
                                    "node_filesystem_files",
                                    r#"fstype!~"tmpfs|ramfs|squashfs""#
                                )
                            ),
                            "{{instance}} {{mountpoint}}",
                        )],
                    )
                    .max(1.0),
                    ts(
                        "Disk throughput",
                        "Bps",
                        vec![
                            q(
                                rate("node_disk_read_bytes_total", ""),
                                "{{instance}} {{device}} read",
                            ),
                            q(
                                rate("node_disk_written_bytes_total", ""),
                                "{{instance}} {{device}} written",
                            ),
                        ],
                    ),
                    ts(
                        "Disk busy",
                        "percentunit",
                        vec![q(
                            rate("node_disk_io_time_seconds_total", ""),
                            "{{instance}} {{device}}",
                        )],
                    )
                    .max(1.0),
                ],
            ),
            (
                "Network".to_owned(),
                vec![
                    ts(
                        "Network throughput",
                        "Bps",
                        vec![
                            q(
                                rate("node_network_receive_bytes_total", r#"device!="lo""#),
                                "{{instance}} {{device}} in",
                            ),
                            q(
                                rate("node_network_transmit_bytes_total", r#"device!="lo""#),
                                "{{instance}} {{device}} out",
                            ),
                        ],
                    ),
                    ts(
                        "Network errors and drops",
                        "pps",
                        vec![
                            q(
                                rate("node_network_receive_errs_total", ""),
                                "{{instance}} {{device}} receive errors",
                            ),
                            q(
                                rate("node_network_transmit_errs_total", ""),
                                "{{instance}} {{device}} transmit errors",
                            ),
                            q(
                                rate("node_network_receive_drop_total", ""),
                                "{{instance}} {{device}} receive drops",
                            ),
                        ],
                    ),
                ],
            ),
        ],
    }
}

fn processes() -> Dashboard {
    let group_var = variable(
        "groupname",
        "groupname",
        r#"namedprocess_namegroup_num_procs{job=~"$job", instance=~"$instance"}"#,
    );
    let g = r#"groupname=~"$groupname""#;
    Dashboard {
        uid: "outrider-processes",
        title: "outrider / Processes".to_owned(),
        description: "Process groups, as process-exporter names them.",
        scope_metric: OUTRIDER.to_owned(),
        extra_variables: vec![group_var],
        rows: vec![(
            "Process groups".to_owned(),
            vec![
                ts(
                    "CPU",
                    "percentunit",
                    vec![q(
                        format!(
                            "sum by (instance, groupname) ({})",
                            rate("namedprocess_namegroup_cpu_seconds_total", g)
                        ),
                        "{{instance}} {{groupname}}",
                    )],
                )
                .describe("CPU seconds per second; 1 is one core."),
                ts(
                    "Resident memory",
                    "bytes",
                    vec![q(
                        scoped(
                            "namedprocess_namegroup_memory_bytes",
                            &format!(r#"{g}, memtype="resident""#),
                        ),
                        "{{instance}} {{groupname}}",
                    )],
                ),
                ts(
                    "Processes",
                    "short",
                    vec![q(
                        scoped("namedprocess_namegroup_num_procs", g),
                        "{{instance}} {{groupname}}",
                    )],
                ),
                ts(
                    "Zombies",
                    "short",
                    vec![q(
                        scoped(
                            "namedprocess_namegroup_states",
                            &format!(r#"{g}, state="Zombie""#),
                        ),
                        "{{instance}} {{groupname}}",
                    )],
                ),
                ts(
                    "Open file descriptors",
                    "short",
                    vec![q(
                        scoped("namedprocess_namegroup_open_filedesc", g),
                        "{{instance}} {{groupname}}",
                    )],
                ),
                ts(
                    "Worst file descriptor use",
                    "percentunit",
                    vec![q(
                        scoped("namedprocess_namegroup_worst_fd_ratio", g),
                        "{{instance}} {{groupname}}",
                    )],
                )
                .max(1.0)
                .describe("The process of the group closest to its fd limit."),
                ts(
                    "Disk I/O",
                    "Bps",
                    vec![
                        q(
                            rate("namedprocess_namegroup_read_bytes_total", g),
                            "{{instance}} {{groupname}} read",
                        ),
                        q(
                            rate("namedprocess_namegroup_write_bytes_total", g),
                            "{{instance}} {{groupname}} written",
                        ),
                    ],
                ),
                ts(
                    "Threads",
                    "short",
                    vec![q(
                        scoped("namedprocess_namegroup_num_threads", g),
                        "{{instance}} {{groupname}}",
                    )],
                ),
            ],
        )],
    }
}

fn containers() -> Dashboard {
    let c = r#"name!="""#;
    Dashboard {
        uid: "outrider-containers",
        title: "outrider / Containers".to_owned(),
        description: "Containers, as cAdvisor names them.",
        scope_metric: OUTRIDER.to_owned(),
        extra_variables: Vec::new(),
        rows: vec![(
            "Containers".to_owned(),
            vec![
                ts(
                    "CPU",
                    "percentunit",
                    vec![q(
                        rate("container_cpu_usage_seconds_total", c),
                        "{{instance}} {{name}}",
                    )],
                )
                .describe("CPU seconds per second; 1 is one core."),
                ts(
                    "Memory working set",
                    "bytes",
                    vec![q(
                        scoped("container_memory_working_set_bytes", c),
                        "{{instance}} {{name}}",
                    )],
                ),
                ts(
                    "Memory used of the limit",
                    "percentunit",
                    vec![q(
                        format!(
                            "{} / ({} > 0)",
                            scoped("container_memory_working_set_bytes", c),
                            scoped("container_spec_memory_limit_bytes", c)
                        ),
                        "{{instance}} {{name}}",
                    )],
                )
                .max(1.0),
                ts(
                    "Network",
                    "Bps",
                    vec![
                        q(
                            rate("container_network_receive_bytes_total", c),
                            "{{instance}} {{name}} in",
                        ),
                        q(
                            rate("container_network_transmit_bytes_total", c),
                            "{{instance}} {{name}} out",
                        ),
                    ],
                ),
            ],
        )],
    }
}

/// The app's RED signals, from the SLO rules' selectors: request rate and
/// error ratio of each SLO's total, and the quantiles of each latency
/// histogram an SLO counts good events in.
fn app(rules: &RuleSet) -> Dashboard {
    let mut panels = Vec::new();
    let mut seen = BTreeSet::new();
    let mut scope_metric = None;
    for rule in rules.groups.iter().flat_map(|g| &g.rules) {
        let Kind::Slo(slo) = &rule.kind else { continue };
        let total = promql::selector_with(
            slo.total.metric.as_deref().unwrap_or_default(),
            &[SCOPE.to_owned()],
            Some(&slo.total),
        );
        scope_metric.get_or_insert_with(|| slo.total.metric.clone().unwrap_or_default());
        if let Some(errors) = &slo.errors {
            if seen.insert(format!("rate {total}")) {
                panels.push(ts(
                    "Request rate",
                    "reqps",
                    vec![q(
                        format!("sum by (job, instance) (rate({total}[$__rate_interval]))"),
                        "{{job}} {{instance}}",
                    )],
                ));
            }
            let errors = promql::selector_with(
                errors.metric.as_deref().unwrap_or_default(),
                &[SCOPE.to_owned()],
                Some(errors),
            );
            if seen.insert(format!("errors {errors}")) {
                panels.push(
                    ts(
                        &format!("Error ratio ({})", rule.name),
                        "percentunit",
                        vec![q(
                            format!(
                                "sum by (job) (rate({errors}[$__rate_interval]))\n/\nsum by (job) (rate({total}[$__rate_interval]))"
                            ),
                            "{{job}}",
                        )],
                    )
                    .max(1.0)
                    .describe(&format!("{} of {}", promql::selector(errors_selector(slo)), promql::selector(&slo.total))),
                );
            }
        }
        if let Some(good) = &slo.good {
            let Some(base) = good
                .metric
                .as_deref()
                .and_then(|m| m.strip_suffix("_bucket"))
            else {
                continue;
            };
            if seen.insert(format!("latency {base}")) {
                let buckets = format!("{base}_bucket{{{SCOPE}}}");
                let quantile = |q_: &str| {
                    q(
                        format!(
                            "histogram_quantile({q_}, sum by (job, le) (rate({buckets}[$__rate_interval])))"
                        ),
                        &format!("{{{{job}}}} p{}", &q_[2..]),
                    )
                };
                panels.push(ts(
                    "Request duration",
                    "s",
                    vec![quantile("0.50"), quantile("0.90"), quantile("0.99")],
                ));
                panels.push(
                    ts(
                        &format!("Requests slower than the objective ({})", rule.name),
                        "percentunit",
                        vec![q(
                            format!(
                                "1 - sum by (job) (rate({}[$__rate_interval]))\n/\nsum by (job) (rate({total}[$__rate_interval]))",
                                promql::selector_with(good.metric.as_deref().unwrap_or_default(), &[SCOPE.to_owned()], Some(good))
                            ),
                            "{{job}}",
                        )],
                    )
                    .max(1.0),
                );
            }
        }
    }
    Dashboard {
        uid: "outrider-app",
        title: "outrider / App".to_owned(),
        description: "The app beside the sidecar: rate, errors and duration, from the SLO rules' series.",
        scope_metric: scope_metric.unwrap_or_else(|| "up".to_owned()),
        extra_variables: Vec::new(),
        rows: vec![("Requests".to_owned(), panels)],
    }
}

fn errors_selector(slo: &crate::rules::format::Slo) -> &crate::selector::Selector {
    slo.errors.as_ref().unwrap_or(&slo.total)
}

fn anomalies() -> Dashboard {
    let metric_var = variable(
        "metric",
        "metric",
        r#"outrider_baseline{job=~"$job", instance=~"$instance"}"#,
    );
    let m = r#"metric=~"$metric""#;
    let mut band = ts(
        "$metric against its baseline",
        "short",
        vec![
            q(
                format!("{} * {}", scoped("outrider_anomaly_ratio", m), scoped("outrider_baseline", m)),
                "{{instance}} current",
            ),
            q(scoped("outrider_baseline", m), "{{instance}} baseline"),
            q(scoped("outrider_baseline_upper", m), "{{instance}} upper"),
            q(scoped("outrider_baseline_lower", m), "{{instance}} lower"),
        ],
    )
    .describe("Current value (per second for counters) against the baseline and its band of band_sigma standard deviations.");
    band.repeat = Some("metric");
    Dashboard {
        uid: "outrider-anomalies",
        title: "outrider / Anomalies".to_owned(),
        description: "Each tracked series against its baseline band, and how far off it is.",
        scope_metric: OUTRIDER.to_owned(),
        extra_variables: vec![metric_var],
        rows: vec![
            ("Series against their baselines".to_owned(), vec![band]),
            (
                "Scores".to_owned(),
                vec![
                    ts(
                        "Anomaly ratio (current / baseline)",
                        "none",
                        vec![q(
                            scoped("outrider_anomaly_ratio", m),
                            "{{instance}} {{metric}}",
                        )],
                    ),
                    ts(
                        "Z-score",
                        "none",
                        vec![q(
                            scoped("outrider_anomaly_zscore", m),
                            "{{instance}} {{metric}}",
                        )],
                    ),
                    ts(
                        "Window average (1h)",
                        "short",
                        vec![q(
                            scoped("outrider_window_avg", &format!(r#"{m}, window="1h""#)),
                            "{{instance}} {{metric}}",
                        )],
                    ),
                ],
            ),
        ],
    }
}

/// Per SLO: the budget left over the period and the burn rate of every
/// window, read from the generated recording rules.
fn slos(rules: &RuleSet, windows: &SloWindows) -> Option<Dashboard> {
    let mut rows = Vec::new();
    let mut first = None;
    for rule in rules.groups.iter().flat_map(|g| &g.rules) {
        let Kind::Slo(slo) = &rule.kind else { continue };
        // One line per service: the SLO's `by` labels name it.
        let legend: Vec<String> = slo.by.iter().map(|l| format!("{{{{{l}}}}}")).collect();
        let legend = legend.join(" ");
        let budget = promql::number(promql::budget(slo));
        let ratio = |window: std::time::Duration| {
            format!(
                "{}{{{}={}, job=~\"$job\"}}",
                promql::error_ratio_record(&promql::duration(window)),
                promql::SLO_LABEL,
                promql::quote(&rule.name)
            )
        };
        first.get_or_insert_with(|| ratio(windows.short_page));
        let period = promql::duration(slo.period);
        let burns = windows
            .all()
            .into_iter()
            .map(|w| {
                q(
                    format!("{} / {budget}", ratio(w)),
                    &format!("{legend} {}", promql::duration(w)),
                )
            })
            .collect();
        rows.push((
            format!("{} ({}% over {period})", rule.name, promql::number(slo.objective)),
            vec![
                stat(
                    "Error budget left",
                    "percentunit",
                    vec![q(format!("1 - {} / {budget}", ratio(slo.period)), &legend)],
                )
                .describe(&format!("The part of the {period} budget not yet spent.")),
                stat(
                    "Requests per second",
                    "reqps",
                    vec![q(
                        format!(
                            "{}{{{}={}, job=~\"$job\"}}",
                            promql::requests_record(&promql::duration(windows.long_page)),
                            promql::SLO_LABEL,
                            promql::quote(&rule.name)
                        ),
                        &legend,
                    )],
                ),
                ts(
                    "Error ratio",
                    "percentunit",
                    vec![
                        q(ratio(windows.long_page), &legend),
                        q(format!("vector({budget})"), "allowed"),
                    ],
                )
                .width(12),
                ts("Burn rates (1 spends the budget exactly over the period)", "none", burns)
                    .width(24)
                    .describe("Pages at 14.4 (1h and 5m) or 6 (6h and 30m); tickets at 3 (1d and 2h) or 1 (3d and 6h)."),
            ],
        ));
    }
    let first = first?;
    let _ = first;
    Some(Dashboard {
        uid: "outrider-slos",
        title: "outrider / SLOs".to_owned(),
        description: "Error budgets and burn rates of the SLO rules.",
        scope_metric: promql::error_ratio_record(&promql::duration(windows.short_page)),
        extra_variables: Vec::new(),
        rows,
    })
}

fn sidecar() -> Dashboard {
    Dashboard {
        uid: "outrider-sidecar",
        title: "outrider / Sidecar health".to_owned(),
        description: "The sidecars' own health: collectors, rules, reloads, notifications and cost.",
        scope_metric: OUTRIDER.to_owned(),
        extra_variables: Vec::new(),
        rows: vec![
            (
                "Collectors".to_owned(),
                vec![
                    ts(
                        "Collector success",
                        "short",
                        vec![q(
                            format!(
                                "min by (collector) ({})",
                                scoped("outrider_collector_success", "")
                            ),
                            "{{collector}}",
                        )],
                    )
                    .max(1.0)
                    .describe("1 when every sidecar's collector succeeded in its last tick."),
                    ts(
                        "Collector duration",
                        "s",
                        vec![q(
                            format!(
                                "max by (collector) ({})",
                                scoped("outrider_collector_duration_seconds", "")
                            ),
                            "{{collector}}",
                        )],
                    ),
                ],
            ),
            (
                "App sources".to_owned(),
                vec![
                    ts(
                        "Scrape targets up",
                        "short",
                        vec![q(
                            format!("min by (target) ({})", scoped("outrider_target_up", "")),
                            "{{target}}",
                        )],
                    )
                    .max(1.0)
                    .describe("1 when every sidecar's last scrape of the app target succeeded."),
                    ts(
                        "Probe success",
                        "short",
                        vec![q(
                            format!("min by (probe) ({})", scoped("probe_success", "")),
                            "{{probe}}",
                        )],
                    )
                    .max(1.0)
                    .describe("1 when every sidecar's last probe of the dependency succeeded."),
                    ts(
                        "Pushed series",
                        "short",
                        vec![q(
                            format!("sum by (instance) ({})", scoped("outrider_push_series", "")),
                            "{{instance}}",
                        )],
                    ),
                    ts(
                        "Series dropped",
                        "ops",
                        vec![q(
                            format!(
                                "sum by (reason) ({})",
                                rate("outrider_series_dropped_total", "")
                            ),
                            "{{reason}}",
                        )],
                    )
                    .describe("Series given by two sources with different types, or twice."),
                ],
            ),
            (
                "Rules and reloads".to_owned(),
                vec![
                    ts(
                        "Rule group evaluation duration",
                        "s",
                        vec![q(
                            format!(
                                "max by (rule_group) ({})",
                                scoped("outrider_rule_evaluation_duration_seconds", "")
                            ),
                            "{{rule_group}}",
                        )],
                    ),
                    ts(
                        "Rule evaluation failures",
                        "short",
                        vec![q(
                            format!(
                                "sum by (rule_group) ({})",
                                rate("outrider_rule_evaluation_failures_total", "")
                            ),
                            "{{rule_group}}",
                        )],
                    ),
                    ts(
                        "Last reload successful",
                        "short",
                        vec![q(
                            scoped("outrider_config_last_reload_successful", ""),
                            "{{instance}}",
                        )],
                    )
                    .max(1.0),
                    ts(
                        "Reloads in the last hour",
                        "short",
                        vec![q(
                            format!(
                                "changes({}[1h])",
                                scoped("outrider_config_last_reload_success_timestamp_seconds", "")
                            ),
                            "{{instance}}",
                        )],
                    ),
                ],
            ),
            (
                "Notifications".to_owned(),
                vec![
                    ts(
                        "Notification queue",
                        "short",
                        vec![q(
                            scoped("outrider_notifications_queue_length", ""),
                            "{{instance}} {{alertmanager}}",
                        )],
                    ),
                    ts(
                        "Notifications",
                        "short",
                        vec![
                            q(
                                rate("outrider_notifications_sent_total", ""),
                                "{{instance}} sent",
                            ),
                            q(
                                rate("outrider_notifications_errors_total", ""),
                                "{{instance}} errors",
                            ),
                            q(
                                rate("outrider_notifications_dropped_total", ""),
                                "{{instance}} dropped",
                            ),
                        ],
                    ),
                ],
            ),
            (
                "Cost".to_owned(),
                vec![
                    ts(
                        "CPU",
                        "percentunit",
                        vec![q(rate("process_cpu_seconds_total", ""), "{{instance}}")],
                    ),
                    ts(
                        "Resident memory",
                        "bytes",
                        vec![q(
                            scoped("process_resident_memory_bytes", ""),
                            "{{instance}}",
                        )],
                    ),
                    ts(
                        "Scrape duration",
                        "s",
                        vec![q(scoped("scrape_duration_seconds", ""), "{{instance}}")],
                    ),
                    ts(
                        "Tracked series",
                        "short",
                        vec![
                            q(scoped("outrider_baseline_series", ""), "{{instance}}"),
                            q(
                                scoped("outrider_baseline_series_refused", ""),
                                "{{instance}} refused",
                            ),
                        ],
                    ),
                ],
            ),
        ],
    }
}

/// Every dashboard: file name and JSON.
pub fn dashboards(rules: &RuleSet, windows: &SloWindows) -> Vec<(String, Value)> {
    let mut all = vec![
        overview(),
        host(),
        processes(),
        containers(),
        app(rules),
        anomalies(),
        sidecar(),
    ];
    all.extend(slos(rules, windows));
    all.into_iter()
        .map(|d| (format!("{}.json", d.uid), d.to_json()))
        .collect()
}
