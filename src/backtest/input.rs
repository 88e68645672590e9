//! Where backtest series come from: CSV files (`timestamp,value`, one series
//! per file, or a wide file with one column per series), Prometheus range
//! queries and their answers saved to a file, and exposition text with
//! timestamps (`Format`). Reading apart from parsing: the parsers are pure,
//! so they can be property-tested on any text.
//!
//! Timestamps are seconds since the epoch (`1700000000`, `1700000000.25`;
//! a number of 12 digits or more is milliseconds, and so on, see
//! `EPOCH_UNITS`) or UTC dates (`2014-02-14 14:30:00`,
//! `2014-02-14T14:30:00Z`, `2014-02-14 14:30`, with optional fractions of a
//! second and an optional `+02:00` offset). Fields are separated by `,`,
//! `;` or a tab, and may be quoted. A repeated timestamp (a clock
//! change in recorded data) is a further point at the same time. A point
//! whose timestamp goes back is skipped and counted, as Prometheus drops
//! out-of-order samples: real exports across a clock change have them, and
//! refusing the file would lose every good point in it.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

/// One series to replay: a metric name, labels, and its points in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub times: Vec<f64>,
    pub values: Vec<f64>,
    /// Points skipped because their timestamp went back.
    pub out_of_order: OutOfOrder,
}

/// Points of a series skipped because their timestamp was before the
/// previous one.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OutOfOrder {
    pub count: usize,
    /// The line of the first one, in the file.
    pub first_line: Option<usize>,
}

impl Series {
    pub fn new(name: impl Into<String>) -> Self {
        Series {
            name: name.into(),
            labels: Vec::new(),
            times: Vec::new(),
            values: Vec::new(),
            out_of_order: OutOfOrder::default(),
        }
    }

