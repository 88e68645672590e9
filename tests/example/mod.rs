//! The generated `deploy/` example, read as a user applies it: the YAML
//! documents of its files.

use std::path::PathBuf;

use serde_yaml_ng::Value;

pub fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every document of `deploy/<file>`.
pub fn documents(file: &str) -> Vec<Value> {
    let path = deploy_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect()
}

/// The one document of `kind` in `deploy/<file>`.
pub fn document(file: &str, kind: &str) -> Value {
    let mut found: Vec<Value> = documents(file)
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} in {file}");
    found.remove(0)
}

/// The sidecar's config file, as the example's ConfigMap holds it.
pub fn sidecar_config() -> String {
    document("deployment.yml", "ConfigMap")["data"]["outrider.yml"]
        .as_str()
        .expect("outrider.yml in the ConfigMap")
        .to_owned()
}

/// The config without its `scope:` line when this build does not know the
/// key yet (the pod scope is built apart from the example); any other
/// problem stays for the caller to see.
pub fn runnable_config(text: &str) -> String {
    match outrider::config::Config::from_yaml(text, "outrider.yml") {
        Err(e) if e.to_string().contains("unknown field `scope`") => text
            .lines()
            .filter(|l| !l.starts_with("scope:"))
            .map(|l| format!("{l}\n"))
            .collect(),
        _ => text.to_owned(),
    }
}

use serde::Deserialize as _;
