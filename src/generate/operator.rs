//! Kubernetes resources: the rule groups as prometheus-operator
//! `PrometheusRule`s, and the `deploy/` example (the sidecar in a
//! Deployment with its ConfigMap, a PodMonitor, the dashboards as a ConfigMap for Grafana's
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

/// The port outrider listens on in the example (`config::DEFAULT_PORT`).
pub const PORT: u16 = crate::config::DEFAULT_PORT;
/// The ConfigMap holding the sidecar's config file.
pub const CONFIG_MAP: &str = "outrider-config";
/// The Secret holding the push token, under the key `token`.
pub const PUSH_SECRET: &str = "outrider-push";

/// The sidecar's config file: scrape the app on the pod's loopback, watch
/// the pod (not the node), and name the pod on every alert.
pub const SIDECAR_CONFIG: &str = "\
# The pod, not the node: the pod's processes, network and volumes.
scope: pod
storage:
  path: /var/lib/outrider
# Every alert names the pod it comes from, so the same rule firing in two
# pods is two alerts in Alertmanager. Expanded from the Downward API's
# variables in the manifest.
external_labels:
  pod: ${POD_NAME}
  namespace: ${POD_NAMESPACE}
  node: ${NODE_NAME}
# The app's own metrics, on the pod's loopback.
scrape:
  - name: app
    url: http://127.0.0.1:8081/metrics
alerting:
  alertmanagers:
    - static_configs:
        - targets: [alertmanager-operated.monitoring.svc:9093]
";

/// The sidecar's config as a ConfigMap, mounted at /etc/outrider.
pub fn config_map() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "labels": labels()},
        "data": {"outrider.yml": SIDECAR_CONFIG},
    })
}

/// An environment variable from the Downward API.
fn downward(name: &str, field: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": field}}})
}

/// What Pod Security "restricted" asks of every container.
fn restricted_container() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
    })
}

/// The example app with outrider beside it, as Pod Security "restricted"
/// admits it: no host paths or namespaces, non-root, no capabilities, a
/// read-only root, seccomp `RuntimeDefault`. The pod shares its process
/// namespace so the sidecar sees the app's processes; both run as one user
/// so the sidecar may read them (another user's fds are closed to it).
pub fn deployment(version: &str) -> Value {
    let mut sidecar_security = restricted_container();
    sidecar_security["readOnlyRootFilesystem"] = json!(true);
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
                    "shareProcessNamespace": true,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example.com/app:1.0",
                            "ports": [{"name": "http", "containerPort": 8080}, {"name": "app-metrics", "containerPort": 8081}],
                            "securityContext": restricted_container(),
                        },
                        {
                            "name": "outrider",
                            "image": format!("localhost/outrider:{version}"),
                            "args": [
                                "--config.file=/etc/outrider/outrider.yml",
                                format!("--web.listen-address=:{PORT}"),
                            ],
                            "env": [
                                downward("POD_NAME", "metadata.name"),
                                downward("POD_NAMESPACE", "metadata.namespace"),
                                downward("NODE_NAME", "spec.nodeName"),
                                {"name": "OUTRIDER_PUSH_TOKEN", "valueFrom": {"secretKeyRef": {"name": PUSH_SECRET, "key": "token"}}},
                                {"name": "OUTRIDER_LOG_FORMAT", "value": "json"},
                            ],
                            "ports": [{"name": "outrider", "containerPort": PORT}],
                            "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "outrider"}},
                            "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "outrider"}, "periodSeconds": 30},
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "32Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                            "securityContext": sidecar_security,
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/etc/outrider", "readOnly": true},
                                {"name": "state", "mountPath": "/var/lib/outrider"},
                            ],
                        },
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": CONFIG_MAP}},
                        // Baselines survive container restarts, not pod moves:
                        // a new pod learns its own.
                        {"name": "state", "emptyDir": {}},
                    ],
                },
            },
        },
    })
}

/// Why the PodMonitor honours the labels of what it scrapes; written above
/// it in the file, since JSON carries no comments.
pub const POD_MONITOR_NOTE: &str = "\
# honorLabels: true keeps the job and instance labels of the series the app
# pushes to the sidecar (the Pushgateway's rule); without it Prometheus
# renames them exported_job and exported_instance. The sidecar already
# scrapes the app, so the app's series come through the sidecar's port only.
";

/// Scrapes the sidecar of every monitored pod; the `pod` label is what the
/// Alertmanager example groups by. A PodMonitor's `job` is the same for
/// every app it scrapes, so `service` comes from the pod's
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
                {"port": "outrider", "interval": "15s", "honorLabels": true, "relabelings": relabel},
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