    /// The series at a coarser interval: each run of `every` points becomes
    /// their mean, at the time of the run's first point; a partial run at
    /// the end is dropped. What a collector scraping less often would have
    /// seen, so a detector can be checked at another sampling interval on
    /// the same labelled data.
    pub fn averaged(&self, every: usize) -> Series {
        let every = every.max(1);
        Series {
            times: self.times.chunks_exact(every).map(|run| run[0]).collect(),
            values: self
                .values
                .chunks_exact(every)
                .map(|run| run.iter().sum::<f64>() / every as f64)
                .collect(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            out_of_order: self.out_of_order,
        }
    }

    /// The series scraped every `every` seconds: each value repeated until
    /// the next point's time (the last one for as long as the one before
    /// it), as a collector scraping a gauge more often than it changes
    /// would see it; and how many scrapes each point became, to judge each
    /// point by its scrapes.
    pub fn scraped(&self, every: f64) -> (Series, Vec<usize>) {
        self.resampled(every, |_before, value, _next, _k, _n| value)
    }

    /// As `scraped`, but each scrape reads the straight line from a point
    /// to the next: a gauge whose value changes at every scrape (a queue
    /// that builds, memory that grows) with the file's shapes.
    pub fn scraped_changing(&self, every: f64) -> (Series, Vec<usize>) {
        self.resampled(every, |_before, value, next, k, n| {
            value + (next - value) * k as f64 / n as f64
        })
    }

    /// As `scraped`, but the first scrape of each point that is scraped
    /// more than once reads halfway from the point before: a figure caught
    /// half-written, or a sum of two sources that changed seconds apart.
    pub fn scraped_with_transits(&self, every: f64) -> (Series, Vec<usize>) {
        self.resampled(every, |before, value, _next, k, n| {
            if n > 1 && k == 0 {
                (before + value) / 2.0
            } else {
                value
            }
        })
    }

    /// Each point sampled every `every` seconds until the next point's
    /// time, the sample `k` of `n` reading `between(before, value, next,
    /// k, n)`, `before` being the point before (the point itself for the
    /// first).
    fn resampled(
        &self,
        every: f64,
        between: impl Fn(f64, f64, f64, usize, usize) -> f64,
    ) -> (Series, Vec<usize>) {
        let times = &self.times;
        let mut scraped = Series {
            times: Vec::with_capacity(times.len()),
            values: Vec::with_capacity(times.len()),
            ..self.clone()
        };
        let mut scrapes = Vec::with_capacity(times.len());
        for (i, (&time, &value)) in times.iter().zip(&self.values).enumerate() {
            let lasts = match (times.get(i + 1), i.checked_sub(1)) {
                (Some(&next), _) => next - time,
                (None, Some(before)) => time - times[before],
                (None, None) => every,
            };
            let next = self.values.get(i + 1).copied().unwrap_or(value);
            let before = i.checked_sub(1).map_or(value, |b| self.values[b]);
            let count = ((lasts / every).ceil() as usize).max(1);
            for k in 0..count {
                scraped.times.push(time + k as f64 * every);
                scraped.values.push(between(before, value, next, k, count));
            }
            scrapes.push(count);
        }
        (scraped, scrapes)
    }

    /// What to tell the user about skipped points, if any were.
    pub fn out_of_order_warning(&self, file: &str) -> Option<String> {
        let OutOfOrder { count, first_line } = self.out_of_order;
        (count > 0).then(|| {
            let at = first_line.map_or(String::new(), |l| format!(" (the first at line {l})"));
            format!(
                "{file}: {}: skipped {count} sample(s) whose timestamp went back{at}, as Prometheus drops out-of-order samples",
                self.display_name()
            )
        })
    }

    /// `name{a="b"}`, as the series is shown in tables and plots.
    pub fn display_name(&self) -> String {
        if self.labels.is_empty() {
            return self.name.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// Per point of a series scraped as `Series::scraped` does, the highest of
/// `scores` (one per scrape) over that point's `scrapes`.
pub fn highest_per_point(scores: &[f64], scrapes: &[usize]) -> Vec<f64> {
    let mut at = 0;
    scrapes
        .iter()
        .map(|&n| {
            at += n;
            scores[at - n..at].iter().copied().fold(0.0, f64::max)
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{file}:{line}: {message}")]
    Line {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: no data rows")]
    Empty { file: String },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("prometheus {url}: {message}")]
    Prometheus { url: String, message: String },
}

/// A metric name from a file stem or a column header: characters outside
/// `[a-zA-Z0-9_:]` become `_`, and a leading digit gets a `_` in front.
pub fn metric_name(text: &str) -> String {
    let mut name: String = text
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// The kinds of file a backtest reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `timestamp,value`, or a wide file (see `parse_csv`).
    Csv,
    /// A Prometheus answer saved as it came (`curl .../query_range`).
    PrometheusJson,
    /// Exposition text with a timestamp on each sample, as `promtool tsdb
    /// dump-openmetrics` writes it and `promtool tsdb
    /// create-blocks-from openmetrics` reads it.
    Exposition,
}

impl Format {
    /// The format of a file, by its extension (`.json`; `.om`, `.prom`,
    /// `.openmetrics`), else by its first character: `{` a JSON answer,
    /// `#` exposition text, anything else CSV.
    pub fn of(path: &Path, text: &str) -> Format {
        let extension = path.extension().map(|e| e.to_string_lossy().to_lowercase());
        match extension.as_deref() {
            Some("csv" | "tsv") => Format::Csv,
            Some("json") => Format::PrometheusJson,
            Some("om" | "prom" | "openmetrics") => Format::Exposition,
            _ => match text
                .trim_start_matches('\u{feff}')
                .trim_start()
                .chars()
                .next()
            {
                Some('{') => Format::PrometheusJson,
                Some('#') => Format::Exposition,
                _ => Format::Csv,
            },
        }
    }
}

/// Reads a file of series in any `Format`. A CSV file's series are named
/// after the file (one value column) or after the column headers (a wide
/// file); the others name their own.
pub fn read_file(path: &Path) -> Result<Vec<Series>, InputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Io {
        file: file.clone(),
        source,
    })?;
    match Format::of(path, &text) {
        Format::Csv => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "series".to_owned());
            parse_csv(&text, &file, &metric_name(&stem))
        }
        Format::PrometheusJson => {
            parse_query_range(text.as_bytes()).map_err(|message| InputError::File { file, message })
        }
        Format::Exposition => parse_exposition(&text, &file),
    }
}

/// Parses exposition text whose every sample has a timestamp: the text
/// format (milliseconds), or OpenMetrics (seconds) when it ends in `# EOF`.
/// Each name and label set is a series; a sample whose time goes back is
/// skipped and counted, as in a CSV file.
pub fn parse_exposition(text: &str, file: &str) -> Result<Vec<Series>, InputError> {
    use crate::textparse::{Dialect, parse};
    let dialect = if text.lines().any(|l| l.trim() == "# EOF") {
        Dialect::OpenMetrics
    } else {
        Dialect::Text
    };
    let families = parse(text, dialect).map_err(|e| InputError::Line {
        file: file.to_owned(),
        line: e.line,
        message: e.reason,
    })?;
    let mut series: Vec<Series> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for sample in families.iter().flat_map(|f| &f.samples) {
        let Some(time) = sample.timestamp else {
            let mut unstamped = Series::new(sample.name.clone());
            unstamped.labels.clone_from(&sample.labels);
            return Err(InputError::File {
                file: file.to_owned(),
                message: format!(
                    "{} has a sample without a timestamp: a backtest needs the time of each",
                    unstamped.display_name()
                ),
            });
        };
        let at = *index
            .entry((sample.name.as_str(), sample.labels.as_slice()))
            .or_insert_with(|| {
                let mut new = Series::new(sample.name.clone());
                new.labels.clone_from(&sample.labels);
                series.push(new);
                series.len() - 1
            });
        let s = &mut series[at];
        if s.times.last().is_some_and(|&last| time < last) {
            s.out_of_order.count += 1;
        } else {
            s.times.push(time);
            s.values.push(sample.value);
        }
    }
    if series.is_empty() {
        return Err(InputError::Empty {
            file: file.to_owned(),
        });
    }
    Ok(series)
}

/// Parses CSV text. The first line is a header when its first field is not
/// a timestamp. With one value column the series is called `default_name`;
/// with more, each column is a series named after its header. An empty
/// field is a missing point.
///
/// Fields are separated by the first of `,`, `;` and a tab found on the
/// first line (Grafana's older exports and spreadsheets in many locales
/// use `;`), and may be quoted as RFC 4180 quotes them (`"a,b"`, `""` for
/// a quote): spreadsheets and Grafana quote every header, and a header
/// that names a series by its labels holds commas.
pub fn parse_csv(text: &str, file: &str, default_name: &str) -> Result<Vec<Series>, InputError> {
    let error = |line: usize, message: String| InputError::Line {
        file: file.to_owned(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    let mut series: Vec<Series> = Vec::new();
    let mut first_data: Option<(usize, &str)> = None;
    let mut delimiter = ',';
    // The header, if there is one, names the columns.
    for (number, line) in lines.by_ref() {
        let line = line.strip_prefix('\u{feff}').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        delimiter = delimiter_of(line);
        let fields = split_fields(line, delimiter).map_err(|e| error(number, e))?;
        if parse_timestamp(fields[0].trim()).is_ok() {
            first_data = Some((number, line));
            if fields.len() < 2 {
                return Err(error(
                    number,
                    "expected timestamp,value (at least two columns)".to_owned(),
                ));
            }
            series = names_for(fields.len() - 1, None, default_name);
        } else {
            let headers: Vec<&str> = fields.iter().skip(1).map(|h| h.as_ref()).collect();
            if headers.is_empty() {
                return Err(error(
                    number,
                    format!(
                        "the header needs a timestamp and at least one value column, got {line:?}"
                    ),
                ));
            }
            series = names_for(headers.len(), Some(&headers), default_name);
            if let Some((first, second)) = same_series(&series) {
                return Err(error(
                    number,
                    format!(
                        "columns {} and {} both name the series {}",
                        first + 2,
                        second + 2,
                        series[first].display_name()
                    ),
                ));
            }
        }
        break;
    }
    if series.is_empty() {
        return Err(InputError::Empty {
            file: file.to_owned(),
        });
    }
    let width = series.len();
    for (number, line) in first_data.into_iter().chain(lines) {
        if line.is_empty() {
            continue;
        }
        let fields = split_fields(line, delimiter).map_err(|e| error(number, e))?;
        if fields.len() != width + 1 {
            return Err(error(
                number,
                format!("{} fields, the first line has {}", fields.len(), width + 1),
            ));
        }
        let time = parse_timestamp(fields[0].trim()).map_err(|e| error(number, e))?;
        for (s, field) in series.iter_mut().zip(&fields[1..]) {
            let field = field.trim();
            if field.is_empty() {
                continue;
            }
            let value = parse_value(field).map_err(|e| error(number, e))?;
            if s.times.last().is_some_and(|&last| time < last) {
                s.out_of_order.count += 1;
                s.out_of_order.first_line.get_or_insert(number);
            } else {
                s.times.push(time);
                s.values.push(value);
            }
        }
    }
    series.retain(|s| !s.times.is_empty());
    if series.is_empty() {
        return Err(InputError::Empty {
            file: file.to_owned(),
        });
    }
    Ok(series)
}

/// The field separator of a file, from its first line: the first of `,`,
/// `;` and a tab outside quotes, `,` when there is none.
fn delimiter_of(line: &str) -> char {
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' | ';' | '\t' if !quoted => return c,
            _ => {}
        }
    }
    ','
}

/// The fields of a line separated by `delimiter`. A field that starts with
/// a quote runs to its closing quote, and `""` within it is a quote.
fn split_fields(line: &str, delimiter: char) -> Result<Vec<Cow<'_, str>>, String> {
    if !line.contains('"') {
        return Ok(line.split(delimiter).map(Cow::Borrowed).collect());
    }
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start_matches(' ');
        let Some(quoted) = trimmed.strip_prefix('"') else {
            match rest.split_once(delimiter) {
                Some((field, after)) => {
                    fields.push(Cow::Borrowed(field));
                    rest = after;
                    continue;
                }
                None => {
                    fields.push(Cow::Borrowed(rest));
                    return Ok(fields);
                }
            }
        };
        let mut field = String::new();
        let mut chars = quoted.char_indices();
        let after = loop {
            match chars.next() {
                Some((i, '"')) => {
                    if quoted[i + 1..].starts_with('"') {
                        field.push('"');
                        chars.next();
                    } else {
                        break &quoted[i + 1..];
                    }
                }
                Some((_, c)) => field.push(c),
                None => {
                    return Err(
                        "a quoted field is not closed (a field may not span lines)".to_owned()
                    );
                }
            }
        };
        fields.push(Cow::Owned(field));
        let after = after.trim_start_matches(' ');
        match after.strip_prefix(delimiter) {
            Some(next) => rest = next,
            None if after.is_empty() => return Ok(fields),
            None => {
                return Err(format!(
                    "{:?} after a quoted field, expected {delimiter:?} or the end of the line",
                    after.chars().next().unwrap_or_default()
                ));
            }
        }
    }
}

