//! Reads the Prometheus text format (0.0.4) and OpenMetrics 1.0: what the
//! app beside the sidecar exposes and what Pushgateway clients push. The
//! input comes from outside, so every malformed line is an error naming the
//! line, never a panic.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::metric::{Family, Labels, MetricType, Sample};

/// Which of the two text formats the input is in; they differ in the unit
/// of timestamps, the counter suffixes and the `# EOF` terminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Text,
    OpenMetrics,
}

impl Dialect {
    /// The dialect a `Content-Type` names; the text format when unsure, as
    /// Prometheus falls back.
    pub fn from_content_type(content_type: Option<&str>) -> Dialect {
        match content_type {
            Some(t) if t.trim_start().starts_with("application/openmetrics-text") => {
                Dialect::OpenMetrics
            }
            _ => Dialect::Text,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

/// One metric family as exposed: `name` is the family's name (a
/// histogram's `x`), each sample keeps its own (`x_bucket`).
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedFamily {
    pub name: String,
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
    pub samples: Vec<ParsedSample>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Seconds since the epoch, when the exposition gives one.
    pub timestamp: Option<f64>,
}

impl ParsedFamily {
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }
}

/// Bounds on what one exposition may hold; 0 means no bound. They are
/// checked while parsing, so an input over them costs no more than the
/// bounds: the parser stops at the first line that goes over and builds
/// nothing of the rest. The reasons name the scrape options they mirror.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Samples kept (`sample_limit`).
    pub samples: usize,
    /// Labels of one sample, `extra_labels` included (`label_limit`).
    pub labels: usize,
    /// Labels the caller adds to every sample, counted against `labels`.
    pub extra_labels: usize,
    /// Bytes in one label name (`label_name_length_limit`).
    pub label_name_length: usize,
    /// Bytes in one label value (`label_value_length_limit`).
    pub label_value_length: usize,
}

/// Metric families beyond `Limits::samples` that may hold no sample (a
/// `# HELP` or `# TYPE` of a metric with no series yet, as client
/// libraries write for labelled metrics never used); past that, metadata
/// alone could take unbounded memory.
const EMPTY_FAMILY_SLACK: usize = 10_000;

/// Parses a whole exposition. Families come out in the order they first
/// appear.
pub fn parse(text: &str, dialect: Dialect) -> Result<Vec<ParsedFamily>, ParseError> {
    parse_limited(text, dialect, Limits::default())
}

/// Parses an exposition within `limits`: the same result as [`parse`]
/// when the input is within them, else an error naming the limit at the
/// first line that goes over it.
pub fn parse_limited(
    text: &str,
    dialect: Dialect,
    limits: Limits,
) -> Result<Vec<ParsedFamily>, ParseError> {
    let mut parser = Parser {
        dialect,
        families: Vec::new(),
        index: HashMap::new(),
        limits,
        samples: 0,
    };
    let mut saw_eof = false;
    for (number, line) in text.split('\n').enumerate() {
        let line_number = number + 1;
        let fail = |reason: String| ParseError {
            line: line_number,
            reason,
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if saw_eof {
            if line.is_empty() {
                continue;
            }
            return Err(fail("content after # EOF".into()));
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if comment.trim() == "EOF" && dialect == Dialect::OpenMetrics {
                saw_eof = true;
                continue;
            }
            parser.comment(comment).map_err(fail)?;
        } else {
            parser.sample(line).map_err(fail)?;
        }
    }
    if dialect == Dialect::OpenMetrics && !saw_eof {
        return Err(ParseError {
            line: text.split('\n').count(),
            reason: "OpenMetrics input must end with # EOF".into(),
        });
    }
    let mut families = parser.families;
    drop_creation_times(&mut families);
    Ok(families)
}

/// Removes the `x_created` families that stand beside the counter,
/// histogram or summary `x` they belong to. client_python's text format
/// writes a creation time as a gauge of its own; it is metadata of those
/// series (OpenMetrics' `_created`, which Prometheus does not ingest as a
/// series), and exposed again it would clash with the family it belongs
/// to in OpenMetrics, which reserves `x_created` for it.
fn drop_creation_times(families: &mut Vec<ParsedFamily>) {
    let owners: HashSet<&str> = families
        .iter()
        .filter_map(|f| match f.kind {
            MetricType::Counter => Some(f.name.strip_suffix("_total").unwrap_or(&f.name)),
            MetricType::Histogram | MetricType::Summary => Some(f.name.as_str()),
            MetricType::Gauge | MetricType::Untyped => None,
        })
        .collect();
    let created: Vec<bool> = families
        .iter()
        .map(|f| {
            matches!(f.kind, MetricType::Gauge | MetricType::Untyped)
                && f.name
                    .strip_suffix("_created")
                    .is_some_and(|base| owners.contains(base))
        })
        .collect();
    let mut created = created.into_iter();
    families.retain(|_| !created.next().unwrap_or(false));
}

struct Parser {
    dialect: Dialect,
    families: Vec<ParsedFamily>,
    /// Family name to its place in `families`.
    index: HashMap<String, usize>,
    limits: Limits,
    /// Samples kept so far, for `limits.samples`.
    samples: usize,
}

impl Parser {
    fn comment(&mut self, comment: &str) -> Result<(), String> {
        let comment = comment.strip_prefix(' ').unwrap_or(comment);
        let (keyword, rest) = comment.split_once(' ').unwrap_or((comment, ""));
        if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
            // Any other comment is free text.
            return Ok(());
        }
        let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if !is_metric_name(name) {
            return Err(format!("# {keyword}: invalid metric name {name:?}"));
        }
        match keyword {
            "HELP" => {
                let help = unescape(rest, self.dialect == Dialect::OpenMetrics);
                let family = self.family_for_metadata(name)?;
                if !family.help.is_empty() {
                    return Err(format!("second # HELP for {name}"));
                }
                family.help = help;
            }
            "TYPE" => {
                let kind = match rest.trim() {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" => MetricType::Histogram,
                    "summary" => MetricType::Summary,
                    "untyped" | "unknown" => MetricType::Untyped,
                    // Gauge histograms, info and state sets carry gauges;
                    // they are passed on as untyped series.
                    "gaugehistogram" | "info" | "stateset"
                        if self.dialect == Dialect::OpenMetrics =>
                    {
                        MetricType::Untyped
                    }
                    other => return Err(format!("# TYPE {name}: unknown type {other:?}")),
                };
                let family = self.family_for_metadata(name)?;
                if !family.samples.is_empty() {
                    return Err(format!("# TYPE {name} after its samples"));
                }
                family.kind = kind;
            }
            _ => {
                let unit = rest.trim().to_owned();
                self.family_for_metadata(name)?.unit = unit;
            }
        }
        Ok(())
    }

    fn family_for_metadata(&mut self, name: &str) -> Result<&mut ParsedFamily, String> {
        let at = match self.index.get(name) {
            Some(&at) => at,
            None => self.new_family(name.to_owned(), MetricType::Untyped)?,
        };
        Ok(&mut self.families[at])
    }

    fn new_family(&mut self, name: String, kind: MetricType) -> Result<usize, String> {
        let max = self.limits.samples;
        if max > 0 && self.families.len() >= max.saturating_add(EMPTY_FAMILY_SLACK) {
            return Err(format!(
                "more than {} metric families, over the sample_limit of {max} and {EMPTY_FAMILY_SLACK} without samples",
                max.saturating_add(EMPTY_FAMILY_SLACK)
            ));
        }
        self.families.push(ParsedFamily {
            name: name.clone(),
            kind,
            help: String::new(),
            unit: String::new(),
            samples: Vec::new(),
        });
        self.index.insert(name, self.families.len() - 1);
        Ok(self.families.len() - 1)
    }

    /// The family a sample name belongs to: its own, or the histogram,
    /// summary or (OpenMetrics) counter it is a part of.
    fn family_of(&self, sample_name: &str) -> Option<usize> {
        if let Some(&at) = self.index.get(sample_name) {
            let kind = self.families[at].kind;
            // `x_count` named as its own family wins over the histogram `x`
            // only if it is one: a typed family of that exact name.
            if kind != MetricType::Untyped || self.families[at].samples.is_empty() {
                return Some(at);
            }
        }
        for suffix in ["_bucket", "_sum", "_count", "_total", "_created"] {
            let Some(base) = sample_name.strip_suffix(suffix) else {
                continue;
            };
            let Some(&at) = self.index.get(base) else {
                continue;
            };
            let fits = match (self.families[at].kind, suffix) {
                (MetricType::Histogram, "_bucket" | "_sum" | "_count" | "_created") => true,
                (MetricType::Summary, "_sum" | "_count" | "_created") => true,
                (MetricType::Counter, "_total" | "_created") => {
                    self.dialect == Dialect::OpenMetrics
                }
                _ => false,
            };
            if fits {
                return Some(at);
            }
        }
        self.index.get(sample_name).copied()
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let (name, rest) = split_name(line)?;
        let (labels, rest) = if let Some(rest) = rest.strip_prefix('{') {
            parse_labels(rest, &self.limits)?
        } else {
            (Vec::new(), rest)
        };

        // An OpenMetrics exemplar follows ` # `; it is not kept.
        let rest = match rest.find(" # ") {
            Some(at) if self.dialect == Dialect::OpenMetrics => &rest[..at],
            _ => rest,
        };
        let mut fields = rest.split_ascii_whitespace();
        let value = fields
            .next()
            .ok_or_else(|| format!("{name}: missing value"))
            .and_then(|v| parse_value(v).ok_or_else(|| format!("{name}: invalid value {v:?}")))?;
        let timestamp = match fields.next() {
            None => None,
            Some(t) => Some(
                self.parse_timestamp(t)
                    .ok_or_else(|| format!("{name}: invalid timestamp {t:?}"))?,
            ),
        };
        if let Some(extra) = fields.next() {
            return Err(format!("{name}: unexpected {extra:?} after the timestamp"));
        }
        let at = match self.family_of(name) {
            Some(at) => at,
            None => self.new_family(name.to_owned(), MetricType::Untyped)?,
        };
        let family = &mut self.families[at];
        if name.ends_with("_created") && family.name != name {
            // A creation time is metadata of the counter, not a series of
            // its own; Prometheus does not ingest it either.
            return Ok(());
        }
        let has = |label: &str| labels.iter().any(|(n, _)| n == label);
        match family.kind {
            MetricType::Histogram if name.ends_with("_bucket") && !has("le") => {
                return Err(format!("{name}: a histogram bucket needs an le label"));
            }
            MetricType::Summary if name == family.name && !has("quantile") => {
                return Err(format!("{name}: a summary quantile needs a quantile label"));
            }
            MetricType::Histogram if name == family.name => {
                return Err(format!("{name}: a histogram has no sample of its own name"));
            }
            _ => {}
        }
        let max = self.limits.samples;
        if max > 0 && self.samples >= max {
            return Err(format!(
                "more than the sample_limit of {max} samples; the rest is not read"
            ));
        }
        self.samples += 1;
        family.samples.push(ParsedSample {
            name: name.to_owned(),
            labels,
            value,
            timestamp,
        });
        Ok(())
    }

    fn parse_timestamp(&self, text: &str) -> Option<f64> {
        match self.dialect {
            Dialect::Text => text.parse::<i64>().ok().map(|ms| ms as f64 / 1000.0),
            Dialect::OpenMetrics => text.parse::<f64>().ok().filter(|t| t.is_finite()),
        }
    }
}

fn split_name(line: &str) -> Result<(&str, &str), String> {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..end];
    if !is_metric_name(name) {
        return Err(format!("invalid metric name at {:?}", truncated(line)));
    }
    let rest = &line[end..];
    let rest = rest.trim_start_matches([' ', '\t']);
    Ok((name, rest))
}

