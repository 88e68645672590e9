//! OTLP/HTTP metrics (`ExportMetricsServiceRequest`, in protobuf or JSON),
//! translated as Prometheus's own OTLP receiver translates them:
//!
//! - metric names: characters outside `[a-zA-Z0-9:]` split the name into
//!   words joined by `_`; the unit is added as a word (`s` → `seconds`,
//!   `By` → `bytes`, `By/s` → `bytes_per_second`, `{...}` dropped, `1` on a
//!   gauge → `ratio`), `total` is moved to the end of monotonic sums, and a
//!   leading digit gets `_`;
//! - label names: invalid characters become `_`, runs of `_` one, and a
//!   leading digit gets `key_`;
//! - `service.name` (prefixed `service.namespace/` when set) becomes `job`,
//!   `service.instance.id` `instance`; the other resource attributes go to
//!   a `target_info` gauge of value 1 with the same `job` and `instance`;
//! - gauges and non-monotonic sums are gauges, monotonic sums counters,
//!   explicit-bucket histograms classic histograms (`_bucket` cumulated,
//!   `_sum`, `_count`), summaries summaries.
//!
//! Only cumulative temporality is taken: a delta point is a change, not a
//! value, and holding it as one would make counters go down; the request is
//! refused with a message that names the exporter setting. Exponential
//! histograms, which need native histograms, are refused the same way.
//!
//! Each resource is one push group (`job`, `instance`), and an export
//! replaces the families it names in that group, as a Pushgateway POST
//! does: an SDK exports every instrument's cumulative state each time.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;

use super::GroupKey;
use super::wire::{Field, MAX_EXPANDED_LABELS, Reader, spend};
use crate::metric::MetricType;
use crate::textparse::{ParsedFamily, ParsedSample};

/// The OTLP default path, and Prometheus's receiver's.
pub const PATHS: [&str; 2] = ["/v1/metrics", "/api/v1/otlp/v1/metrics"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding a Content-Type names; `Err` for any other type.
    pub fn of(content_type: &str) -> Result<Encoding, String> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") {
            Ok(Encoding::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Ok(Encoding::Json)
        } else {
            Err(format!(
                "Content-Type {content_type:?} is not OTLP; send application/x-protobuf or application/json"
            ))
        }
    }

    /// The Content-Type of the answer, the request's own.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// One resource's metrics, scopes flattened.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resource {
    pub attributes: Vec<(String, String)>,
    pub metrics: Vec<Metric>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Where it is in the request, for messages:
    /// `resourceMetrics[0].scopeMetrics[1].metrics[2]`.
    pub path: String,
    pub name: String,
    pub description: String,
    pub unit: String,
    pub data: Data,
}

/// OTLP's `AggregationTemporality`.
const DELTA: u64 = 1;
const CUMULATIVE: u64 = 2;

#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// No data field: nothing to hold.
    Empty,
    Gauge(Vec<Point>),
    Sum {
        points: Vec<Point>,
        temporality: u64,
        monotonic: bool,
    },
    Histogram {
        points: Vec<HistogramPoint>,
        temporality: u64,
    },
    ExponentialHistogram,
    Summary(Vec<SummaryPoint>),
}

/// OTLP's `DataPointFlags.NO_RECORDED_VALUE`: the point marks a series
/// gone, and holds no value.
const NO_RECORDED_VALUE: u64 = 1;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Point {
    pub attributes: Vec<(String, String)>,
    pub value: f64,
    pub flags: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramPoint {
    pub attributes: Vec<(String, String)>,
    pub count: u64,
    pub sum: Option<f64>,
    pub bucket_counts: Vec<u64>,
    pub bounds: Vec<f64>,
    pub flags: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SummaryPoint {
    pub attributes: Vec<(String, String)>,
    pub count: u64,
    pub sum: f64,
    pub quantiles: Vec<(f64, f64)>,
    pub flags: u64,
}

pub fn decode(body: &[u8], encoding: Encoding) -> Result<Vec<Resource>, String> {
    match encoding {
        Encoding::Protobuf => decode_protobuf(body),
        Encoding::Json => decode_json(body),
    }
}

// ---- protobuf -------------------------------------------------------------

fn decode_protobuf(body: &[u8]) -> Result<Vec<Resource>, String> {
    let mut request = Reader::new(body);
    let mut resources = Vec::new();
    while let Some(field) = request.next_field().map_err(|e| e.to_string())? {
        if field.number != 1 {
            continue;
        }
        let path = format!("resourceMetrics[{}]", resources.len());
        let resource = pb_resource(&field, &path).map_err(|e| format!("{path}: {e}"))?;
        resources.push(resource);
    }
    Ok(resources)
}

/// A message's fields, each as it comes.
fn fields<'a>(field: &Field<'a>) -> Result<Vec<Field<'a>>, String> {
    let mut reader = field.message().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(field) = reader.next_field().map_err(|e| e.to_string())? {
        out.push(field);
    }
    Ok(out)
}

fn pb_resource(field: &Field<'_>, path: &str) -> Result<Resource, String> {
    let mut resource = Resource::default();
    let mut scopes = 0;
    for field in fields(field)? {
        match field.number {
            1 => {
                for attribute in fields(&field)? {
                    if attribute.number == 1 {
                        resource.attributes.push(pb_key_value(&attribute)?);
                    }
                }
            }
            2 => {
                let scope_path = format!("{path}.scopeMetrics[{scopes}]");
                scopes += 1;
                let mut metrics = 0;
                for scope_field in
                    fields(&field).map_err(|e| format!("scopeMetrics[{}]: {e}", scopes - 1))?
                {
                    if scope_field.number != 2 {
                        continue;
                    }
                    let metric_path = format!("{scope_path}.metrics[{metrics}]");
                    metrics += 1;
                    let metric = pb_metric(&scope_field, metric_path.clone())
                        .map_err(|e| format!("{}: {e}", &metric_path[path.len() + 1..]))?;
                    resource.metrics.push(metric);
                }
            }
            _ => {}
        }
    }
    Ok(resource)
}

