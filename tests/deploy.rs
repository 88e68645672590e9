//! The generated `deploy/` example against Pod Security "restricted" (the
//! Kubernetes Pod Security Standards, checked field by field: there is no
//! kube-apiserver here), and against what the sidecar needs to work in a
//! pod: the shared process namespace, the Downward API, its config, the
//! push token from a Secret, its port and a PodMonitor that keeps pushed
//! labels. tests/pod.rs runs the same manifests with podman.

mod example;

use serde_yaml_ng::Value;

/// The volume types "restricted" allows.
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

fn is_true(v: &Value) -> bool {
    v.as_bool() == Some(true)
}

/// Every field "baseline" and "restricted" look at, for one pod spec; the
/// problems found, each naming the field.
fn restricted_problems(spec: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(&spec[field]) {
            problems.push(format!("spec.{field} is true"));
        }
    }
    let pod = &spec["securityContext"];
    if pod["windowsOptions"]["hostProcess"].as_bool() == Some(true) {
        problems.push("hostProcess".to_owned());
    }
    for volume in spec["volumes"].as_sequence().into_iter().flatten() {
        let name = volume["name"].as_str().unwrap_or("?");
        let kinds: Vec<&str> = volume
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.as_str())
            .filter(|k| *k != "name")
            .collect();
        for kind in kinds {
            if !RESTRICTED_VOLUMES.contains(&kind) {
                problems.push(format!("volume {name} is {kind}"));
            }
        }
    }
    if let Some(sysctls) = pod["sysctls"].as_sequence() {
        if !sysctls.is_empty() {
            problems.push("pod sysctls set".to_owned());
        }
    }
    let pod_seccomp = pod["seccompProfile"]["type"].as_str();
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_sequence().cloned().unwrap_or_default());
    for container in containers {
        let name = container["name"].as_str().unwrap_or("?").to_owned();
        let context = &container["securityContext"];
        let place = |what: &str| format!("container {name}: {what}");
        if is_true(&context["privileged"]) {
            problems.push(place("privileged"));
        }
        if context["allowPrivilegeEscalation"].as_bool() != Some(false) {
            problems.push(place("allowPrivilegeEscalation is not false"));
        }
        let non_root = context["runAsNonRoot"]
            .as_bool()
            .or(pod["runAsNonRoot"].as_bool());
        if non_root != Some(true) {
            problems.push(place("runAsNonRoot is not true"));
        }
        for user in [&context["runAsUser"], &pod["runAsUser"]] {
            if user.as_u64() == Some(0) {
                problems.push(place("runAsUser is 0"));
            }
        }
        let seccomp = context["seccompProfile"]["type"].as_str().or(pod_seccomp);
        if !matches!(seccomp, Some("RuntimeDefault") | Some("Localhost")) {
            problems.push(place("seccompProfile is not RuntimeDefault or Localhost"));
        }
        let drop: Vec<&str> = context["capabilities"]["drop"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !drop.contains(&"ALL") {
            problems.push(place("capabilities.drop lacks ALL"));
        }
        for added in context["capabilities"]["add"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            if added.as_str() != Some("NET_BIND_SERVICE") {
                problems.push(place(&format!("adds capability {added:?}")));
            }
        }
        for port in container["ports"].as_sequence().into_iter().flatten() {
            if port["hostPort"].as_u64().is_some_and(|p| p != 0) {
                problems.push(place("sets a hostPort"));
            }
        }
        if context["procMount"]
            .as_str()
            .is_some_and(|m| m != "Default")
        {
            problems.push(place("procMount is not Default"));
        }
    }
    problems
}

fn pod_spec() -> Value {
    example::document("deployment.yml", "Deployment")["spec"]["template"]["spec"].clone()
}

fn sidecar(spec: &Value) -> Value {
    spec["containers"]
        .as_sequence()
        .expect("containers")
        .iter()
        .find(|c| c["name"] == "outrider")
        .expect("the outrider container")
        .clone()
}

