//! Anomalies: the anomaly ratios, z-scores and baselines of tracked series.

use super::{Dashboard, OUTRIDER, q, scoped, ts, variable};

pub(super) fn dashboard() -> Dashboard {
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
