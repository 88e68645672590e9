//! The app: request rate, errors and latency, from the SLO rules' selectors.

use std::collections::BTreeSet;

use super::{Dashboard, SCOPE, q, ts};
use crate::rules::promql;
use crate::rules::{Kind, RuleSet};

/// The app's RED signals, from the SLO rules' selectors: request rate and
/// error ratio of each SLO's total, and the quantiles of each latency
/// histogram an SLO counts good events in.
pub(super) fn dashboard(rules: &RuleSet) -> Dashboard {
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
