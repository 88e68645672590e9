//! The fixed-size state of one tracked series and its update. No clock is read
//! here: every call takes `now` (seconds since the epoch), so tests and the
//! backtest step time themselves.
//!
//! - An EWMA mean and variance whose weight decays with a half-life in time,
//!   not in samples, so an irregular tick does not change what "1h" means.
//! - Winsorising: once warm, a sample is clipped to mean ± clip_sigma·σ before
//!   it updates the mean and variance, so one outlier cannot widen the band
//!   for hours. A level shift that persists still moves the mean, a clipped
//!   step at a time, and the band follows.
//! - Rolling windows: a ring of buckets per window (min, max, sum, count); a
//!   bucket older than the window is reset when its slot comes round again.
//! - An optional hour-of-week profile: 168 small EWMAs, one per hour of the
//!   week, so a Monday-morning peak is compared with past Monday mornings.
//! - The anomaly score (0..1): how far the value is from what a slow EWMA
//!   (or the hour-of-week profile, where it predicts better) expects, in
//!   deviations, as a raw score; then how improbable the mean of the last
//!   few raw scores is under this series' usual raw scores, once it goes
//!   past the runs of the last week (see `likelihood`). So a series that
//!   spikes every hour stops alerting on its spikes, and one that wanders on
//!   its wanders, while a calm one alerts on its first real excursion. Beside
//!   it, a single value well past the largest excursion of the last week
//!   scores on its own (see `excursion`). The score's deviations are in
//!   the series' own spread, never a share of its level, so its unit and
//!   offset do not matter; and a sample within an interval of the hour's
//!   edge may match the neighbouring hour, since sample times jitter.

use serde::{Deserialize, Serialize};

use super::excursion::{self, Excursions, INCIDENTS_APART_AFTER, Incident};
use super::likelihood::{
    FIRING_LEVEL, Join, Likelihood, LikelihoodSettings, READING_SECONDS, SLOT_INTERVAL_SECONDS,
};

/// Buckets per rolling window: the window's resolution is window/10.
pub const BUCKETS_PER_WINDOW: usize = 10;
pub const HOURS_PER_WEEK: usize = 168;

/// Days an hour of the day must have been seen on before the score
/// expects the daily cycle there, whatever the sampling interval.
pub const PROFILE_DAYS: usize = 3;

/// Weeks an hour of the week must have been seen in before the score
/// expects it to differ from the same hour on other days: a series sampled
/// hourly would otherwise wait min_samples weeks for its weekends.
pub const PROFILE_WEEKS: u8 = 3;

/// Half-life of the level the hour profile's offsets are measured from.
/// Each hour holds how far the series lies from this level at that hour,
/// not its value: an hour comes round once a day or once a week, so a
/// profile of values averaged over past weeks lags any trend or level
/// shift, and the score then falls back to the slow mean, cycle and all.
/// A level of a day follows a weekend down and makes Monday look high
/// until the hours of the week are learned; one of a week lags a trend as
/// the values did (docs/backtest.md, "A level that moves under a daily
/// cycle").
const PROFILE_LEVEL_HALF_LIFE: f64 = 3.0 * 86400.0;

/// Until a series has been seen this long, the profile holds values as
/// they are: its level is then still the mean of part of a day. After, it
/// holds offsets from the level.
const PROFILE_OFFSETS_AFTER: f64 = 86400.0;

/// How a tracked series is modelled; shared by every series of a selector.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub half_life_seconds: f64,
    pub windows_seconds: Vec<f64>,
    pub seasonal: bool,
    /// Samples before the baseline is trusted (and before an hour-of-week
    /// bucket is used).
    pub min_samples: u32,
    pub clip_sigma: f64,
    pub band_sigma: f64,
    /// Below this baseline and value, no ratio or z-score is claimed.
    pub volume_floor: f64,
    /// Samples an hour-of-week bucket remembers (its EWMA's horizon).
    pub seasonal_memory_samples: u32,
    /// The anomaly score stays 0 until the series has been seen this long:
    /// what a day looks like must be known before a part of one is unusual.
    pub score_warm_up_seconds: f64,
    /// Half-life of the anomaly score's reference mean and deviation.
    pub score_half_life_seconds: f64,
    /// Half-life of the anomaly score's memory of past surprises.
    pub score_memory_seconds: f64,
    /// How long the anomaly score reads 0 after it reached the firing
    /// level, but for a spike half as far again as the incident's worst:
    /// one incident, one detection.
    pub score_quiet_seconds: f64,
    /// How improbable the recent deviations must be, under this series'
    /// usual ones, for the score to reach its firing level (0.5).
    pub score_firing_tail: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            half_life_seconds: 3600.0,
            windows_seconds: vec![300.0, 3600.0, 86400.0],
            seasonal: false,
            min_samples: 20,
            clip_sigma: 3.0,
            band_sigma: 3.0,
            volume_floor: 0.0,
            seasonal_memory_samples: 720,
            score_warm_up_seconds: 86400.0,
            score_half_life_seconds: 86400.0,
            score_memory_seconds: 2.0 * 86400.0,
            score_quiet_seconds: 86400.0,
            score_firing_tail: 1e-2,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    pub mean: f64,
    pub variance: f64,
    pub count: u32,
}

impl Ewma {
    /// Folds in `value` with weight `alpha`, clipping it first once warm.
    /// With `young_mean`, a sample weighs at least 1/count: a mean of all
    /// samples so far until `alpha` catches up.
    fn update(&mut self, value: f64, alpha: f64, clip_sigma: f64, warm: bool, young_mean: bool) {
        let mut folded = WeightedEwma {
            mean: self.mean,
            variance: self.variance,
            weight: f64::from(self.count),
        };
        folded.update(value, 1.0, alpha, clip_sigma, warm, young_mean);
        self.mean = folded.mean;
        self.variance = folded.variance;
        self.count = self.count.saturating_add(1);
    }
}

/// An EWMA whose samples weigh unequally: an hour of the profile weighs a
/// sample scraped every 15 s as a twentieth of a 5-minute reading (see
/// `SeasonalBucket::count`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct WeightedEwma {
    mean: f64,
    variance: f64,
    /// The samples' total weight; the count of an unweighted EWMA.
    weight: f64,
}

impl WeightedEwma {
    /// Folds in `value` weighing `weight` samples, each with weight `alpha`,
    /// clipping it first once warm. With `young_mean`, it weighs at least
    /// its share of all samples so far, until `alpha` catches up.
    fn update(
        &mut self,
        value: f64,
        weight: f64,
        alpha: f64,
        clip_sigma: f64,
        warm: bool,
        young_mean: bool,
    ) {
        if self.weight <= 0.0 {
            *self = WeightedEwma {
                mean: value,
                variance: 0.0,
                weight,
            };
            return;
        }
        let sigma = self.variance.sqrt();
        let value = if warm && sigma > 0.0 {
            value.clamp(
                self.mean - clip_sigma * sigma,
                self.mean + clip_sigma * sigma,
            )
        } else {
            value
        };
        let alpha = if young_mean {
            (alpha * weight).max(weight / (self.weight + weight))
        } else {
            alpha * weight
        };
        let diff = value - self.mean;
        let increment = alpha * diff;
        let mean = self.mean + increment;
        let variance = (1.0 - alpha) * (self.variance + diff * increment);
        if mean.is_finite() && variance.is_finite() {
            self.mean = mean;
            self.variance = variance.max(0.0);
        } else {
            // Values near f64::MAX overflow the arithmetic: start over from
            // this sample rather than carry an infinity.
            self.mean = value;
            self.variance = 0.0;
        }
        self.weight += weight;
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Which bucket-width slot since the epoch this bucket holds.
    pub slot: u32,
    pub count: u32,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
}

/// Hour-of-week bucket: f32 keeps the profile at 16 bytes an hour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeasonalBucket {
    pub mean: f32,
    pub variance: f32,
    /// Samples learned. On a series read in slots (scraped every 37.5 s or
    /// more often), each counts as its share of a 5-minute reading, so a
    /// value held for 5 minutes counts once, as it would read every 5
    /// minutes; a float for those shares.
    pub count: f32,
    /// Weeks this hour was seen in (a visit is a run of samples within the
    /// hour), up to 255.
    pub visits: u8,
}

/// The state of one series: a few fixed-size numbers, never a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    pub ewma: Ewma,
    pub last_time: f64,
    pub windows: Box<[Bucket]>,
    pub seasonal: Option<Box<[SeasonalBucket]>>,
    pub detector: Detector,
    /// Whether a value below 0 was ever seen. Until then the series is
    /// taken to be one that cannot go negative (a counter's rate, bytes, a
    /// ratio), and its lower band stops at 0.
    pub seen_negative: bool,
}

/// What the anomaly score keeps beside the baseline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// Its own, slower EWMA: a short half-life learns a jumpy deviation
    /// from few samples and cries wolf.
    pub reference: Ewma,
    /// Recent mean absolute errors of the slow EWMA and of the seasonal
    /// profile as predictors; the profile is trusted only while it
    /// predicts better (after a level shift it does not, until it learns).
    pub flat_error: f64,
    pub seasonal_error: f64,
    /// How improbable the recent deviations are for this series.
    pub likelihood: Likelihood,
    /// The largest distances from the reference mean lately; those of the
    /// reading under way are kept apart until it ends (see `Join::Slot`).
    pub excursions: Excursions,
    pub reading_excursions: Excursions,
    /// The incident under way, from a detection to the end of its quiet
    /// period.
    pub incident: Incident,
    /// The highest score given out lately under the firing level.
    pub pulse: Pulse,
    /// When the series was first seen.
    pub since: f64,
    /// The usual time between samples, learned from the samples.
    pub usual_interval: f64,
    /// The level the hour profile's offsets are measured from (seasonal
    /// series only; see `PROFILE_LEVEL_HALF_LIFE`).
    pub profile_level: Ewma,
}

/// Under the firing level the score is a pulse too: once it has given a
/// value, it reads 0 for the quiet period unless it goes higher. A rule or
/// a threshold at 0.3 then sees an incident once, as one at the firing
/// level does, not at every sample while a run of raw scores lasts; NAB
/// counts each of those outside a window as a false detection. The
/// second corpus, whose fitted thresholds lie at 0.04 to 0.21, scored
/// 53.4 / 40.2 / 59.5 with it instead of 47.7 / 39.8 / 52.9, and the dev
/// split, fitted at 0.316, the same to the decimal (docs/backtest.md,
/// "A pulse at every level").
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pulse {
    /// The highest score given out under the firing level (a score at or
    /// over it counts as the firing level), and until when it holds.
    pub peak: f64,
    pub until: f64,
}

