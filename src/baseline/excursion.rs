//! The anomaly score's second test: a value well beyond the largest
//! excursion of the recent past. The likelihood (see `likelihood`) averages
//! a few raw scores, so one wild sample alone does not fire it; yet a
//! single sample far past anything the series did all week is what an
//! on-call calls a spike. So the largest distance above and below the slow
//! mean is remembered, fading with a half-life of a week, and a value half
//! as far again as that scores the firing level.
//!
//! A detection starts an incident, which lasts to the end of the quiet
//! period. Once the series is a week old, an incident that held past the
//! excursions and was over by then is kept apart: its values do not raise
//! the excursions, so the next incident is measured against the series'
//! ordinary life, not against the last incident. A latency that reached 40
//! times its level for a few hours hid one at 8 times its level two days
//! later.
//!
//! State: two numbers, and the incident under way (24 bytes).

use serde::{Deserialize, Serialize};

use super::likelihood::FIRING_LEVEL;

/// How far past the largest recent excursion a value must go to score the
/// firing level: half as far again. Below that a series' own worst days
/// would fire it.
pub const BEYOND: f64 = 1.5;

/// A spike must also be at least this many deviations from the mean: a
/// series that barely moved all week does not fire on a wobble that is
/// merely its largest.
pub const MIN_DEVIATIONS: f64 = 4.0;

/// Half-life of the remembered excursions: a week, so each hour of the
/// week has been seen once.
pub const MEMORY_SECONDS: f64 = 7.0 * 86400.0;

/// From this age on a series' incidents can be kept apart: a week, the
/// excursions' memory. Before it, a detection is as likely a habit of the
/// series not yet seen (a daily spike on the third day), which must be
/// learned, or it fires every day.
pub const INCIDENTS_APART_AFTER: f64 = MEMORY_SECONDS;

/// An incident is kept apart only if this many values in a row, from its
/// detection on, lay past the excursions. A single wild value is a spike
/// of the kind the series has, or a draw of its heavy tail, and is learned
/// as before.
pub const INCIDENT_RUN: u16 = 2;

/// The share of a remembered excursion (or of the likelihood's record run,
/// which fades alike) that is left `elapsed` seconds later.
pub fn fade(elapsed: f64) -> f64 {
    (-std::f64::consts::LN_2 * elapsed.max(0.0) / MEMORY_SECONDS).exp()
}

/// The largest distances above and below the mean seen lately.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Excursions {
    pub up: f64,
    pub down: f64,
}

impl Excursions {
    /// The largest excursion on the side of `distance`.
    fn largest_towards(&self, distance: f64) -> f64 {
        if distance >= 0.0 { self.up } else { self.down }
    }

    /// The larger of the two on each side.
    pub fn max(self, other: Excursions) -> Excursions {
        Excursions {
            up: self.up.max(other.up),
            down: self.down.max(other.down),
        }
    }

    /// Keeps `fade` of what is remembered (see `fade`).
    pub fn age(&mut self, fade: f64) {
        self.up *= fade;
        self.down *= fade;
    }

    /// The score of a value `distance` from the mean (signed) and
    /// `deviations` from it in units of its spread: 0 until the value
    /// passes the largest excursion on its side, the firing level at
    /// `BEYOND` times it, 1 a little further.
    pub fn score(&self, distance: f64, deviations: f64) -> f64 {
        let largest = self.largest_towards(distance);
        if largest <= 0.0 || deviations.abs() < MIN_DEVIATIONS || !distance.is_finite() {
            return 0.0;
        }
        let beyond = distance.abs() / largest / BEYOND;
        (FIRING_LEVEL * beyond.powi(4)).clamp(0.0, 1.0)
    }

    /// Folds in a value `distance` from the mean; what was remembered keeps
    /// `fade` of its size (see `fade`).
    pub fn update(&mut self, distance: f64, fade: f64) {
        if !distance.is_finite() {
            return;
        }
        self.age(fade);
        if distance >= 0.0 {
            self.up = self.up.max(distance);
        } else {
            self.down = self.down.max(-distance);
        }
    }
}

/// What the spike test remembers of the incident under way, from a
/// detection to the end of its quiet period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Its largest distances above and below the mean, fading as the
    /// excursions do.
    pub worst: Excursions,
    /// Values in a row past the excursions from the detection on, and
    /// whether that run has ended.
    pub run: u16,
    pub run_ended: bool,
    /// Whether its latest value lay within the excursions.
    pub returned: bool,
}

impl Incident {
    /// Whether it held past the excursions and was over by the end of its
    /// quiet period.
    fn kept_apart(&self) -> bool {
        self.run >= INCIDENT_RUN && self.returned
    }

    /// What the spike test measures a value against, given the series'
    /// `ordinary` excursions: those and the incident's worst, while it is
    /// under way (`quiet`) and after it unless it is kept apart.
    pub fn record(&self, ordinary: Excursions, quiet: bool) -> Excursions {
        if quiet || !self.kept_apart() {
            ordinary.max(self.worst)
        } else {
            ordinary
        }
    }

    /// Folds in a value `distance` from the mean, given the series'
    /// `ordinary` excursions; the incident's worst keeps `fade` of its size.
    /// The run counts values (`new_value`), not the scrapes of one: a
    /// value held for 5 minutes and scraped every 15 s is one value past
    /// the excursions, not 20, or every draw of a heavy tail would be kept
    /// apart and the next alike would fire.
    pub fn update(&mut self, distance: f64, ordinary: &Excursions, fade: f64, new_value: bool) {
        if !distance.is_finite() {
            return;
        }
        let past = distance.abs() > ordinary.largest_towards(distance);
        if !self.run_ended {
            if !past {
                self.run_ended = true;
            } else if new_value || self.run == 0 {
                self.run = self.run.saturating_add(1);
            }
        }
        self.returned = !past;
        self.worst.update(distance, fade);
    }

    /// Ends the incident: its worst joins `ordinary` unless it is kept
    /// apart. Ending none changes nothing.
    pub fn close(&mut self, ordinary: &mut Excursions) {
        if !self.kept_apart() {
            *ordinary = ordinary.max(self.worst);
        }
        *self = Incident::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_value_well_past_the_largest_excursion_fires() {
        let mut seen = Excursions::default();
        for distance in [3.0, -2.0, 10.0, -4.0, 1.0] {
            seen.update(distance, fade(300.0));
        }
        // As far as the week's largest: part of how the series behaves.
        assert!(seen.score(10.0, 8.0) < 0.2);
        // Half as far again fires, on either side.
        assert!(seen.score(15.0, 12.0) >= FIRING_LEVEL);
        assert!(seen.score(-6.0, -5.0) >= FIRING_LEVEL);
        // Not when the spread says it is an ordinary wobble.
        assert_eq!(seen.score(15.0, 3.0), 0.0);
        // A week later the old excursion counts half.
        let before = seen.up;
        seen.update(0.0, fade(MEMORY_SECONDS));
        assert!((seen.up - before / 2.0).abs() < 1e-9, "{seen:?}");
    }
}
