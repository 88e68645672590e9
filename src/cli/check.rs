//! `outrider check`: validates config, rule and web config files, with
//! promtool's output and exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Config;
use crate::rules::{self};

/// What to check for one argument: the file, or every `*.yml` and `*.yaml`
/// in a folder (sorted), as the config's `rules:` and `generate` read one.
pub(super) fn check_targets(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    found.sort();
    Ok(found)
}

/// A hint for files of the other tools outrider's output feeds, which
/// `check` cannot read: Prometheus rule and test files, Alertmanager
/// configs.
pub(super) fn foreign_file_hint(document: &serde_yaml_ng::Value) -> Option<&'static str> {
    let mut rules = document
        .get("groups")
        .and_then(|g| g.as_sequence())
        .into_iter()
        .flatten()
        .filter_map(|group| group.get("rules").and_then(|r| r.as_sequence()))
        .flatten();
    if rules.any(|rule| rule.get("expr").is_some() || rule.get("record").is_some()) {
        return Some(
            "hint: this is a Prometheus rule file (its rules have expr:); check it with `promtool check rules`. outrider check reads outrider rule files (rules/README.md).",
        );
    }
    if document.get("rule_files").is_some() && document.get("tests").is_some() {
        return Some("hint: this is a promtool test file; run it with `promtool test rules`.");
    }
    if document.get("route").is_some() && document.get("receivers").is_some() {
        return Some("hint: this is an Alertmanager config; check it with `amtool check-config`.");
    }
    None
}

/// Checks one file: a rule file (it has `groups:`), an exporter-toolkit web
/// config (TLS, HTTP or basic auth keys) or a config file. On failure,
/// every error found, not only the first.
pub(super) fn check_file(file: &Path) -> Result<String, Vec<String>> {
    let text =
        std::fs::read_to_string(file).map_err(|e| vec![format!("{}: {e}", file.display())])?;
    let document = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).ok();
    let has = |key: &str| document.as_ref().is_some_and(|v| v.get(key).is_some());
    let hinted = |mut errors: Vec<String>| {
        if let Some(hint) = document.as_ref().and_then(foreign_file_hint) {
            errors.push(hint.to_owned());
        }
        errors
    };
    if [
        "tls_server_config",
        "http_server_config",
        "basic_auth_users",
    ]
    .into_iter()
    .any(has)
    {
        crate::web::Active::load(file).map_err(|e| vec![e.to_string()])?;
        return Ok("web config is valid".to_owned());
    }
    let name = file.display().to_string();
    if has("groups") {
        let groups = rules::parse_all(&text, &name)
            .map_err(|errors| hinted(errors.iter().map(ToString::to_string).collect()))?;
        let count: usize = groups.iter().map(|g| g.rules.len()).sum();
        rules::RuleSet::from_groups(groups).map_err(|e| vec![e.to_string()])?;
        return Ok(format!("{count} rules found"));
    }
    let config = Config::from_yaml(&text, &name).map_err(|e| hinted(vec![e.to_string()]))?;
    let problems = config.problems();
    if problems.is_empty() {
        Ok("config is valid".to_owned())
    } else {
        Err(problems.iter().map(|e| format!("{name}: {e}")).collect())
    }
}

/// Like `promtool check`: `Checking FILE` and `SUCCESS: …` on stdout, or
/// `FAILED:` and every error on stderr; exit 1 when any file failed.
pub(super) fn check(paths: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in paths {
        let files = match check_targets(path) {
            Ok(files) if files.is_empty() => {
                failed = true;
                eprintln!(
                    "{}: no *.yml or *.yaml files in this folder",
                    path.display()
                );
                continue;
            }
            Ok(files) => files,
            Err(e) => {
                failed = true;
                eprintln!("{e}");
                continue;
            }
        };
        for file in files {
            println!("Checking {}", file.display());
            match check_file(&file) {
                Ok(what) => println!("  SUCCESS: {what}"),
                Err(errors) => {
                    failed = true;
                    eprintln!("  FAILED:");
                    for error in errors {
                        eprintln!("{error}");
                    }
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
