//! `node_time_seconds`: the host's clock, so skew shows up next to the scrape
//! timestamp.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{CollectError, Collector};
use crate::metric::Family;

pub struct TimeCollector;

impl Collector for TimeCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        out.push(
            Family::gauge(
                "node_time_seconds",
                "System time in seconds since epoch (1970).",
            )
            .single(now),
        );
        Ok(())
    }
}
