//! The anomaly likelihood: a post-processor over a raw surprise score, after
//! the one Numenta's HTM detector relies on. A raw score (how many
//! deviations the value is from what was expected) is noisy: a jumpy series
//! has large ones every hour. What is unusual is a run of raw scores higher
//! than this series usually gives. So the mean of the last few readings' raw
//! scores (samples that repeat one value are one reading, and on a series
//! scraped every 15 or 30 s so are 5 minutes of samples, see
//! `Reading::joined_by`) is compared with the long-run distribution of raw
//! scores (a decayed mean and
//! variance), and the score is how improbable that mean is under it, on a
//! log scale: 0.5 (the firing level) at the tail probability
//! `firing_tail`, 1 at its square.
//!
//! A run must also go past the runs of the last week or so: the recent
//! mean's distance from the long-run mean (in its deviations) is
//! remembered at its largest, fading as the spike test's excursions do, and
//! a run scores only once it is `PAST_RECORD` times as far. The test above
//! is loose for noise whose samples follow each other (a temperature, a CPU
//! that wanders): the mean of 8 such raw scores spreads as much as one, so
//! the one-in-100 tail is reached by an ordinary wander twice a week. Such
//! wanders are as large one week as the next; an incident goes past them.
//!
//! After the score reaches the firing level the likelihood reads 0 for a
//! quiet period: one incident is one detection (which is also how the
//! Numenta Anomaly Benchmark counts it) and one page. Only the spike test
//! can fire within it, on a value well past the incident's worst (see
//! `SeriesState::spike`).
//!
//! State: a ring of recent readings' raw scores and the reading under way,
//! how many samples the latest values lasted, the long-run mean and
//! variance, the largest recent run (of the readings ended and of the one
//! under way), and when the quiet period ends; under 128 bytes.

use serde::{Deserialize, Serialize};

/// Readings averaged into "recent".
pub const RECENT: usize = 8;

/// Samples with the same value, within this long of the first of them, are
/// one reading (and on a series read in slots, any samples: see
/// `SLOT_INTERVAL_SECONDS`). A gauge that changes every 5 minutes and is
/// scraped every 15 s repeats each value 20 times: one observation, not
/// twenty. Counted as twenty, the mean of the last 8 covered two minutes,
/// a single value filled it, and the dev split scored 53.0 instead of 72.7
/// when scraped so (docs/backtest.md, "Scraped more often than the series
/// changes").
/// A value that stays the same for longer is a new reading every 5
/// minutes, the pace the likelihood's settings were chosen at, unless the
/// values before it lasted longer too (see `Reading::joined_by`).
pub const READING_SECONDS: f64 = 300.0;

/// A series sampled at least this often (8 samples a reading or more) is
/// read in slots of time: a sample within `READING_SECONDS` of a reading's
/// first is part of it, whatever its value (see `Join::Slot`). A gauge
/// scraped every 15 or 30 s moves at every scrape (a queue, memory, a
/// rate), a little at a time. Read sample by sample, the recent mean of 8
/// spanned two minutes, and a rise that took 5 minutes was measured
/// against a record that already held most of it: the dev split, each
/// value drawn as a line to the next and scraped every 15 s, scored 36.2,
/// and 66.3 read in slots, against 72.7 as recorded (docs/backtest.md,
/// "Values that change at every scrape"). A sample a minute is read sample
/// by sample: read in slots, the second corpus's 11 series recorded a
/// sample a minute cost it 0.7 points (47.3 against 48.0).
pub const SLOT_INTERVAL_SECONDS: f64 = READING_SECONDS / 8.0;

/// The score at which a detection is made, after which the quiet period runs.
pub const FIRING_LEVEL: f64 = 0.5;

/// How far past the largest run of the last week or so a run must go to
/// score: a tenth further. At the record itself, a wandering series sets a
/// new one every few days; a fifth further, a synthetic dev series' anomaly
/// went unseen, three days after a smaller excursion.
pub const PAST_RECORD: f64 = 1.1;

