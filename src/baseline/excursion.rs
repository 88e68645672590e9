//! The anomaly score's second test: a value well beyond the largest
//! excursion of the recent past. The likelihood (see `likelihood`) averages
//! a few raw scores, so one wild sample alone does not fire it; yet a
//! single sample far past anything the series did all week is what an
//! on-call calls a spike. So the largest distance above and below the slow
//! mean is remembered, fading with a half-life of a week, and a value half
//! as far again as that scores the firing level.
//!
//! State: two numbers.

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
    /// The score of a value `distance` from the mean (signed) and
    /// `deviations` from it in units of its spread: 0 until the value
    /// passes the largest excursion on its side, the firing level at
    /// `BEYOND` times it, 1 a little further.
    pub fn score(&self, distance: f64, deviations: f64) -> f64 {
        let largest = if distance >= 0.0 { self.up } else { self.down };
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
        self.up *= fade;
        self.down *= fade;
        if distance >= 0.0 {
            self.up = self.up.max(distance);
        } else {
            self.down = self.down.max(-distance);
        }
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
