//! The trend of a series, for thresholds on a predicted value
//! (`predict`): a weighted least-squares line, like PromQL's
//! `predict_linear`, kept in five sums.

/// An exponentially weighted least-squares line through a series' recent
/// values: five sums, whatever the history.
#[derive(Clone, Debug)]
pub(super) struct Trend {
    origin: f64,
    first: f64,
    last: f64,
    sums: [f64; 5],
}

impl Trend {
    pub(super) fn new(now: f64) -> Self {
        Trend {
            origin: now,
            first: now,
            last: now,
            sums: [0.0; 5],
        }
    }

    pub(super) fn add(&mut self, now: f64, value: f64, half_life: f64) {
        if !value.is_finite() || now < self.last {
            return;
        }
        let decay = (-(now - self.last) * std::f64::consts::LN_2 / half_life.max(1.0)).exp();
        let t = now - self.origin;
        for (sum, term) in self.sums.iter_mut().zip([1.0, t, value, t * t, t * value]) {
            *sum = *sum * decay + term;
        }
        self.last = now;
    }

    /// The value `ahead` seconds from now, once the fit spans an eighth of
    /// `ahead`.
    pub(super) fn predict(&self, now: f64, ahead: f64) -> Option<f64> {
        if now - self.first < ahead / 8.0 {
            return None;
        }
        let [n, t, v, tt, tv] = self.sums;
        let spread = n * tt - t * t;
        if spread.abs() < f64::EPSILON {
            return None;
        }
        let slope = (n * tv - t * v) / spread;
        let intercept = (v - slope * t) / n;
        let predicted = intercept + slope * (now - self.origin + ahead);
        predicted.is_finite().then_some(predicted)
    }
}
