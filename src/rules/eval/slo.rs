//! Service level objectives: a burn-rate budget per service, and the
//! multi-window burn rates that page or open a ticket.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::conditions::{countable, kind_name};
use super::{AlertKey, Evaluated, Evaluator, Holding, Severity};
use crate::metric::{Family, Labels, label_value};
use crate::model::rate::{CounterReading, counter_rate};
use crate::rules::Rule;
use crate::rules::format::Slo;

/// A burn-rate budget kept in one-minute buckets over the longest window
/// evaluated in process (6 h), per value of the SLO's `by` labels (one
/// service's errors do not burn another's budget): fixed size per service
/// whatever the traffic.
#[derive(Clone, Debug)]
pub(super) struct Budget {
    by: Vec<String>,
    services: HashMap<BTreeMap<String, String>, Minutes>,
    readings: HashMap<String, CounterReading>,
}

/// (minute, errors, events) per minute slot.
pub(super) type Minutes = Vec<(i64, f64, f64)>;

pub(super) const BUDGET_MINUTES: usize = 360;

/// Increases by service (the values of the `by` labels).
pub(super) type ByService = HashMap<BTreeMap<String, String>, f64>;

impl Budget {
    fn new(by: &[String]) -> Self {
        Budget {
            by: by.to_vec(),
            services: HashMap::new(),
            readings: HashMap::new(),
        }
    }

    /// The service a series belongs to: its values of the `by` labels (a
    /// label it lacks is left out, as `sum by` does).
    fn service_of(&self, labels: &Labels) -> BTreeMap<String, String> {
        self.by
            .iter()
            .filter_map(|name| {
                label_value(labels, name)
                    .filter(|v| !v.is_empty())
                    .map(|v| (name.clone(), v.to_owned()))
            })
            .collect()
    }

    fn add(&mut self, service: BTreeMap<String, String>, now: f64, errors: f64, total: f64) {
        let minute = (now / 60.0).floor() as i64;
        let minutes = self
            .services
            .entry(service)
            .or_insert_with(|| vec![(i64::MIN, 0.0, 0.0); BUDGET_MINUTES]);
        let slot = &mut minutes[minute.rem_euclid(BUDGET_MINUTES as i64) as usize];
        if slot.0 != minute {
            *slot = (minute, 0.0, 0.0);
        }
        slot.1 += errors;
        slot.2 += total;
    }

    /// Errors and events of `minutes` over the last `window`.
    fn over(minutes: &Minutes, now: f64, window: Duration) -> (f64, f64) {
        let minute = (now / 60.0).floor() as i64;
        let oldest = minute - (window.as_secs() / 60).max(1) as i64 + 1;
        minutes
            .iter()
            .filter(|(m, _, _)| (oldest..=minute).contains(m))
            .fold((0.0, 0.0), |(e, t), (_, de, dt)| (e + de, t + dt))
    }

    /// Services with nothing in the last 6 hours hold no budget: dropped,
    /// so a service that went away costs nothing.
    fn forget_idle(&mut self, now: f64) {
        let minute = (now / 60.0).floor() as i64;
        let oldest = minute - BUDGET_MINUTES as i64 + 1;
        self.services
            .retain(|_, minutes| minutes.iter().any(|(m, _, _)| *m >= oldest));
    }

    /// The increase of a counter family's matching series since the last
    /// tick, summed by service; a reset counts from zero. Every service
    /// with a matching series is in the answer, with 0 when it did not
    /// move.
    fn increase(
        &mut self,
        family: Option<&Family>,
        select: impl Fn(&Labels) -> bool,
        prefix: &str,
        now: f64,
    ) -> ByService {
        let mut sums = ByService::new();
        let Some(family) = family else { return sums };
        let now = family.read_at.unwrap_or(now);
        for sample in family.samples.iter().filter(|s| select(&s.labels)) {
            let sum = sums.entry(self.service_of(&sample.labels)).or_default();
            let key = format!("{prefix}{:?}", sample.labels);
            let reading = CounterReading {
                value: sample.value,
                time: now,
            };
            if let Some(before) = self.readings.insert(key, reading) {
                if let Some(rate) = counter_rate(before, sample.value, now) {
                    *sum += rate * (now - before.time);
                }
            }
        }
        sums
    }
}