/// The spread of raw scores (in deviations) never counts as less than this,
/// so a series that was perfectly flat does not make its first wobble
/// infinitely improbable.
const MIN_SPREAD: f64 = 0.3;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Likelihood {
    /// The raw scores of the last readings, a ring.
    pub recent: [f32; RECENT],
    pub next: u8,
    pub filled: u8,
    /// The reading under way, not yet in the ring.
    pub reading: Reading,
    /// Samples of the current value so far, and of the value before it.
    pub value_samples: u32,
    pub previous_value_samples: u32,
    /// The fewer samples of the two values before the current one (a
    /// transit between them not counted): how long a value is usually held
    /// (see `Reading::joined_by`).
    pub held_samples: u32,
    /// Whether the value before the current one was read once after a
    /// held value (see `Likelihood::count_sample`), and is not counted yet:
    /// whether it is one of the last two values shows once the current one
    /// is held, or not.
    pub transit_pending: bool,
    /// Readings put in the ring so far.
    pub readings: u32,
    /// Decayed mean and variance of all raw scores so far.
    pub mean: f64,
    pub variance: f64,
    pub count: u32,
    /// Until when the score reads 0 after a detection.
    pub quiet_until: f64,
    /// The largest distance of a recent mean from the long-run mean, in
    /// its deviations, lately; fading with the excursions' half-life. The
    /// largest of the reading under way is kept apart until it ends (see
    /// `Join::Slot`).
    pub record: f64,
    pub reading_record: f64,
}

/// How a sample joins the readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// It ends the reading under way, if any, and starts the next.
    Next,
    /// It repeats the latest value of the reading under way. Measured
    /// against all records, as any sample that is not a slot's: a value
    /// held a minute and scraped every 15 s is one observation, whose
    /// repeats say nothing new (measured against the records before their
    /// reading, the second corpus so scraped scored 48.3 instead of 49.5).
    Repeat,
    /// Another value within the slot of the reading under way, on a series
    /// read in slots (see `SLOT_INTERVAL_SECONDS`). It is measured against
    /// the records of the readings before its slot, not against the slot's
    /// own earlier samples: a rise that builds over the slot is a rise,
    /// not a step past the step before it.
    Slot,
}

impl Join {
    /// Whether the sample's reading is the one under way.
    pub fn continues(self) -> bool {
        self != Join::Next
    }
}

/// Samples read as one observation: the repeats of a value, or a slot of
/// time on a series read in slots (see `Reading::joined_by`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub value: f64,
    /// When its first sample was taken.
    pub since: f64,
    /// The sum of its samples' raw scores, and how many there were.
    pub raw_sum: f32,
    pub samples: u32,
}

impl Reading {
    /// How a sample of `value` at `now` joins this reading. A job
    /// that writes its figure once an hour, scraped every 15 s, repeats it
    /// 240 times: one observation, not 12 readings of 5 minutes that fill
    /// the recent mean alone. So a repeat continues the reading within
    /// `READING_SECONDS` of its first sample, or while the reading has fewer
    /// samples than each of the two values before it had (`held_samples`),
    /// and an eighth more (none below 8 samples) for a scrape that lands
    /// late. The last two values, not one, so that a value read twice by
    /// chance does not merge the next; samples, not time, so that a series
    /// whose every value differs (`held_samples` at most 1) is read sample
    /// by sample at any interval, unless it is read in slots (below). A
    /// value held longer than those before it (a job that stopped writing)
    /// is a new reading each time that span passes, so a level that holds
    /// is still read, at the pace the series has changed at. That holds for
    /// a series that moves in steps at its own pace too (a square wave, a
    /// count resting at 0): each level is one reading while it lasts no
    /// longer than the levels before it.
    ///
    /// `in_slots`: on a series sampled every `SLOT_INTERVAL_SECONDS` or
    /// more often, another value also continues the reading within
    /// `READING_SECONDS` of its first sample, unless the two values before
    /// it were each held (`last_two_held`, the fewer samples of the two,
    /// above 1): values held a minute each and scraped every 15 s are each a
    /// reading, as they are at any pace (merged into slots, the second
    /// corpus so scraped scored 48.8 instead of 49.5). Two values, as
    /// above, so that a count read twice by chance does not end the slot.
    fn joined_by(
        &self,
        value: f64,
        now: f64,
        held_samples: u32,
        in_slots: bool,
        last_two_held: u32,
    ) -> Join {
        let within = now - self.since < READING_SECONDS;
        if self.repeats(value) {
            if within || self.samples < held_samples.saturating_add(held_samples / 8) {
                return Join::Repeat;
            }
        } else if in_slots && self.samples > 0 && within && last_two_held <= 1 {
            return Join::Slot;
        }
        Join::Next
    }

