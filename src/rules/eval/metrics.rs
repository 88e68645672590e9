//! The series the rules export about themselves: each alert's state, the
//! time each group took, failures, alerts cut by a limit, and the health
//! score.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Evaluator, Severity, State, rule_id};
use crate::metric::Family;

impl Evaluator {
    pub(super) fn families(&self, _by_name: &HashMap<&str, &Family>) -> Vec<Family> {
        let mut state = Family::gauge(
            "outrider_rule_state",
            "State of each alert of each rule: 0 ok, 1 pending, 2 firing.",
        );
        let mut critical: f64 = 0.0;
        let mut warning: f64 = 0.0;
        for group in &self.rules.groups {
            for rule in &group.rules {
                let Some(alerts) = self.alerts.get(&rule_id(group, rule)) else {
                    continue;
                };
                for alert in alerts.values() {
                    let value = match alert.state {
                        State::Inactive => 0.0,
                        State::Pending => 1.0,
                        State::Firing => 2.0,
                    };
                    if alert.state == State::Firing {
                        match alert.severity {
                            Severity::Critical => critical += 1.0,
                            Severity::Warning => warning += 1.0,
                        }
                    }
                    state.samples.push(crate::metric::Sample {
                        labels: Arc::clone(&alert.state_labels),
                        value,
                    });
                }
            }
        }
        let mut duration = Family::gauge(
            "outrider_rule_evaluation_duration_seconds",
            "Seconds the last evaluation of the rule group took.",
        );
        let mut failures = Family::counter(
            "outrider_rule_evaluation_failures_total",
            "Evaluations of the rule group that failed.",
        );
        for group in &self.rules.groups {
            duration.push(
                [("rule_group", group.name.as_str())],
                self.group_seconds.get(&group.name).copied().unwrap_or(0.0),
            );
            failures.push(
                [("rule_group", group.name.as_str())],
                self.failures.get(&group.name).copied().unwrap_or(0) as f64,
            );
        }
        let mut cut = Family::counter(
            "outrider_rule_alerts_cut_total",
            "Alerts a rule did not keep because its group's limit was reached, summed over evaluations; present once the rule has cut one.",
        );
        for group in &self.rules.groups {
            for rule in &group.rules {
                if let Some(count) = self.cut.get(&rule_id(group, rule)) {
                    cut.push(
                        [
                            ("rule_group", group.name.as_str()),
                            ("rule", rule.name.as_str()),
                        ],
                        *count as f64,
                    );
                }
            }
        }
        let health = (100.0 - 10.0 * critical - 3.0 * warning).max(0.0);
        vec![
            state,
            duration,
            failures,
            Family::gauge(
                "outrider_health_score",
                "100 minus 10 per firing critical alert and 3 per firing warning, floored at 0.",
            )
            .single(health),
            cut,
        ]
    }
}
