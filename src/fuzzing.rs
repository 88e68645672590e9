//! The fuzz targets: each is a function here that takes any bytes and must
//! return, never panic. Nothing here reads a file or the network, so the
//! fuzzer cannot make a target block.
//!
//! `TARGETS` is the one list of them. The fuzz binary in `fuzz/` runs the
//! one `OUTRIDER_FUZZ_TARGET` names, `scripts/fuzz.sh` runs each for a
//! bounded time with its corpus in `fuzz/corpus/<name>/`, and
//! `tests/fuzz_corpus.rs` runs every committed corpus through them on each
//! `cargo test`. Adding a target is adding a function and its line below.

use std::path::Path;

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// Name and entry point of every fuzz target. One `("name", function),`
/// per line: scripts/fuzz.sh reads the names from here.
pub const TARGETS: &[(&str, Target)] = &[
    ("config", |data| text(data, config)),
    ("rules", |data| text(data, rules)),
    ("web_config", |data| text(data, web_config)),
    ("exposition", |data| text(data, exposition)),
    ("push_json", push_json),
    ("pushgateway", |data| text(data, pushgateway)),
    ("pushgateway_protobuf", pushgateway_protobuf),
    ("otlp", otlp),
    ("backtest_input", |data| text(data, backtest_input)),
];

/// Runs a target on text; bytes that are not UTF-8 are refused before any
/// parser sees them, as every reader of these files does.
fn text(data: &[u8], target: fn(&str)) {
    if let Ok(text) = std::str::from_utf8(data) {
        target(text);
    }
}

/// The target `name`, if there is one.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The config file: parse, then every check that is pure.
pub fn config(text: &str) {
    let Ok(config) = crate::config::Config::from_yaml(text, "fuzz") else {
        return;
    };
    let _ = config.web.limits.validate();
    for list in [
        &config.web.allow.read,
        &config.web.allow.write,
        &config.web.allow.admin,
    ] {
        let _ = crate::web::Allowlist::parse(list, "fuzz");
    }
    let _ = crate::collect::Registry::from_config(&config.collectors, &config.paths);
    let _ = config.baselines.validate();
    let _ = config.alerting.validate();
}

/// A rule file: parse and build a rule set.
pub fn rules(text: &str) {
    if let Ok(groups) = crate::rules::parse(text, "fuzz.yml") {
        let _ = crate::rules::RuleSet::from_groups(groups);
    }
}

/// An exporter-toolkit web config: parse, headers, users, and the TLS setup
/// from inline PEM (file paths are dropped, so nothing is read).
pub fn web_config(text: &str) {
    let Ok(mut file) = crate::web::WebConfigFile::parse(text, Path::new("/nonexistent")) else {
        return;
    };
    let _ = file.headers();
    let _ = crate::web::auth::Users::new(&file.basic_auth_users);
    let tls = &mut file.tls_server_config;
    tls.cert_file = None;
    tls.key_file = None;
    tls.client_ca_file = None;
    if tls.is_enabled() {
        let _ = crate::web::tls::server_config(tls);
    }
}

/// A scraped app's exposition, in both formats, and its conversion to the
/// tick's families.
pub fn exposition(text: &str) {
    for dialect in [
        crate::textparse::Dialect::Text,
        crate::textparse::Dialect::OpenMetrics,
    ] {
        if let Ok(families) = crate::textparse::parse(text, dialect) {
            let _ = crate::textparse::into_families(&families, &[("job".into(), "x".into())]);
        }
        // Small limits, so the paths that stop part-way are reached too.
        let limits = crate::textparse::Limits {
            samples: 8,
            labels: 4,
            extra_labels: 1,
            label_name_length: 8,
            label_value_length: 16,
        };
        let _ = crate::textparse::parse_limited(text, dialect, limits);
    }
}

/// A JSON push body, checked and applied to an empty store.
pub fn push_json(data: &[u8]) {
    let config = crate::push::PushConfig::default();
    if let Ok((op, _)) = crate::push::Op::from_json(data, &config, 1.0, None) {
        apply(op);
    }
}

/// A Pushgateway request: the first line is the path, the rest the body.
pub fn pushgateway(text: &str) {
    let (path, body) = text.split_once('\n').unwrap_or((text, ""));
    for method in [
        crate::push::PushMethod::Put,
        crate::push::PushMethod::Post,
        crate::push::PushMethod::Delete,
    ] {
        if let Ok(op) = crate::push::Op::from_pushgateway(method, path, body.as_bytes(), 1.0, None)
        {
            apply(op);
        }
    }
}

/// A Pushgateway push in the delimited protobuf format.
pub fn pushgateway_protobuf(data: &[u8]) {
    for method in [crate::push::PushMethod::Put, crate::push::PushMethod::Post] {
        if let Ok(op) = crate::push::Op::from_pushgateway_as(
            method,
            "/metrics/job/fuzz/instance/x",
            data,
            crate::push::GatewayFormat::Protobuf,
            1.0,
            None,
        ) {
            apply(op);
        }
    }
}

/// An OTLP/HTTP metrics body, read as protobuf and as JSON.
pub fn otlp(data: &[u8]) {
    for encoding in [
        crate::push::otlp::Encoding::Protobuf,
        crate::push::otlp::Encoding::Json,
    ] {
        if let Ok(op) = crate::push::Op::from_otlp(data, encoding, 1.0, None) {
            apply(op);
        }
    }
}

/// Checks and applies an op, then renders the store, as a push and the
/// next tick do.
fn apply(op: crate::push::Op) {
    let mut state = crate::push::State::default();
    let limits = crate::push::Limits::new(10_000, 100_000, &crate::push::PushConfig::default());
    if state.check(&op, &limits).is_ok() {
        state.apply(&op);
        let _ = state.families();
    }
}

/// A backtest input file, read as each of its formats.
pub fn backtest_input(text: &str) {
    use crate::backtest::input;
    let _ = input::parse_csv(text, "fuzz.csv", "fuzz");
    let _ = input::parse_exposition(text, "fuzz.om");
    let _ = input::parse_query_range(text.as_bytes());
}