impl Pulse {
    /// What the score reads at `now`, `score` being the higher of the two
    /// tests': itself at or over the firing level, or when it goes past
    /// the peak that holds, else 0.
    fn gate(&self, score: f64, now: f64) -> f64 {
        if score >= FIRING_LEVEL || score > self.peak || now >= self.until {
            score
        } else {
            0.0
        }
    }

    /// Records `given`, what `gate` gave out at `now`; it holds for `hold`
    /// seconds.
    fn record(&mut self, given: f64, now: f64, hold: f64) {
        if given > 0.0 {
            self.peak = given.min(FIRING_LEVEL);
            self.until = now + hold;
        }
    }
}

impl Detector {
    /// Whether the series is read in slots of time, not sample by sample
    /// (see `SLOT_INTERVAL_SECONDS`).
    fn reads_in_slots(&self) -> bool {
        self.usual_interval > 0.0 && self.usual_interval <= SLOT_INTERVAL_SECONDS
    }

    /// How a sample of `value` at `now` joins the readings; decided once
    /// per sample, before anything learns from it.
    fn join(&self, value: f64, now: f64) -> Join {
        self.likelihood.join(value, now, self.reads_in_slots())
    }

    /// The excursions the spike test measures a sample against, given how
    /// it `join`s the readings: those of the readings ended before its slot
    /// (see `Join::Slot`), or all of them.
    fn excursions_for(&self, join: Join) -> Excursions {
        if join == Join::Slot {
            self.excursions
        } else {
            self.excursions.max(self.reading_excursions)
        }
    }

    /// How far a sample `elapsed` seconds after the previous one ages the
    /// score's memories: by `elapsed`, but by no more than `GAP_INTERVALS`
    /// usual intervals. Without a cap, the first sample after a target was
    /// down for two days would weigh as two days of samples, and drag the
    /// reference to wherever the day happens to be (the trough of a daily
    /// cycle, at midnight); the ordinary afternoon after it then fired.
    /// The usual interval follows the capped intervals, so a series that
    /// is sampled less often from now on is soon aged at its new pace.
    fn aged(&mut self, elapsed: f64) -> f64 {
        let usual = self.usual_interval;
        if usual <= 0.0 {
            self.usual_interval = elapsed;
            return elapsed;
        }
        let aged = elapsed.min(GAP_INTERVALS * usual);
        if aged > 0.0 {
            self.usual_interval += 0.1 * (aged - usual);
        }
        aged
    }
}

/// What the hour profile expects at a time and, near the hour's edge, at
/// the neighbouring hour; None where it has not learned that hour or the
/// time is not near the edge.
struct HourExpectations {
    this: Option<(f64, f64)>,
    neighbour: Option<(f64, f64)>,
}

/// What the state expects now, and how the current value compares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub baseline: f64,
    pub stddev: f64,
    pub upper: f64,
    pub lower: f64,
    /// current / baseline; None when the baseline is ~0 or under the floor.
    pub ratio: Option<f64>,
    pub zscore: Option<f64>,
    /// 0 = as expected, 1 = certainly anomalous; None while the series
    /// warms up (score_warm_up_seconds) and under the volume floor, where
    /// the score would claim nothing.
    pub anomaly: Option<f64>,
}

/// Aggregates of one rolling window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowStats {
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: u32,
}

/// How many deviations `value` is from `baseline`, signed; None under the
/// volume floor.
fn deviation(value: f64, baseline: f64, stddev: f64, settings: &Settings) -> Option<f64> {
    // A flat series has σ = 0; a floor of 1% of the level keeps a tiny
    // wobble from scoring as infinitely unusual.
    let sigma_floor = (baseline.abs() * 0.01).max(1e-9);
    (!under_volume_floor(value, baseline, settings))
        .then(|| (value - baseline) / stddev.max(sigma_floor))
}

fn under_volume_floor(value: f64, baseline: f64, settings: &Settings) -> bool {
    settings.volume_floor > 0.0
        && baseline.abs() < settings.volume_floor
        && value.abs() < settings.volume_floor
}

/// The deviation of an hour's profile never counts as less than this share
/// of the series' overall deviation, in the score as in the seasonal band:
/// an hour that happened to be near constant does not make a small wobble
/// in it extreme.
const HOUR_SPREAD_FLOOR: f64 = 0.25;

/// How many deviations a value is from what the score expects, given its
/// `closest_expectation`; None under the volume floor or before the
/// reference is warm.
fn surprise(closest: Option<(f64, f64)>) -> Option<f64> {
    closest
        .map(|(_, deviations)| deviations.abs())
        .filter(|d| d.is_finite())
}

/// Deviations beyond this count as this many in the raw score: one wild
/// sample should not swamp the recent mean for long.
const RAW_CAP_SIGMA: f64 = 10.0;

/// A sample ages the score's memories by at most this many usual intervals:
/// the rest of a longer gap is missing data, not time the series spent.
const GAP_INTERVALS: f64 = 2.0;

/// The weight an EWMA with `half_life` gives a sample `elapsed` seconds
/// after the one before it.
fn ewma_weight(elapsed: f64, half_life: f64) -> f64 {
    1.0 - (-std::f64::consts::LN_2 * elapsed / half_life).exp()
}

fn raw_surprise(deviations: f64) -> f64 {
    deviations.min(RAW_CAP_SIGMA)
}

fn likelihood_settings(settings: &Settings) -> LikelihoodSettings {
    LikelihoodSettings {
        memory_seconds: settings.score_memory_seconds,
        min_samples: settings.min_samples,
        quiet_seconds: settings.score_quiet_seconds,
        firing_tail: settings.score_firing_tail,
    }
}

/// Monday 00:00 UTC is hour 0 (the epoch was a Thursday, hour 72).
pub fn hour_of_week(now: f64) -> usize {
    let hours = (now / 3600.0).floor() as i64;
    (hours + 72).rem_euclid(HOURS_PER_WEEK as i64) as usize
}

impl SeriesState {
    pub fn new(settings: &Settings) -> Self {
        SeriesState {
            ewma: Ewma::default(),
            last_time: 0.0,
            windows: vec![Bucket::default(); settings.windows_seconds.len() * BUCKETS_PER_WINDOW]
                .into_boxed_slice(),
            seasonal: settings
                .seasonal
                .then(|| vec![SeasonalBucket::default(); HOURS_PER_WEEK].into_boxed_slice()),
            detector: Detector::default(),
            seen_negative: false,
        }
    }

    /// Whether a restored state has the shape the settings ask for.
    pub fn fits(&self, settings: &Settings) -> bool {
        self.windows.len() == settings.windows_seconds.len() * BUCKETS_PER_WINDOW
            && self.seasonal.as_ref().map(|s| s.len())
                == settings.seasonal.then_some(HOURS_PER_WEEK)
    }

