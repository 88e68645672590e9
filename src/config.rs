//! The configuration: built-in defaults, then the YAML file, then environment
//! variables and flags (applied by `cli`). With no file at all, outrider runs
//! with the embedded defaults below.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::collect::probes::ProbesCollector;
use crate::collect::{BuildError, CollectorsConfig, Registry};
use crate::paths::HostPaths;

/// The listen port: 9100–9999 (the Prometheus exporter range) is fully
/// allocated, and new allocations continue just above it.
pub const DEFAULT_PORT: u16 = 10777;

/// The shortest bearer token accepted for the push and reload endpoints.
pub const MIN_TOKEN_LENGTH: usize = 16;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where outrider runs: `host` (a VM, or a DaemonSet with the host's
    /// /proc and /sys: every collector) or `pod` (a sidecar: the pod's
    /// processes, network, volumes and cgroups, none of the node's
    /// figures). Also `--scope` and `OUTRIDER_SCOPE`.
    pub scope: crate::collect::scope::Scope,
    /// How often collectors run and the exposition is rebuilt (humantime).
    #[serde(with = "humantime_serde")]
    pub collect_interval: Duration,
    /// The HTTP listener.
    pub web: WebConfig,
    /// Logging.
    pub log: LogConfig,
    /// Where state on disk lives.
    pub storage: StorageConfig,
    /// Where the host's /proc, /sys and / are.
    pub paths: HostPaths,
    /// Collectors, by name.
    pub collectors: CollectorsConfig,
    /// Which series get baselines, and how they are kept.
    pub baselines: crate::baseline::Config,
    /// Rule files and folders; when unset, the embedded default rules.
    pub rules: Option<Vec<PathBuf>>,
    /// Labels that name this outrider on every alert it sends, every line
    /// of `events.jsonl` and `/api/v1/alerts` (not on `/metrics`), e.g.
    /// `pod: ${POD_NAME}`; values are expanded from the environment as
    /// Prometheus expands its `global.external_labels`.
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// Where firing alerts are sent.
    pub alerting: crate::notify::AlertingConfig,
    /// The push endpoints (JSON and the Pushgateway's API).
    pub push: crate::push::PushConfig,
    /// The app's metrics endpoints to scrape.
    pub scrape: Vec<crate::collect::scrape::TargetConfig>,
    /// HTTP and TCP probes of the services the app depends on, exported
    /// under blackbox_exporter's `probe_*` names; empty: none.
    pub probes: Vec<crate::collect::probes::ProbeConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scope: crate::collect::scope::Scope::default(),
            collect_interval: Duration::from_secs(15),
            web: WebConfig::default(),
            log: LogConfig::default(),
            storage: StorageConfig::default(),
            paths: HostPaths::default(),
            collectors: CollectorsConfig::default(),
            baselines: crate::baseline::Config::default(),
            rules: None,
            external_labels: std::collections::BTreeMap::new(),
            alerting: crate::notify::AlertingConfig::default(),
            push: crate::push::PushConfig::default(),
            scrape: Vec::new(),
            probes: Vec::new(),
        }
    }
}

#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address to listen on: `host:port`, or `:port` for every interface.
    pub listen_address: String,
    /// Path under which the metrics are exposed.
    pub telemetry_path: String,
    /// Bearer token that `POST /-/reload` requires; without one, the
    /// endpoint is off. Also `OUTRIDER_RELOAD_TOKEN`.
    pub reload_token: Option<String>,
    /// An exporter-toolkit web config file (TLS, basic auth, headers), as
    /// node_exporter's `--web.config.file` takes. Re-read when it or a
    /// certificate it names changes.
    pub config_file: Option<PathBuf>,
    /// Client addresses allowed per endpoint class (CIDRs); empty: any.
    pub allow: crate::web::AllowConfig,
    /// Request rates, body sizes, connections, timeouts.
    pub limits: crate::web::LimitsConfig,
}