fn pb_string(field: &Field<'_>) -> Result<String, String> {
    field.string().map_err(|e| e.to_string())
}

fn pb_key_value(field: &Field<'_>) -> Result<(String, String), String> {
    let (mut key, mut value) = (String::new(), String::new());
    for field in fields(field)? {
        match field.number {
            1 => key = pb_string(&field)?,
            2 => value = pb_any_value(&field)?,
            _ => {}
        }
    }
    Ok((key, value))
}

/// An `AnyValue` as Prometheus writes attribute values: strings as they
/// are, numbers and booleans as text, arrays and maps as JSON.
/// How deep arrays and key-value lists may nest in an attribute value; JSON
/// bodies stop at serde_json's 128, and a deeper protobuf value would only
/// recurse towards the end of the stack.
const MAX_VALUE_DEPTH: usize = 32;

fn pb_any_value(field: &Field<'_>) -> Result<String, String> {
    Ok(
        pb_any_json(field, 0)?.map_or_else(String::new, |json| match json {
            Json::String(text) => text,
            other => other.to_string(),
        }),
    )
}

fn pb_any_json(field: &Field<'_>, depth: usize) -> Result<Option<Json>, String> {
    if depth > MAX_VALUE_DEPTH {
        return Err(format!(
            "an attribute value nests arrays or key-value lists deeper than {MAX_VALUE_DEPTH} levels"
        ));
    }
    let mut out = None;
    for field in fields(field)? {
        let error = |e: super::wire::WireError| e.to_string();
        out = Some(match field.number {
            1 => Json::String(pb_string(&field)?),
            2 => Json::Bool(field.varint().map_err(error)? != 0),
            3 => Json::from(field.varint().map_err(error)? as i64),
            4 => float_json(field.double().map_err(error)?),
            5 => {
                let mut items = Vec::new();
                for item in fields(&field)? {
                    if item.number == 1 {
                        items.push(pb_any_json(&item, depth + 1)?.unwrap_or(Json::Null));
                    }
                }
                Json::Array(items)
            }
            6 => {
                let mut map = serde_json::Map::new();
                for entry in fields(&field)? {
                    if entry.number == 1 {
                        let (mut key, mut value) = (String::new(), Json::Null);
                        for part in fields(&entry)? {
                            match part.number {
                                1 => key = pb_string(&part)?,
                                2 => value = pb_any_json(&part, depth + 1)?.unwrap_or(Json::Null),
                                _ => {}
                            }
                        }
                        map.insert(key, value);
                    }
                }
                Json::Object(map)
            }
            7 => {
                use base64::Engine as _;
                Json::String(
                    base64::engine::general_purpose::STANDARD.encode(field.bytes().map_err(error)?),
                )
            }
            _ => continue,
        });
    }
    Ok(out)
}

fn float_json(value: f64) -> Json {
    serde_json::Number::from_f64(value)
        .map_or_else(|| Json::String(value.to_string()), Json::Number)
}

fn pb_metric(field: &Field<'_>, path: String) -> Result<Metric, String> {
    let mut metric = Metric {
        path,
        name: String::new(),
        description: String::new(),
        unit: String::new(),
        data: Data::Empty,
    };
    let mut unknown = None;
    for field in fields(field)? {
        let error = |e: super::wire::WireError| e.to_string();
        match field.number {
            1 => metric.name = pb_string(&field)?,
            2 => metric.description = pb_string(&field)?,
            3 => metric.unit = pb_string(&field)?,
            5 | 7 | 9 | 11 => {
                let kind = match field.number {
                    5 => "gauge",
                    7 => "sum",
                    9 => "histogram",
                    _ => "summary",
                };
                let (mut temporality, mut monotonic) = (0, false);
                let mut number_points = Vec::new();
                let mut histogram_points = Vec::new();
                let mut summary_points = Vec::new();
                for part in fields(&field).map_err(|e| format!("{kind}: {e}"))? {
                    match (field.number, part.number) {
                        (5 | 7, 1) => {
                            let at = format!("{kind}.dataPoints[{}]", number_points.len());
                            number_points
                                .push(pb_number_point(&part).map_err(|e| format!("{at}: {e}"))?);
                        }
                        (9, 1) => {
                            let at = format!("histogram.dataPoints[{}]", histogram_points.len());
                            histogram_points
                                .push(pb_histogram_point(&part).map_err(|e| format!("{at}: {e}"))?);
                        }
                        (11, 1) => {
                            let at = format!("summary.dataPoints[{}]", summary_points.len());
                            summary_points
                                .push(pb_summary_point(&part).map_err(|e| format!("{at}: {e}"))?);
                        }
                        (7 | 9, 2) => temporality = part.varint().map_err(error)?,
                        (7, 3) => monotonic = part.varint().map_err(error)? != 0,
                        _ => {}
                    }
                }
                metric.data = match field.number {
                    5 => Data::Gauge(number_points),
                    7 => Data::Sum {
                        points: number_points,
                        temporality,
                        monotonic,
                    },
                    9 => Data::Histogram {
                        points: histogram_points,
                        temporality,
                    },
                    _ => Data::Summary(summary_points),
                };
            }
            10 => metric.data = Data::ExponentialHistogram,
            4 | 6 | 8 | 12 => {}
            other => unknown = unknown.or(Some(other)),
        }
    }
    if let (Data::Empty, Some(number)) = (&metric.data, unknown) {
        return Err(format!(
            "{}: unknown metric type (field {number}; gauge, sum, histogram or summary)",
            metric.name
        ));
    }
    Ok(metric)
}

