//! The exposition of one tick, encoded once in each format a scraper may ask
//! for. A scrape picks the prepared bytes; gzip is done at most once per tick
//! and format, on the first scrape that accepts it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::metric::{Family, LabelName, MetricType, Sample, label_value};
use crate::textparse::parse_value;

pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// Picks the format from an Accept header: OpenMetrics when the client
    /// ranks it at least as high as the text format, text otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut openmetrics_q: f32 = 0.0;
        let mut text_q: f32 = 0.0;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics_q = openmetrics_q.max(q),
                "text/plain" | "*/*" | "text/*" => text_q = text_q.max(q),
                _ => {}
            }
        }
        if openmetrics_q > 0.0 && openmetrics_q >= text_q {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// Whether an Accept-Encoding header allows gzip (present and not `q=0`).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|header| {
        header.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

mod select;

pub use select::{SelectError, collect_params};

/// One tick's exposition in both formats.
pub struct Exposition {
    text: Bytes,
    openmetrics: Bytes,
    text_gzip: OnceLock<Bytes>,
    openmetrics_gzip: OnceLock<Bytes>,
    /// Where each block sits in both encodings, for `collect[]`.
    spans: select::Spans,
}

impl Exposition {
    /// Sorts the families and their series (so the output is stable from tick
    /// to tick) and encodes them.
    pub fn new(mut families: Vec<Family>) -> Self {
        // A histogram's `x_bucket`, `x_count` and `x_sum` must stay together
        // under one `# TYPE x`, whatever names sort between them.
        families.sort_by(|a, b| {
            (a.kind.base_name(&a.name), &a.name).cmp(&(b.kind.base_name(&b.name), &b.name))
        });
        for family in &mut families {
            family.samples.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        let (text, text_spans) = encode_spans(&families, Format::Text);
        let (openmetrics, openmetrics_spans) = encode_spans(&families, Format::OpenMetrics);
        Exposition {
            spans: select::Spans::new(&families, text_spans, openmetrics_spans),
            text: Bytes::from(text),
            openmetrics: Bytes::from(openmetrics),
            text_gzip: OnceLock::new(),
            openmetrics_gzip: OnceLock::new(),
        }
    }

    pub fn body(&self, format: Format, gzip: bool) -> Bytes {
        let (plain, compressed) = match format {
            Format::Text => (&self.text, &self.text_gzip),
            Format::OpenMetrics => (&self.openmetrics, &self.openmetrics_gzip),
        };
        if gzip {
            compressed.get_or_init(|| gzip_bytes(plain)).clone()
        } else {
            plain.clone()
        }
    }
}

pub fn gzip_bytes(plain: &[u8]) -> Bytes {
    let mut encoder = GzEncoder::new(Vec::with_capacity(plain.len() / 4), Compression::fast());
    encoder
        .write_all(plain)
        .expect("writing to a Vec cannot fail");
    Bytes::from(encoder.finish().expect("writing to a Vec cannot fail"))
}

/// Encodes families in the given format; families must have unique names,
/// and the members of a histogram or summary must be adjacent.
pub fn encode(families: &[Family], format: Format) -> Vec<u8> {
    encode_spans(families, format).0
}

/// [`encode`], and the byte range of each block (one `# TYPE`, or the
/// families of a histogram) in the output, in the order of [`blocks`].
fn encode_spans(families: &[Family], format: Format) -> (Vec<u8>, Vec<Range<usize>>) {
    let mut out = String::with_capacity(families.len() * 256);
    let mut spans = Vec::new();
    let blocks = blocks(families);
    let mut claimed: HashSet<Cow<str>> = match format {
        Format::Text => HashSet::new(),
        Format::OpenMetrics => families
            .iter()
            .map(|f| Cow::Borrowed(f.name.as_ref()))
            .collect(),
    };
    for block in &blocks {
        let start = out.len();
        let members = &families[block.clone()];
        let first = &members[0];
        let typed = match format {
            Format::Text => Some(text_header(first)),
            Format::OpenMetrics => openmetrics_header(members, &mut claimed),
        };
        match typed {
            Some((name, type_name)) => {
                write_header(&mut out, name, type_name, &first.help, format);
                write_block(&mut out, members);
            }
            // OpenMetrics reserves the names around a typed family (`x`,
            // `x_created` for the counter `x_total`); where another family
            // holds one, the members are exposed as `unknown` under their own
            // names, so the series keep their names and the answer stays
            // valid.
            None => {
                for family in members {
                    write_header(&mut out, &family.name, "unknown", &family.help, format);
                    write_block(&mut out, std::slice::from_ref(family));
                }
            }
        }
        spans.push(start..out.len());
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    (out.into_bytes(), spans)
}

/// The families exposed under one `# TYPE`: the members of a histogram or
/// summary (adjacent, one family per sample name), or a single family.
fn blocks(families: &[Family]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(families.len());
    for (at, family) in families.iter().enumerate() {
        let joins = out.last().is_some_and(|last| {
            let previous = &families[last.start];
            is_composite(family.kind)
                && previous.kind == family.kind
                && previous.kind.base_name(&previous.name) == family.kind.base_name(&family.name)
        });
        match out.last_mut() {
            Some(last) if joins => last.end = at + 1,
            _ => out.push(at..at + 1),
        }
    }
    out
}

fn is_composite(kind: MetricType) -> bool {
    matches!(kind, MetricType::Histogram | MetricType::Summary)
}

fn text_header(family: &Family) -> (&str, &'static str) {
    let type_name = match family.kind {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        MetricType::Untyped => "untyped",
    };
    (family.kind.base_name(&family.name), type_name)
}

/// The OpenMetrics family name and type of a block, or None where it must
/// be exposed as `unknown` member by member. `claimed` holds every sample
/// name and the names earlier typed families reserved.
fn openmetrics_header<'a>(
    members: &'a [Family],
    claimed: &mut HashSet<Cow<'a, str>>,
) -> Option<(&'a str, &'static str)> {
    let first = &members[0];
    let (name, type_name, suffixes): (&str, &'static str, &[&str]) = match first.kind {
        MetricType::Gauge => return Some((&first.name, "gauge")),
        MetricType::Untyped => return Some((&first.name, "unknown")),
        // A counter's samples are `x_total` in OpenMetrics. One without the
        // suffix keeps its name as an `unknown` family rather than being
        // renamed (client_golang appends `_total`), so a series has the
        // same name in both formats and in the rules that select it.
        MetricType::Counter => match first.name.strip_suffix("_total") {
            Some(base) if !base.is_empty() => (base, "counter", &["", "_total", "_created"]),
            _ => return Some((&first.name, "unknown")),
        },
        MetricType::Histogram => (
            first.kind.base_name(&first.name),
            "histogram",
            &["", "_bucket", "_sum", "_count", "_created"],
        ),
        MetricType::Summary => (
            first.kind.base_name(&first.name),
            "summary",
            &["", "_sum", "_count", "_created"],
        ),
    };
    let reserved: Vec<String> = suffixes
        .iter()
        .map(|suffix| format!("{name}{suffix}"))
        .filter(|reserved| !members.iter().any(|m| m.name == *reserved))
        .collect();
    if reserved.iter().any(|r| claimed.contains(r.as_str())) {
        return None;
    }
    claimed.extend(reserved.into_iter().map(Cow::Owned));
    Some((name, type_name))
}

fn write_header(out: &mut String, name: &str, type_name: &str, help: &str, format: Format) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(out, help, format);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(type_name);
    out.push('\n');
}

/// Writes a block's samples. A histogram's or summary's series are written
/// label set by label set, each with its buckets in the numeric order of
/// `le` (its quantiles by `quantile`), then `_sum` and `_count`, as
/// client_golang writes them: OpenMetrics requires this order, and text
/// ordering of `le` would put `+Inf` first and `10` before `2.5`.
fn write_block(out: &mut String, members: &[Family]) {
    let first = &members[0];
    if !is_composite(first.kind) {
        for family in members {
            for sample in &family.samples {
                write_sample(out, &family.name, sample);
            }
        }
        return;
    }
    let base = first.kind.base_name(&first.name);
    let mut rows: Vec<Row> = Vec::new();
    for family in members {
        let (rank, bound) = match &family.name[base.len()..] {
            "_bucket" => (0, Some("le")),
            "" => (0, Some("quantile")),
            "_sum" => (1, None),
            _ => (2, None),
        };
        for sample in &family.samples {
            // By name, as a reader compares label sets whatever their order.
            let mut group: Vec<&(LabelName, String)> = sample
                .labels
                .iter()
                .filter(|(name, _)| Some(name.as_ref()) != bound)
                .collect();
            group.sort();
            // A bound that is not a number sorts last, where a strict
            // reader reports it rather than a misplaced neighbour.
            let order = bound
                .and_then(|b| label_value(&sample.labels, b))
                .and_then(parse_value)
                .filter(|v| !v.is_nan())
                .unwrap_or(f64::INFINITY);
            rows.push((group, rank, order, &family.name, sample));
        }
    }
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)).then(a.2.total_cmp(&b.2)));
    for (_, _, _, name, sample) in rows {
        write_sample(out, name, sample);
    }
}