// By hand, so the reload token never reaches a log line.
impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("listen_address", &self.listen_address)
            .field("telemetry_path", &self.telemetry_path)
            .field(
                "reload_token",
                &self.reload_token.as_ref().map(|_| "<secret>"),
            )
            .field("config_file", &self.config_file)
            .field("allow", &self.allow)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            reload_token: None,
            config_file: None,
            allow: crate::web::AllowConfig::default(),
            limits: crate::web::LimitsConfig::default(),
            listen_address: format!(":{DEFAULT_PORT}"),
            telemetry_path: "/metrics".to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Logfmt,
    Json,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Only log messages at or above this level: debug, info, warn, error.
    pub level: LogLevel,
    /// Output format of log messages: logfmt or json.
    pub format: LogFormat,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory for state kept across restarts.
    pub path: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: PathBuf::from("data/"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Collector(#[from] BuildError),
    #[error(transparent)]
    Rules(crate::rules::RuleError),
}

impl Config {
    /// Parses a YAML document; `source_name` names it in errors. An empty
    /// document is the default config.
    pub fn from_yaml(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse {
            source_name: source_name.to_owned(),
            message: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Checks what serde cannot: values that parse but cannot work. Building
    /// the collectors checks their regexes, so it is done here too. `run`,
    /// `check` and a reload all come here, so what one refuses the others
    /// refuse too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Every problem `validate` would refuse, not only the first, for
    /// `outrider check`.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut found = Vec::new();
        if self.collect_interval.is_zero() {
            found.push(ConfigError::Invalid(
                "collect_interval must be more than 0s (for example 15s)".to_owned(),
            ));
        }
        if let Err(e) = listen_address(&self.web.listen_address) {
            found.push(e);
        }
        let path = &self.web.telemetry_path;
        if !path.starts_with('/') || ["/", "/-/healthy", "/-/ready"].contains(&path.as_str()) {
            found.push(ConfigError::Invalid(format!(
                "web.telemetry_path {path:?} must start with '/' and not be /, /-/healthy or /-/ready"
            )));
        }
        // A short bearer token can be guessed; the endpoints it opens write.
        for (name, token) in [
            ("push.token", &self.push.token),
            ("web.reload_token", &self.web.reload_token),
        ] {
            if token.as_deref().is_some_and(|t| t.len() < MIN_TOKEN_LENGTH) {
                found.push(ConfigError::Invalid(format!(
                    "{name} must be at least {MIN_TOKEN_LENGTH} characters (for example: openssl rand -hex 16)"
                )));
            }
        }
        if let Err(e) = self.web_guard() {
            found.push(e);
        }
        if let Err(e) = self.registry() {
            found.push(e);
        }
        let invalid = [
            crate::external_labels::validate(&self.external_labels),
            self.baselines.validate(),
            crate::baseline::warm_start::check_identity(
                self.baselines.warm_start.as_ref(),
                &self.external_labels,
            ),
            self.alerting.validate(),
            self.push.validate(),
        ];
        found.extend(
            invalid
                .into_iter()
                .filter_map(Result::err)
                .map(ConfigError::Invalid),
        );
        if let Err(e) = self.load_rules() {
            found.push(e);
        }
        found
    }

    /// The collectors this config runs: the host table, then the sources of
    /// the app beside the sidecar.
    pub fn registry(&self) -> Result<Registry, ConfigError> {
        let mut registry = Registry::from_config_in(&self.collectors, &self.paths, self.scope)?;
        if !self.scrape.is_empty() {
            registry.add(
                "scrape",
                Box::new(crate::collect::scrape::ScrapeCollector::new(&self.scrape)?),
            );
        }
        if !self.probes.is_empty() {
            registry.add("probes", Box::new(ProbesCollector::new(&self.probes)?));
        }
        Ok(registry)
    }

    /// The guards of the HTTP surface: allowlists, limits, and the web
    /// config file with the certificates it names, all read and checked.
    pub fn web_guard(&self) -> Result<crate::web::Guard, ConfigError> {
        crate::web::Guard::new(
            &self.web.allow,
            &self.web.limits,
            self.web.config_file.as_deref(),
        )
        .map(|guard| {
            // With push off its paths answer 404, whatever token is set.
            let push_token = (self.push.active() == Ok(true))
                .then_some(self.push.bearer_token())
                .flatten();
            guard.with_tokens(push_token, self.web.reload_token.as_deref())
        })
        .and_then(|guard| {
            let users = match self.push.active() {
                Ok(true) => crate::web::auth::Users::new(&self.push.basic_auth_users)
                    .map_err(|e| format!("push.{e}"))?,
                _ => None,
            };
            Ok(guard.with_push_users(users))
        })
        .map_err(ConfigError::Invalid)
    }

    /// The rules this config asks for: its files, or the embedded ones.
    pub fn load_rules(&self) -> Result<crate::rules::RuleSet, ConfigError> {
        match &self.rules {
            Some(sources) => crate::rules::RuleSet::load(sources).map_err(ConfigError::Rules),
            None => Ok(crate::rules::RuleSet::embedded()),
        }
    }

    /// The baselines to keep: the `baselines.track` list plus one entry per
    /// anomaly rule, with the rule's baseline settings.
    pub fn baseline_config(&self, rules: &crate::rules::RuleSet) -> crate::baseline::Config {
        let mut config = self.baselines.clone();
        for (rule, anomaly) in rules.anomaly_rules() {
            if let Some(selector) = &rule.selector {
                config.track.push(crate::baseline::TrackConfig {
                    selector: selector.clone(),
                    seasonal: anomaly.seasonal,
                    volume_floor: anomaly.volume_floor,
                    half_life: anomaly.half_life,
                    histogram: None,
                });
            }
        }
        config
    }
}

/// Resolves a listen address; `:port` means every interface, as in Go.
pub fn listen_address(address: &str) -> Result<SocketAddr, ConfigError> {
    let full = match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => address.to_owned(),
    };
    full.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "web.listen_address {address:?} is not host:port or :port"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_embedded_default() {
        let config = Config::from_yaml("  \n", "empty.yml").unwrap();
        assert_eq!(config, Config::default());
        config.validate().unwrap();
    }

    #[test]
    fn reads_humantime_and_nested_collector_options() {
        let config = Config::from_yaml(
            "collect_interval: 1m30s\nweb:\n  listen_address: 127.0.0.1:9999\ncollectors:\n  filesystem:\n    mount_timeout: 250ms\n  cpu:\n    enabled: false\n",
            "x.yml",
        )
        .unwrap();
        assert_eq!(config.collect_interval, Duration::from_secs(90));
        assert_eq!(config.web.listen_address, "127.0.0.1:9999");
        assert_eq!(config.web.telemetry_path, "/metrics");
        assert_eq!(
            config.collectors.filesystem.mount_timeout,
            Duration::from_millis(250)
        );
        assert!(!config.collectors.cpu.enabled);
        assert!(config.collectors.meminfo.enabled);
    }

    #[test]
    fn a_typo_is_refused_with_its_place() {
        let error = Config::from_yaml("colect_interval: 15s\n", "typo.yml")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("typo.yml: unknown field `colect_interval`"),
            "{error}"
        );
        // Nested keys carry their line.
        let error = Config::from_yaml("web:\n  telemetry_pth: /m\n", "typo.yml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `telemetry_pth`"), "{error}");
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn invalid_values_say_what_to_fix() {
        let bad = |yaml: &str| {
            Config::from_yaml(yaml, "t")
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string()
        };
        assert!(bad("collect_interval: 0s").contains("collect_interval"));
        assert!(bad("external_labels: {'a-b': x}").contains("external_labels: \"a-b\""));
        assert!(bad("web: {listen_address: nowhere}").contains("listen_address"));
        assert!(bad("web: {telemetry_path: metrics}").contains("telemetry_path"));
        assert!(bad("collectors: {diskstats: {device_exclude: '('}}").contains("diskstats"));
        assert!(Config::from_yaml("collect_interval: soon", "t").is_err());
        let error = bad(
            "probes: [{name: api, http: {url: 'https://api.example/', tls: {ca_file: /nonexistent/ca.pem}}}]",
        );
        assert!(
            error.contains("probes[0] \"api\"") && error.contains("/nonexistent/ca.pem"),
            "{error}"
        );
    }

    #[test]
    fn probes_join_the_registry() {
        let config = Config::from_yaml(
            "probes:\n  - name: redis\n    tcp:\n      address: 127.0.0.1:6379\n      steps: [{send: \"PING\\r\\n\"}, {expect: '^\\+PONG'}]\n",
            "p.yml",
        )
        .unwrap();
        assert_eq!(config.probes.len(), 1);
        assert_eq!(config.probes[0].interval, Duration::from_secs(15));
        config.validate().unwrap();
        let error = Config::from_yaml("probes: [{name: a, tcp: {adress: 'x:1'}}]", "p.yml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `adress`"), "{error}");
    }

    #[test]
    fn web_guards_are_checked_and_the_token_is_not_shown() {
        let config = Config::from_yaml(
            "web:\n  reload_token: a-token-nobody-may-see\n  allow: {admin: [127.0.0.1/32]}\n  limits: {max_requests: 5, write: {rate: 10, burst: 20}}\n",
            "t",
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.web.limits.max_requests, 5);
        assert_eq!(
            config.web.limits.write.max_body_bytes,
            16 << 20,
            "the class default stays"
        );
        assert_eq!(
            config.web.limits.admin,
            crate::web::limits::ClassLimits::admin_default()
        );
        assert!(!format!("{config:?}").contains("a-token-nobody-may-see"));
        let bad = |yaml: &str| {
            Config::from_yaml(yaml, "t")
                .and_then(|c| c.validate())
                .unwrap_err()
                .to_string()
        };
        assert!(bad("web: {allow: {read: [nowhere]}}").contains("web.allow.read"));
        assert!(bad("web: {limits: {max_header_bytes: 10}}").contains("max_header_bytes"));
        assert!(bad("web: {limits: {read: {rat: 1}}}").contains("unknown field `rat`"));
        assert!(bad("web: {config_file: /nonexistent/web.yml}").contains("/nonexistent/web.yml"));
        assert!(bad("web: {reload_token: short}").contains("web.reload_token must be at least 16"));
        assert!(bad("push: {token: short}").contains("push.token must be at least 16"));
    }

    #[test]
    fn problems_lists_every_error() {
        let config = Config::from_yaml(
            "collect_interval: 0s\nweb: {telemetry_path: metrics, reload_token: short}\npush: {token: short}\n",
            "t",
        )
        .unwrap();
        let problems: Vec<String> = config.problems().iter().map(|e| e.to_string()).collect();
        for expected in [
            "collect_interval",
            "telemetry_path",
            "push.token",
            "reload_token",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }

    #[test]
    fn colon_port_listens_everywhere() {
        assert_eq!(
            listen_address(":10777").unwrap(),
            "0.0.0.0:10777".parse().unwrap()
        );
        assert_eq!(
            listen_address("127.0.0.1:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
    }
}