fn pb_number_point(field: &Field<'_>) -> Result<Point, String> {
    let mut point = Point::default();
    for field in fields(field)? {
        let error = |e: super::wire::WireError| e.to_string();
        match field.number {
            7 => point.attributes.push(pb_key_value(&field)?),
            4 => point.value = field.double().map_err(error)?,
            6 => point.value = field.fixed64().map_err(error)? as i64 as f64,
            8 => point.flags = field.varint().map_err(error)?,
            _ => {}
        }
    }
    Ok(point)
}

fn pb_histogram_point(field: &Field<'_>) -> Result<HistogramPoint, String> {
    let mut point = HistogramPoint::default();
    let mut bounds = Vec::new();
    for field in fields(field)? {
        let error = |e: super::wire::WireError| e.to_string();
        match field.number {
            9 => point.attributes.push(pb_key_value(&field)?),
            4 => point.count = field.fixed64().map_err(error)?,
            5 => point.sum = Some(field.double().map_err(error)?),
            6 => field
                .push_fixed64s(&mut point.bucket_counts)
                .map_err(error)?,
            7 => field.push_fixed64s(&mut bounds).map_err(error)?,
            10 => point.flags = field.varint().map_err(error)?,
            _ => {}
        }
    }
    point.bounds = bounds.into_iter().map(f64::from_bits).collect();
    Ok(point)
}

fn pb_summary_point(field: &Field<'_>) -> Result<SummaryPoint, String> {
    let mut point = SummaryPoint::default();
    for field in fields(field)? {
        let error = |e: super::wire::WireError| e.to_string();
        match field.number {
            7 => point.attributes.push(pb_key_value(&field)?),
            4 => point.count = field.fixed64().map_err(error)?,
            5 => point.sum = field.double().map_err(error)?,
            6 => {
                let (mut quantile, mut value) = (0.0, 0.0);
                for part in fields(&field)? {
                    match part.number {
                        1 => quantile = part.double().map_err(error)?,
                        2 => value = part.double().map_err(error)?,
                        _ => {}
                    }
                }
                point.quantiles.push((quantile, value));
            }
            8 => point.flags = field.varint().map_err(error)?,
            _ => {}
        }
    }
    Ok(point)
}

// ---- JSON -----------------------------------------------------------------

fn decode_json(body: &[u8]) -> Result<Vec<Resource>, String> {
    let request: Json =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let mut resources = Vec::new();
    for (i, resource) in array(&request, "resourceMetrics", "")?.iter().enumerate() {
        let path = format!("resourceMetrics[{i}]");
        let mut out = Resource {
            attributes: json_attributes(resource.get("resource"), &format!("{path}.resource"))?,
            metrics: Vec::new(),
        };
        for (j, scope) in array(resource, "scopeMetrics", &path)?.iter().enumerate() {
            let scope_path = format!("{path}.scopeMetrics[{j}]");
            for (k, metric) in array(scope, "metrics", &scope_path)?.iter().enumerate() {
                out.metrics
                    .push(json_metric(metric, format!("{scope_path}.metrics[{k}]"))?);
            }
        }
        resources.push(out);
    }
    Ok(resources)
}

/// An array field; absent is empty.
fn array<'a>(object: &'a Json, name: &str, path: &str) -> Result<&'a [Json], String> {
    match object.get(name) {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(_) => Err(format!("{}{name}: must be an array", dotted(path))),
    }
}

fn dotted(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    }
}

fn json_string(object: &Json, name: &str, path: &str) -> Result<String, String> {
    match object.get(name) {
        None | Some(Json::Null) => Ok(String::new()),
        Some(Json::String(text)) => Ok(text.clone()),
        Some(_) => Err(format!("{}{name}: must be a string", dotted(path))),
    }
}

/// A 64-bit integer: OTLP/JSON writes them as strings, some encoders as
/// numbers.
fn json_u64(object: &Json, name: &str, path: &str) -> Result<Option<u64>, String> {
    match object.get(name) {
        None | Some(Json::Null) => Some(None),
        Some(Json::Number(n)) => n.as_u64().map(Some),
        Some(Json::String(text)) => text.parse().ok().map(Some),
        Some(_) => None,
    }
    .ok_or_else(|| {
        format!(
            "{}{name}: {} is not an unsigned 64-bit integer",
            dotted(path),
            object.get(name).map_or_else(String::new, Json::to_string)
        )
    })
}