fn names_for(count: usize, headers: Option<&[&str]>, default_name: &str) -> Vec<Series> {
    match headers {
        // `timestamp,value`: the file names the series.
        Some([header]) if header.trim().eq_ignore_ascii_case("value") => {
            vec![Series::new(default_name)]
        }
        None if count == 1 => vec![Series::new(default_name)],
        Some(headers) => headers.iter().map(|h| series_named_by(h)).collect(),
        None => (1..=count)
            .map(|i| Series::new(format!("{default_name}_{i}")))
            .collect(),
    }
}

/// The first two of `series` (by index) with the same name and labels, if
/// any: replayed together they would be one series sampled twice a tick.
pub fn same_series(series: &[Series]) -> Option<(usize, usize)> {
    let mut seen = std::collections::HashMap::with_capacity(series.len());
    series
        .iter()
        .enumerate()
        .find_map(|(i, s)| seen.insert((&s.name, &s.labels), i).map(|first| (first, i)))
}

/// The series a column header names: `name{label="value",...}` as
/// Prometheus writes a series (and Grafana its legend), `{...}` for an
/// expression without a name (called `value`, as in a range query's
/// answer), or any other text made a metric name.
fn series_named_by(header: &str) -> Series {
    let header = header.trim();
    let labelled = header.find('{').filter(|_| header.ends_with('}'));
    let parsed = labelled.and_then(|brace| {
        let name = if brace == 0 {
            "value"
        } else {
            &header[..brace]
        };
        let text = format!("{name}{} 0\n", &header[brace..]);
        let families = crate::textparse::parse(&text, crate::textparse::Dialect::Text).ok()?;
        let [family] = families.as_slice() else {
            return None;
        };
        let [sample] = family.samples.as_slice() else {
            return None;
        };
        let mut series = Series::new(sample.name.clone());
        for (label, value) in &sample.labels {
            if label == "__name__" {
                series.name = value.clone();
            } else {
                series.labels.push((label.clone(), value.clone()));
            }
        }
        Some(series)
    });
    parsed.unwrap_or_else(|| Series::new(metric_name(header)))
}

