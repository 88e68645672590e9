//! SLOs: the budget left and the burn rate of every window, per SLO.

use super::{Dashboard, q, stat, ts};
use crate::rules::promql;
use crate::rules::promql::SloWindows;
use crate::rules::{Kind, RuleSet};

/// Per SLO: the budget left over the period and the burn rate of every
/// window, read from the generated recording rules.
pub(super) fn dashboard(rules: &RuleSet, windows: &SloWindows) -> Option<Dashboard> {
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
