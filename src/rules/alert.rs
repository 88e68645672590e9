//! What the rules produce for others to send: one alert, with its labels,
//! annotations and times. Notify sends these; it does not make them.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// One alert as the rule engine hands it over.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The identity of the alert; includes `alertname` and `severity`.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: SystemTime,
    /// `Some` for a resolved alert: when it stopped firing.
    pub ends_at: Option<SystemTime>,
    /// A link back to what produced the alert.
    pub generator_url: String,
}
