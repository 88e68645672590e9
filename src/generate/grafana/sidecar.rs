//! The sidecar itself: its ticks, collectors, series, rules and pushes.

use super::{Dashboard, OUTRIDER, q, rate, scoped, ts};

pub(super) fn dashboard() -> Dashboard {
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
