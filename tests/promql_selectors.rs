//! Selectors are read as PromQL reads them. A differential test against the
//! promql-parser crate over generated selectors (names, the four matchers,
//! the three quote kinds, known and unknown escapes): both accept and refuse
//! the same ones, with the same matchers, and the selector `generate` writes
//! parses back to them. Then `outrider check` and `generate` against
//! promtool, which is Prometheus' own reading.
//!
//! Two known differences of promql-parser from Prometheus are kept out of
//! the generated cases and tested against promtool instead: it applies
//! escapes inside backtick strings, which Prometheus takes as written, and
//! it reads `\x80`-`\xff` as characters where Go writes bytes.

mod common;

use std::process::{Command, Output};

use outrider::generate::promql;
use outrider::selector::{MatchOp, Selector};
use promql_parser::label::MatchOp as TheirOp;
use promql_parser::parser::{self, Expr};
use proptest::prelude::*;

/// A selector's metric name and its label matchers as (label, op, value).
type Matchers = (Option<String>, Vec<(String, &'static str, String)>);

fn ours(text: &str) -> Result<Matchers, String> {
    let selector = Selector::parse(text).map_err(|e| e.to_string())?;
    let matchers = selector
        .matchers
        .iter()
        .map(|m| {
            let (op, value) = match &m.op {
                MatchOp::Equal(v) => ("=", v.clone()),
                MatchOp::NotEqual(v) => ("!=", v.clone()),
                MatchOp::Regex(r) => ("=~", promql::pattern(r).to_owned()),
                MatchOp::NotRegex(r) => ("!~", promql::pattern(r).to_owned()),
            };
            (m.label.clone(), op, value)
        })
        .collect();
    Ok((selector.metric, matchers))
}

fn theirs(text: &str) -> Result<Matchers, String> {
    match parser::parse(text)? {
        Expr::VectorSelector(selector) => {
            let matchers = selector
                .matchers
                .matchers
                .iter()
                .filter(|m| m.name != "__name__")
                .map(|m| {
                    let op = match m.op {
                        TheirOp::Equal => "=",
                        TheirOp::NotEqual => "!=",
                        TheirOp::Re(_) => "=~",
                        TheirOp::NotRe(_) => "!~",
                    };
                    (m.name.clone(), op, m.value.clone())
                })
                .collect();
            Ok((selector.name, matchers))
        }
        other => Err(format!("not a vector selector: {other:?}")),
    }
}

/// A piece of a string's content: plain text, a known escape, or something
/// PromQL refuses (an unknown or short escape, a stray quote or newline).
fn piece() -> impl Strategy<Value = String> {
    const KNOWN: [&str; 19] = [
        r"\a",
        r"\b",
        r"\f",
        r"\n",
        r"\r",
        r"\t",
        r"\v",
        r"\\",
        r#"\""#,
        r"\'",
        r"\x41",
        r"\x7e",
        r"\x09",
        r"\u00e9",
        r"\u4e16",
        r"\U0001F600",
        r"\101",
        r"\011",
        r"\000",
    ];
    const REFUSED: [&str; 15] = [
        r"\d",
        r"\.",
        r"\q",
        r"\x4",
        r"\xZZ",
        r"\u12",
        r"\400",
        r"\ud800",
        r"\U00110000",
        r"\é",
        "\\",
        "\"",
        "'",
        "`",
        "\n",
    ];
    prop_oneof![
        6 => "[a-z0-9 .|*é_-]{1,3}",
        3 => prop::sample::select(&KNOWN[..]).prop_map(str::to_owned),
        1 => prop::sample::select(&REFUSED[..]).prop_map(str::to_owned),
    ]
}

fn string_literal() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&['"', '\'', '`'][..]),
        prop::collection::vec(piece(), 0..4),
    )
        .prop_map(|(quote, pieces)| {
            let mut content = pieces.concat();
            if quote == '`' {
                // promql-parser applies escapes in raw strings; Prometheus
                // does not (tested against promtool below).
                content = content.replace('\\', "/");
            }
            format!("{quote}{content}{quote}")
        })
}

