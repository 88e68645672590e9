//! Property tests for the parsers of what apps and pushers send: the
//! exposition formats, the JSON push body and the Pushgateway's paths. No
//! input panics; what outrider's own encoder writes parses back to the same
//! series, in both formats, and its OpenMetrics passes the Python client
//! library's strict parser.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use outrider::exposition::{Exposition, Format, encode};
use outrider::metric::{Family, MetricType, Sample};
use outrider::push::{PushConfig, json, pushgateway};
use outrider::textparse::{Dialect, into_families, parse};
use proptest::prelude::*;

fn label_value() -> impl Strategy<Value = String> {
    // Quotes, backslashes, newlines and non-ASCII are the escaping cases.
    "[a-z\"\\\\\n é/{}=,#]{0,12}"
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("NaN never equals itself", |v| !v.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
    ]
}

fn family() -> impl Strategy<Value = Family> {
    (
        "[a-z_][a-z0-9_:]{0,10}",
        prop_oneof![
            Just(MetricType::Counter),
            Just(MetricType::Gauge),
            Just(MetricType::Untyped)
        ],
        "[ -~]{0,20}",
        prop::collection::btree_map(
            prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", label_value(), 0..4),
            value(),
            1..5,
        ),
        any::<bool>(),
    )
        .prop_map(|(name, kind, help, series, total)| {
            // Counters come with and without the `_total` OpenMetrics asks
            // for: apps and pushers send both.
            let name = match kind {
                MetricType::Counter if total => format!("{name}_total"),
                MetricType::Counter => name,
                _ => format!("{name}_v"),
            };
            let mut family = Family::new(name, help.trim().to_owned(), kind);
            for (labels, value) in series {
                family.samples.push(Sample {
                    labels: Arc::new(labels.into_iter().map(|(n, v)| (n.into(), v)).collect()),
                    value,
                });
            }
            family
        })
}

/// The type a family has in OpenMetrics: a counter is `unknown` there when
/// it lacks `_total` or another family holds a name the counter reserves.
fn openmetrics_kind(family: &Family, all: &[Family]) -> MetricType {
    if family.kind != MetricType::Counter {
        return family.kind;
    }
    let Some(base) = family.name.strip_suffix("_total") else {
        return MetricType::Untyped;
    };
    let taken = |name: &str| all.iter().any(|f| f.name == name);
    if taken(base) || taken(&format!("{base}_created")) {
        MetricType::Untyped
    } else {
        MetricType::Counter
    }
}

fn bound_labels() -> impl Strategy<Value = std::collections::BTreeMap<String, String>> {
    // `le` and `quantile` are the bounds the encoder adds.
    prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", label_value(), 0..3).prop_map(
        |mut labels| {
            labels.remove("le");
            labels.remove("quantile");
            labels
        },
    )
}

fn labels_with(
    labels: &std::collections::BTreeMap<String, String>,
    bound: Option<(&str, &str)>,
) -> Arc<outrider::metric::Labels> {
    let mut out: outrider::metric::Labels = labels
        .iter()
        .map(|(n, v)| (n.clone().into(), v.clone()))
        .collect();
    if let Some((name, value)) = bound {
        out.push((name.to_owned().into(), value.to_owned()));
    }
    Arc::new(out)
}

