//! No input sequence (NaN, infinities, huge, negative, counter resets, time
//! going backwards) makes the baselines panic or export a non-finite value.

use outrider::baseline::state::{SeriesState, Settings};
use outrider::baseline::{Config, TrackConfig, Tracker};
use outrider::metric::Family;
use outrider::selector::Selector;
use proptest::prelude::*;

fn awkward_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(0.0),
        -1e12f64..1e12,
        any::<f64>(),
    ]
}

fn step() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(-30.0), 0.001f64..100_000.0]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn state_scores_are_always_finite(
        seasonal in any::<bool>(),
        samples in prop::collection::vec((step(), awkward_value()), 1..200),
    ) {
        let settings = Settings { seasonal, min_samples: 3, ..Settings::default() };
        let mut state = SeriesState::new(&settings);
        let mut now = 1_700_000_000.0;
        for (dt, value) in samples {
            now += dt;
            if let Some(score) = state.score(value, now, &settings) {
                for x in [score.baseline, score.stddev, score.upper, score.lower] {
                    prop_assert!(x.is_finite(), "{score:?}");
                }
                prop_assert!(score.ratio.is_none_or(f64::is_finite));
                prop_assert!(score.zscore.is_none_or(f64::is_finite));
            }
            state.update(value, now, &settings);
            for stats in state.window_stats(now, &settings).flatten() {
                prop_assert!(stats.min.is_finite() && stats.max.is_finite() && stats.avg.is_finite());
            }
        }
    }

    #[test]
    fn tracker_exports_only_finite_values(
        counter in any::<bool>(),
        samples in prop::collection::vec((step(), awkward_value()), 1..100),
    ) {
        let config = Config {
            min_samples: 2,
            track: vec![TrackConfig {
                selector: Selector::parse("s").unwrap(),
                seasonal: Some(true),
                volume_floor: 0.0,
                half_life: None,
                histogram: None,
            }],
            ..Config::default()
        };
        let mut tracker = Tracker::new(config);
        let mut now = 1_700_000_000.0;
        for (dt, value) in samples {
            now += dt;
            let family = if counter { Family::counter("s", "S.") } else { Family::gauge("s", "S.") };
            let out = tracker.observe(&[family.single(value)], now);
            for f in out {
                for s in f.samples {
                    prop_assert!(s.value.is_finite(), "{} = {}", f.name, s.value);
                }
            }
        }
    }
}