fn json_i64(value: &Json) -> Option<i64> {
    match value {
        Json::Number(n) => n.as_i64(),
        Json::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// A double: a number, or the strings protobuf's JSON mapping uses for
/// the values JSON has no number for.
fn json_f64(value: &Json) -> Option<f64> {
    match value {
        Json::Number(n) => n.as_f64(),
        Json::String(text) => match text.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

fn json_attributes(object: Option<&Json>, path: &str) -> Result<Vec<(String, String)>, String> {
    let Some(object) = object else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, attribute) in array(object, "attributes", path)?.iter().enumerate() {
        let at = format!("{}attributes[{i}]", dotted(path));
        let key = json_string(attribute, "key", &at)?;
        let value = match attribute.get("value") {
            None | Some(Json::Null) => String::new(),
            Some(value) => match json_any(value, &format!("{at}.value"))? {
                Json::String(text) => text,
                other => other.to_string(),
            },
        };
        out.push((key, value));
    }
    Ok(out)
}

fn json_any(value: &Json, path: &str) -> Result<Json, String> {
    let Some(object) = value.as_object() else {
        return Err(format!("{path}: must be an object"));
    };
    let Some((kind, inner)) = object.iter().next() else {
        return Ok(Json::String(String::new()));
    };
    Ok(match kind.as_str() {
        "stringValue" | "bytesValue" => Json::String(inner.as_str().unwrap_or_default().to_owned()),
        "boolValue" => Json::Bool(inner.as_bool().unwrap_or_default()),
        "intValue" => {
            Json::from(json_i64(inner).ok_or_else(|| format!("{path}.intValue: not an integer"))?)
        }
        "doubleValue" => {
            float_json(json_f64(inner).ok_or_else(|| format!("{path}.doubleValue: not a number"))?)
        }
        "arrayValue" => {
            let mut items = Vec::new();
            for (i, item) in array(inner, "values", path)?.iter().enumerate() {
                items.push(json_any(item, &format!("{path}.arrayValue.values[{i}]"))?);
            }
            Json::Array(items)
        }
        "kvlistValue" => {
            let mut map = serde_json::Map::new();
            for (i, entry) in array(inner, "values", path)?.iter().enumerate() {
                let at = format!("{path}.kvlistValue.values[{i}]");
                let key = json_string(entry, "key", &at)?;
                let value = match entry.get("value") {
                    Some(value) => json_any(value, &format!("{at}.value"))?,
                    None => Json::Null,
                };
                map.insert(key, value);
            }
            Json::Object(map)
        }
        other => return Err(format!("{path}: unknown value type {other:?}")),
    })
}

/// Checks a point's time: OTLP/JSON writes nanoseconds as an integer
/// string, and anything else (`"NaN"`, a fraction) is a broken exporter.
fn json_check_time(point: &Json, path: &str) -> Result<(), String> {
    for name in ["timeUnixNano", "startTimeUnixNano"] {
        json_u64(point, name, path).map_err(|_| {
            format!(
                "{}{name}: {} is not a time in Unix nanoseconds",
                dotted(path),
                point.get(name).map_or_else(String::new, Json::to_string)
            )
        })?;
    }
    Ok(())
}

fn json_flags(point: &Json, path: &str) -> Result<u64, String> {
    Ok(json_u64(point, "flags", path)?.unwrap_or(0))
}

fn json_metric(metric: &Json, path: String) -> Result<Metric, String> {
    let name = json_string(metric, "name", &path)?;
    let description = json_string(metric, "description", &path)?;
    let unit = json_string(metric, "unit", &path)?;
    let temporality = |data: &Json, at: &str| -> Result<u64, String> {
        match data.get("aggregationTemporality") {
            None | Some(Json::Null) => Ok(0),
            Some(Json::String(text)) if text == "AGGREGATION_TEMPORALITY_DELTA" => Ok(DELTA),
            Some(Json::String(text)) if text == "AGGREGATION_TEMPORALITY_CUMULATIVE" => {
                Ok(CUMULATIVE)
            }
            Some(value) => json_i64(value)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| {
                    format!("{at}.aggregationTemporality: {value} is not a temporality")
                }),
        }
    };
    let number_points = |data: &Json, at: &str| -> Result<Vec<Point>, String> {
        let mut points = Vec::new();
        for (i, point) in array(data, "dataPoints", at)?.iter().enumerate() {
            let at = format!("{at}.dataPoints[{i}]");
            json_check_time(point, &at)?;
            let value = match (point.get("asDouble"), point.get("asInt")) {
                (Some(value), _) => json_f64(value)
                    .ok_or_else(|| format!("{at}.asDouble: {value} is not a number"))?,
                (None, Some(value)) => json_i64(value)
                    .ok_or_else(|| format!("{at}.asInt: {value} is not an integer"))?
                    as f64,
                (None, None) => 0.0,
            };
            points.push(Point {
                attributes: json_attributes(Some(point), &at)?,
                value,
                flags: json_flags(point, &at)?,
            });
        }
        Ok(points)
    };
    let data = if let Some(gauge) = metric.get("gauge") {
        Data::Gauge(number_points(gauge, &format!("{path}.gauge"))?)
    } else if let Some(sum) = metric.get("sum") {
        let at = format!("{path}.sum");
        Data::Sum {
            points: number_points(sum, &at)?,
            temporality: temporality(sum, &at)?,
            monotonic: sum
                .get("isMonotonic")
                .and_then(Json::as_bool)
                .unwrap_or(false),
        }
    } else if let Some(histogram) = metric.get("histogram") {
        let at = format!("{path}.histogram");
        let mut points = Vec::new();
        for (i, point) in array(histogram, "dataPoints", &at)?.iter().enumerate() {
            let at = format!("{at}.dataPoints[{i}]");
            json_check_time(point, &at)?;
            let mut bucket_counts = Vec::new();
            for (j, count) in array(point, "bucketCounts", &at)?.iter().enumerate() {
                bucket_counts.push(
                    json_i64(count)
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| format!("{at}.bucketCounts[{j}]: {count} is not a count"))?,
                );
            }
            let mut bounds = Vec::new();
            for (j, bound) in array(point, "explicitBounds", &at)?.iter().enumerate() {
                bounds.push(
                    json_f64(bound).ok_or_else(|| {
                        format!("{at}.explicitBounds[{j}]: {bound} is not a number")
                    })?,
                );
            }
            points.push(HistogramPoint {
                attributes: json_attributes(Some(point), &at)?,
                count: json_u64(point, "count", &at)?.unwrap_or(0),
                sum: match point.get("sum") {
                    None | Some(Json::Null) => None,
                    Some(sum) => Some(
                        json_f64(sum).ok_or_else(|| format!("{at}.sum: {sum} is not a number"))?,
                    ),
                },
                bucket_counts,
                bounds,
                flags: json_flags(point, &at)?,
            });
        }
        Data::Histogram {
            points,
            temporality: temporality(histogram, &at)?,
        }
    } else if let Some(summary) = metric.get("summary") {
        let at = format!("{path}.summary");
        let mut points = Vec::new();
        for (i, point) in array(summary, "dataPoints", &at)?.iter().enumerate() {
            let at = format!("{at}.dataPoints[{i}]");
            json_check_time(point, &at)?;
            let mut quantiles = Vec::new();
            for (j, quantile) in array(point, "quantileValues", &at)?.iter().enumerate() {
                let number = |name: &str| {
                    quantile
                        .get(name)
                        .map_or(Some(0.0), json_f64)
                        .ok_or_else(|| format!("{at}.quantileValues[{j}].{name}: not a number"))
                };
                quantiles.push((number("quantile")?, number("value")?));
            }
            points.push(SummaryPoint {
                attributes: json_attributes(Some(point), &at)?,
                count: json_u64(point, "count", &at)?.unwrap_or(0),
                sum: point
                    .get("sum")
                    .map_or(Some(0.0), json_f64)
                    .ok_or_else(|| format!("{at}.sum: not a number"))?,
                quantiles,
                flags: json_flags(point, &at)?,
            });
        }
        Data::Summary(points)
    } else if metric.get("exponentialHistogram").is_some() {
        Data::ExponentialHistogram
    } else {
        let known = ["name", "description", "unit", "metadata"];
        match metric
            .as_object()
            .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
        {
            Some(other) => {
                return Err(format!(
                    "{path} ({name}): unknown metric type {other:?} (gauge, sum, histogram or summary)"
                ));
            }
            None => Data::Empty,
        }
    };
    Ok(Metric {
        path,
        name,
        description,
        unit,
        data,
    })
}

// ---- translation ------------------------------------------------------------

/// The groups a request writes: per resource, its grouping labels and the
/// families it pushes, as the text format would carry them.
pub fn translate(resources: Vec<Resource>) -> Result<Vec<(GroupKey, Vec<ParsedFamily>)>, String> {
    let mut groups: BTreeMap<GroupKey, BTreeMap<String, ParsedFamily>> = BTreeMap::new();
    let mut budget = MAX_EXPANDED_LABELS;
    for (i, resource) in resources.into_iter().enumerate() {
        let attribute = |name: &str| {
            resource
                .attributes
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let mut key: GroupKey = Vec::new();
        if let Some(service) = attribute("service.name") {
            let job = match attribute("service.namespace") {
                Some(namespace) => format!("{namespace}/{service}"),
                None => service.to_owned(),
            };
            key.push(("job".to_owned(), job));
        }
        if let Some(instance) = attribute("service.instance.id") {
            key.push(("instance".to_owned(), instance.to_owned()));
        }
        key.sort();
        let families = groups.entry(key).or_default();
        let info: Vec<(String, String)> = resource
            .attributes
            .iter()
            .filter(|(k, _)| {
                !["service.name", "service.namespace", "service.instance.id"].contains(&k.as_str())
            })
            .map(|(k, v)| {
                Ok((
                    label_name(k).map_err(|e| format!("resourceMetrics[{i}].resource: {e}"))?,
                    v.clone(),
                ))
            })
            .collect::<Result<_, String>>()?;
        if !info.is_empty() {
            let family = ParsedFamily {
                name: "target_info".to_owned(),
                kind: MetricType::Gauge,
                help: "Target metadata".to_owned(),
                unit: String::new(),
                samples: vec![ParsedSample {
                    name: "target_info".to_owned(),
                    labels: info,
                    value: 1.0,
                    timestamp: None,
                }],
            };
            merge(families, family, &format!("resourceMetrics[{i}].resource"))?;
        }
        for metric in resource.metrics {
            if let Some(family) = translate_metric(&metric, &mut budget)? {
                merge(families, family, &metric.path)?;
            }
        }
    }
    Ok(groups
        .into_iter()
        .map(|(key, families)| (key, families.into_values().collect()))
        .collect())
}

/// Adds a family; two OTLP metrics that translate to one name must agree
/// on its type, and then their series join. A series sent again in the same
/// request takes its later value: a Collector's batch appends the same
/// resource (and its `target_info`) once per collection, in order.
fn merge(
    families: &mut BTreeMap<String, ParsedFamily>,
    family: ParsedFamily,
    path: &str,
) -> Result<(), String> {
    match families.get_mut(&family.name) {
        None => {
            families.insert(family.name.clone(), family);
            Ok(())
        }
        Some(held) if held.kind == family.kind => {
            let mut at: HashMap<(String, Vec<(String, String)>), usize> = held
                .samples
                .iter()
                .enumerate()
                .map(|(i, s)| ((s.name.clone(), s.labels.clone()), i))
                .collect();
            for sample in family.samples {
                let key = (sample.name.clone(), sample.labels.clone());
                match at.get(&key) {
                    Some(&i) => held.samples[i] = sample,
                    None => {
                        at.insert(key, held.samples.len());
                        held.samples.push(sample);
                    }
                }
            }
            Ok(())
        }
        Some(held) => Err(format!(
            "{path}: {} is also a {:?} in this request; one name takes one type",
            family.name, held.kind
        )),
    }
}

fn translate_metric(metric: &Metric, budget: &mut usize) -> Result<Option<ParsedFamily>, String> {
    let at = |reason: String| format!("{} ({}): {reason}", metric.path, metric.name);
    let cumulative = |temporality: u64| match temporality {
        CUMULATIVE => Ok(()),
        DELTA => Err(at(
            "delta temporality is not accepted; configure the exporter for cumulative temporality \
             (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative)"
                .to_owned(),
        )),
        other => Err(at(format!(
            "aggregation temporality {other} is not cumulative"
        ))),
    };
    let (kind, role) = match &metric.data {
        Data::Empty => return Ok(None),
        Data::ExponentialHistogram => {
            return Err(at(
                "exponential histograms are not accepted (they need native histograms); \
                 configure the exporter's default histogram aggregation as explicit buckets"
                    .to_owned(),
            ));
        }
        Data::Gauge(_) => (MetricType::Gauge, Role::Gauge),
        Data::Sum {
            temporality,
            monotonic,
            ..
        } => {
            cumulative(*temporality)?;
            if *monotonic {
                (MetricType::Counter, Role::Counter)
            } else {
                (MetricType::Gauge, Role::Other)
            }
        }
        Data::Histogram { temporality, .. } => {
            cumulative(*temporality)?;
            (MetricType::Histogram, Role::Other)
        }
        Data::Summary(_) => (MetricType::Summary, Role::Other),
    };
    let name = metric_name(&metric.name, &metric.unit, role).map_err(at)?;
    let mut samples = Vec::new();
    // The label a histogram or summary adds itself.
    let reserved = match kind {
        MetricType::Histogram => Some("le"),
        MetricType::Summary => Some("quantile"),
        _ => None,
    };
    let labels = |attributes: &[(String, String)],
                  i: usize|
     -> Result<Vec<(String, String)>, String> {
        // Attributes that translate to one label name join their values
        // with `;`, in the order of their keys, as Prometheus does.
        let mut sorted: Vec<&(String, String)> =
            attributes.iter().filter(|(_, v)| !v.is_empty()).collect();
        sorted.sort();
        let mut out: Vec<(String, String)> = Vec::with_capacity(sorted.len());
        let mut held_at: HashMap<String, usize> = HashMap::with_capacity(sorted.len());
        for (key, value) in sorted {
            let name = label_name(key).map_err(|e| at(format!("dataPoints[{i}]: {e}")))?;
            if Some(name.as_str()) == reserved {
                return Err(at(format!(
                    "dataPoints[{i}]: the attribute {key:?} would be the {name} label, which the {} sets itself",
                    kind_name(kind)
                )));
            }
            match held_at.get(&name) {
                Some(&index) => {
                    let held = &mut out[index].1;
                    held.push(';');
                    held.push_str(value);
                }
                None => {
                    held_at.insert(name.clone(), out.len());
                    out.push((name, value.clone()));
                }
            }
        }
        Ok(out)
    };
    let sample = |suffix: &str,
                  mut labels: Vec<(String, String)>,
                  extra: Option<(&str, String)>,
                  value: f64| {
        if let Some((label, text)) = extra {
            labels.push((label.to_owned(), text));
        }
        ParsedSample {
            name: format!("{name}{suffix}"),
            labels,
            value,
            timestamp: None,
        }
    };
    match &metric.data {
        Data::Gauge(points) | Data::Sum { points, .. } => {
            for (i, point) in points.iter().enumerate() {
                if point.flags & NO_RECORDED_VALUE != 0 {
                    continue;
                }
                spend(budget, point.attributes.len(), 1).map_err(&at)?;
                samples.push(sample("", labels(&point.attributes, i)?, None, point.value));
            }
        }
        Data::Histogram { points, .. } => {
            for (i, point) in points.iter().enumerate() {
                if point.flags & NO_RECORDED_VALUE != 0 {
                    continue;
                }
                spend(budget, point.attributes.len() + 1, point.bounds.len() + 3).map_err(&at)?;
                let labels = labels(&point.attributes, i)?;
                if !point.bucket_counts.is_empty()
                    && point.bucket_counts.len() != point.bounds.len() + 1
                {
                    return Err(at(format!(
                        "dataPoints[{i}]: {} bucket counts for {} explicit bounds; there must be one more count than bounds",
                        point.bucket_counts.len(),
                        point.bounds.len()
                    )));
                }
                if point.bounds.iter().any(|b| b.is_nan())
                    || point.bounds.windows(2).any(|w| w[0] >= w[1])
                {
                    return Err(at(format!(
                        "dataPoints[{i}]: explicit bounds must increase"
                    )));
                }
                let mut cumulative = 0u64;
                for (bound, count) in point.bounds.iter().zip(&point.bucket_counts) {
                    cumulative = cumulative.saturating_add(*count);
                    samples.push(sample(
                        "_bucket",
                        labels.clone(),
                        Some(("le", format!("{bound}"))),
                        cumulative as f64,
                    ));
                }
                samples.push(sample(
                    "_bucket",
                    labels.clone(),
                    Some(("le", "+Inf".to_owned())),
                    point.count as f64,
                ));
                if let Some(sum) = point.sum {
                    samples.push(sample("_sum", labels.clone(), None, sum));
                }
                samples.push(sample("_count", labels, None, point.count as f64));
            }
        }
        Data::Summary(points) => {
            for (i, point) in points.iter().enumerate() {
                if point.flags & NO_RECORDED_VALUE != 0 {
                    continue;
                }
                spend(
                    budget,
                    point.attributes.len() + 1,
                    point.quantiles.len() + 2,
                )
                .map_err(&at)?;
                let labels = labels(&point.attributes, i)?;
                for (quantile, value) in &point.quantiles {
                    samples.push(sample(
                        "",
                        labels.clone(),
                        Some(("quantile", format!("{quantile}"))),
                        *value,
                    ));
                }
                samples.push(sample("_sum", labels.clone(), None, point.sum));
                samples.push(sample("_count", labels, None, point.count as f64));
            }
        }
        Data::Empty | Data::ExponentialHistogram => {}
    }
    Ok(Some(ParsedFamily {
        name,
        kind,
        help: metric.description.clone(),
        unit: String::new(),
        samples,
    }))
}

fn kind_name(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Untyped => "untyped metric",
    }
}

/// What a metric's type adds to its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A monotonic sum: `_total`.
    Counter,
    /// A gauge: `_ratio` for unit `1`.
    Gauge,
    Other,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// The Prometheus name of an OTLP metric, with its unit and type suffixes.
fn metric_name(name: &str, unit: &str, role: Role) -> Result<String, String> {
    let mut words: Vec<String> = name
        .split(|c: char| !is_name_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let (main, per) = unit_words(unit);
    let main = clean_unit(&main);
    let per = clean_unit(&per);
    let main = if words.contains(&main) {
        String::new()
    } else {
        main
    };
    let per = if per == "per_" || words.contains(&per) {
        String::new()
    } else {
        per.trim_end_matches('_').to_owned()
    };
    let main = if per.is_empty() {
        main
    } else {
        main.trim_end_matches('_').to_owned()
    };
    for word in [main, per] {
        if !word.is_empty() {
            words.push(word);
        }
    }
    if role == Role::Counter {
        words.retain(|w| w != "total");
        words.push("total".to_owned());
    }
    if unit == "1" && role == Role::Gauge {
        words.retain(|w| w != "ratio");
        words.push("ratio".to_owned());
    }
    let mut joined = words.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        joined.insert(0, '_');
    }
    if joined.is_empty() || joined.chars().all(|c| c == '_') {
        return Err(format!(
            "the name {name:?} is not a valid metric name after translation ({joined:?})"
        ));
    }
    Ok(joined)
}

/// A UCUM unit's words: `By/s` is `bytes` and `per_second`; annotations in
/// braces carry no unit.
fn unit_words(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let main = if main.is_empty() || main.contains(['{', '}']) {
        String::new()
    } else {
        main_unit(main).to_owned()
    };
    let per = match parts.next().map(str::trim) {
        Some(per) if !per.is_empty() && !per.contains(['{', '}']) => {
            format!("per_{}", per_unit(per))
        }
        _ => String::new(),
    };
    (main, per)
}

fn main_unit(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_unit(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// Invalid characters to `_`, runs of `_` to one, no leading `_`.
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out.trim_start_matches('_').to_owned()
}

/// The Prometheus label name of an attribute key.
fn label_name(key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err("an attribute has an empty key".to_owned());
    }
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    if out.chars().all(|c| c == '_') || out.starts_with("__") {
        return Err(format!(
            "the attribute {key:?} is not a valid label name after translation ({out:?})"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protobuf field of wire type 2 (bytes).
    fn delimited(field: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(field << 3) | 2];
        let mut len = payload.len();
        while len >= 0x80 {
            out.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_small_push_that_would_expand_past_the_budget_is_refused_before_it_is_built() {
        // 2100 attributes shared by 2000 buckets: 100 KB of JSON, 4.2 M
        // label pairs once every bucket carries the labels.
        let attributes: Vec<String> = (0..2100)
            .map(|i| format!(r#"{{"key":"a{i}","value":{{"stringValue":"v"}}}}"#))
            .collect();
        let bounds: Vec<String> = (1..=2000).map(|b| b.to_string()).collect();
        let counts = vec![r#""1""#; 2001];
        let body = format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"wide","histogram":{{"aggregationTemporality":2,"dataPoints":[{{"count":"2001","attributes":[{}],"explicitBounds":[{}],"bucketCounts":[{}]}}]}}}}]}}]}}]}}"#,
            attributes.join(","),
            bounds.join(","),
            counts.join(",")
        );
        let error = decode(body.as_bytes(), Encoding::Json)
            .and_then(translate)
            .unwrap_err();
        assert!(
            error.contains("labels (label sets times buckets)"),
            "{error}"
        );
    }

    #[test]
    fn a_resource_sent_twice_in_one_request_keeps_its_later_values() {
        // A Collector's batch appends one collection after another.
        let resource = |value: u32| {
            format!(
                r#"{{"resource":{{"attributes":[
                  {{"key":"service.name","value":{{"stringValue":"shop"}}}},
                  {{"key":"host.name","value":{{"stringValue":"h1"}}}}]}},
                  "scopeMetrics":[{{"metrics":[{{"name":"orders","sum":{{"aggregationTemporality":2,"isMonotonic":true,
                    "dataPoints":[{{"asInt":"{value}"}}]}}}}]}}]}}"#
            )
        };
        let body = format!(r#"{{"resourceMetrics":[{},{}]}}"#, resource(7), resource(9));
        let groups = translate(decode(body.as_bytes(), Encoding::Json).unwrap()).unwrap();
        assert_eq!(groups.len(), 1);
        let values: Vec<(&str, f64)> = groups[0]
            .1
            .iter()
            .flat_map(|f| f.samples.iter().map(|s| (s.name.as_str(), s.value)))
            .collect();
        assert_eq!(values, [("orders_total", 9.0), ("target_info", 1.0)]);
    }

    #[test]
    fn deeply_nested_attribute_values_are_refused_not_recursed_into() {
        // AnyValue{array_value: ArrayValue{values: [AnyValue{...}]}}, 5000 deep.
        let mut value = delimited(1, b"x");
        for _ in 0..5000 {
            value = delimited(5, &delimited(1, &value));
        }
        let attribute = [delimited(1, b"deep"), delimited(2, &value)].concat();
        let resource = delimited(1, &attribute);
        let body = delimited(1, &delimited(1, &resource));
        let error = decode(&body, Encoding::Protobuf)
            .and_then(translate)
            .unwrap_err();
        assert!(error.contains("deeper than 32"), "{error}");
    }

    #[test]
    fn names_as_prometheus_translates_them() {
        for (name, unit, role, want) in [
            (
                "http.server.request.duration",
                "s",
                Role::Other,
                "http_server_request_duration_seconds",
            ),
            ("requests.count", "1", Role::Counter, "requests_count_total"),
            ("memory.usage", "By", Role::Gauge, "memory_usage_bytes"),
            ("cpu.utilization", "1", Role::Gauge, "cpu_utilization_ratio"),
            (
                "network.io",
                "By/s",
                Role::Gauge,
                "network_io_bytes_per_second",
            ),
            ("jobs.total", "{job}", Role::Counter, "jobs_total"),
            ("queue..depth", "", Role::Gauge, "queue_depth"),
            ("2xx.responses", "", Role::Counter, "_2xx_responses_total"),
            ("latency_seconds", "s", Role::Other, "latency_seconds"),
        ] {
            assert_eq!(
                metric_name(name, unit, role).unwrap(),
                want,
                "{name} {unit}"
            );
        }
        assert!(
            metric_name("...", "", Role::Gauge)
                .unwrap_err()
                .contains("not a valid metric name")
        );
        assert_eq!(label_name("http.method").unwrap(), "http_method");
        assert_eq!(label_name("1st").unwrap(), "key_1st");
        assert!(label_name("..").is_err());
    }

    #[test]
    fn json_requests_translate_and_bad_ones_say_where() {
        let body = br#"{"resourceMetrics":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"shop"}},
            {"key":"service.namespace","value":{"stringValue":"prod"}},
            {"key":"service.instance.id","value":{"stringValue":"pod-1"}},
            {"key":"host.name","value":{"stringValue":"h1"}}]},
          "scopeMetrics":[{"metrics":[
            {"name":"orders","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,
              "dataPoints":[{"asInt":"7","timeUnixNano":"1700000000000000000","attributes":[{"key":"region","value":{"stringValue":"eu"}}]}]}},
            {"name":"latency","unit":"s","histogram":{"aggregationTemporality":2,
              "dataPoints":[{"count":"3","sum":1.5,"bucketCounts":["1","1","1"],"explicitBounds":[0.1,1]}]}}]}]}]}"#;
        let groups = translate(decode(body, Encoding::Json).unwrap()).unwrap();
        assert_eq!(groups.len(), 1);
        let (key, families) = &groups[0];
        assert_eq!(
            key,
            &vec![
                ("instance".to_owned(), "pod-1".to_owned()),
                ("job".into(), "prod/shop".into())
            ]
        );
        let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["latency_seconds", "orders_total", "target_info"]);
        let buckets: Vec<(String, f64)> = families[0]
            .samples
            .iter()
            .filter(|s| s.name.ends_with("_bucket"))
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect();
        assert_eq!(
            buckets,
            [
                ("0.1".to_owned(), 1.0),
                ("1".into(), 2.0),
                ("+Inf".into(), 3.0)
            ]
        );

        let delta = String::from_utf8_lossy(body).replace(
            "\"aggregationTemporality\":2,\"isMonotonic\"",
            "\"aggregationTemporality\":1,\"isMonotonic\"",
        );
        let error = translate(decode(delta.as_bytes(), Encoding::Json).unwrap()).unwrap_err();
        assert!(
            error.contains("metrics[0] (orders): delta temporality"),
            "{error}"
        );
        let nan = String::from_utf8_lossy(body).replace("\"1700000000000000000\"", "\"NaN\"");
        let error = decode(nan.as_bytes(), Encoding::Json).unwrap_err();
        assert!(
            error.contains("metrics[0].sum.dataPoints[0].timeUnixNano"),
            "{error}"
        );
        let joined = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"asDouble":1,"attributes":[
            {"key":"a_b","value":{"stringValue":"2"}},{"key":"a.b","value":{"stringValue":"1"}}]}]}}]}]}]}"#;
        let groups = translate(decode(joined, Encoding::Json).unwrap()).unwrap();
        assert_eq!(
            groups[0].1[0].samples[0].labels,
            [("a_b".to_owned(), "1;2".to_owned())]
        );
        let le = String::from_utf8_lossy(body).replace(
            "\"bucketCounts\"",
            "\"attributes\":[{\"key\":\"le\",\"value\":{\"stringValue\":\"x\"}}],\"bucketCounts\"",
        );
        let error = translate(decode(le.as_bytes(), Encoding::Json).unwrap()).unwrap_err();
        assert!(
            error.contains("the le label, which the histogram sets itself"),
            "{error}"
        );
        let unknown =
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","wavelet":{}}]}]}]}"#;
        let error = decode(unknown, Encoding::Json).unwrap_err();
        assert!(error.contains("unknown metric type \"wavelet\""), "{error}");
    }
}