/// Families of every type with the values OpenMetrics allows them (no
/// negative or NaN counts), histograms and summaries with several series
/// and bounds whose text order is not their numeric order.
fn strict_families() -> impl Strategy<Value = Vec<Family>> {
    const BOUNDS: [&str; 7] = ["0.005", "0.25", "1", "2.5", "10.0", "25", "100"];
    const QUANTILES: [&str; 5] = ["0.05", "0.5", "0.9", "0.99", "1"];
    let simple = family().prop_map(|mut family| {
        if family.kind == MetricType::Counter {
            for sample in &mut family.samples {
                sample.value = if sample.value.is_finite() {
                    sample.value.abs()
                } else {
                    1.0
                };
            }
        }
        vec![family]
    });
    let composite = (
        "[a-z_][a-z0-9_:]{0,8}",
        any::<bool>(),
        prop::collection::btree_set(0..BOUNDS.len(), 0..BOUNDS.len()),
        prop::collection::btree_map(bound_labels(), prop::collection::vec(0u32..50, 8), 1..4),
    )
        .prop_map(|(name, histogram, bounds, series)| {
            let kind = if histogram {
                MetricType::Histogram
            } else {
                MetricType::Summary
            };
            let main = if histogram {
                format!("{name}_bucket")
            } else {
                name.clone()
            };
            let mut main = Family::new(main, "H.", kind);
            let mut sum = Family::new(format!("{name}_sum"), "H.", kind);
            let mut count = Family::new(format!("{name}_count"), "H.", kind);
            for (labels, counts) in &series {
                let mut total = 0.0;
                // Given in reverse so that the encoder has to order them.
                for (i, &bound) in bounds.iter().enumerate().rev() {
                    let (label, value) = if histogram {
                        total = counts[..=i].iter().sum::<u32>() as f64;
                        ("le", BOUNDS[bound])
                    } else {
                        ("quantile", QUANTILES[bound % QUANTILES.len()])
                    };
                    if main
                        .samples
                        .iter()
                        .any(|s| s.labels == labels_with(labels, Some((label, value))))
                    {
                        continue;
                    }
                    main.samples.push(Sample {
                        labels: labels_with(labels, Some((label, value))),
                        value: if histogram { total } else { counts[i] as f64 },
                    });
                }
                let all = counts.iter().sum::<u32>() as f64;
                if histogram {
                    main.samples.push(Sample {
                        labels: labels_with(labels, Some(("le", "+Inf"))),
                        value: all,
                    });
                }
                sum.samples.push(Sample {
                    labels: labels_with(labels, None),
                    value: all * 0.5,
                });
                count.samples.push(Sample {
                    labels: labels_with(labels, None),
                    value: all,
                });
            }
            vec![main, sum, count]
        });
    prop::collection::vec(prop_oneof![3 => simple, 1 => composite], 1..6).prop_map(|groups| {
        let mut unique: Vec<Family> = Vec::new();
        for group in groups {
            if group
                .iter()
                .all(|f| unique.iter().all(|u| u.name != f.name))
            {
                unique.extend(group);
            }
        }
        unique
    })
}