type LabelPairs = Vec<(String, String)>;

/// Parses `name="value",...}` and returns the labels and what follows.
fn parse_labels<'a>(mut rest: &'a str, limits: &Limits) -> Result<(LabelPairs, &'a str), String> {
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            // Sorted rather than compared pairwise, so a line of many
            // labels costs n log n, not n squared.
            let mut names: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
            names.sort_unstable();
            if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(format!("label {} given twice", twice[0]));
            }
            return Ok((labels, after));
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if !is_label_name(name) {
            return Err(format!("invalid label name at {:?}", truncated(rest)));
        }
        let max = limits.label_name_length;
        if max > 0 && name.len() > max {
            return Err(format!(
                "label {:?}: its name of {} bytes is over the label_name_length_limit of {max}",
                truncated(name),
                name.len()
            ));
        }
        rest = rest[end..].trim_start_matches([' ', '\t']);
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("label {name}: expected '='"))?
            .trim_start_matches([' ', '\t']);
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name}: expected a quoted value"))?;
        let (value, after) =
            quoted(rest).ok_or_else(|| format!("label {name}: unterminated value"))?;
        let max = limits.label_value_length;
        if max > 0 && value.len() > max {
            return Err(format!(
                "label {name}: its value of {} bytes is over the label_value_length_limit of {max}",
                value.len()
            ));
        }
        let max = limits.labels;
        if max > 0 && labels.len() + limits.extra_labels >= max {
            return Err(format!(
                "more than the label_limit of {max} labels{}",
                match limits.extra_labels {
                    0 => String::new(),
                    n => format!(" ({n} of them the target's)"),
                }
            ));
        }
        labels.push((name.to_owned(), value));
        rest = after.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!("after label {name}: expected ',' or '}}'"));
        }
    }
}