fn parse_value(field: &str) -> Result<f64, String> {
    field
        .parse::<f64>()
        .map_err(|_| format!("value {field:?} is not a number"))
}

/// Epoch numbers at or past these are milliseconds, microseconds and
/// nanoseconds, not seconds: 1e11 seconds is the year 5138, and Grafana,
/// VictoriaMetrics and most client code export milliseconds.
const EPOCH_UNITS: [(f64, f64); 3] = [(1e17, 1e9), (1e14, 1e6), (1e11, 1e3)];

/// Seconds since the epoch, from an epoch number (seconds, or milliseconds,
/// microseconds or nanoseconds by its size, see `EPOCH_UNITS`) or a UTC
/// date, to the minute or the second.
pub fn parse_timestamp(text: &str) -> Result<f64, String> {
    let bad = || {
        format!("timestamp {text:?} is neither epoch seconds nor a date like 2014-02-14 14:30:00")
    };
    let bytes = text.as_bytes();
    let is_date = bytes.len() >= 10 && bytes[4] == b'-' && bytes[7] == b'-';
    if !is_date {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(bad());
        }
        let number = text
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite())
            .ok_or_else(bad)?;
        let per_second = EPOCH_UNITS
            .iter()
            .find(|(from, _)| number >= *from)
            .map_or(1.0, |(_, per_second)| *per_second);
        return Ok(number / per_second);
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = text.get(range).ok_or_else(bad)?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let days = match (i32::try_from(year), u8::try_from(month), u8::try_from(day)) {
        (Ok(year), Ok(month), Ok(day)) => crate::model::clock::days_since_epoch(year, month, day),
        _ => None,
    }
    .ok_or_else(bad)?;
    let mut seconds = days as f64 * 86400.0;
    let rest = &text[10..];
    if rest.is_empty() {
        return Ok(seconds);
    }
    let sep = rest.as_bytes()[0];
    if !(sep == b' ' || sep == b'T' || sep == b't') || rest.len() < 6 || rest.as_bytes()[3] != b':'
    {
        return Err(bad());
    }
    let (hour, minute) = (number(11..13)?, number(14..16)?);
    // Seconds are optional: spreadsheets write dates to the minute.
    let with_seconds = text.as_bytes().get(16) == Some(&b':');
    let (second, mut tail) = if with_seconds {
        (number(17..19)?, text.get(19..).ok_or_else(bad)?)
    } else {
        (0, &text[16..])
    };
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    seconds += (hour * 3600 + minute * 60 + second) as f64;
    if let Some(fraction) = tail.strip_prefix('.').filter(|_| with_seconds) {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let value: f64 = format!("0.{}", &fraction[..digits])
            .parse()
            .map_err(|_| bad())?;
        seconds += value;
        tail = &fraction[digits..];
    }
    match tail {
        "" | "Z" | "z" => Ok(seconds),
        offset if offset.len() == 6 && offset.as_bytes()[3] == b':' => {
            let sign = match offset.as_bytes()[0] {
                b'+' => 1.0,
                b'-' => -1.0,
                _ => return Err(bad()),
            };
            let at = text.len() - 6;
            let (hours, minutes) = (number(at + 1..at + 3)?, number(at + 4..at + 6)?);
            if hours > 23 || minutes > 59 {
                return Err(bad());
            }
            Ok(seconds - sign * (hours * 3600 + minutes * 60) as f64)
        }
        _ => Err(bad()),
    }
}