    /// Whether `value` is this reading's value.
    fn repeats(&self, value: f64) -> bool {
        self.samples > 0 && value == self.value
    }

    fn raw(&self) -> f64 {
        f64::from(self.raw_sum) / f64::from(self.samples)
    }
}

/// How `Likelihood` weighs time; the fields of `Settings` it reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LikelihoodSettings {
    /// Half-life of the long-run distribution of raw scores.
    pub memory_seconds: f64,
    /// Raw scores before the long-run distribution is trusted.
    pub min_samples: u32,
    /// How long the score stays 0 after a detection.
    pub quiet_seconds: f64,
    /// The tail probability of the recent mean that scores the firing level.
    pub firing_tail: f64,
}

impl Likelihood {
    /// The score of the recent readings with the sample `raw` at `now`
    /// added to its reading (`join`, as `join` gave for the sample), against the
    /// long-run distribution as it was before it; 0 while quiet or before
    /// enough readings were seen.
    pub fn score(&self, raw: f64, join: Join, now: f64, settings: &LikelihoodSettings) -> f64 {
        if !raw.is_finite() {
            return 0.0;
        }
        let z = self.run_deviations(raw, join);
        self.run_score(z, self.record_for(join), now, settings)
    }

    /// How a sample of `value` at `now` joins the readings (see
    /// `Reading::joined_by`).
    pub fn join(&self, value: f64, now: f64, in_slots: bool) -> Join {
        self.reading.joined_by(
            value,
            now,
            self.held_samples,
            in_slots,
            self.last_two_held(),
        )
    }

    /// The fewer samples of the current value and the one before it: what
    /// `held_samples` becomes when the current value ends, unless it is a
    /// transit.
    fn last_two_held(&self) -> u32 {
        self.value_samples.min(self.previous_value_samples)
    }

    /// Counts a sample of `value`, `elapsed` seconds after the one before,
    /// among the samples of its value (see `held_samples`).
    ///
    /// A value read once, for no longer than a slot's scrape interval,
    /// between two held values is a transit: a figure caught half-written,
    /// or a sum of two sources that changed seconds apart. It is not one
    /// of the last two values. Counted as one, it made the two hourly
    /// values after it 12 readings each, which fill the recent mean alone:
    /// over 20 seeds of 18 days of hourly noise scraped every 15 s, with
    /// such a transit at every change, 74 hours reached the firing level
    /// (80 every 30 s), against 3 without transits; read so, 3 with them.
    ///
    /// Whether the value after it is held shows at its second sample: if
    /// it is, the transit is as if it had not been read; if that value
    /// changes at once too, the transit counts as a value, so a series
    /// whose values change at every scrape is read as before. At a sample
    /// a minute or less often, a value read once is an observation of its
    /// own, as in a count resting at 0 but for one hour.
    // Inlined, as the code it replaced was: it is on every sample's path,
    // and the size-optimised build called it (3 to 7% fewer updates a
    // second with the seasonal profile).
    #[inline]
    fn count_sample(&mut self, value: f64, elapsed: f64) {
        if self.reading.repeats(value) {
            // Held: the value read once before it was a transit.
            self.transit_pending = false;
        } else {
            if self.transit_pending {
                // Read once too: the value before it was one of its own.
                self.value_ended(1);
                self.transit_pending = false;
            }
            if self.value_samples > 0 {
                if self.transit_ends(elapsed) {
                    self.transit_pending = true;
                } else {
                    self.value_ended(self.value_samples);
                }
            }
            self.value_samples = 0;
        }
        self.value_samples = self.value_samples.saturating_add(1);
    }