    /// Bytes this state holds, heap included.
    pub fn size_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + std::mem::size_of_val(&*self.windows)
            + self
                .seasonal
                .as_ref()
                .map_or(0, |s| std::mem::size_of_val(&**s))
    }

    pub fn is_warm(&self, settings: &Settings) -> bool {
        self.ewma.count >= settings.min_samples
    }

    /// The exported expectation and deviation, given what the profile
    /// expects at this hour (`seasonal`, as the score reads it: this hour of
    /// the week's own samples, or the same hour of the other days): that,
    /// where the profile has lately predicted clearly better than the
    /// mean, the EWMA otherwise. A profile that does not predict better
    /// only adds noise, and one that learns an hour once a day or once a
    /// week would hold a level shift against the series for weeks.
    fn expected(&self, seasonal: Option<(f64, f64)>) -> (f64, f64) {
        match seasonal.filter(|_| self.profile_predicts_better()) {
            Some((mean, sigma)) => (
                mean,
                sigma.max(self.ewma.variance.sqrt() * HOUR_SPREAD_FLOOR),
            ),
            None => (self.ewma.mean, self.ewma.variance.sqrt()),
        }
    }

    /// Scores `value` against the state as it was before `value`; None until
    /// warm. Every number returned is finite.
    pub fn score(&self, value: f64, now: f64, settings: &Settings) -> Option<Score> {
        if !self.is_warm(settings) || !value.is_finite() {
            return None;
        }
        let hours = self.hour_expectations(now, settings);
        let (baseline, stddev) = self.expected(hours.this);
        let upper = baseline + settings.band_sigma * stddev;
        let lower = baseline - settings.band_sigma * stddev;
        let lower = if self.seen_negative {
            lower
        } else {
            lower.max(0.0)
        };
        let finite = |x: f64| x.is_finite().then_some(x);
        let (ratio, zscore) = match deviation(value, baseline, stddev, settings) {
            None => (None, None),
            Some(zscore) => {
                let ratio = (baseline.abs() > 1e-12)
                    .then(|| value / baseline)
                    .and_then(finite);
                (ratio, finite(zscore))
            }
        };
        let closest = self.closest_expectation(value, &hours, settings);
        let join = self.detector.join(value, now);
        let anomaly = surprise(closest)
            .and_then(|d| self.anomaly(d, join, now, settings))
            .map(|likely| {
                let spike = self.spike(value, now, closest, join, settings);
                self.detector.pulse.gate(likely.max(spike), now)
            });
        [baseline, stddev, upper, lower]
            .iter()
            .all(|x| x.is_finite())
            .then_some(Score {
                baseline,
                stddev,
                upper,
                lower,
                ratio,
                zscore,
                anomaly,
            })
    }

    /// What the score expects of `value`, and how many deviations (signed)
    /// `value` is from it: the slow mean; or, where the profile predicts
    /// clearly better, this hour's expectation or, within a sampling
    /// interval of the next or previous hour, that hour's, whichever
    /// `value` is closer to. The profile steps at each hour, and sample
    /// times jitter (a scrape a second early, a job starting on the
    /// minute): the first sample of a daily step that lands a second before
    /// the hour is not an anomaly. On a series read in slots (scraped every
    /// 37.5 s or more often), a value there that lies between the two
    /// hours' expectations is expected as it is: a scrape that caught the
    /// step under way (a figure half-written, a rate over a window that
    /// straddles the step) is on the way from one to the other, and fired
    /// on the first day the profile knew both hours. None under the volume
    /// floor or before the reference is warm.
    fn closest_expectation(
        &self,
        value: f64,
        hours: &HourExpectations,
        settings: &Settings,
    ) -> Option<(f64, f64)> {
        let measure = |(expected, sigma): (f64, f64)| {
            self.score_deviation(value, expected, sigma, settings)
                .map(|deviations| (expected, deviations))
        };
        let (this_expected, this_deviations) = measure(self.expectation(hours.this, settings)?)?;
        let profile_used = hours.this.is_some() && self.profile_predicts_better();
        let neighbour = hours.neighbour.filter(|_| profile_used).and_then(measure);
        if let Some((neighbour_expected, _)) = neighbour {
            let between = (value - this_expected) * (value - neighbour_expected) <= 0.0;
            if between && self.detector.reads_in_slots() {
                return Some((value, 0.0));
            }
        }
        let closer = neighbour.filter(|&(_, deviations)| deviations.abs() < this_deviations.abs());
        Some(closer.unwrap_or((this_expected, this_deviations)))
    }

    /// What the profile expects at `now`, and at the neighbouring hour when
    /// `now` is within a sampling interval of it: a sample's time is only
    /// as certain as the interval between samples.
    fn hour_expectations(&self, now: f64, settings: &Settings) -> HourExpectations {
        if self.seasonal.is_none() {
            return HourExpectations {
                this: None,
                neighbour: None,
            };
        }
        let interval = now - self.last_time;
        // Not rem_euclid: fmod costs more than the rest of a score.
        let into_hour = now - (now / 3600.0).floor() * 3600.0;
        let neighbour = if into_hour < interval.min(1800.0) {
            Some(now - 3600.0)
        } else if 3600.0 - into_hour <= interval.min(1800.0) {
            Some(now + 3600.0)
        } else {
            None
        };
        HourExpectations {
            this: self.seasonal_expectation(now, settings),
            neighbour: neighbour.and_then(|t| self.seasonal_expectation(t, settings)),
        }
    }

    /// How many deviations `value` is from what the score expects, signed;
    /// None under the volume floor. Unlike the exported z-score, whose σ is
    /// floored at 1% of the level, the score measures against the series'
    /// own spread only, so it is the same in any unit and at any offset (°C
    /// or °F, a gauge or the gauge plus a constant). Only a series that has
    /// never varied, with no spread to measure against, falls back to the
    /// level's 1%.
    fn score_deviation(
        &self,
        value: f64,
        expected: f64,
        sigma: f64,
        settings: &Settings,
    ) -> Option<f64> {
        let sigma = sigma.max(HOUR_SPREAD_FLOOR * self.detector.reference.variance.sqrt());
        if sigma > 0.0 && sigma.is_finite() {
            (!under_volume_floor(value, expected, settings)).then(|| (value - expected) / sigma)
        } else {
            deviation(value, expected, sigma, settings)
        }
    }

    /// What the score expects and its deviation: the hour's profile where
    /// it predicts clearly better than the slow mean, the slow mean
    /// otherwise; None before the reference is warm.
    fn expectation(&self, seasonal: Option<(f64, f64)>, settings: &Settings) -> Option<(f64, f64)> {
        let detector = &self.detector;
        if detector.reference.count < settings.min_samples {
            return None;
        }
        let flat = (detector.reference.mean, detector.reference.variance.sqrt());
        Some(match seasonal {
            Some(seasonal) if self.profile_predicts_better() => seasonal,
            _ => flat,
        })
    }

    /// Whether the profile has lately predicted clearly better than the
    /// slow mean. Clearly better, not just as good: a profile of a series
    /// without seasons only adds noise.
    fn profile_predicts_better(&self) -> bool {
        self.detector.seasonal_error < 0.8 * self.detector.flat_error
    }

    /// What the profile expects at `now`, and its deviation: this hour of
    /// the week once learned, else this hour of the day over the week's
    /// seven, so daily seasonality counts after a few days, at any
    /// sampling interval.
    fn seasonal_expectation(&self, now: f64, settings: &Settings) -> Option<(f64, f64)> {
        let profile = self.seasonal.as_ref()?;
        let hour = hour_of_week(now);
        let bucket = profile[hour];
        let level = self.profile_offsets_from();
        // Its own samples count once they come from two weeks at least: the
        // minutes of one visit are no hour of the week.
        if f64::from(bucket.count) >= f64::from(settings.min_samples) && bucket.visits >= 2 {
            return Some((
                level + f64::from(bucket.mean),
                f64::from(bucket.variance).sqrt(),
            ));
        }
        let same_hour = (0..7).map(|day| profile[(hour % 24) + 24 * day]);
        let (mut count, mut sum, mut within, mut days) = (0.0, 0.0, 0.0, 0);
        for b in same_hour.clone() {
            count += f64::from(b.count);
            sum += f64::from(b.count) * f64::from(b.mean);
            within += f64::from(b.count) * f64::from(b.variance);
            days += usize::from(b.count > 0.0);
        }
        // Enough samples from two days at least (the minutes of one day's
        // hour are no daily cycle), or this hour seen on enough days: a
        // series sampled hourly gives one sample of each hour a day, and
        // would wait min_samples days for a cycle that three days already
        // show.
        if (count < f64::from(settings.min_samples) || days < 2) && days < PROFILE_DAYS {
            return None;
        }
        let mean = sum / count;
        let within = within / count;
        let between = same_hour
            .map(|b| f64::from(b.count) * (f64::from(b.mean) - mean).powi(2))
            .sum::<f64>()
            / count;
        let (mean, variance) = if bucket.visits < PROFILE_WEEKS {
            // Pooled: the spread within each day plus that between the days.
            (mean, within + between)
        } else {
            // Seen in enough weeks, though with fewer than min_samples
            // samples (sampled every half hour or hourly): its own mean
            // counts as far as the days differ by more than their few
            // samples explain, so a weekend is not judged by weekdays, and
            // a series without a weekly cycle keeps the steadier mean of
            // all seven days.
            let day_noise = within / f64::from(bucket.count);
            let days_differ = (between - within * days as f64 / count).max(0.0);
            let weight = if days_differ > 0.0 {
                days_differ / (days_differ + day_noise)
            } else {
                0.0
            };
            (
                mean + weight * (f64::from(bucket.mean) - mean),
                within + weight * day_noise,
            )
        };
        Some((level + mean, variance.sqrt())).filter(|(m, v)| m.is_finite() && v.is_finite())
    }

    /// Whether the profile's hours hold offsets from its level yet, rather
    /// than values (see `PROFILE_OFFSETS_AFTER`).
    fn profile_holds_offsets(&self) -> bool {
        self.last_time - self.detector.since >= PROFILE_OFFSETS_AFTER
    }

    /// What the profile's hours are offsets from: its level, or 0 while
    /// they hold values.
    fn profile_offsets_from(&self) -> f64 {
        if self.profile_holds_offsets() {
            self.detector.profile_level.mean
        } else {
            0.0
        }
    }

    /// The anomaly score of a value `deviations` away from what the score
    /// expects: the likelihood of the recent deviations, once the series
    /// has been seen for score_warm_up_seconds. The value `join`s the
    /// readings so (see `Detector::join`).
    fn anomaly(&self, deviations: f64, join: Join, now: f64, settings: &Settings) -> Option<f64> {
        let learned = self.last_time - self.detector.since >= settings.score_warm_up_seconds;
        learned.then(|| {
            self.detector.likelihood.score(
                raw_surprise(deviations),
                join,
                now,
                &likelihood_settings(settings),
            )
        })
    }

    /// The spike test's score of `value`, given its `closest_expectation`
    /// and how it `join`s the readings: 0 before the first day and before
    /// the reference is warm. The excursion is measured from what the score
    /// expects at this hour, so a daily peak that is ordinary for its hour
    /// is no spike and the same value at an hour that is usually quiet may
    /// be.
    ///
    /// Within the quiet period it reads 0, but for a value that fires. The
    /// excursions it measures against include the incident that started
    /// the quiet, so only a value half as far again as the worst of it
    /// fires: an incident that gets clearly worse, or a second, larger one
    /// the same day, which an on-call wants to hear of.
    /// Quiet for a day, it hid a latency at 26 times its usual level that
    /// came 20 hours after a single value of 0 fired.
    fn spike(
        &self,
        value: f64,
        now: f64,
        closest: Option<(f64, f64)>,
        join: Join,
        settings: &Settings,
    ) -> f64 {
        let detector = &self.detector;
        let learned = self.last_time - detector.since >= settings.score_warm_up_seconds;
        if !learned {
            return 0.0;
        }
        let quiet = now < detector.likelihood.quiet_until;
        let record = detector
            .incident
            .record(detector.excursions_for(join), quiet);
        let score = closest.map_or(0.0, |(expected, deviations)| {
            record.score(value - expected, deviations)
        });
        if quiet && score < FIRING_LEVEL {
            0.0
        } else {
            score
        }
    }

    /// Folds in one sample taken at `now`. Non-finite values are ignored.
    pub fn update(&mut self, value: f64, now: f64, settings: &Settings) {
        if !value.is_finite() || !now.is_finite() {
            return;
        }
        let elapsed = if self.ewma.count == 0 {
            self.detector.since = now;
            0.0
        } else {
            (now - self.last_time).max(0.0)
        };
        let alpha = ewma_weight(elapsed, settings.half_life_seconds);
        let warm = self.is_warm(settings);
        let hours = self.hour_expectations(now, settings);
        let seasonal = hours.this;
        // Judged before anything learns from the value, as `score` judged it.
        let closest = self.closest_expectation(value, &hours, settings);
        let join = self.detector.join(value, now);
        let spike = self.spike(value, now, closest, join, settings);
        if spike >= FIRING_LEVEL {
            self.detector.likelihood.quiet_until = now + settings.score_quiet_seconds;
        }
        // After the join: `aged` moves the usual interval, which `score`
        // read as it was.
        let aged = self.detector.aged(elapsed);
        // The spike test's excursions and the likelihood's record fade alike.
        let memory_fade = excursion::fade(aged);
        if let Some(deviations) = surprise(closest) {
            let learned = self.last_time - self.detector.since >= settings.score_warm_up_seconds;
            let likelihood = likelihood_settings(settings);
            let raw = raw_surprise(deviations);
            if learned {
                let likely = self.detector.likelihood.update(
                    raw,
                    value,
                    now,
                    aged,
                    memory_fade,
                    join,
                    &likelihood,
                );
                // As `score` gave it out. The likelihood reads 0 here where
                // the spike fired just above, which gives the pulse the
                // same peak: the firing level.
                let pulse = &mut self.detector.pulse;
                let given = pulse.gate(likely.max(spike), now);
                pulse.record(given, now, settings.score_quiet_seconds);
            } else {
                // Learn the distribution, but start no quiet period while
                // warming up: nothing is scored yet.
                let quiet = LikelihoodSettings {
                    quiet_seconds: 0.0,
                    ..likelihood
                };
                self.detector
                    .likelihood
                    .update(raw, value, now, aged, memory_fade, join, &quiet);
            }
        }
        let slow = ewma_weight(aged, settings.score_half_life_seconds);
        let reference_warm = self.detector.reference.count >= settings.min_samples;
        if let Some((expected, _)) = closest {
            let detector = &mut self.detector;
            let distance = value - expected;
            let apart = now < detector.likelihood.quiet_until
                && now - detector.since >= INCIDENTS_APART_AFTER;
            // What the spike test measured the value against.
            let ordinary = detector.excursions_for(join);
            if join == Join::Next {
                detector.excursions = ordinary;
                detector.reading_excursions = Excursions::default();
            }
            if apart {
                detector
                    .incident
                    .update(distance, &ordinary, memory_fade, join != Join::Repeat);
                detector.excursions.age(memory_fade);
                detector.reading_excursions.age(memory_fade);
            } else {
                detector.incident.close(&mut detector.excursions);
                if distance.is_finite() {
                    detector.excursions.age(memory_fade);
                    detector.reading_excursions.update(distance, memory_fade);
                }
            }
        }
        if reference_warm {
            if let Some((expected, _)) = seasonal {
                let detector = &mut self.detector;
                let flat = (value - detector.reference.mean).abs();
                let seasonal = (value - expected).abs();
                if flat.is_finite() && seasonal.is_finite() {
                    detector.flat_error += slow * (flat - detector.flat_error);
                    detector.seasonal_error += slow * (seasonal - detector.seasonal_error);
                }
            }
        }
        // Until warm, the baseline weighs samples equally so the first ones
        // do not dominate. Only until warm: a mean of all samples of a young
        // series would follow a step within a few samples, and an alert on
        // it would resolve while the new level stays. The score's reference
        // and the hour buckets keep the mean of all samples longer: the
        // score says nothing for its first day, and a bucket learns from
        // few samples.
        self.ewma
            .update(value, alpha, settings.clip_sigma, warm, !warm);
        self.detector
            .reference
            .update(value, slow, settings.clip_sigma, reference_warm, true);
        self.seen_negative |= value < 0.0;
        self.update_windows(value, now, settings);
        let held_offsets = self.profile_holds_offsets();
        let offsets_from = self.profile_offsets_from();
        if let Some(profile) = &mut self.seasonal {
            let level = &mut self.detector.profile_level;
            // Clipped only once it has seen a whole day. A series first seen
            // on a quiet night gave it the spread of the night alone; clipped
            // to that, it crept toward the day's mean for days, and every
            // hour learned meanwhile held an offset from the wrong level.
            let level_warm = held_offsets && level.count >= settings.min_samples;
            level.update(
                value,
                ewma_weight(aged, PROFILE_LEVEL_HALF_LIFE),
                settings.clip_sigma,
                level_warm,
                true,
            );
            let value = value - offsets_from;
            // Samples minutes apart count once each. Read in slots (scraped
            // every 37.5 s or more often), a sample counts its share of a
            // 5-minute reading: a value held for 5 minutes and scraped every
            // 15 s was 20 samples, enough to trust the hour on that one value,
            // whose spread was then only the rounding of its mean; the hour
            // clipped every later value to it, for weeks.
            let reading_share = if self.detector.reads_in_slots() {
                self.detector.usual_interval / READING_SECONDS
            } else {
                1.0
            };
            let new_visit = (now / 3600.0).floor() != (self.last_time / 3600.0).floor();
            let bucket = &mut profile[hour_of_week(now)];
            let mut ewma = WeightedEwma {
                mean: f64::from(bucket.mean),
                variance: f64::from(bucket.variance),
                weight: f64::from(bucket.count),
            };
            let alpha = 1.0 / f64::from(settings.seasonal_memory_samples.max(1));
            ewma.update(
                value,
                reading_share,
                alpha,
                settings.clip_sigma,
                ewma.weight >= f64::from(settings.min_samples),
                true,
            );
            let (mean, variance) = (ewma.mean as f32, ewma.variance as f32);
            if mean.is_finite() && variance.is_finite() {
                *bucket = SeasonalBucket {
                    mean,
                    variance,
                    count: ewma.weight as f32,
                    visits: bucket.visits.saturating_add(u8::from(new_visit)),
                };
            }
        }
        self.last_time = now;
        if !held_offsets && self.profile_holds_offsets() {
            // The first day is over: from now on the hours hold offsets.
            let level = self.detector.profile_level.mean;
            let learned = self.seasonal.iter_mut().flat_map(|p| p.iter_mut());
            for bucket in learned.filter(|b| b.count > 0.0) {
                let offset = (f64::from(bucket.mean) - level) as f32;
                if offset.is_finite() {
                    bucket.mean = offset;
                } else {
                    // Beyond f32: the hour starts afresh, as a value that
                    // overflows it is never learned.
                    *bucket = SeasonalBucket::default();
                }
            }
        }
    }

    fn update_windows(&mut self, value: f64, now: f64, settings: &Settings) {
        for (window, width) in settings.windows_seconds.iter().enumerate() {
            let bucket_width = width / BUCKETS_PER_WINDOW as f64;
            let slot = (now / bucket_width).floor().clamp(0.0, f64::from(u32::MAX)) as u32;
            let bucket =
                &mut self.windows[window * BUCKETS_PER_WINDOW + slot as usize % BUCKETS_PER_WINDOW];
            if bucket.slot != slot || bucket.count == 0 {
                *bucket = Bucket {
                    slot,
                    count: 0,
                    min: value,
                    max: value,
                    sum: 0.0,
                };
            }
            bucket.count = bucket.count.saturating_add(1);
            bucket.min = bucket.min.min(value);
            bucket.max = bucket.max.max(value);
            bucket.sum += value;
        }
    }

    /// Min, max, avg and count of each window over the buckets still inside
    /// it at `now`; None for a window with no samples.
    pub fn window_stats<'a>(
        &'a self,
        now: f64,
        settings: &'a Settings,
    ) -> impl Iterator<Item = Option<WindowStats>> + 'a {
        settings
            .windows_seconds
            .iter()
            .enumerate()
            .map(move |(window, width)| {
                let bucket_width = width / BUCKETS_PER_WINDOW as f64;
                let current = (now / bucket_width).floor().clamp(0.0, f64::from(u32::MAX)) as u32;
                let oldest = current.saturating_sub(BUCKETS_PER_WINDOW as u32 - 1);
                let mut stats: Option<WindowStats> = None;
                let mut sum = 0.0;
                let buckets = &self.windows[window * BUCKETS_PER_WINDOW..][..BUCKETS_PER_WINDOW];
                for b in buckets
                    .iter()
                    .filter(|b| b.count > 0 && (oldest..=current).contains(&b.slot))
                {
                    sum += b.sum;
                    stats = Some(match stats {
                        None => WindowStats {
                            min: b.min,
                            max: b.max,
                            avg: 0.0,
                            count: b.count,
                        },
                        Some(s) => WindowStats {
                            min: s.min.min(b.min),
                            max: s.max.max(b.max),
                            avg: 0.0,
                            count: s.count.saturating_add(b.count),
                        },
                    });
                }
                stats
                    .map(|s| WindowStats {
                        avg: sum / f64::from(s.count),
                        ..s
                    })
                    .filter(|s| s.avg.is_finite())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic normal generator (xorshift + Box-Muller).
    struct Noise(u64);
    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self, mean: f64, sd: f64) -> f64 {
            let (u1, u2) = (self.uniform().max(1e-12), self.uniform());
            mean + sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    const TICK: f64 = 15.0;
    const START: f64 = 1_700_000_000.0;
    /// Monday 00:00 UTC, where the hour-of-week profile starts.
    const MONDAY: f64 = 1_699_833_600.0;

    /// 20 at night, 80 from 09:00 to 18:00 UTC, every day: a first day
    /// from `MONDAY` opens on nine hours of night.
    fn daily_step(t: f64) -> f64 {
        if (9.0 * 3600.0..18.0 * 3600.0).contains(&t.rem_euclid(86400.0)) {
            80.0
        } else {
            20.0
        }
    }

    /// 100 at midnight, 300 at noon, every day.
    fn daily_cycle(t: f64) -> f64 {
        200.0 - 100.0 * (std::f64::consts::TAU * (t % 86400.0) / 86400.0).cos()
    }

    /// A seasonal state fed `shape` with noise of σ `sd` (from `seed`),
    /// every `step` seconds for `days` days from `MONDAY`; and its settings.
    fn fed_seasonal(
        shape: impl Fn(f64) -> f64,
        sd: f64,
        days: f64,
        step: f64,
        seed: u64,
    ) -> (SeriesState, Settings) {
        let seasonal = Settings {
            seasonal: true,
            ..Settings::default()
        };
        let mut state = SeriesState::new(&seasonal);
        let mut noise = Noise(seed);
        let mut t = MONDAY;
        while t < MONDAY + days * 86400.0 {
            state.update(noise.normal(shape(t), sd), t, &seasonal);
            t += step;
        }
        (state, seasonal)
    }

    /// `fed_seasonal` with `daily_cycle` and noise of σ 5.
    fn fed_daily_cycle(days: f64, step: f64, seed: u64) -> (SeriesState, Settings) {
        fed_seasonal(daily_cycle, 5.0, days, step, seed)
    }

    /// How a test draws the values it scrapes.
    #[derive(Clone, Copy)]
    enum Drawn {
        /// Each value held until the next.
        Held,
        /// Each value a straight line to the next: a gauge that moves at
        /// every scrape.
        Line,
        /// Held, but the first scrape of each value reads halfway from the
        /// one before: a figure caught half-written.
        HeldAfterTransit,
    }

    /// Where the score reaches the firing level on `values`, one every
    /// `lasts` seconds from `MONDAY`, each held and sampled every `scrape`
    /// seconds until the next (a gauge scraped more often than it changes):
    /// the indexes of the values that fired on any of their scrapes.
    fn firing_when_scraped(
        values: &[f64],
        lasts: f64,
        scrape: f64,
        settings: &Settings,
    ) -> Vec<usize> {
        firing_when_read(values, lasts, scrape, Drawn::Held, settings)
    }

    /// As `firing_when_scraped`, each value `drawn` so.
    fn firing_when_read(
        values: &[f64],
        lasts: f64,
        scrape: f64,
        drawn: Drawn,
        settings: &Settings,
    ) -> Vec<usize> {
        let mut state = SeriesState::new(settings);
        let mut fired = Vec::new();
        for (i, &value) in values.iter().enumerate() {
            let start = MONDAY + i as f64 * lasts;
            let mut t = start;
            let mut fires = false;
            let rise = values.get(i + 1).map_or(0.0, |next| next - value);
            let before = i.checked_sub(1).map_or(value, |i| values[i]);
            while t < start + lasts {
                let read = match drawn {
                    Drawn::Held => value,
                    Drawn::Line => value + rise * (t - start) / lasts,
                    Drawn::HeldAfterTransit if t == start => (before + value) / 2.0,
                    Drawn::HeldAfterTransit => value,
                };
                let score = state.score(read, t, settings);
                fires |= score
                    .and_then(|s| s.anomaly)
                    .is_some_and(|a| a >= FIRING_LEVEL);
                state.update(read, t, settings);
                t += scrape;
            }
            if fires {
                fired.push(i);
            }
        }
        fired
    }

    /// `count` values of noise around 100 (deviation 5), `seed` for the
    /// noise, with `len` of them from `incident` on raised by `bump`.
    fn noise_with_incident(
        seed: u64,
        count: usize,
        incident: usize,
        len: usize,
        bump: f64,
    ) -> Vec<f64> {
        let mut noise = Noise(seed);
        let mut values: Vec<f64> = (0..count).map(|_| noise.normal(100.0, 5.0)).collect();
        for v in &mut values[incident..incident + len] {
            *v += bump;
        }
        values
    }

    /// Where the score fires on `values`, each lasting `lasts` seconds and
    /// read once; asserting it fires at the same values when each is
    /// scraped every minute and every 15 s.
    fn fires_alike_when_scraped(values: &[f64], lasts: f64, settings: &Settings) -> Vec<usize> {
        let once = firing_when_scraped(values, lasts, lasts, settings);
        for scrape in [60.0, 15.0] {
            assert_eq!(
                firing_when_scraped(values, lasts, scrape, settings),
                once,
                "scraped every {scrape} s"
            );
        }
        once
    }

    #[test]
    fn under_the_firing_level_the_score_is_a_pulse() {
        let settings = Settings::default();
        let mut held_back = 0;
        // Ten days of noise with a spike every 6 hours, each about as far
        // out as the ones before it: the spike test grades each under the
        // firing level. On the ninth day, an hour 2 deviations up.
        for seed in [3, 5, 7] {
            let mut values = noise_with_incident(seed, 10 * 288, 8 * 288 + 144, 12, 10.0);
            let mut noise = Noise(seed + 100);
            for spike in values.iter_mut().step_by(72).skip(1) {
                *spike += 35.0 + noise.normal(0.0, 4.0);
            }
            let mut state = SeriesState::new(&settings);
            let mut given: Vec<(f64, f64)> = Vec::new();
            for (i, &value) in values.iter().enumerate() {
                let t = START + 300.0 * i as f64;
                let mut without_pulse = state.clone();
                without_pulse.detector.pulse = Pulse::default();
                let raw = without_pulse
                    .score(value, t, &settings)
                    .and_then(|s| s.anomaly);
                let score = state.score(value, t, &settings).and_then(|s| s.anomaly);
                match (raw, score) {
                    (None, None) => {}
                    (Some(raw), Some(score)) if score == raw => {
                        if score > 0.0 {
                            given.push((t, score));
                        }
                    }
                    (Some(raw), Some(0.0)) => {
                        // Held back: under the firing level, and no higher
                        // than a score given out within the quiet period.
                        assert!(raw < FIRING_LEVEL, "{raw} at {i}");
                        let as_high = given.iter().any(|&(at, s)| {
                            t - at < settings.score_quiet_seconds && s.min(FIRING_LEVEL) >= raw
                        });
                        assert!(as_high, "{raw} at {i} after {given:?}");
                        held_back += 1;
                    }
                    other => panic!("{other:?} at {i}"),
                }
                state.update(value, t, &settings);
            }
        }
        assert!(held_back > 0, "nothing was held back");
    }

    #[test]
    fn a_value_scraped_many_times_is_one_reading() {
        // Ten days of noise, then on the ninth an hour 4 deviations up:
        // below the spike test, a run the likelihood sees.
        let incident = 8 * 288 + 144;
        let values = noise_with_incident(7, 10 * 288, incident, 12, 20.0);
        let every_five_minutes = fires_alike_when_scraped(&values, 300.0, &Settings::default());
        assert!(
            every_five_minutes
                .iter()
                .all(|i| (incident..incident + 12).contains(i))
                && !every_five_minutes.is_empty(),
            "{every_five_minutes:?}"
        );
    }

    /// Heavy-tailed noise (Student's t, 3 degrees of freedom): its draws
    /// set new records now and then, single values each. Scraped every
    /// 15 s, a draw held for 5 minutes is still one value, learned among
    /// the series' excursions, not an incident kept apart whose like fires
    /// again the next day.
    #[test]
    fn heavy_tailed_noise_fires_alike_when_scraped() {
        let mut noise = Noise(23);
        let values: Vec<f64> = (0..6 * 7 * 288)
            .map(|_| {
                let chi_squared: f64 = (0..3).map(|_| noise.normal(0.0, 1.0).powi(2)).sum();
                100.0 + 5.0 * noise.normal(0.0, 1.0) / (chi_squared / 3.0).sqrt()
            })
            .collect();
        let fired = fires_alike_when_scraped(&values, 300.0, &Settings::default());
        assert!(fired.len() < 20, "{fired:?}");
    }

    /// A daily cycle with log-normal noise, seasonal. Scraped every 15 s,
    /// an hour of the profile counts a sample as a twentieth of a 5-minute
    /// reading. Counted one by one, an hour's first value held for 5
    /// minutes was 20 samples, enough to trust the hour; its spread was
    /// then only the rounding of its mean, and it held that one value for
    /// weeks: the first day's hours fired at the start of every week (at
    /// 1576, 2023, 4075, 4161, 6055, 8071 and 10120 every 15 s, where 5
    /// minutes fires 3 times).
    #[test]
    fn a_daily_cycle_with_heavy_tails_fires_alike_when_scraped() {
        let settings = Settings {
            seasonal: true,
            ..Settings::default()
        };
        let mut noise = Noise(29);
        let values: Vec<f64> = (0..6 * 7 * 288)
            .map(|i| daily_cycle(f64::from(i) * 300.0) * (0.3 * noise.normal(0.0, 1.0)).exp())
            .collect();
        let fired = fires_alike_when_scraped(&values, 300.0, &settings);
        assert!(fired.len() < 6, "{fired:?}");
    }

    #[test]
    fn a_series_scraped_every_30_s_is_read_in_slots_and_one_a_minute_is_not() {
        let settings = Settings::default();
        for (every, in_slots) in [(15.0, true), (30.0, true), (60.0, false), (300.0, false)] {
            let mut state = SeriesState::new(&settings);
            state.update(1.0, MONDAY, &settings);
            // Nothing to go by at the first sample.
            assert!(!state.detector.reads_in_slots());
            for i in 1..10 {
                state.update(f64::from(i), MONDAY + f64::from(i) * every, &settings);
            }
            assert_eq!(state.detector.reads_in_slots(), in_slots, "every {every} s");
        }
    }

    #[test]
    fn a_gauge_that_changes_at_every_scrape_is_read_as_at_5_minutes() {
        // Ten days of noise with an hour 4 deviations up on the ninth, each 5-minute
        // value drawn as a line to the next and scraped every 15 or 30 s.
        // Read sample by sample, the first seed fired at an ordinary value
        // every 30 s and the second missed the hour every 15 s: each
        // scrape was measured against records that held the one before.
        let incident = 8 * 288 + 144;
        let settings = Settings::default();
        for seed in [7, 11] {
            let values = noise_with_incident(seed, 10 * 288, incident, 12, 20.0);
            for scrape in [15.0, 30.0] {
                let fired = firing_when_read(&values, 300.0, scrape, Drawn::Line, &settings);
                // The line climbs to the hour's first value from the one before.
                assert!(
                    !fired.is_empty()
                        && fired
                            .iter()
                            .all(|i| (incident - 1..incident + 12).contains(i)),
                    "seed {seed}, every {scrape} s: {fired:?}"
                );
            }
        }
    }

    #[test]
    fn a_value_held_for_an_hour_and_scraped_often_is_one_reading() {
        // A job that writes its figure once an hour, scraped every minute
        // or 15 s: four weeks of noise, then eight hours 4.4 deviations up.
        // Read as 12 readings an hour, one ordinary value filled the recent
        // mean: it paged at 6 ordinary hours scraped every minute, and at 8
        // every 15 s.
        let incident = 25 * 24 + 12;
        let values = noise_with_incident(11, 28 * 24, incident, 8, 22.0);
        assert_eq!(
            fires_alike_when_scraped(&values, 3600.0, &Settings::default()),
            vec![incident]
        );
    }

    #[test]
    fn a_value_read_once_between_held_values_does_not_break_the_hold() {
        // The same hourly values, each first read halfway from the one
        // before for one scrape. Counted as one of the last two values,
        // that scrape made the two values after it 12 readings each: every
        // 15 s this fired at 7 ordinary hours, every 30 s at 6.
        let incident = 25 * 24 + 12;
        let values = noise_with_incident(11, 28 * 24, incident, 8, 22.0);
        let settings = Settings::default();
        for scrape in [15.0, 30.0] {
            let fired =
                firing_when_read(&values, 3600.0, scrape, Drawn::HeldAfterTransit, &settings);
            assert_eq!(fired, vec![incident], "every {scrape} s");
        }
    }

    #[test]
    fn scraped_every_15_s_a_daily_cycle_is_no_anomaly_on_its_first_repeated_weekday() {
        // The dev split's art_daily_no_noise: 20 at night, 80 by day, in
        // hourly steps. An hour of the week has min_samples within minutes
        // of its first visit; taken alone that early, it fired on the same
        // hour a week later.
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/nab/artificialNoAnomaly/art_daily_no_noise.csv"
        );
        let values: Vec<f64> = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| line.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        let seasonal = Settings {
            seasonal: true,
            ..Settings::default()
        };
        assert_eq!(
            firing_when_scraped(&values, 300.0, 300.0, &seasonal),
            Vec::<usize>::new()
        );
        assert_eq!(
            firing_when_scraped(&values, 300.0, 15.0, &seasonal),
            Vec::<usize>::new()
        );
    }

    /// The spike test's score of `value` at `now`, as `score` judges it.
    fn spike_at(state: &SeriesState, value: f64, now: f64, settings: &Settings) -> f64 {
        let hours = state.hour_expectations(now, settings);
        let closest = state.closest_expectation(value, &hours, settings);
        let join = state.detector.join(value, now);
        state.spike(value, now, closest, join, settings)
    }

    fn feed(
        state: &mut SeriesState,
        settings: &Settings,
        values: impl IntoIterator<Item = f64>,
        t: &mut f64,
    ) {
        for v in values {
            state.update(v, *t, settings);
            *t += TICK;
        }
    }

    #[test]
    fn stationary_series_converges_to_its_mean_and_deviation() {
        let settings = Settings::default();
        let mut state = SeriesState::new(&settings);
        let mut noise = Noise(42);
        let mut t = START;
        feed(
            &mut state,
            &settings,
            (0..5000).map(|_| noise.normal(100.0, 10.0)),
            &mut t,
        );
        let score = state.score(100.0, t, &settings).unwrap();
        assert!(
            (score.baseline - 100.0).abs() < 2.0,
            "mean {}",
            score.baseline
        );
        // Winsorising at 3σ trims a little of a normal's spread.
        assert!((score.stddev - 10.0).abs() < 1.5, "stddev {}", score.stddev);
    }

    #[test]
    fn a_step_pushes_the_ratio_past_1_5_at_once() {
        let settings = Settings::default();
        let mut state = SeriesState::new(&settings);
        let mut noise = Noise(7);
        let mut t = START;
        feed(
            &mut state,
            &settings,
            (0..500).map(|_| noise.normal(100.0, 5.0)),
            &mut t,
        );
        let score = state.score(200.0, t, &settings).unwrap();
        assert!(score.ratio.unwrap() > 1.5, "{score:?}");
        assert!(score.zscore.unwrap() > 10.0, "{score:?}");
    }

    #[test]
    fn a_persistent_level_shift_is_adopted() {
        let settings = Settings {
            half_life_seconds: 900.0,
            ..Settings::default()
        };
        let mut state = SeriesState::new(&settings);
        let mut noise = Noise(9);
        let mut t = START;
        feed(
            &mut state,
            &settings,
            (0..500).map(|_| noise.normal(100.0, 5.0)),
            &mut t,
        );
        // Four hours at the new level.
        feed(
            &mut state,
            &settings,
            (0..960).map(|_| noise.normal(200.0, 5.0)),
            &mut t,
        );
        let score = state.score(200.0, t, &settings).unwrap();
        assert!(score.ratio.unwrap() < 1.1, "{score:?}");
    }

    #[test]
    fn one_spike_does_not_keep_the_band_wide() {
        let settings = Settings::default();
        let mut state = SeriesState::new(&settings);
        let mut noise = Noise(3);
        let mut t = START;
        feed(
            &mut state,
            &settings,
            (0..1000).map(|_| noise.normal(100.0, 5.0)),
            &mut t,
        );
        let before = state.score(100.0, t, &settings).unwrap().stddev;
        feed(&mut state, &settings, [10_000.0], &mut t);
        feed(
            &mut state,
            &settings,
            (0..4).map(|_| noise.normal(100.0, 5.0)),
            &mut t,
        );
        let after = state.score(100.0, t, &settings).unwrap().stddev;
        assert!(
            after < before * 1.2,
            "stddev {before} → {after} after one spike"
        );
        // Without clipping the same spike would blow the band up.
        let unclipped = Settings {
            clip_sigma: f64::INFINITY,
            ..Settings::default()
        };
        let mut naive = SeriesState::new(&unclipped);
        let mut t2 = START;
        let mut noise = Noise(3);
        feed(
            &mut naive,
            &unclipped,
            (0..1000).map(|_| noise.normal(100.0, 5.0)),
            &mut t2,
        );
        feed(&mut naive, &unclipped, [10_000.0], &mut t2);
        assert!(naive.score(100.0, t2, &unclipped).unwrap().stddev > before * 5.0);
    }

    /// The exported band, not only the score: scraped every 15 s the peak's
    /// hour of the week has its own samples within the week; sampled
    /// hourly, the same hour of three days stands in, where the band used
    /// to wait twenty weeks for twenty samples of it.
    #[test]
    fn a_daily_peak_is_expected_with_the_seasonal_profile_only() {
        // 100 all day, 300 from 09:00 to 10:00 UTC.
        let value_at = |t: f64| {
            if ((t / 3600.0).floor() as i64).rem_euclid(24) == 9 {
                300.0
            } else {
                100.0
            }
        };
        let flat = Settings::default();
        let seasonal = Settings {
            seasonal: true,
            ..Settings::default()
        };
        assert_eq!(hour_of_week(MONDAY), 0);
        for (step, days) in [(TICK, 21.0), (3600.0, 4.0)] {
            let mut flat_state = SeriesState::new(&flat);
            let mut seasonal_state = SeriesState::new(&seasonal);
            // Up to the first minute of the last day's peak.
            let peak = MONDAY + days * 86400.0 + 9.0 * 3600.0 + 60.0;
            let mut t = MONDAY;
            while t < peak {
                flat_state.update(value_at(t), t, &flat);
                seasonal_state.update(value_at(t), t, &seasonal);
                t += step;
            }
            let flat_score = flat_state.score(300.0, peak, &flat).unwrap();
            let seasonal_score = seasonal_state.score(300.0, peak, &seasonal).unwrap();
            assert!(
                flat_score.ratio.unwrap() > 1.5,
                "every {step} s, flat: {flat_score:?}"
            );
            assert!(
                seasonal_score.ratio.unwrap() < 1.2,
                "every {step} s, seasonal: {seasonal_score:?}"
            );
            assert!(
                seasonal_score.zscore.unwrap().abs() < 3.0,
                "every {step} s, seasonal: {seasonal_score:?}"
            );
            // The same value at night is still out of its band.
            let night = peak + 18.0 * 3600.0;
            let at_night = seasonal_state.score(300.0, night, &seasonal).unwrap();
            assert!(
                at_night.ratio.unwrap() > 1.5,
                "every {step} s: {at_night:?}"
            );
            assert!(at_night.upper < 300.0, "every {step} s: {at_night:?}");
        }
    }

    #[test]
    fn a_spike_is_measured_against_its_hour_not_the_days_mean() {
        let (state, seasonal) = fed_daily_cycle(21.0, 60.0, 11);
        let night = MONDAY + 21.0 * 86400.0 + 3.0 * 3600.0;
        let noon = MONDAY + 21.0 * 86400.0 + 12.0 * 3600.0;
        // A noon value at 3 a.m. is far past anything 3 a.m. has seen.
        assert!(spike_at(&state, 300.0, night, &seasonal) >= FIRING_LEVEL);
        // At noon it is the daily peak: ordinary.
        assert_eq!(spike_at(&state, daily_cycle(noon), noon, &seasonal), 0.0);
    }

    /// The quiet day after a detection keeps the incident to one page, but
    /// not a value far past the incident's worst: a latency at 26 times its
    /// level, hours after a single value of 0 fired, is news.
    #[test]
    fn within_the_quiet_day_only_a_value_far_past_the_incident_fires() {
        let settings = Settings::default();
        let mut state = SeriesState::new(&settings);
        let mut noise = Noise(17);
        let mut t = START;
        // Every 5 minutes until `until`: `value`, or noise around 100.
        let mut feed = |value: Option<f64>, until: f64| {
            let mut scores = Vec::new();
            while t < until {
                let v = value.unwrap_or_else(|| noise.normal(100.0, 5.0));
                scores.push(state.score(v, t, &settings).and_then(|s| s.anomaly));
                state.update(v, t, &settings);
                t += 300.0;
            }
            scores
        };
        let at = |hours: f64| START + 8.0 * 86400.0 + hours * 3600.0;
        feed(None, at(0.0));
        let fired = feed(Some(0.0), at(0.01));
        assert!(fired[0] >= Some(FIRING_LEVEL), "{fired:?}");
        // The same again two hours later is the same incident.
        feed(None, at(2.0));
        assert_eq!(feed(Some(0.0), at(2.01)), [Some(0.0)]);
        feed(None, at(20.0));
        let worse = feed(Some(2600.0), at(20.01));
        assert!(worse[0] >= Some(FIRING_LEVEL), "{worse:?}");
    }

    /// An incident that came and went does not make the next one
    /// ordinary; a single wild value, the kind a series has, still counts
    /// among its excursions, and so does a level that stays. Alike when
    /// each value is scraped many times: a value held for 5 minutes and
    /// scraped every 15 s is still a single value.
    #[test]
    fn an_incident_that_came_and_went_does_not_hide_the_next() {
        let settings = Settings::default();
        let day = 86400.0;
        // 100 with noise, a value every 5 minutes held and scraped every
        // `scrape` seconds; `incident` from day 10 for `minutes`; then a
        // value of 500 on day 12. Returns its score.
        let next_after = |incident: f64, minutes: f64, back: bool, scrape: f64| {
            let mut state = SeriesState::new(&settings);
            let mut noise = Noise(19);
            let mut t = START;
            while t < START + 12.0 * day {
                let during = t >= START + 10.0 * day && t < START + 10.0 * day + minutes * 60.0;
                let after = t >= START + 10.0 * day + minutes * 60.0 && !back;
                let level = if during || after { incident } else { 100.0 };
                let value = noise.normal(level, 5.0);
                let next = t + 300.0;
                while t < next {
                    state.update(value, t, &settings);
                    t += scrape;
                }
            }
            let level = if back { 500.0 } else { incident + 400.0 };
            state.score(level, t, &settings).and_then(|s| s.anomaly)
        };
        for scrape in [300.0, 60.0, 15.0] {
            // Three hours at 2,000: the next incident, at 500, fires.
            assert!(
                next_after(2000.0, 180.0, true, scrape) >= Some(FIRING_LEVEL),
                "every {scrape} s"
            );
            // One value of 2,000 is the series' own: 500 is no spike.
            assert!(
                next_after(2000.0, 5.0, true, scrape) < Some(FIRING_LEVEL),
                "every {scrape} s"
            );
            // A level of 2,000 that stays is the series' new life.
            assert!(
                next_after(2000.0, 180.0, false, scrape) < Some(FIRING_LEVEL),
                "every {scrape} s"
            );
        }
    }

    /// A daily cycle whose level drifts (a room over the seasons, traffic
    /// that grows), sampled hourly. Each hour comes round once a day, so a
    /// profile of the hours' values would lag the drift by weeks and lose
    /// to the slow mean; offsets from a level that follows the drift keep
    /// the cycle expected.
    #[test]
    fn a_daily_cycle_that_drifts_is_still_expected() {
        // 3 a day: 210 over ten weeks, more than the cycle's own swing.
        let drift = |t: f64| 3.0 * (t - MONDAY) / 86400.0;
        let (state, seasonal) = fed_seasonal(|t| daily_cycle(t) + drift(t), 5.0, 70.0, 3600.0, 13);
        assert!(state.profile_predicts_better());
        let noon = MONDAY + 70.0 * 86400.0 + 12.0 * 3600.0;
        let (expected, _) = state.seasonal_expectation(noon, &seasonal).unwrap();
        let truth = daily_cycle(noon) + drift(noon);
        assert!((expected - truth).abs() < 15.0, "{expected} vs {truth}");
    }

    /// A series first seen at the start of a quiet night (`daily_step`):
    /// nine hours of one level, barely moving, then a busy day. The
    /// profile's hours are offsets from a level of days, which must learn
    /// the whole day before it clips anything against its spread: clipped
    /// against the night's, it crept toward the day's mean for days, and
    /// every hour learned meanwhile held an offset from the wrong level.
    /// Ten days on, the baseline put every hour 4 to 8 off its value, in a
    /// band about 35 wide for a day that swings by 60.
    #[test]
    fn a_series_first_seen_on_a_quiet_night_is_expected_at_every_hour() {
        let (state, seasonal) = fed_seasonal(daily_step, 0.5, 10.0, 300.0, 31);
        let t = MONDAY + 10.0 * 86400.0;
        for hour in [1.0, 4.0, 8.0, 10.0, 15.0, 20.0, 22.0] {
            let now = t + hour * 3600.0;
            let value = daily_step(now);
            let score = state.score(value, now, &seasonal).unwrap();
            assert!(
                (score.baseline - value).abs() < 3.0
                    && score.lower <= value
                    && value <= score.upper
                    && score.upper - score.lower < 20.0,
                "at {hour} h: {value} against {score:?}"
            );
        }
    }

    #[test]
    fn a_daily_cycle_sampled_hourly_is_expected_within_days() {
        // Four days, one sample an hour: four samples of each hour, far
        // fewer than min_samples.
        let (state, seasonal) = fed_daily_cycle(4.0, 3600.0, 5);
        let noon = MONDAY + 4.0 * 86400.0 + 12.0 * 3600.0;
        let night = MONDAY + 4.0 * 86400.0 + 3.0 * 3600.0;
        let (expected, _) = state.seasonal_expectation(noon, &seasonal).unwrap();
        assert!((expected - daily_cycle(noon)).abs() < 20.0, "{expected}");
        // So the noon peak is ordinary and the same value at night is not.
        assert_eq!(spike_at(&state, daily_cycle(noon), noon, &seasonal), 0.0);
        assert!(spike_at(&state, daily_cycle(noon), night, &seasonal) >= FIRING_LEVEL);
        // Two days are not enough to call a shape a cycle.
        let mut young = SeriesState::new(&seasonal);
        let mut t = MONDAY;
        while t < MONDAY + 2.0 * 86400.0 {
            young.update(daily_cycle(t), t, &seasonal);
            t += 3600.0;
        }
        assert_eq!(
            young.seasonal_expectation(t + 12.0 * 3600.0, &seasonal),
            None
        );
    }

    /// Days with anomaly scores at the firing level of a series with
    /// weekdays at `daily_cycle` and weekends at 40% of it, noise of σ 5,
    /// sampled every `step` seconds for ten weeks from `MONDAY`; its sixth
    /// Wednesday is down to a weekend's level all day.
    fn weekly_cycle_firing_days(step: f64) -> Vec<u64> {
        let seasonal = Settings {
            seasonal: true,
            ..Settings::default()
        };
        let mut state = SeriesState::new(&seasonal);
        let mut noise = Noise(7);
        let mut fired = Vec::new();
        let mut t = MONDAY;
        while t < MONDAY + 70.0 * 86400.0 {
            let day = ((t - MONDAY) / 86400.0) as u64;
            let quiet = day % 7 >= 5 || day == OUTAGE_DAY;
            let level = daily_cycle(t) * if quiet { 0.4 } else { 1.0 };
            let value = noise.normal(level, 5.0);
            let score = state.score(value, t, &seasonal).and_then(|s| s.anomaly);
            if score >= Some(FIRING_LEVEL) {
                fired.push(day);
            }
            state.update(value, t, &seasonal);
            t += step;
        }
        fired
    }
    const OUTAGE_DAY: u64 = 5 * 7 + 2;

    #[test]
    fn a_weekday_down_to_a_weekend_level_fires_at_any_sampling_interval() {
        // Sampled hourly, an hour of the week gets one sample a week and
        // would wait min_samples weeks to be trusted; the same hour of the
        // other days mixes weekdays with weekends, whose spread hides a
        // weekday at a Sunday's level and takes every Saturday for news.
        // After three weeks the hour of the week's own mean counts. Every
        // 5 minutes, an hour has its min_samples in two weeks.
        for step in [3600.0, 1800.0, 300.0] {
            let fired = weekly_cycle_firing_days(step);
            assert!(fired.contains(&OUTAGE_DAY), "every {step} s: {fired:?}");
            let elsewhere: Vec<u64> = fired
                .into_iter()
                .filter(|&day| day != OUTAGE_DAY && day >= 7)
                .collect();
            assert!(elsewhere.is_empty(), "every {step} s: {elsewhere:?}");
        }
    }

    #[test]
    fn without_a_weekly_cycle_an_hour_keeps_the_mean_of_all_seven_days() {
        // A daily cycle in noise of σ 40, hourly for five weeks: each hour of
        // the week has five samples, each hour of the day thirty-five.
        let (state, seasonal) = fed_seasonal(daily_cycle, 40.0, 35.0, 3600.0, 3);
        let t = MONDAY + 35.0 * 86400.0;
        let profile = state.seasonal.as_ref().unwrap();
        let (mut expected_error, mut own_error) = (0.0, 0.0);
        for hour in 0..HOURS_PER_WEEK {
            let now = t + 3600.0 * hour as f64;
            let (expected, _) = state.seasonal_expectation(now, &seasonal).unwrap();
            expected_error += (expected - daily_cycle(now)).abs();
            own_error += (f64::from(profile[hour_of_week(now)].mean) - daily_cycle(now)).abs();
        }
        // Five samples of one hour of the week are a noisy mean; the days
        // do not differ, so all seven days' mean stands in.
        assert!(
            expected_error < 0.6 * own_error,
            "{expected_error} vs {own_error}"
        );
    }

    #[test]
    fn after_two_days_without_samples_an_ordinary_day_does_not_fire() {
        // A daily cycle in noise of σ 10, every 5 minutes: four days, then
        // nothing for two (a target that was down), then two days more.
        let settings = Settings::default();
        let gap_start = MONDAY + 4.0 * 86400.0;
        let gap_end = gap_start + 2.0 * 86400.0;
        for seed in 1..=5 {
            let mut state = SeriesState::new(&settings);
            let mut noise = Noise(7919 * seed);
            let mut fired = Vec::new();
            let mut t = MONDAY;
            while t < gap_end + 2.0 * 86400.0 {
                if !(gap_start..gap_end).contains(&t) {
                    let value = noise.normal(daily_cycle(t), 10.0);
                    let score = state.score(value, t, &settings).and_then(|s| s.anomaly);
                    if score >= Some(FIRING_LEVEL) {
                        fired.push((t - gap_end) / 3600.0);
                    }
                    state.update(value, t, &settings);
                }
                t += 300.0;
            }
            assert!(
                fired.is_empty(),
                "seed {seed}: hours after the gap {fired:?}"
            );
            // What is unusual still is.
            let noon = t + 12.0 * 3600.0;
            let spike = state.score(600.0, noon, &settings).and_then(|s| s.anomaly);
            assert!(spike >= Some(FIRING_LEVEL), "seed {seed}: {spike:?}");
        }
    }

    #[test]
    fn a_daily_step_sampled_a_second_early_is_no_anomaly() {
        let seasonal = Settings {
            seasonal: true,
            ..Settings::default()
        };
        let mut state = SeriesState::new(&seasonal);
        let mut noise = Noise(7);
        let mut t = MONDAY;
        while t < MONDAY + 10.0 * 86400.0 {
            state.update(noise.normal(daily_step(t), 1.0), t, &seasonal);
            t += 300.0;
        }
        let nine = MONDAY + 10.0 * 86400.0 + 9.0 * 3600.0;
        let mut half_past_eight = None;
        while t < nine - 300.0 {
            if t == nine - 1800.0 {
                half_past_eight = Some(state.clone());
            }
            state.update(noise.normal(daily_step(t), 1.0), t, &seasonal);
            t += 300.0;
        }
        // The day's first 80, scraped a second before 09:00.
        let early = state.score(80.0, nine - 1.0, &seasonal).unwrap();
        assert!(early.anomaly.unwrap() < FIRING_LEVEL, "{early:?}");
        // At 08:30 the same 80 is no jitter but a step half an hour early.
        let state = half_past_eight.unwrap();
        let before = state.score(80.0, nine - 1800.0, &seasonal).unwrap();
        assert!(before.anomaly.unwrap() >= FIRING_LEVEL, "{before:?}");
    }

    /// The same step scraped every 15 s, its first scrape at each edge
    /// caught halfway (a figure half-written, a rate over a window that
    /// straddles the step): 50 is neither hour's value, but it is on the
    /// way from one to the other.
    #[test]
    fn a_daily_step_caught_halfway_at_the_hour_is_no_anomaly() {
        let seasonal = Settings {
            seasonal: true,
            ..Settings::default()
        };
        let level = |t: f64| {
            let into_day = t.rem_euclid(86400.0);
            if into_day == 9.0 * 3600.0 || into_day == 18.0 * 3600.0 {
                50.0
            } else {
                daily_step(t)
            }
        };
        let mut state = SeriesState::new(&seasonal);
        let mut noise = Noise(11);
        let mut fired = Vec::new();
        let nine = MONDAY + 10.0 * 86400.0 + 9.0 * 3600.0;
        let mut t = MONDAY;
        while t < nine {
            let value = noise.normal(level(t), 1.0);
            if state.score(value, t, &seasonal).and_then(|s| s.anomaly) >= Some(FIRING_LEVEL) {
                fired.push((t - MONDAY) / 3600.0);
            }
            state.update(value, t, &seasonal);
            t += 15.0;
        }
        assert!(fired.is_empty(), "hours {fired:?}");
        // At the edge, a value past both hours' is no step under way.
        let past = state.score(150.0, nine, &seasonal).unwrap();
        assert!(past.anomaly.unwrap() >= FIRING_LEVEL, "{past:?}");
    }

    #[test]
    fn the_score_is_the_same_in_any_unit_and_at_any_offset() {
        // Ten days every 5 minutes: a daily cycle, noise, a spike on day 6
        // and a level shift on day 8.
        let mut noise = Noise(3);
        let samples: Vec<(f64, f64)> = (0..10 * 288)
            .map(|i| {
                let t = MONDAY + 300.0 * i as f64;
                let day = t - MONDAY;
                let mut v = 20.0 + 5.0 * (std::f64::consts::TAU * day / 86400.0).sin();
                v += noise.normal(0.0, 0.5);
                if i == 6 * 288 + 100 {
                    v += 15.0;
                }
                if i >= 8 * 288 {
                    v += 4.0;
                }
                (t, v)
            })
            .collect();
        let scores = |scale: f64, offset: f64, settings: &Settings| -> Vec<Option<f64>> {
            let mut state = SeriesState::new(settings);
            samples
                .iter()
                .map(|&(t, v)| {
                    let v = scale * v + offset;
                    let anomaly = state.score(v, t, settings).and_then(|s| s.anomaly);
                    state.update(v, t, settings);
                    anomaly
                })
                .collect()
        };
        for settings in [
            Settings::default(),
            Settings {
                seasonal: true,
                ..Settings::default()
            },
        ] {
            let reference = scores(1.0, 0.0, &settings);
            assert!(
                reference.iter().flatten().any(|s| *s >= FIRING_LEVEL),
                "the spike or the shift is found"
            );
            // Kelvin, Fahrenheit, milli-units, a large offset, below zero.
            // (The hour profile keeps f32s, 12 bytes an hour: its mean
            // follows a level up to about 10^4 times the deviation; the
            // offset here is 2·10^3 times it.)
            for (scale, offset) in [
                (1.0, 273.15),
                (1.8, 32.0),
                (1e-3, 0.0),
                (1.0, 1e3),
                (1.0, -500.0),
            ] {
                let other = scores(scale, offset, &settings);
                for (i, (a, b)) in reference.iter().zip(&other).enumerate() {
                    match (a, b) {
                        (Some(a), Some(b)) => assert!(
                            (a - b).abs() < 1e-4,
                            "sample {i}, x{scale} + {offset}, seasonal {}: {a} vs {b}",
                            settings.seasonal
                        ),
                        (a, b) => assert_eq!(a.is_some(), b.is_some(), "sample {i}"),
                    }
                }
            }
        }
    }

    #[test]
    fn warm_up_and_volume_floor_withhold_scores() {
        let settings = Settings {
            min_samples: 5,
            volume_floor: 10.0,
            ..Settings::default()
        };
        let mut state = SeriesState::new(&settings);
        let mut t = START;
        feed(&mut state, &settings, [1.0; 4], &mut t);
        assert_eq!(state.score(1.0, t, &settings), None);
        feed(&mut state, &settings, [1.0], &mut t);
        let score = state.score(3.0, t, &settings).unwrap();
        assert_eq!((score.ratio, score.zscore), (None, None));
        assert_eq!(score.baseline, 1.0);
    }

    #[test]
    fn windows_roll_over() {
        let settings = Settings {
            windows_seconds: vec![100.0],
            ..Settings::default()
        };
        let mut state = SeriesState::new(&settings);
        for (i, v) in [5.0, 1.0, 9.0].into_iter().enumerate() {
            state.update(v, 1000.0 + i as f64 * 10.0, &settings);
        }
        let w = state
            .window_stats(1020.0, &settings)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!((w.min, w.max, w.avg, w.count), (1.0, 9.0, 5.0, 3));
        // 105 s after it, the first sample's bucket has left the window.
        let w = state
            .window_stats(1105.0, &settings)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!((w.min, w.max, w.count), (1.0, 9.0, 2));
        assert_eq!(state.window_stats(1200.0, &settings).next().unwrap(), None);
    }

    /// Scores of `values`, one sample every 5 minutes.
    fn scores(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
        let settings = Settings::default();
        let mut state = SeriesState::new(&settings);
        let mut out = Vec::new();
        for (i, v) in values.into_iter().enumerate() {
            let now = START + 300.0 * i as f64;
            out.push(
                state
                    .score(v, now, &settings)
                    .and_then(|s| s.anomaly)
                    .unwrap_or(0.0),
            );
            state.update(v, now, &settings);
        }
        out
    }

    #[test]
    fn the_anomaly_score_fires_on_a_first_excursion_not_on_habits_and_adapts() {
        const DAY: usize = 288;
        let mut noise = Noise(11);
        let loud = |s: &[f64]| -> Vec<usize> {
            s.iter()
                .enumerate()
                .filter(|(_, x)| **x >= 0.5)
                .map(|(i, _)| i)
                .collect()
        };
        // Three calm days, then one sample as far out as the calm days
        // went: not a page.
        let calm: Vec<f64> = (0..3 * DAY).map(|_| noise.normal(50.0, 2.0)).collect();
        let mut wobble = calm.clone();
        wobble.push(56.0);
        let s = scores(wobble);
        assert!(loud(&s).is_empty(), "calm days scored {:?}", loud(&s));
        // One wild sample, far past anything the week held, pages at once,
        // and once: the samples after it are quiet.
        let mut spike = calm.clone();
        spike.push(90.0);
        spike.extend((0..DAY).map(|_| noise.normal(50.0, 2.0)));
        let s = scores(spike);
        assert_eq!(loud(&s), vec![3 * DAY], "spike");
        // An excursion that lasts fires within a few samples, once.
        let mut excursion = calm;
        excursion.extend((0..24).map(|_| noise.normal(90.0, 2.0)));
        let s = scores(excursion);
        assert_eq!(loud(&s).len(), 1, "{:?}", loud(&s));
        assert!(loud(&s)[0] <= 3 * DAY + 3, "{:?}", loud(&s));
        // The same spike every two hours is how that series behaves.
        let habitual: Vec<f64> = (0..6 * DAY)
            .map(|i| noise.normal(50.0, 2.0) + if i % 24 == 0 { 40.0 } else { 0.0 })
            .collect();
        let s = scores(habitual);
        let over: Vec<usize> = loud(&s).into_iter().filter(|i| *i >= 2 * DAY).collect();
        assert!(over.is_empty(), "habitual spikes scored {over:?}");
        // A level shift fires once, and is adopted.
        let shifted: Vec<f64> = (0..6 * DAY)
            .map(|i| noise.normal(if i < 3 * DAY { 50.0 } else { 80.0 }, 2.0))
            .collect();
        let s = scores(shifted);
        let fired = loud(&s);
        assert!(
            fired.len() == 1 && fired[0] <= 3 * DAY + 3,
            "shift fired at {fired:?}"
        );
    }

    #[test]
    fn a_wandering_series_pages_past_its_wanders_not_on_them() {
        // Noise whose samples follow each other (lag-1 correlation 0.98),
        // σ 5 around 100, five weeks every 5 minutes: a temperature, a CPU.
        const DAY: usize = 288;
        let wandering = |seed: u64| -> Vec<f64> {
            let mut noise = Noise(seed);
            let mut wander = 0.0;
            (0..35 * DAY)
                .map(|_| {
                    wander = 0.98 * wander + noise.normal(0.0, 5.0 * (1.0f64 - 0.98 * 0.98).sqrt());
                    100.0 + wander
                })
                .collect()
        };
        let pages = |s: &[f64]| -> Vec<usize> {
            (DAY..s.len()).filter(|&i| s[i] >= FIRING_LEVEL).collect()
        };
        for seed in [3, 7] {
            let values = wandering(seed);
            // Without the record test, 13 pages for the first seed: twice
            // a week. With it, at most one a week.
            let ordinary = pages(&scores(values.clone()));
            assert!(
                ordinary.len() <= 5,
                "seed {seed}: wanders paged at {ordinary:?}"
            );
            // Two hours at twice the farthest the last week wandered, on
            // day 30: past anything it did, and paged within the hour.
            let at = 30 * DAY;
            let farthest = values[at - 7 * DAY..at]
                .iter()
                .map(|v| (v - 100.0).abs())
                .fold(0.0, f64::max);
            let mut shifted = values;
            for v in &mut shifted[at..at + 24] {
                *v += 2.0 * farthest;
            }
            let fired = pages(&scores(shifted));
            assert!(
                fired.iter().any(|&i| (at..at + 12).contains(&i)),
                "seed {seed}: the shift at {at} went unpaged; pages at {fired:?}"
            );
        }
    }

    #[test]
    fn a_young_baseline_does_not_follow_a_step_within_minutes() {
        // Queue depth 5, then 12x that as soon as the baseline is warm: the
        // alert must not resolve while the new level stays.
        let settings = Settings {
            min_samples: 10,
            ..Settings::default()
        };
        let mut noise = Noise(3);
        let mut state = SeriesState::new(&settings);
        let mut t = START;
        feed(
            &mut state,
            &settings,
            (0..10).map(|_| noise.normal(5.0, 0.2)),
            &mut t,
        );
        for tick in 0..20 {
            let score = state.score(60.0, t, &settings).unwrap();
            let ratio = score.ratio.unwrap();
            assert!(
                ratio > 5.0,
                "tick {tick}: ratio {ratio}, baseline {}",
                score.baseline
            );
            state.update(60.0, t, &settings);
            t += 15.0;
        }
    }

    #[test]
    fn the_lower_band_stops_at_zero_for_series_that_never_go_negative() {
        let settings = Settings {
            min_samples: 3,
            ..Settings::default()
        };
        let spiky = [0.0, 40.0, 0.0, 60.0, 1.0, 50.0, 0.0, 45.0];
        let mut state = SeriesState::new(&settings);
        let mut t = START;
        feed(&mut state, &settings, spiky, &mut t);
        let score = state.score(20.0, t, &settings).unwrap();
        assert!(score.baseline - 3.0 * score.stddev < 0.0, "{score:?}");
        assert_eq!(score.lower, 0.0, "{score:?}");
        // One that has gone negative keeps its band.
        feed(&mut state, &settings, [-5.0], &mut t);
        let score = state.score(20.0, t, &settings).unwrap();
        assert!(score.lower < 0.0, "{score:?}");
    }

    #[test]
    fn state_is_small() {
        // The three windows' buckets take 960 bytes of it; the anomaly
        // score's state (reference, errors, likelihood, pulse) 288 at most.
        let detector = std::mem::size_of::<Detector>();
        assert!(detector <= 288, "{detector} bytes");

        let plain = SeriesState::new(&Settings::default());
        // Under 1.3 KiB.
        assert!(plain.size_bytes() <= 1331, "{} bytes", plain.size_bytes());
        let seasonal = SeriesState::new(&Settings {
            seasonal: true,
            ..Settings::default()
        });
        assert!(
            seasonal.size_bytes() <= 4096,
            "{} bytes",
            seasonal.size_bytes()
        );
    }
}