/// One sample of a histogram or summary with what orders it: its label set
/// without the bound, the member (bucket or quantile, sum, count), the bound.
type Row<'a> = (Vec<&'a (LabelName, String)>, u8, f64, &'a str, &'a Sample);

fn write_sample(out: &mut String, name: &str, sample: &Sample) {
    out.push_str(name);
    if !sample.labels.is_empty() {
        out.push('{');
        for (i, (name, value)) in sample.labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(out, sample.value);
    out.push('\n');
}

fn escape_help(out: &mut String, help: &str, format: Format) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        write!(out, "{value}").expect("writing to a String cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families() -> Vec<Family> {
        let mut up = Family::gauge("node_network_up", "Up.");
        up.push([("device", "eth\"0\\\n")], 1.0);
        vec![
            Family::counter("node_forks_total", "Forks \\ with\nnewline.").single(42.0),
            up,
            Family::gauge("process_max_fds", "Max fds.").single(f64::INFINITY),
        ]
    }

    #[test]
    fn text_format_escapes_and_types() {
        let text = String::from_utf8(encode(&families(), Format::Text)).unwrap();
        assert_eq!(
            text,
            "# HELP node_forks_total Forks \\\\ with\\nnewline.\n# TYPE node_forks_total counter\nnode_forks_total 42\n\
# HELP node_network_up Up.\n# TYPE node_network_up gauge\nnode_network_up{device=\"eth\\\"0\\\\\\n\"} 1\n\
# HELP process_max_fds Max fds.\n# TYPE process_max_fds gauge\nprocess_max_fds +Inf\n"
        );
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let text = String::from_utf8(encode(&families(), Format::OpenMetrics)).unwrap();
        assert!(text.contains("# TYPE node_forks counter\nnode_forks_total 42\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    fn body(families: Vec<Family>, format: Format) -> String {
        String::from_utf8(Exposition::new(families).body(format, false).to_vec()).unwrap()
    }

    #[test]
    fn a_counter_without_total_keeps_its_name_as_unknown_in_openmetrics() {
        let families = || vec![Family::counter("requests", "Requests.").single(5.0)];
        assert!(
            body(families(), Format::OpenMetrics).contains("# TYPE requests unknown\nrequests 5\n")
        );
        assert!(body(families(), Format::Text).contains("# TYPE requests counter\nrequests 5\n"));
    }

    #[test]
    fn a_typed_family_whose_reserved_names_are_taken_is_exposed_as_unknown() {
        let families = || {
            vec![
                Family::counter("node_forks_total", "Forks.").single(1.0),
                Family::gauge("node_forks", "Pushed.").single(2.0),
                Family::counter("jobs_total", "Jobs.").single(3.0),
                Family::gauge("jobs_created", "Created.").single(4.0),
            ]
        };
        let om = body(families(), Format::OpenMetrics);
        assert!(
            om.contains("# TYPE node_forks gauge\nnode_forks 2\n"),
            "{om}"
        );
        assert!(
            om.contains("# TYPE node_forks_total unknown\nnode_forks_total 1\n"),
            "{om}"
        );
        assert!(
            om.contains("# TYPE jobs_total unknown\njobs_total 3\n"),
            "{om}"
        );
        assert!(om.contains("# TYPE jobs_created gauge\n"), "{om}");
        // The text format has no such reservation.
        let text = body(families(), Format::Text);
        assert!(text.contains("# TYPE node_forks_total counter\n"), "{text}");
    }

    #[test]
    fn buckets_and_quantiles_follow_their_numeric_bounds_series_by_series() {
        let series = |le: &str, job: &str| -> Vec<(&'static str, String)> {
            vec![("job", job.to_owned()), ("le", le.to_owned())]
        };
        let mut buckets = Family::new("t_seconds_bucket", "T.", MetricType::Histogram);
        let mut sum = Family::new("t_seconds_sum", "T.", MetricType::Histogram);
        let mut count = Family::new("t_seconds_count", "T.", MetricType::Histogram);
        for job in ["b", "a"] {
            for (le, v) in [("+Inf", 4.0), ("10.0", 3.0), ("2.5", 2.0), ("0.25", 1.0)] {
                buckets.push(series(le, job), v);
            }
            sum.push([("job", job)], 7.5);
            count.push([("job", job)], 4.0);
        }
        let mut quantiles = Family::new("rpc", "R.", MetricType::Summary);
        for q in ["0.99", "0.5", "0.9"] {
            quantiles.push([("quantile", q)], 1.0);
        }
        let families = || {
            vec![
                count.clone(),
                buckets.clone(),
                sum.clone(),
                quantiles.clone(),
                Family::new("rpc_count", "R.", MetricType::Summary).single(3.0),
                Family::new("rpc_sum", "R.", MetricType::Summary).single(3.0),
            ]
        };
        let one = |job: &str| {
            format!(
                "t_seconds_bucket{{job=\"{job}\",le=\"0.25\"}} 1\n\
t_seconds_bucket{{job=\"{job}\",le=\"2.5\"}} 2\n\
t_seconds_bucket{{job=\"{job}\",le=\"10.0\"}} 3\n\
t_seconds_bucket{{job=\"{job}\",le=\"+Inf\"}} 4\n\
t_seconds_sum{{job=\"{job}\"}} 7.5\n\
t_seconds_count{{job=\"{job}\"}} 4\n"
            )
        };
        let histogram = format!("# TYPE t_seconds histogram\n{}{}", one("a"), one("b"));
        let summary = "# TYPE rpc summary\nrpc{quantile=\"0.5\"} 1\nrpc{quantile=\"0.9\"} 1\nrpc{quantile=\"0.99\"} 1\nrpc_sum 3\nrpc_count 3\n";
        for format in [Format::Text, Format::OpenMetrics] {
            let text = body(families(), format);
            assert!(text.contains(&histogram), "{text}");
            assert!(text.contains(summary), "{text}");
        }
    }

    #[test]
    fn negotiates_like_prometheus_expects() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0.2,text/plain")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text
        );
    }

    #[test]
    fn gzip_only_when_accepted() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn gzip_round_trips_and_is_made_once() {
        let exposition = Exposition::new(families());
        let a = exposition.body(Format::Text, true);
        let b = exposition.body(Format::Text, true);
        assert_eq!(a.as_ptr(), b.as_ptr());
        let mut decoded = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&a[..]), &mut decoded)
            .unwrap();
        assert_eq!(
            decoded.as_bytes(),
            &exposition.body(Format::Text, false)[..]
        );
    }
}