/// A Prometheus range query: `GET <url>/api/v1/query_range`.
#[derive(Clone, Debug)]
pub struct RangeQuery {
    pub url: String,
    pub query: String,
    pub start: f64,
    pub end: f64,
    pub step: Duration,
}

/// Runs the range query against a Prometheus (plain HTTP) and returns its
/// series, named by `__name__` (or `value` for an expression without one).
pub fn query_prometheus(query: &RangeQuery) -> Result<Vec<Series>, InputError> {
    let url = format!(
        "{}/api/v1/query_range?query={}&start={}&end={}&step={}",
        query.url.trim_end_matches('/'),
        url_encode(&query.query),
        query.start,
        query.end,
        query.step.as_secs_f64()
    );
    let fail = |message: String| InputError::Prometheus {
        url: query.url.clone(),
        message,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let body = runtime.block_on(http_get(&url)).map_err(fail)?;
    parse_query_range(&body).map_err(fail)
}

async fn http_get(url: &str) -> Result<Vec<u8>, String> {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// URLs are supported".to_owned());
    }
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = tokio::time::timeout(Duration::from_secs(60), client.get(uri))
        .await
        .map_err(|_| "no answer within 60s".to_owned())?
        .map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        return Err(format!("answered {status}: {text}"));
    }
    Ok(body.to_vec())
}