impl Evaluator {
    /// An SLO rule: this tick's errors and events into the budget of each
    /// service, and the services burning it too fast on both windows of a
    /// pair.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn slo(
        &mut self,
        id: &str,
        rule: &Rule,
        slo: &Slo,
        by_name: &HashMap<&str, &Family>,
        now: f64,
        may_end: bool,
        evaluated: &mut Evaluated,
    ) -> Option<String> {
        let holding = &mut evaluated.holding;
        let values = &mut evaluated.values;
        let mut failed: Option<String> = None;
        let budget = self
            .budgets
            .entry(id.to_owned())
            .or_insert_with(|| Budget::new(&slo.by));
        let family_of = |s: &crate::selector::Selector| {
            s.metric.as_deref().and_then(|m| by_name.get(m).copied())
        };
        let matches = |s: &crate::selector::Selector| {
            family_of(s).is_some_and(|f| f.samples.iter().any(|x| s.matches_labels(&x.labels)))
        };
        let counted = [Some(&slo.total), slo.errors.as_ref(), slo.good.as_ref()];
        if let Some(family) = counted
            .into_iter()
            .flatten()
            .filter_map(family_of)
            .find(|f| !countable(f))
        {
            evaluated.fail(format!(
                "{} is a {}; an SLO counts counters",
                family.name,
                kind_name(family.kind)
            ));
            return None;
        }
        let counts = [slo.errors.as_ref(), slo.good.as_ref()];
        if !matches(&slo.total) && counts.into_iter().flatten().any(matches) {
            failed = Some(format!(
                "total: no series match {}, so the burn rate cannot be computed",
                slo.total
            ));
        }
        let totals = budget.increase(
            family_of(&slo.total),
            |l| slo.total.matches_labels(l),
            "t",
            now,
        );
        let (errors, good) = match (&slo.errors, &slo.good) {
            (Some(errors), _) => (
                budget.increase(family_of(errors), |l| errors.matches_labels(l), "e", now),
                ByService::new(),
            ),
            (None, Some(good)) => (
                ByService::new(),
                budget.increase(family_of(good), |l| good.matches_labels(l), "g", now),
            ),
            (None, None) => (ByService::new(), ByService::new()),
        };
        let mut services: Vec<&BTreeMap<String, String>> =
            totals.keys().chain(errors.keys()).collect();
        services.sort();
        services.dedup();
        for service in services {
            let total = totals.get(service).copied().unwrap_or(0.0);
            let spent = match &slo.good {
                Some(_) => (total - good.get(service).copied().unwrap_or(0.0)).max(0.0),
                None => errors.get(service).copied().unwrap_or(0.0),
            };
            budget.add(service.clone(), now, spent, total);
        }
        budget.forget_idle(now);
        let allowed = 1.0 - slo.objective / 100.0;
        let minutes = |m: u64| Duration::from_secs(m * 60);
        // The multi-window pairs of the SRE workbook that fit in
        // process (the 1d and 3d pairs are the generated rules').
        let page = [
            (minutes(5), minutes(60), 14.4),
            (minutes(30), minutes(360), 6.0),
        ];
        let ticket = [(minutes(120), minutes(360), 3.0)];
        for (service, spent) in &budget.services {
            let burn = |window: Duration| {
                let (e, t) = Budget::over(spent, now, window);
                if t > 0.0 { e / t / allowed } else { 0.0 }
            };
            // The alert carries the service's labels and the SLO's
            // name, as the generated rules' alerts do.
            let mut labels = service.clone();
            labels.insert(crate::rules::SLO_LABEL.to_owned(), rule.name.clone());
            let fires = |pairs: &[(Duration, Duration, f64)]| {
                pairs
                    .iter()
                    .find(|(short, long, factor)| burn(*short) > *factor && burn(*long) > *factor)
                    .map(|(_, long, _)| burn(*long))
            };
            // Below `min_rate` there is too little traffic to judge.
            let (_, hour_total) = Budget::over(spent, now, minutes(60));
            let burning = (hour_total / 3600.0 >= slo.min_rate)
                .then(|| {
                    fires(&page)
                        .map(|rate| (Severity::Critical, rate))
                        .or_else(|| fires(&ticket).map(|rate| (Severity::Warning, rate)))
                })
                .flatten();
            // The value of an SLO alert is the burn rate over the
            // long window of its pair; one that ends records the
            // hour's.
            let key = AlertKey::of_map(&labels);
            match burning {
                Some((severity, rate)) => {
                    holding.push(Holding::new(key, severity, rate, None));
                }
                None if may_end => values.push((key, burn(minutes(60)))),
                None => {}
            }
        }
        failed
    }
}
