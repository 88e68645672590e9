//! The overview: is the sidecar up, and the host and app at a glance.

use super::{Dashboard, OUTRIDER, SCOPE, panel, q, scoped, stat, ts};

pub(super) fn dashboard() -> Dashboard {
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