/// The series of a `query_range` answer.
pub fn parse_query_range(body: &[u8]) -> Result<Vec<Series>, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        status: String,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        data: Option<Data>,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        result: Vec<Matrix>,
    }
    #[derive(serde::Deserialize)]
    struct Matrix {
        metric: std::collections::BTreeMap<String, String>,
        values: Vec<(f64, String)>,
    }
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| format!("not a query_range answer: {e}"))?;
    if answer.status != "success" {
        return Err(answer.error.unwrap_or(answer.status));
    }
    let data = answer.data.ok_or("the answer has no data")?;
    let mut out = Vec::new();
    for matrix in data.result {
        let mut labels = matrix.metric;
        let name = labels
            .remove("__name__")
            .unwrap_or_else(|| "value".to_owned());
        let mut series = Series::new(name);
        series.labels = labels.into_iter().collect();
        for (time, value) in matrix.values {
            let value = parse_value(&value)?;
            series.times.push(time);
            series.values.push(value);
        }
        out.push(series);
    }
    Ok(out)
}

fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points at 0, 300 and 900 s.
    fn three_points(values: [f64; 3]) -> Series {
        let mut s = Series::new("a");
        s.times = vec![0.0, 300.0, 900.0];
        s.values = values.to_vec();
        s
    }

    #[test]
    fn scraped_repeats_each_point_until_the_next() {
        let (scraped, scrapes) = three_points([1.0, 2.0, 3.0]).scraped(100.0);
        assert_eq!(scrapes, [3, 6, 6]);
        assert_eq!(scraped.times[..4], [0.0, 100.0, 200.0, 300.0]);
        assert_eq!(scraped.values[..4], [1.0, 1.0, 1.0, 2.0]);
        assert_eq!(scraped.times.len(), 15);
        assert_eq!(scraped.values[14], 3.0);
        let scores: Vec<f64> = (0..15).map(f64::from).collect();
        assert_eq!(highest_per_point(&scores, &scrapes), [2.0, 8.0, 14.0]);
    }

    #[test]
    fn scraped_changing_reads_the_line_to_the_next_point() {
        let s = three_points([1.0, 4.0, 1.0]);
        let (scraped, scrapes) = s.scraped_changing(100.0);
        assert_eq!(scrapes, [3, 6, 6]);
        assert_eq!(scraped.times, s.scraped(100.0).0.times);
        assert_eq!(scraped.values[..5], [1.0, 2.0, 3.0, 4.0, 3.5]);
        // The last point has no next: it is held.
        assert_eq!(scraped.values[9..], [1.0; 6]);
    }

    #[test]
    fn scraped_with_transits_reads_halfway_at_each_points_first_scrape() {
        let s = three_points([1.0, 4.0, 1.0]);
        let (scraped, scrapes) = s.scraped_with_transits(100.0);
        assert_eq!(scrapes, [3, 6, 6]);
        assert_eq!(scraped.times, s.scraped(100.0).0.times);
        assert_eq!(scraped.values[..5], [1.0, 1.0, 1.0, 2.5, 4.0]);
        assert_eq!(scraped.values[9..11], [2.5, 1.0]);
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000.0));
        assert_eq!(parse_timestamp("1700000000.25"), Ok(1_700_000_000.25));
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Ok(0.0));
        assert_eq!(parse_timestamp("2014-02-14 14:30:00"), Ok(1_392_388_200.0));
        assert_eq!(
            parse_timestamp("2014-02-14T14:30:00.5Z"),
            Ok(1_392_388_200.5)
        );
        assert_eq!(
            parse_timestamp("2014-02-14T16:30:00+02:00"),
            Ok(1_392_388_200.0)
        );
        assert_eq!(parse_timestamp("2000-02-29"), Ok(951_782_400.0));
        // To the minute, as spreadsheets write dates.
        assert_eq!(parse_timestamp("2014-02-14 14:30"), Ok(1_392_388_200.0));
        assert_eq!(
            parse_timestamp("2014-02-14T16:30+02:00"),
            Ok(1_392_388_200.0)
        );
        // Milliseconds, microseconds and nanoseconds, by their size.
        assert_eq!(parse_timestamp("1392388200000"), Ok(1_392_388_200.0));
        assert_eq!(parse_timestamp("1392388200500.0"), Ok(1_392_388_200.5));
        assert_eq!(parse_timestamp("1392388200000000"), Ok(1_392_388_200.0));
        assert_eq!(parse_timestamp("1392388200000000000"), Ok(1_392_388_200.0));
        assert_eq!(parse_timestamp("99999999999"), Ok(99_999_999_999.0));
        for bad in [
            "",
            "-1",
            "abc",
            "2014-02-30 00:00:00",
            "2014-13-01",
            "2014-02-14 25:00:00",
            "2014-02-14 14",
            "2014-02-14 14:30.5",
            "2014-02-14 14:3",
            "2014-02-14X14:30:00",
            "2014-02-14 14:30:00+2",
            "1e9",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_series_per_file_and_wide_files() {
        let one = parse_csv("timestamp,value\n10,1.5\n20,2\n", "f.csv", "cpu").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].name, "cpu");
        assert_eq!(
            (one[0].times.clone(), one[0].values.clone()),
            (vec![10.0, 20.0], vec![1.5, 2.0])
        );
        let headless = parse_csv("10,1\n20,2\n", "f.csv", "cpu").unwrap();
        assert_eq!(headless[0].values, [1.0, 2.0]);
        let wide = parse_csv("time,a,b-c\n10,1,\n20,2,3\r\n", "w.csv", "x").unwrap();
        assert_eq!(wide.len(), 2);
        assert_eq!((wide[0].name.as_str(), wide[0].values.len()), ("a", 2));
        assert_eq!(
            (wide[1].name.as_str(), wide[1].times.clone()),
            ("b_c", vec![20.0])
        );
    }

    #[test]
    fn quoted_fields_and_other_separators_as_exports_write_them() {
        // Grafana and spreadsheets quote headers; a series named by its
        // labels holds commas and quotes.
        let text = "\"Time\",\"cpu{mode=\"\"user\"\",cpu=\"\"0\"\"}\",\"b\"\n\
                    \"2014-02-14 14:30:00\",\"1.5\",2\n\
                    1392388500000, 3 ,\"\"\n";
        let series = parse_csv(text, "f.csv", "s").unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].display_name(), "cpu{mode=\"user\",cpu=\"0\"}");
        assert_eq!(series[0].times, [1_392_388_200.0, 1_392_388_500.0]);
        assert_eq!(series[0].values, [1.5, 3.0]);
        assert_eq!((series[1].times.len(), series[1].values[0]), (1, 2.0));
        // Grafana's legends: spaces after commas, and no name for an
        // expression.
        let legends = parse_csv(
            "Time,\"up{instance=\"\"a:9100\"\", job=\"\"node\"\"}\",{job=\"x\"},{broken\n10,1,2,3\n",
            "f.csv",
            "s",
        )
        .unwrap();
        let names: Vec<String> = legends.iter().map(Series::display_name).collect();
        assert_eq!(
            names,
            [
                "up{instance=\"a:9100\",job=\"node\"}",
                "value{job=\"x\"}",
                "_broken"
            ]
        );
        for separator in [";", "\t"] {
            let text = format!("Time{separator}Value\n2014-02-14 14:30{separator}15\n");
            let series = parse_csv(&text, "f.csv", "s").unwrap();
            assert_eq!((series[0].name.as_str(), series[0].values[0]), ("s", 15.0));
        }
        // An empty value is a missing point, in a file of one series too.
        let gaps = parse_csv("timestamp,value\n10,1\n20,\n30,3\n", "f.csv", "s").unwrap();
        assert_eq!(gaps[0].times, [10.0, 30.0]);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let cases = [
            ("timestamp,value\n10,1\nlater,2\n", 3, "timestamp \"later\""),
            ("timestamp,value\n10,1\n20,x\n", 3, "value \"x\""),
            ("timestamp,value\n10,1\n20,2,3\n", 3, "fields"),
            ("timestamp,a,b\n10,1,2\n20,2\n", 3, "fields"),
            ("timestamp,value\n\n10,1\n20\n", 4, "fields"),
            ("10\n", 1, "two columns"),
            ("timestamp,value\n10,\"1\n20,2\n", 2, "not closed"),
            ("timestamp,value\n10,\"1\"x\n", 2, "after a quoted field"),
            ("timestamp;value\n10;1\n20,2\n", 3, "1 fields"),
            (
                "t,a-b,c,a_b\n10,1,2,3\n",
                1,
                "columns 2 and 4 both name the series a_b",
            ),
        ];
        for (text, line, needle) in cases {
            let error = parse_csv(text, "f.csv", "s").unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("f.csv:{line}: ")) && error.contains(needle),
                "{text:?}: {error}"
            );
        }
        assert!(matches!(
            parse_csv("timestamp,value\n", "f.csv", "s"),
            Err(InputError::Empty { .. })
        ));
    }

    #[test]
    fn a_timestamp_that_goes_back_is_skipped_and_counted() {
        let text = "timestamp,a,b\n10,1,1\n20,2,2\n15,3,\n15,4,\n20,5,5\n30,6,6\n";
        let series = parse_csv(text, "f.csv", "s").unwrap();
        assert_eq!(series[0].times, [10.0, 20.0, 20.0, 30.0]);
        assert_eq!(series[0].values, [1.0, 2.0, 5.0, 6.0]);
        assert_eq!(
            series[0].out_of_order,
            OutOfOrder {
                count: 2,
                first_line: Some(4)
            }
        );
        assert_eq!(series[1].values, [1.0, 2.0, 5.0, 6.0]);
        assert_eq!(series[1].out_of_order, OutOfOrder::default());
        let warning = series[0].out_of_order_warning("f.csv").unwrap();
        assert!(
            warning.contains("skipped 2 sample(s)") && warning.contains("line 4"),
            "{warning}"
        );
        assert_eq!(series[1].out_of_order_warning("f.csv"), None);
    }

    #[test]
    fn exposition_with_timestamps_is_a_series_per_name_and_labels() {
        // The text format stamps samples in milliseconds.
        let text = "# TYPE q gauge\nq{a=\"1\"} 1 10000\nq{a=\"2\"} 5 10000\n\
                    q{a=\"1\"} 2 20000\nq{a=\"1\"} 9 15000\n";
        let series = parse_exposition(text, "f.prom").unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].display_name(), "q{a=\"1\"}");
        assert_eq!(series[0].times, [10.0, 20.0]);
        assert_eq!(series[0].values, [1.0, 2.0]);
        assert_eq!(series[0].out_of_order.count, 1);
        assert_eq!(series[1].values, [5.0]);
        // OpenMetrics, in seconds.
        let open = parse_exposition("q 1 10.5\nq 2 20\n# EOF\n", "f.om").unwrap();
        assert_eq!(open[0].times, [10.5, 20.0]);
        let unstamped = parse_exposition("q{a=\"1\"} 1 10000\nq{a=\"1\"} 2\n", "f.prom");
        let message = unstamped.unwrap_err().to_string();
        assert!(
            message.starts_with("f.prom: q{a=\"1\"} has a sample without a timestamp"),
            "{message}"
        );
        let broken = parse_exposition("q{a=1} 1 10\n", "f.prom").unwrap_err();
        assert!(broken.to_string().starts_with("f.prom:1: "), "{broken}");
    }

    #[test]
    fn a_files_format_is_told_by_its_extension_then_by_its_first_character() {
        let of = |name: &str, text: &str| Format::of(Path::new(name), text);
        assert_eq!(of("a.json", ""), Format::PrometheusJson);
        assert_eq!(of("a.om", ""), Format::Exposition);
        assert_eq!(of("a.csv", "{"), Format::Csv);
        assert_eq!(of("answer", "\n {\"status\""), Format::PrometheusJson);
        assert_eq!(of("dump.txt", "# HELP q Q.\n"), Format::Exposition);
        assert_eq!(of("cpu.txt", "timestamp,value\n"), Format::Csv);
    }

    #[test]
    fn averaging_keeps_each_runs_first_time_and_mean() {
        let mut series = Series::new("x");
        series.times = vec![0.0, 300.0, 600.0, 900.0, 1200.0];
        series.values = vec![1.0, 3.0, 5.0, 7.0, 100.0];
        let hourly = series.averaged(2);
        assert_eq!(hourly.times, [0.0, 600.0]);
        assert_eq!(hourly.values, [2.0, 6.0]);
        assert_eq!(series.averaged(1), series);
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(
            metric_name("ec2_cpu-utilization.5f"),
            "ec2_cpu_utilization_5f"
        );
        assert_eq!(metric_name("1x"), "_1x");
        assert_eq!(metric_name(""), "_");
    }

    #[test]
    fn query_range_answers_become_series() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"up","job":"a"},"values":[[10,"1"],[25.5,"0"]]},
            {"metric":{},"values":[[10,"NaN"]]}]}}"#;
        let series = parse_query_range(body).unwrap();
        assert_eq!(series[0].display_name(), "up{job=\"a\"}");
        assert_eq!(series[0].times, [10.0, 25.5]);
        assert_eq!(series[1].name, "value");
        assert!(series[1].values[0].is_nan());
        let error = parse_query_range(br#"{"status":"error","error":"bad query"}"#);
        assert_eq!(error.unwrap_err(), "bad query");
    }
}
