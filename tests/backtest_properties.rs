//! The backtest's readers take outside input: no text makes them panic,
//! every well-formed file reads back exactly, samples that go back are
//! skipped and counted, and a bad line is reported with its own number.

use outrider::backtest::input::{parse_csv, parse_exposition, parse_query_range, parse_timestamp};
use proptest::prelude::*;

fn csv_text() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just(String::new()),
        "[0-9]{1,12}(\\.[0-9]{0,4})?",
        "-?[0-9]{0,6}\\.?[0-9]{0,6}(e[+-]?[0-9]{1,3})?",
        "20[0-9]{2}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?)?",
        "(NaN|inf|-inf|timestamp|value|\u{feff}|\"|\r|;|\t)",
        "\"[^\"]{0,12}(\"\"[^\"]{0,4})?\"",
        "[a-z]{1,6}\\{([a-z]{1,3}=\"[a-z0-9]{0,3}\",?){0,3}\\}",
        any::<String>(),
    ];
    let line = prop::collection::vec(field, 0..5).prop_map(|f| f.join(","));
    prop::collection::vec(line, 0..20).prop_map(|l| l.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_text_makes_the_reader_panic(text in csv_text()) {
        if let Ok(series) = parse_csv(&text, "f.csv", "s") {
            for s in series {
                prop_assert_eq!(s.times.len(), s.values.len());
                prop_assert!(s.times.windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }

    #[test]
    fn samples_that_go_back_are_skipped_and_the_rest_kept_in_order(
        times in prop::collection::vec(0u32..1000, 1..60),
    ) {
        let mut text = String::from("timestamp,value\n");
        for (i, t) in times.iter().enumerate() {
            text.push_str(&format!("{},{i}\n", 1_700_000_000 + t));
        }
        let series = parse_csv(&text, "f.csv", "s").unwrap().remove(0);
        // Exactly the samples at or after the latest time kept so far.
        let mut kept = Vec::new();
        let mut latest = None;
        for (i, t) in times.iter().enumerate() {
            if latest.is_none_or(|l| t >= l) {
                latest = Some(t);
                kept.push(i as f64);
            }
        }
        prop_assert_eq!(&series.values, &kept);
        prop_assert!(series.times.windows(2).all(|w| w[0] <= w[1]));
        prop_assert_eq!(series.out_of_order.count, times.len() - kept.len());
    }

    #[test]
    fn no_bytes_make_the_reader_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_csv(&text, "f.csv", "s");
        let _ = parse_exposition(&text, "f.om");
        let _ = parse_query_range(text.as_bytes());
        let _ = parse_timestamp(&text);
    }

    #[test]
    fn well_formed_files_read_back_exactly(
        start in 0u32..2_000_000_000,
        steps in prop::collection::vec((1u32..100_000, -1e12f64..1e12), 1..50),
        bad_at in prop::option::of(0usize..50),
        separator in prop::sample::select(vec![",", ";", "\t"]),
        quoted in any::<bool>(),
        milliseconds in any::<bool>(),
    ) {
        // As a spreadsheet or Grafana may write it: another separator,
        // every field quoted, times in milliseconds.
        let field = |text: String| if quoted { format!("\"{text}\"") } else { text };
        let mut text = format!("{}{separator}{}\r\n", field("timestamp".into()), field("value".into()));
        let mut expected = Vec::new();
        // Milliseconds are told from seconds by their size: from 1973 on.
        let mut t = f64::from(start) + if milliseconds { 1e8 } else { 0.0 };
        for (i, (dt, v)) in steps.iter().enumerate() {
            t += f64::from(*dt);
            let time = if milliseconds { format!("{t}000") } else { format!("{t}") };
            let value = if bad_at == Some(i) { "not-a-number".to_owned() } else { format!("{v}") };
            text.push_str(&format!("{}{separator}{}\n", field(time), field(value)));
            expected.push((t, *v));
        }
        match (parse_csv(&text, "f.csv", "s"), bad_at.filter(|b| *b < steps.len())) {
            (Ok(series), None) => {
                prop_assert_eq!(series.len(), 1);
                let got: Vec<(f64, f64)> = series[0]
                    .times
                    .iter()
                    .copied()
                    .zip(series[0].values.iter().copied())
                    .collect();
                prop_assert_eq!(got, expected);
            }
            (Err(e), Some(bad)) => {
                // Line 1 is the header.
                let prefix = format!("f.csv:{}: ", bad + 2);
                prop_assert!(e.to_string().starts_with(&prefix), "{}", e);
            }
            (other, bad) => prop_assert!(false, "{:?} with the bad line at {:?}", other.map(|s| s.len()), bad),
        }
    }
}