#[test]
fn the_example_pod_is_admitted_by_pod_security_restricted() {
    let spec = pod_spec();
    assert_eq!(restricted_problems(&spec), Vec::<String>::new());
    assert!(
        is_true(&spec["shareProcessNamespace"]),
        "the sidecar sees the app's processes"
    );
    let context = &sidecar(&spec)["securityContext"];
    assert!(is_true(&context["readOnlyRootFilesystem"]));
}

/// The checker itself finds what the old example had: host paths, a host
/// namespace, root, no seccomp, kept capabilities.
#[test]
fn the_checker_refuses_what_restricted_refuses() {
    let spec: Value = serde_yaml_ng::from_str(
        "hostPID: true
volumes: [{name: proc, hostPath: {path: /proc}}]
containers:
  - name: a
    ports: [{containerPort: 80, hostPort: 80}]
    securityContext: {runAsUser: 0, capabilities: {add: [SYS_ADMIN]}}
",
    )
    .unwrap();
    let problems = restricted_problems(&spec).join("\n");
    for expected in [
        "spec.hostPID",
        "volume proc is hostPath",
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "runAsUser is 0",
        "seccompProfile",
        "capabilities.drop lacks ALL",
        "SYS_ADMIN",
        "hostPort",
    ] {
        assert!(
            problems.contains(expected),
            "{expected} not found in:\n{problems}"
        );
    }
}

#[test]
fn the_sidecar_knows_its_pod_reads_its_config_and_token_and_listens_on_10777() {
    let spec = pod_spec();
    let container = sidecar(&spec);
    let env = container["env"].as_sequence().expect("env");
    let from = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} in env"))["valueFrom"]
            .clone()
    };
    assert_eq!(from("POD_NAME")["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(
        from("POD_NAMESPACE")["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(from("NODE_NAME")["fieldRef"]["fieldPath"], "spec.nodeName");
    assert_eq!(
        from("OUTRIDER_PUSH_TOKEN")["secretKeyRef"]["name"],
        "outrider-push"
    );
    assert_eq!(container["ports"][0]["containerPort"], 10777);
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"--config.file=/etc/outrider/outrider.yml"),
        "{args:?}"
    );
    assert!(args.contains(&"--web.listen-address=:10777"), "{args:?}");
    let config_volume = spec["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "config")
        .expect("config volume")
        .clone();
    assert_eq!(config_volume["configMap"]["name"], "outrider-config");

    // The config: the pod scope, the pod's identity, the app on localhost.
    let text = example::sidecar_config();
    let raw: Value = serde_yaml_ng::from_str(&text).expect("config YAML");
    assert_eq!(raw["scope"], "pod");
    let config = outrider::config::Config::from_yaml(&example::runnable_config(&text), "cm")
        .expect("the ConfigMap's config parses");
    config.validate().expect("the ConfigMap's config is valid");
    assert_eq!(config.external_labels["pod"], "${POD_NAME}");
    assert_eq!(config.external_labels["namespace"], "${POD_NAMESPACE}");
    assert_eq!(config.external_labels["node"], "${NODE_NAME}");
    assert_eq!(config.scrape[0].url, "http://127.0.0.1:8081/metrics");
    assert!(!config.alerting.alertmanagers.is_empty());
}

#[test]
fn the_pod_monitor_scrapes_the_sidecar_and_keeps_pushed_job_and_instance() {
    let monitor = example::document("podmonitor.yml", "PodMonitor");
    let endpoints = monitor["spec"]["podMetricsEndpoints"]
        .as_sequence()
        .expect("endpoints");
    assert_eq!(
        endpoints.len(),
        1,
        "the app's series come through the sidecar"
    );
    assert_eq!(endpoints[0]["port"], "outrider");
    assert!(is_true(&endpoints[0]["honorLabels"]));
    let text = std::fs::read_to_string(example::deploy_dir().join("podmonitor.yml")).unwrap();
    assert!(
        text.contains("# honorLabels: true keeps the job and instance"),
        "{text}"
    );
}