/// Reads a label value up to its closing quote, undoing `\\`, `\"` and `\n`.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[at + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                '\\' => value.push('\\'),
                '"' => value.push('"'),
                other => {
                    // The text format keeps an unknown escape as written.
                    value.push('\\');
                    value.push(other);
                }
            },
            c => value.push(c),
        }
    }
    None
}

fn unescape(text: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') if quotes => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A sample value as Go's ParseFloat reads it, which is what Prometheus
/// uses: `NaN`, `+Inf`, `-Inf` and decimal or exponent forms.
pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b".+-eE".contains(&b)) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

pub fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

pub fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn truncated(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// Turns parsed families into the tick's families, one per sample name,
/// with `extra` labels added to every series. A series that already has a
/// label of an extra's name keeps its value as `exported_<name>`, as
/// Prometheus does for target labels.
pub fn into_families(parsed: &[ParsedFamily], extra: &[(String, String)]) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for family in parsed {
        let help: Cow<'static, str> = Cow::Owned(family.help.clone());
        let first = out.len();
        for sample in &family.samples {
            let at = match out[first..].iter().position(|f| f.name == sample.name) {
                Some(at) => first + at,
                None => {
                    out.push(Family::new(sample.name.clone(), help.clone(), family.kind));
                    out.len() - 1
                }
            };
            out[at].samples.push(Sample {
                labels: Arc::new(with_extra(&sample.labels, extra)),
                value: sample.value,
            });
        }
    }
    out
}