    /// Whether the current value, ending `lasted` seconds after its first
    /// sample, may be a transit: read once, no longer than a slot's scrape
    /// interval, after a held value.
    #[inline]
    fn transit_ends(&self, lasted: f64) -> bool {
        self.value_samples == 1
            && self.previous_value_samples > 1
            && lasted <= SLOT_INTERVAL_SECONDS
    }

    /// A value read `samples` times ended: the next is read against how
    /// long the last two were held.
    #[inline]
    fn value_ended(&mut self, samples: u32) {
        self.held_samples = samples.min(self.previous_value_samples);
        self.previous_value_samples = samples;
    }

    /// The record run a sample is measured against, given how it `join`s
    /// the readings: that of the readings ended before its slot (see
    /// `Join::Slot`), or all of it.
    fn record_for(&self, join: Join) -> f64 {
        if join == Join::Slot {
            self.record
        } else {
            self.record.max(self.reading_record)
        }
    }

    /// Readings so far, the one under way included.
    fn readings_seen(&self) -> u32 {
        self.readings + u32::from(self.reading.samples > 0)
    }

    /// The score of a run `z` deviations from the long-run mean (see
    /// `run_deviations`), past a `record` of earlier runs.
    fn run_score(&self, z: f64, record: f64, now: f64, settings: &LikelihoodSettings) -> f64 {
        if now < self.quiet_until || self.readings_seen() < settings.min_samples {
            return 0.0;
        }
        if z <= 0.0 || z < PAST_RECORD * record {
            // No more improbable than usual, or than lately.
            return 0.0;
        }
        (FIRING_LEVEL * ln_upper_tail(z) / settings.firing_tail.ln()).clamp(0.0, 1.0)
    }

    /// How far the mean of the recent readings' raw scores, with the
    /// sample `raw` added to its reading (see `join`), lies from the
    /// long-run mean, in the long-run deviations.
    fn run_deviations(&self, raw: f64, join: Join) -> f64 {
        let reading = &self.reading;
        // The sample's reading, and the one before it if the sample ends it.
        let (latest, ended) = if join.continues() {
            (
                (f64::from(reading.raw_sum) + raw) / (f64::from(reading.samples) + 1.0),
                None,
            )
        } else {
            (raw, (reading.samples > 0).then(|| reading.raw()))
        };
        let kept = usize::from(self.filled).min(RECENT - 1 - usize::from(ended.is_some()));
        // The oldest of a full ring is the one the new readings replace.
        let sum: f64 = (1..=kept)
            .map(|back| f64::from(self.recent[(usize::from(self.next) + RECENT - back) % RECENT]))
            .sum::<f64>()
            + ended.unwrap_or(0.0);
        let count = kept + usize::from(ended.is_some()) + 1;
        let recent = (sum + latest) / count as f64;
        (recent - self.mean) / self.variance.sqrt().max(MIN_SPREAD)
    }

    /// Folds in `raw`, the raw score of `value` at `now` (`join`, as `join`
    /// gave for this `value` and `now`), `elapsed` seconds after the previous
    /// sample; the record run keeps
    /// `record_fade` of its size (`excursion::fade`). Each sample weighs in
    /// the long-run distribution by the time it covers, so the repeats of a
    /// reading weigh as much together as one sample taken at their pace.
    /// Returns the score of the sample, as `score` gives it.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        raw: f64,
        value: f64,
        now: f64,
        elapsed: f64,
        record_fade: f64,
        join: Join,
        settings: &LikelihoodSettings,
    ) -> f64 {
        if !raw.is_finite() {
            return 0.0;
        }
        let z = self.run_deviations(raw, join);
        let score = self.run_score(z, self.record_for(join), now, settings);
        if score >= FIRING_LEVEL {
            self.quiet_until = now + settings.quiet_seconds;
        }
        if join == Join::Next {
            self.record = self.record.max(self.reading_record);
            self.reading_record = 0.0;
        }
        self.record *= record_fade;
        self.reading_record *= record_fade;
        if self.readings_seen() >= settings.min_samples {
            // Incidents count too: the aftermath of one is not a new one.
            self.reading_record = self.reading_record.max(z);
        }
        self.count_sample(value, elapsed);
        if join.continues() {
            // In a slot, a repeat is of the latest value.
            self.reading.value = value;
        } else {
            if self.reading.samples > 0 {
                self.recent[usize::from(self.next) % RECENT] = self.reading.raw() as f32;
                self.next = ((usize::from(self.next) + 1) % RECENT) as u8;
                self.filled = self.filled.saturating_add(1).min(RECENT as u8);
                self.readings = self.readings.saturating_add(1);
            }
            self.reading = Reading {
                value,
                since: now,
                raw_sum: 0.0,
                samples: 0,
            };
        }
        self.reading.raw_sum += raw as f32;
        self.reading.samples = self.reading.samples.saturating_add(1);
        let decay = 1.0 - (-std::f64::consts::LN_2 * elapsed / settings.memory_seconds).exp();
        // Equal weights at first, so the first raw scores do not dominate.
        let alpha = decay.max(1.0 / f64::from(self.count.saturating_add(1)));
        let diff = raw - self.mean;
        let increment = alpha * diff;
        self.mean += increment;
        self.variance = ((1.0 - alpha) * (self.variance + diff * increment)).max(0.0);
        self.count = self.count.saturating_add(1);
        score
    }
}

