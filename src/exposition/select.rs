//! node_exporter's `collect[]` on /metrics: the tick's exposition with only
//! the named node_exporter collectors' families (and everything that is no
//! node_exporter collector's: outrider's own families, the app's). Nothing
//! is collected or encoded again: the answer is cut from the tick's bytes
//! by the byte range of each block, and only the two
//! `node_scrape_collector_*` families, which hold a series per collector,
//! are encoded anew with the selected collectors' series.

use std::ops::Range;

use bytes::Bytes;

use super::{Exposition, Format, blocks, encode_spans};
use crate::collect::NODE_EXPORTER_COLLECTORS;
use crate::metric::{Family, label_value};

const SCRAPE_FAMILIES: &[&str] = &[
    "node_scrape_collector_duration_seconds",
    "node_scrape_collector_success",
];

/// Why a selection is refused; node_exporter answers these with 400.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SelectError {
    #[error("missing collector: {0}")]
    Missing(String),
    #[error("disabled collector: {0}")]
    Disabled(String),
}

struct Block {
    text: Range<usize>,
    openmetrics: Range<usize>,
    origin: Option<&'static str>,
    /// For a `node_scrape_collector_*` block: its family, to encode again
    /// with the selected series.
    scrape: Option<Family>,
}

/// The blocks of one tick's exposition, in output order.
pub(super) struct Spans {
    blocks: Vec<Block>,
    /// The node_exporter collectors that ran (their
    /// `node_scrape_collector_success` series).
    enabled: Vec<String>,
}

impl Spans {
    pub(super) fn new(
        families: &[Family],
        text: Vec<Range<usize>>,
        openmetrics: Vec<Range<usize>>,
    ) -> Self {
        let mut enabled = Vec::new();
        let blocks = blocks(families)
            .into_iter()
            .zip(text.into_iter().zip(openmetrics))
            .map(|(members, (text, openmetrics))| {
                let first = &families[members.start];
                let scrape = SCRAPE_FAMILIES
                    .contains(&first.name.as_ref())
                    .then(|| first.clone());
                if first.name == "node_scrape_collector_success" {
                    enabled.extend(
                        first
                            .samples
                            .iter()
                            .filter_map(|s| label_value(&s.labels, "collector"))
                            .map(str::to_owned),
                    );
                }
                Block {
                    text,
                    openmetrics,
                    origin: first.origin,
                    scrape,
                }
            })
            .collect();
        Spans { blocks, enabled }
    }
}

/// The values of node_exporter's `collect[]` parameters in a query string
/// (`collect[]=cpu&collect%5B%5D=meminfo`).
pub fn collect_params(query: &str) -> Vec<&str> {
    query
        .split('&')
        .filter_map(|pair| {
            pair.strip_prefix("collect[]=")
                .or_else(|| pair.strip_prefix("collect%5B%5D="))
                .or_else(|| pair.strip_prefix("collect%5b%5d="))
        })
        .collect()
}

impl Exposition {
    /// The exposition with only the node_exporter collectors named in
    /// `collectors` (node_exporter's `collect[]`); empty means all.
    pub fn select(&self, format: Format, collectors: &[&str]) -> Result<Bytes, SelectError> {
        for name in collectors {
            if !self.spans.enabled.iter().any(|e| e == name) {
                return Err(if NODE_EXPORTER_COLLECTORS.contains(name) {
                    SelectError::Disabled((*name).to_owned())
                } else {
                    SelectError::Missing((*name).to_owned())
                });
            }
        }
        let all = self.body(format, false);
        if collectors.is_empty() {
            return Ok(all);
        }
        let mut out = Vec::with_capacity(all.len() / 2);
        for block in &self.spans.blocks {
            if let Some(family) = &block.scrape {
                let mut kept = Family::new(family.name.clone(), family.help.clone(), family.kind);
                kept.samples = family
                    .samples
                    .iter()
                    .filter(|s| {
                        label_value(&s.labels, "collector").is_some_and(|c| collectors.contains(&c))
                    })
                    .cloned()
                    .collect();
                let (bytes, spans) = encode_spans(std::slice::from_ref(&kept), format);
                if let Some(span) = spans.first() {
                    out.extend_from_slice(&bytes[span.clone()]);
                }
                continue;
            }
            if block.origin.is_some_and(|o| !collectors.contains(&o)) {
                continue;
            }
            let range = match format {
                Format::Text => &block.text,
                Format::OpenMetrics => &block.openmetrics,
            };
            out.extend_from_slice(&all[range.clone()]);
        }
        if format == Format::OpenMetrics {
            out.extend_from_slice(b"# EOF\n");
        }
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick() -> Exposition {
        let from = |origin: &'static str, family: Family| Family {
            origin: Some(origin),
            ..family
        };
        let mut success = Family::gauge(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
        );
        success.push([("collector", "cpu")], 1.0);
        success.push([("collector", "meminfo")], 1.0);
        success.push([("collector", "stat")], 1.0);
        Exposition::new(vec![
            from(
                "cpu",
                Family::counter("node_cpu_seconds_total", "Seconds.").single(5.0),
            ),
            from(
                "meminfo",
                Family::gauge("node_memory_MemTotal_bytes", "Memory.").single(1024.0),
            ),
            from(
                "stat",
                Family::gauge("node_boot_time_seconds", "Boot.").single(7.0),
            ),
            success,
            Family::gauge("outrider_up", "Own.").single(1.0),
        ])
    }

    fn names(body: &[u8]) -> Vec<String> {
        String::from_utf8(body.to_vec())
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn keeps_the_named_collectors_and_what_is_no_collectors() {
        let tick = tick();
        let body = tick.select(Format::Text, &["cpu", "stat"]).unwrap();
        assert_eq!(
            names(&body),
            [
                "node_boot_time_seconds 7",
                "node_cpu_seconds_total 5",
                "node_scrape_collector_success{collector=\"cpu\"} 1",
                "node_scrape_collector_success{collector=\"stat\"} 1",
                "outrider_up 1",
            ]
        );
        let om = tick.select(Format::OpenMetrics, &["meminfo"]).unwrap();
        let om = String::from_utf8(om.to_vec()).unwrap();
        assert!(
            om.ends_with("# EOF\n") && om.matches("# EOF").count() == 1,
            "{om}"
        );
        assert!(om.contains("node_memory_MemTotal_bytes 1024") && !om.contains("node_cpu"));
        assert_eq!(
            tick.select(Format::Text, &[]).unwrap(),
            tick.body(Format::Text, false)
        );
    }

    #[test]
    fn reads_collect_parameters_plain_or_escaped() {
        assert_eq!(
            collect_params("collect[]=cpu&x=1&collect%5B%5D=meminfo"),
            ["cpu", "meminfo"]
        );
        assert!(collect_params("ttl=5").is_empty());
    }

    #[test]
    fn unknown_and_disabled_collectors_are_refused() {
        let tick = tick();
        assert_eq!(
            tick.select(Format::Text, &["nope"]),
            Err(SelectError::Missing("nope".into()))
        );
        assert_eq!(
            tick.select(Format::Text, &["vmstat"]),
            Err(SelectError::Disabled("vmstat".into()))
        );
    }
}