fn selector_text() -> impl Strategy<Value = String> {
    (
        "m_[a-z0-9_]{0,5}",
        prop::collection::vec(
            (
                "l_[a-z0-9_]{0,4}",
                prop::sample::select(&["=", "!=", "=~", "!~"][..]),
                string_literal(),
                prop::sample::select(&["", " "][..]),
            ),
            0..4,
        ),
    )
        .prop_map(|(name, matchers)| {
            let body: Vec<String> = matchers
                .iter()
                .map(|(label, op, value, space)| format!("{label}{space}{op}{space}{value}"))
                .collect();
            format!("{name}{{{}}}", body.join(", "))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn selectors_read_as_promql_parser_reads_them(text in selector_text()) {
        let ours = ours(&text);
        let theirs = theirs(&text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", text),
            (Err(_), Err(_)) => {}
            _ => return Err(TestCaseError::fail(format!(
                "{text}\noutrider: {ours:?}\npromql-parser: {theirs:?}"
            ))),
        }
        if let Ok(read) = ours {
            // What `generate` writes means the same to a PromQL parser.
            let written = promql::selector(&Selector::parse(&text).unwrap());
            prop_assert_eq!(theirs_or_fail(&written)?, read, "{} written as {}", text, written);
        }
    }
}

fn theirs_or_fail(text: &str) -> Result<Matchers, TestCaseError> {
    theirs(text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))
}

fn outrider(args: &[&str]) -> Output {
    Command::new(common::outrider_binary())
        .args(args)
        .output()
        .expect("run outrider")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr)
}

fn rule_file(selector: &str) -> String {
    format!(
        "groups:\n  - name: web\n    rules:\n      - alert: ServerErrors\n        selector: '{selector}'\n        threshold: {{rate: true, above: {{warning: 1}}}}\n"
    )
}

#[test]
fn check_refuses_unknown_escapes_and_generate_keeps_raw_strings_for_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, rule_file(r#"http_requests_total{code=~"5\d\d"}"#)).unwrap();
    let checked = outrider(&["check", bad.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked));
    assert!(
        text(&checked).contains(r"unknown escape sequence \d"),
        "{}",
        text(&checked)
    );
    // promtool refuses the same expression.
    let promql_rules = dir.path().join("promql.yml");
    std::fs::write(
        &promql_rules,
        "groups:\n  - name: web\n    rules:\n      - alert: ServerErrors\n        expr: 'http_requests_total{code=~\"5\\d\\d\"}'\n",
    )
    .unwrap();
    let promtool = Command::new(common::require("promtool"))
        .args(["check", "rules", promql_rules.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!promtool.status.success(), "{}", text(&promtool));

    // The raw string is read as written, in outrider and in Prometheus.
    let raw = dir.path().join("raw.yml");
    std::fs::write(&raw, rule_file(r"http_requests_total{code=~`5\d\d`}")).unwrap();
    let checked = outrider(&["check", raw.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", text(&checked));
    let out = dir.path().join("out");
    let generated = outrider(&[
        "generate",
        "--out",
        out.to_str().unwrap(),
        raw.to_str().unwrap(),
    ]);
    assert!(generated.status.success(), "{}", text(&generated));
    let alerts = out.join("alerts");
    let rules = std::fs::read_to_string(alerts.join("web.rules.yml")).unwrap();
    let expr = rules
        .lines()
        .find_map(|l| l.trim().strip_prefix("expr: "))
        .unwrap_or_else(|| panic!("no expr in\n{rules}"));
    let expr: String = serde_yaml_ng::from_str(expr).unwrap();
    assert!(expr.contains(r#"code=~"5\\d\\d""#), "{expr}");
    // promtool loads the rule and its generated unit test passes: series
    // with code 500 fire, so the regex kept its meaning.
    for args in [
        ["check", "rules", "web.rules.yml"],
        ["test", "rules", "web.test.yml"],
    ] {
        let run = Command::new(common::require("promtool"))
            .args(args)
            .current_dir(&alerts)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "promtool {args:?}: {}\n{rules}",
            text(&run)
        );
    }
}

#[test]
fn promql_bytes_and_raw_strings_as_prometheus_reads_them() {
    // Go's \x and octal escapes are bytes: these make é.
    assert_eq!(
        ours(r#"m{a="\xc3\xa9", b="\303\251"}"#).unwrap().1,
        [
            ("a".to_owned(), "=", "é".to_owned()),
            ("b".to_owned(), "=", "é".to_owned())
        ]
    );
    // A raw string keeps its backslashes, and may hold the other quotes.
    assert_eq!(
        ours(r#"m{a=~`\d+\.\s"'`}"#).unwrap().1,
        [("a".to_owned(), "=~", r#"\d+\.\s"'"#.to_owned())]
    );
}