fn with_extra(labels: &[(String, String)], extra: &[(String, String)]) -> Labels {
    let mut out: Labels = Vec::with_capacity(labels.len() + extra.len());
    for (name, value) in labels {
        let name = if extra.iter().any(|(n, _)| n == name) {
            Cow::Owned(format!("exported_{name}"))
        } else {
            Cow::Owned(name.clone())
        };
        out.push((name, value.clone()));
    }
    out.extend(
        extra
            .iter()
            .map(|(n, v)| (Cow::Owned(n.clone()), v.clone())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"# HELP http_requests_total Requests "served".
# TYPE http_requests_total counter
http_requests_total{method="GET",path="/a\"b\\c\nd"} 1027 1395066363000
http_requests_total{method="POST",} 3
# TYPE request_seconds histogram
request_seconds_bucket{le="0.1"} 2
request_seconds_bucket{le="+Inf"} 3
request_seconds_sum 0.4
request_seconds_count 3
# TYPE rpc summary
rpc{quantile="0.5"} 0.2
rpc_sum 9
rpc_count 40
untyped_thing -Inf
"#;

    #[test]
    fn reads_every_type_escapes_and_timestamps() {
        let families = parse(APP, Dialect::Text).unwrap();
        let names: Vec<_> = families.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            names,
            vec![
                ("http_requests_total", MetricType::Counter),
                ("request_seconds", MetricType::Histogram),
                ("rpc", MetricType::Summary),
                ("untyped_thing", MetricType::Untyped),
            ]
        );
        let requests = &families[0];
        assert_eq!(requests.help, "Requests \"served\".");
        assert_eq!(requests.samples[0].labels[1].1, "/a\"b\\c\nd");
        assert_eq!(requests.samples[0].timestamp, Some(1395066363.0));
        assert_eq!(requests.samples[1].labels.len(), 1);
        assert_eq!(families[1].samples.len(), 4);
        assert_eq!(families[2].samples.len(), 3);
        assert_eq!(families[3].samples[0].value, f64::NEG_INFINITY);
    }

    #[test]
    fn openmetrics_counters_units_exemplars_and_eof() {
        let text = "# TYPE jobs counter\n# UNIT jobs_seconds seconds\n# HELP jobs Jobs.\njobs_total 4 # {trace_id=\"a\"} 1 1.5\njobs_created 1.6e9\n# EOF\n";
        let families = parse(text, Dialect::OpenMetrics).unwrap();
        assert_eq!(families.len(), 2);
        assert_eq!(
            families[0].samples.len(),
            1,
            "the _created sample is not a series"
        );
        assert_eq!(families[0].samples[0].name, "jobs_total");
        assert_eq!(families[0].samples[0].value, 4.0);
        assert_eq!(families[1].unit, "seconds");
        let missing_eof = parse("jobs_total 4\n", Dialect::OpenMetrics).unwrap_err();
        assert!(missing_eof.reason.contains("EOF"), "{missing_eof}");
        assert!(parse("# EOF\nx 1\n", Dialect::OpenMetrics).is_err());
    }

    #[test]
    fn creation_time_gauges_beside_their_family_are_not_series() {
        // What client_python writes in the text format.
        let text = "# TYPE jobs_total counter\njobs_total 4\n# TYPE jobs_created gauge\njobs_created 1.7e9\n\
# TYPE t histogram\nt_bucket{le=\"+Inf\"} 1\nt_sum 1\nt_count 1\n# TYPE t_created gauge\nt_created 1.7e9\n\
# TYPE lone_created gauge\nlone_created 1.7e9\n";
        let families = parse(text, Dialect::Text).unwrap();
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["jobs_total", "t", "lone_created"]);
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let cases = [
            ("ok 1\n1bad 2\n", 2, "metric name"),
            ("a{b=\"c} 1\n", 1, "unterminated"),
            ("a{b=c} 1\n", 1, "quoted"),
            ("a 1x\n", 1, "invalid value"),
            ("a 1 2 3\n", 1, "unexpected"),
            ("a{b=\"1\",b=\"2\"} 1\n", 1, "twice"),
            ("# TYPE a histogram\na_bucket 1\n", 2, "le label"),
            ("a 1\n# TYPE a gauge\n", 2, "after its samples"),
            ("# TYPE a sometype\n", 1, "unknown type"),
            ("a 1 12.5\n", 1, "timestamp"),
        ];
        for (text, line, reason) in cases {
            let error = parse(text, Dialect::Text).unwrap_err();
            assert_eq!(error.line, line, "{text:?}: {error}");
            assert!(error.reason.contains(reason), "{text:?}: {error}");
        }
    }

    fn escaped(value: &str) -> String {
        value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Within the sample limit the limited parser gives what the full
        /// one gives; over it, it fails at the first sample past the limit,
        /// having read nothing after it (a malformed last line is not
        /// reached).
        #[test]
        fn the_limited_parser_stops_at_the_limit_and_agrees_under_it(
            lines in proptest::collection::vec(
                (
                    "[a-d][a-z]{0,3}",
                    proptest::collection::btree_map("[a-c]{1,2}", "[a-z \"\\\\\n]{0,6}", 0..3),
                    -1000i32..1000,
                    proptest::bool::weighted(0.2),
                ),
                0..30,
            ),
            broken_tail in proptest::bool::ANY,
            extra in 0usize..3,
        ) {
            let mut text = String::new();
            let mut sample_lines = Vec::new();
            let mut line = 0;
            let mut named = HashSet::new();
            for (name, labels, value, help) in &lines {
                // One HELP a family, before its first sample.
                if named.insert(name) && *help {
                    line += 1;
                    text.push_str(&format!("# HELP {name} Some help.\n"));
                }
                let labels: Vec<String> = labels
                    .iter()
                    .map(|(n, v)| format!("{n}=\"{}\"", escaped(v)))
                    .collect();
                line += 1;
                sample_lines.push(line);
                text.push_str(&format!("{name}{{{}}} {value}\n", labels.join(",")));
            }
            if broken_tail {
                text.push_str("1broken 1\n");
            }
            let full = parse(&text, Dialect::Text);
            let count = sample_lines.len();
            for max in 0..=count + extra {
                let limits = Limits { samples: max, ..Limits::default() };
                let limited = parse_limited(&text, Dialect::Text, limits);
                if max == 0 || max >= count {
                    proptest::prop_assert_eq!(&limited, &full, "limit {}", max);
                } else {
                    let error = limited.unwrap_err();
                    proptest::prop_assert_eq!(Some(error.line),
                        sample_lines.get(max).copied(), "limit {}", max);
                    proptest::prop_assert!(error.reason.contains(&format!("sample_limit of {max}")), "{}", error);
                }
            }
        }
    }

    #[test]
    fn label_limits_name_the_option() {
        let limited = |text: &str, limits: Limits| {
            parse_limited(text, Dialect::Text, limits)
                .map(|families| families.len())
                .map_err(|e| e.to_string())
        };
        let text = "a{x=\"12345\",yy=\"1\"} 1\n";
        assert_eq!(limited(text, Limits::default()), Ok(1));
        let cases = [
            (
                Limits {
                    labels: 1,
                    ..Limits::default()
                },
                "label_limit of 1",
            ),
            (
                Limits {
                    labels: 3,
                    extra_labels: 2,
                    ..Limits::default()
                },
                "label_limit of 3 labels (2 of them the target's)",
            ),
            (
                Limits {
                    label_name_length: 1,
                    ..Limits::default()
                },
                "label_name_length_limit of 1",
            ),
            (
                Limits {
                    label_value_length: 4,
                    ..Limits::default()
                },
                "label_value_length_limit of 4",
            ),
        ];
        for (limits, reason) in cases {
            let error = limited(text, limits).unwrap_err();
            assert!(error.contains(reason), "{limits:?}: {error}");
            assert!(error.starts_with("line 1:"), "{error}");
        }
        // At the limits exactly, the sample is kept.
        let at = Limits {
            labels: 4,
            extra_labels: 2,
            label_name_length: 2,
            label_value_length: 5,
            samples: 1,
        };
        assert_eq!(limited(text, at), Ok(1));
    }

    #[test]
    fn metadata_without_samples_is_bounded_too() {
        let text: String = (0..EMPTY_FAMILY_SLACK + 20)
            .map(|i| format!("# TYPE m{i} gauge\n"))
            .collect();
        assert_eq!(
            parse(&text, Dialect::Text).map(|f| f.len()),
            Ok(EMPTY_FAMILY_SLACK + 20)
        );
        let limits = Limits {
            samples: 10,
            ..Limits::default()
        };
        let error = parse_limited(&text, Dialect::Text, limits).unwrap_err();
        assert_eq!(error.line, EMPTY_FAMILY_SLACK + 11, "{error}");
        assert!(error.reason.contains("metric families"), "{error}");
    }

    #[test]
    fn target_labels_are_added_and_clashes_renamed() {
        let families = parse("a{job=\"x\",k=\"v\"} 1\n", Dialect::Text).unwrap();
        let out = into_families(&families, &[("job".into(), "app".into())]);
        let labels: Vec<(String, String)> = out[0].samples[0]
            .labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("exported_job".into(), "x".into()),
                ("k".into(), "v".into()),
                ("job".into(), "app".into())
            ]
        );
    }

    #[test]
    fn histogram_members_become_families_of_their_sample_names() {
        let out = into_families(&parse(APP, Dialect::Text).unwrap(), &[]);
        let names: Vec<&str> = out.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(
            names,
            vec![
                "http_requests_total",
                "request_seconds_bucket",
                "request_seconds_sum",
                "request_seconds_count",
                "rpc",
                "rpc_sum",
                "rpc_count",
                "untyped_thing"
            ]
        );
        assert!(out[1..4].iter().all(|f| f.kind == MetricType::Histogram));
    }
}