/// ln P(Z > z) for a standard normal Z and z ≥ 0: `ln(erfc(z / √2) / 2)`,
/// with erfc from its Chebyshev fit (fractional error under 1.2e-7), taken
/// in logs: precise far in the tail, where `1 - cdf` would round to 0, and
/// without an exp and a ln per score.
pub fn ln_upper_tail(z: f64) -> f64 {
    let x = z.max(0.0) / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let ln_erfc = t.ln() - x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    ln_erfc - std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_matches_the_normal_distribution() {
        for (z, expected) in [
            (0.0, 0.5),
            (1.0, 0.158_655_25),
            (3.0, 1.349_898e-3),
            (6.0, 9.865_876e-10),
            (20.0, 2.753_624e-89),
        ] {
            let got = ln_upper_tail(z).exp();
            assert!(
                ((got - expected) / expected).abs() < 1e-6,
                "{z}: {got} vs {expected}"
            );
        }
    }

    const SETTINGS: LikelihoodSettings = LikelihoodSettings {
        memory_seconds: 2.0 * 86_400.0,
        min_samples: 20,
        quiet_seconds: 86_400.0,
        firing_tail: 0.01,
    };

    /// Feeds `samples` samples of `value`, `every` seconds apart from
    /// `*now`; returns how many readings were put in the ring meanwhile.
    fn hold(
        likelihood: &mut Likelihood,
        value: f64,
        samples: u32,
        every: f64,
        now: &mut f64,
    ) -> u32 {
        read(
            likelihood,
            std::iter::repeat_n(value, samples as usize),
            every,
            false,
            now,
        )
    }

    /// Feeds `values` `every` seconds apart from `*now`, read in slots if
    /// `in_slots`; returns how many readings were put in the ring meanwhile.
    fn read(
        likelihood: &mut Likelihood,
        values: impl IntoIterator<Item = f64>,
        every: f64,
        in_slots: bool,
        now: &mut f64,
    ) -> u32 {
        let before = likelihood.readings;
        for value in values {
            let join = likelihood.join(value, *now, in_slots);
            likelihood.update(1.0, value, *now, every, 1.0, join, &SETTINGS);
            *now += every;
        }
        likelihood.readings - before
    }

    #[test]
    fn a_gauge_that_changes_at_every_scrape_is_read_in_slots_of_5_minutes() {
        let changing = || (0..200).map(f64::from);
        let mut now = 0.0;
        // Every 15 s, 200 values are 10 slots of 20, the last under way.
        assert_eq!(
            read(&mut Likelihood::default(), changing(), 15.0, true, &mut now),
            9
        );
        // Not in slots (a sample a minute or less often), each is a reading.
        assert_eq!(
            read(
                &mut Likelihood::default(),
                changing(),
                60.0,
                false,
                &mut now
            ),
            199
        );
        // Values held a minute each and scraped every 15 s are each a
        // reading in slots too, from the third on: two held values end
        // the slot.
        let held = (0..50).flat_map(|minute| std::iter::repeat_n(f64::from(minute), 4));
        assert_eq!(
            read(&mut Likelihood::default(), held, 15.0, true, &mut now),
            48
        );
        // A value read twice by chance does not: 1, 2, 2, 3, ... is 10
        // slots, as 1, 2, 3, ... is.
        let repeat_by_chance = [1.0, 2.0].into_iter().chain(changing().skip(2));
        let slots = read(
            &mut Likelihood::default(),
            repeat_by_chance,
            15.0,
            true,
            &mut now,
        );
        assert_eq!(slots, 9);
    }

    #[test]
    fn a_value_held_no_longer_than_the_two_before_it_is_one_reading() {
        let mut likelihood = Likelihood::default();
        let mut now = 0.0;
        // Hourly values scraped every 15 s. The first two, with nothing to
        // go by, are read every 5 minutes: 12 readings each, of which the
        // last ends when the next value comes.
        assert_eq!(hold(&mut likelihood, 1.0, 240, 15.0, &mut now), 11);
        assert_eq!(hold(&mut likelihood, 2.0, 240, 15.0, &mut now), 12);
        // From the third on, a value is one reading, a scrape that lands
        // late included: each ends as the next one comes.
        assert_eq!(hold(&mut likelihood, 3.0, 240, 15.0, &mut now), 1);
        assert_eq!(hold(&mut likelihood, 4.0, 241, 15.0, &mut now), 1);
        assert_eq!(hold(&mut likelihood, 5.0, 240, 15.0, &mut now), 1);
        // A value held for a day (a job that stopped writing) is a new
        // reading every 270 samples, an hour and an eighth.
        assert_eq!(
            hold(&mut likelihood, 6.0, 5_760, 15.0, &mut now),
            1 + 5_760 / 270
        );
    }

    #[test]
    fn a_value_read_once_between_held_values_is_a_transit() {
        let mut likelihood = Likelihood::default();
        let mut now = 0.0;
        hold(&mut likelihood, 1.0, 240, 15.0, &mut now);
        hold(&mut likelihood, 2.0, 240, 15.0, &mut now);
        // Hourly values scraped every 15 s, each caught half-written for
        // one scrape: the transit is a reading of its own, and the value
        // after it one reading, as without it. Each hold ends the reading
        // before it.
        for value in [3.0, 4.0, 5.0] {
            assert_eq!(hold(&mut likelihood, value - 0.5, 1, 15.0, &mut now), 1);
            assert_eq!(hold(&mut likelihood, value, 239, 15.0, &mut now), 1);
        }
        // Values that change at every scrape after a held one are read
        // as before: each value a reading.
        assert_eq!(
            read(
                &mut likelihood,
                (6..26).map(f64::from),
                15.0,
                false,
                &mut now
            ),
            20
        );
        // At a sample a minute a value read once is an observation: the
        // value after it is read every 5 minutes until two values were
        // held as long.
        let mut likelihood = Likelihood::default();
        for value in [1.0, 2.0, 3.0] {
            hold(&mut likelihood, value, 60, 60.0, &mut now);
        }
        hold(&mut likelihood, 3.5, 1, 60.0, &mut now);
        assert_eq!(hold(&mut likelihood, 4.0, 59, 60.0, &mut now), 12);
    }

    #[test]
    fn a_value_read_twice_by_chance_does_not_merge_the_next() {
        // Every 5 minutes: 1, 2, 2, 3, 3. The value before 2 was read once,
        // so 2's repeat is no habit and 3's repeat is a reading of its own.
        let mut likelihood = Likelihood::default();
        let mut now = 0.0;
        let readings: u32 = [(1.0, 1), (2.0, 2), (3.0, 2), (4.0, 1)]
            .into_iter()
            .map(|(value, samples)| hold(&mut likelihood, value, samples, 300.0, &mut now))
            .sum();
        assert_eq!(readings, 5);
        // After two values held twice each, a third is one reading: only
        // the value before it ends while it is read.
        for value in [5.0, 6.0, 7.0] {
            hold(&mut likelihood, value, 2, 300.0, &mut now);
        }
        assert_eq!(likelihood.held_samples, 2);
        assert_eq!(hold(&mut likelihood, 8.0, 2, 300.0, &mut now), 1);
    }
}