/// The Python client library's OpenMetrics parser, started once and fed one
/// exposition a line (as JSON); it answers `ok` or the error. It ends when
/// the test process closes its stdin.
struct StrictParser {
    _child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

const STRICT_PARSER: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for line in sys.stdin:
    try:
        list(text_string_to_metric_families(json.loads(line)))
        print("ok", flush=True)
    except Exception as e:
        print(json.dumps(repr(e)), flush=True)
"#;

fn strict_parse(text: &str) -> Result<(), String> {
    static PARSER: OnceLock<Mutex<StrictParser>> = OnceLock::new();
    let parser = PARSER.get_or_init(|| {
        assert!(
            std::path::Path::new("/usr/bin/python3").is_file(),
            "/usr/bin/python3 is not installed: run the test command from the README"
        );
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", STRICT_PARSER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let input = child.stdin.take().expect("python stdin");
        let output = BufReader::new(child.stdout.take().expect("python stdout"));
        Mutex::new(StrictParser {
            _child: child,
            input,
            output,
        })
    });
    let mut parser = parser.lock().unwrap_or_else(|e| e.into_inner());
    let line = serde_json::to_string(text).expect("a string encodes");
    writeln!(parser.input, "{line}").expect("write to python");
    let mut answer = String::new();
    parser
        .output
        .read_line(&mut answer)
        .expect("read from python");
    match answer.trim_end() {
        "ok" => Ok(()),
        error => Err(error.to_owned()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn openmetrics_output_passes_the_strict_parser(families in strict_families()) {
        let exposition = Exposition::new(families);
        let text = String::from_utf8(exposition.body(Format::OpenMetrics, false).to_vec()).unwrap();
        if let Err(error) = strict_parse(&text) {
            return Err(TestCaseError::fail(format!("{error}\n{text}")));
        }
        // outrider reads its own answer back too.
        parse(&text, Dialect::OpenMetrics).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_exposition_parser_never_panics(text in "\\PC{0,400}") {
        let _ = parse(&text, Dialect::Text);
        let _ = parse(&text, Dialect::OpenMetrics);
    }

    #[test]
    fn the_exposition_parser_never_panics_on_exposition_shaped_input(
        lines in prop::collection::vec(
            "(# (HELP|TYPE|UNIT|EOF) )?[a-z_]{1,6}(\\{([a-z]{1,3}=\"[a-z\\\\\"]{0,4}\",?){0,3}\\})? ?[-+0-9.eInfa]{0,6}( [0-9]{0,5})?( # .{0,8})?",
            0..12,
        )
    ) {
        let text = lines.join("\n");
        let _ = parse(&text, Dialect::Text);
        let _ = parse(&format!("{text}\n# EOF\n"), Dialect::OpenMetrics);
    }

    #[test]
    fn what_outrider_encodes_parses_back(families in prop::collection::vec(family(), 1..6)) {
        let mut unique: Vec<Family> = Vec::new();
        for family in families {
            if !unique.iter().any(|f| f.name == family.name) {
                unique.push(family);
            }
        }
        for (format, dialect) in [(Format::Text, Dialect::Text), (Format::OpenMetrics, Dialect::OpenMetrics)] {
            let text = String::from_utf8(encode(&unique, format)).unwrap();
            let parsed = parse(&text, dialect).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let back = into_families(&parsed, &[]);
            prop_assert_eq!(back.len(), unique.len(), "{}", text);
            for (original, read) in unique.iter().zip(&back) {
                prop_assert_eq!(&original.name, &read.name);
                let kind = match format {
                    Format::OpenMetrics => openmetrics_kind(original, &unique),
                    Format::Text => original.kind,
                };
                prop_assert_eq!(kind, read.kind, "{}", text);
                prop_assert_eq!(&original.help, &read.help);
                prop_assert_eq!(&original.samples, &read.samples, "{}", text);
            }
        }
    }

    #[test]
    fn the_json_push_parser_never_panics(text in "\\PC{0,300}") {
        let _ = json::parse(text.as_bytes(), &PushConfig::default());
    }

    #[test]
    fn the_json_push_parser_never_panics_on_push_shaped_input(
        service in "[a-z]{0,4}",
        metrics in prop::collection::vec(
            ("[a-z_0-9]{0,6}", "(counter|gauge|histogram|meter)", "-?[0-9.e]{1,6}|\"x\"|null", "[a-z_]{0,3}"),
            0..6,
        )
    ) {
        let items: Vec<String> = metrics
            .iter()
            .map(|(name, kind, value, label)| {
                format!(r#"{{"name":"{name}","type":"{kind}","value":{value},"labels":{{"{label}":"v"}}}}"#)
            })
            .collect();
        let body = format!(r#"{{"service":"{service}","metrics":[{}]}}"#, items.join(","));
        let _ = json::parse(body.as_bytes(), &PushConfig::default());
    }

    #[test]
    fn the_pushgateway_path_parser_never_panics(path in "/metrics/job(@base64)?/[a-zA-Z0-9/@=%_\\-]{0,40}") {
        let _ = pushgateway::grouping_key(&path);
    }

    #[test]
    fn pushgateway_keys_round_trip_through_base64(job in "[ -~]{1,12}", value in "[ -~]{0,12}") {
        use base64::Engine as _;
        let encode = |v: &str| base64::engine::general_purpose::URL_SAFE.encode(v);
        let path = format!("/metrics/job@base64/{}/instance@base64/{}", encode(&job), if value.is_empty() { "=".to_owned() } else { encode(&value) });
        let key = pushgateway::grouping_key(&path).unwrap().unwrap();
        let mut expected = vec![("instance".to_owned(), value), ("job".to_owned(), job)];
        expected.sort();
        prop_assert_eq!(key, expected);
    }
}
