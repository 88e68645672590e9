//! Kubernetes resources: the rule groups as prometheus-operator
//! `PrometheusRule`s, and the `deploy/` example (the sidecar in a
//! Deployment, a PodMonitor, the dashboards as a ConfigMap for Grafana's
//! dashboard sidecar).

use serde_json::{Value, json};

use super::prometheus_rules::RuleGroup;

pub const APP_LABEL: &str = "app.kubernetes.io/name";

/// The labels the example puts on every resource it makes for outrider.
fn labels() -> Value {
    json!({"app.kubernetes.io/part-of": "outrider", "app.kubernetes.io/component": "monitoring"})
}

/// A `PrometheusRule` holding one outrider group's rule groups.
pub fn prometheus_rule(name: &str, groups: &[RuleGroup]) -> Value {
    let mut labels = labels();
    // The label kube-prometheus' default ruleSelector picks rules by.
    labels["prometheus"] = json!("k8s");
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": format!("outrider-{name}"), "labels": labels},
        "spec": {"groups": groups},
    })
}

/// The example app with outrider beside it. The sidecar reads the node's
/// /proc and /sys through read-only hostPath mounts.
pub fn deployment(version: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "labels": {APP_LABEL: "app"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {APP_LABEL: "app"}},
            "template": {
                "metadata": {"labels": {APP_LABEL: "app", "outrider.dev/monitored": "true"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example.com/app:1.0",
                            "ports": [{"name": "http", "containerPort": 8080}, {"name": "app-metrics", "containerPort": 8081}],
                        },
                        {
                            "name": "outrider",
                            "image": format!("ghcr.io/outrider-dev/outrider:{version}"),
                            "args": [
                                "--web.listen-address=:9100",
                                "--path.procfs=/host/proc",
                                "--path.sysfs=/host/sys",
                                "--storage.path=/var/lib/outrider",
                            ],
                            "env": [{"name": "OUTRIDER_LOG_FORMAT", "value": "json"}],
                            "ports": [{"name": "outrider", "containerPort": 9100}],
                            "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "outrider"}},
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "32Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                            "securityContext": {
                                "readOnlyRootFilesystem": true,
                                "runAsNonRoot": true,
                                "runAsUser": 65534,
                                "allowPrivilegeEscalation": false,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "proc", "mountPath": "/host/proc", "readOnly": true},
                                {"name": "sys", "mountPath": "/host/sys", "readOnly": true},
                                {"name": "state", "mountPath": "/var/lib/outrider"},
                            ],
                        },
                    ],
                    "volumes": [
                        {"name": "proc", "hostPath": {"path": "/proc"}},
                        {"name": "sys", "hostPath": {"path": "/sys"}},
                        // Baselines survive container restarts, not pod moves:
                        // a new pod learns its own.
                        {"name": "state", "emptyDir": {}},
                    ],
                },
            },
        },
    })
}

/// Scrapes the sidecar and the app of every monitored pod; the `pod` label
/// is what the Alertmanager example groups by. A PodMonitor's `job` is the
/// same for every app it scrapes, so `service` comes from the pod's
/// `app.kubernetes.io/name`: the SLOs are summed by it (`DEFAULT_SLO_BY`).
pub fn pod_monitor() -> Value {
    let relabel = json!([
        {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod"},
        {"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "targetLabel": "service"},
    ]);
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "outrider", "labels": labels()},
        "spec": {
            "selector": {"matchLabels": {"outrider.dev/monitored": "true"}},
            "podMetricsEndpoints": [
                // Pushed and scraped series keep their own job and instance.
                {"port": "outrider", "interval": "15s", "honorLabels": true, "relabelings": relabel},
                {"port": "app-metrics", "interval": "15s", "relabelings": relabel},
            ],
        },
    })
}

/// The dashboards for Grafana's sidecar, which loads every ConfigMap
/// labelled `grafana_dashboard: "1"`.
pub fn dashboards_config_map(dashboards: &[(String, String)]) -> Value {
    let data: serde_json::Map<String, Value> = dashboards
        .iter()
        .map(|(name, text)| (name.clone(), json!(text)))
        .collect();
    let mut labels = labels();
    labels["grafana_dashboard"] = json!("1");
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "outrider-dashboards", "labels": labels},
        "data": data,
    })
}

pub fn kustomization(resources: &[&str]) -> Value {
    json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    })
}
