//! The series store of one tick: families from every source merged by
//! name. A name can come from several sources (an app's `process_*` next to
//! outrider's own, a metric pushed by many groups); the exposition needs one
//! family per name, one type per family and each series once. The first
//! source wins — host collectors, then the app's scrape, then pushes — and
//! what is dropped is counted and logged, never silently lost.

use std::collections::HashMap;

use crate::metric::Family;

/// What a merge dropped.
#[derive(Debug, Default, PartialEq)]
pub struct Dropped {
    /// Series of a family whose name another source gives another type.
    pub type_conflicts: usize,
    /// Series given twice with the same labels.
    pub duplicates: usize,
    /// The family names concerned and why (`type_conflict`, `duplicate`,
    /// the reasons of `outrider_series_dropped_total`), for the log.
    pub names: Vec<(String, &'static str)>,
}

/// Merges families of the same name, keeping the first type and the first
/// of each series; sorts every family's series by labels.
pub fn merge(families: Vec<Family>) -> (Vec<Family>, Dropped) {
    let mut dropped = Dropped::default();
    let mut out: Vec<Family> = Vec::with_capacity(families.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(families.len());
    for family in families {
        match index.get(family.name.as_ref()) {
            None => {
                index.insert(family.name.to_string(), out.len());
                out.push(family);
            }
            Some(&at) if out[at].kind != family.kind => {
                dropped.type_conflicts += family.samples.len();
                dropped
                    .names
                    .push((family.name.to_string(), "type_conflict"));
            }
            Some(&at) => {
                let existing = &mut out[at];
                if existing.help.is_empty() {
                    existing.help = family.help;
                }
                existing.samples.extend(family.samples);
            }
        }
    }
    for family in &mut out {
        // Stable, so the first source's series stays first among equals.
        family.samples.sort_by(|a, b| a.labels.cmp(&b.labels));
        let before = family.samples.len();
        family
            .samples
            .dedup_by(|later, earlier| later.labels == earlier.labels);
        if family.samples.len() < before {
            dropped.duplicates += before - family.samples.len();
            dropped.names.push((family.name.to_string(), "duplicate"));
        }
    }
    (out, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_source_wins_and_drops_are_counted() {
        let mut own = Family::gauge("process_open_fds", "Own.");
        own.push([("k", "a")], 1.0);
        let mut app = Family::gauge("process_open_fds", "App.");
        app.push([("k", "a")], 2.0);
        app.push([("k", "b")], 3.0);
        let clash = Family::counter("process_open_fds", "Wrong type.").single(4.0);
        let (merged, dropped) = merge(vec![own, app, clash]);
        assert_eq!(merged.len(), 1);
        let values: Vec<f64> = merged[0].samples.iter().map(|s| s.value).collect();
        assert_eq!(values, vec![1.0, 3.0]);
        assert_eq!(dropped.type_conflicts, 1);
        assert_eq!(dropped.duplicates, 1);
        assert_eq!(merged[0].help, "Own.");
    }
}
