//! The `deploy/` example on a real runtime: the image built from the
//! Containerfile with podman, and the generated manifests run with `podman
//! kube play` as two pods, each an app (busybox httpd serving a metrics
//! file) and the outrider image, non-root, with no host mounts. From outside:
//! the sidecar's `/metrics` on a published 127.0.0.1 port shows the app's
//! scraped series, and a rule firing in both pods reaches a real
//! Alertmanager on the host as two alerts that name their pod and
//! namespace.
//!
//! What podman 4.3's kube play lacks is filled in here, and only that (see
//! docs/kubernetes.md): the `metadata.namespace` and `spec.nodeName`
//! fieldRefs become plain values, the emptyDir gets a name of its own per
//! pod (kube play makes one named volume of it for every pod), the Secret becomes the podman secret its
//! `secretKeyRef` reads, the probes go (podman runs them with curl inside
//! the container, which the image has not), the app's ports go (kube play
//! publishes a port without a hostPort on all of the host's addresses), and
//! the test adds a hostPort on 127.0.0.1 and the slirp4netns network that lets the pod reach the host's
//! 127.0.0.1 as 10.0.2.2.
//!
//! Podman here needs runc, cgroupfs, the Debian packages `catatonit` and
//! `slirp4netns`, and lowered rlimits as defaults, all set in the
//! containers.conf this test writes and names by CONTAINERS_CONF.

mod common;
mod example;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use serde_yaml_ng::Value;

use common::{Process, free_port, require, spawn};

/// Series the sidecar's /metrics must show, from inside the pod; one line
/// each.
const POD_SERIES: &[(&str, &[(&str, &str)])] = &[
    // The app's own series, scraped on the pod's loopback.
    ("app_queue_depth", &[]),
    ("app_requests_total", &[("code", "200")]),
    ("outrider_target_up", &[("target", "app")]),
    // The app's processes, seen through the pod's shared process namespace.
    (
        "namedprocess_namegroup_num_procs",
        &[("groupname", "busybox")],
    ),
    (
        "namedprocess_namegroup_open_filedesc",
        &[("groupname", "busybox")],
    ),
    // The pod's own network namespace.
    ("node_network_receive_bytes_total", &[]),
    ("node_netstat_Tcp_CurrEstab", &[]),
    ("node_sockstat_TCP_inuse", &[]),
    // The volume mounted into the sidecar.
    (
        "node_filesystem_size_bytes",
        &[("mountpoint", "/var/lib/outrider")],
    ),
    // A container sees only its own cgroup here (podman, cgroup v1): the
    // collector says so with success 0 instead of exporting zeros.
    ("outrider_collector_success", &[("collector", "cgroups")]),
];

/// The app's metrics file, served by busybox httpd.
const APP_METRICS: &str = "\
# TYPE app_queue_depth gauge
app_queue_depth 42
# TYPE app_requests_total counter
app_requests_total{code=\"200\"} 1027
";

/// A rule that fires in every pod of the example, on the scraped series.
const RULES: &str = "\
groups:
  - name: pod
    rules:
      - alert: PodQueueDeep
        selector: app_queue_depth
        threshold: {above: {critical: 10}}
";

/// podman with this test's containers.conf, and everything it made, by
/// name, removed when dropped (after a failure too).
struct Podman {
    dir: tempfile::TempDir,
    pods: Vec<String>,
    volumes: Vec<String>,
    secrets: Vec<String>,
    images: Vec<String>,
}

impl Podman {
    fn new() -> Podman {
        for binary in ["runc", "catatonit", "slirp4netns"] {
            require(binary);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n",
        )
        .expect("write containers.conf");
        Podman {
            dir,
            pods: Vec::new(),
            volumes: Vec::new(),
            secrets: Vec::new(),
            images: Vec::new(),
        }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("containers.conf")
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.env("CONTAINERS_CONF", self.conf());
        command
    }

    /// Runs podman; panics with its output when it fails.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = self
            .command(&require("podman"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run podman");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.unwrap_or("").as_bytes())
            .expect("write to podman");
        drop(input);
        let output = child.wait_with_output().expect("wait for podman");
        assert!(
            output.status.success(),
            "podman {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Imports a rootfs folder as an image.
    fn import(&mut self, root: &Path, image: &str) {
        let tar = self.dir.path().join("rootfs.tar");
        let status = Command::new(require("tar"))
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(root)
            .args(["-cf"])
            .arg(&tar)
            .arg(".")
            .status()
            .expect("run tar");
        assert!(status.success(), "tar failed");
        self.images.push(image.to_owned());
        self.run(&["import", "-q", tar.to_str().expect("utf-8"), image], None);
    }

    /// The outrider image from the Containerfile, with scripts/image.sh.
    fn build_outrider(&mut self, base: &str, image: &str) {
        self.images.push(image.to_owned());
        self.images.push(base.to_owned());
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let output = self
            .command(&repo.join("scripts/image.sh"))
            .arg(common::outrider_binary())
            .arg(image)
            .env("BASE_IMAGE", base)
            .output()
            .expect("run scripts/image.sh");
        assert!(
            output.status.success(),
            "scripts/image.sh failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A podman secret a `secretKeyRef` can read: JSON of key to base64.
    fn secret(&mut self, name: &str, key: &str, value: &str) {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        self.secrets.push(name.to_owned());
        self.run(
            &["secret", "create", name, "-"],
            Some(&serde_json::json!({ key: encoded }).to_string()),
        );
    }

    /// `podman kube play` of `manifests`; the pod is named `pod`.
    fn play(&mut self, manifests: &[Value], pod: &str, volumes: &[String]) {
        let text: String = manifests
            .iter()
            .map(|m| serde_yaml_ng::to_string(m).expect("YAML"))
            .collect::<Vec<_>>()
            .join("---\n");
        let file = self.dir.path().join(format!("{pod}.yml"));
        std::fs::write(&file, text).expect("write manifests");
        self.pods.push(pod.to_owned());
        self.volumes.extend(volumes.iter().cloned());
        self.run(
            &[
                "kube",
                "play",
                "--network",
                "slirp4netns:allow_host_loopback=true",
                file.to_str().expect("utf-8"),
            ],
            None,
        );
    }

    fn logs(&self, container: &str) -> String {
        let output = self
            .command(&require("podman"))
            .args(["logs", "--tail", "5", container])
            .output()
            .expect("podman logs");
        String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = self.command(&require("podman")).args(args).output();
        };
        for pod in &self.pods {
            quiet(&["pod", "rm", "-f", "-t", "0", pod]);
        }
        for volume in &self.volumes {
            quiet(&["volume", "rm", "-f", volume]);
        }
        for secret in &self.secrets {
            quiet(&["secret", "rm", secret]);
        }
        for image in &self.images {
            quiet(&["rmi", "-f", image]);
        }
    }
}

/// Alertmanager on the host's 127.0.0.1, holding what it is sent.
fn start_alertmanager(dir: &Path, port: u16) -> Process {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: none\n  group_by: ['...']\nreceivers:\n  - name: none\n",
    )
    .expect("write alertmanager config");
    let process = spawn(
        &require("prometheus-alertmanager"),
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".to_owned(),
        ],
        &[],
    );
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(1))
        .build();
    common::wait_until(Duration::from_secs(20), "alertmanager ready", || {
        agent
            .get(&format!("http://127.0.0.1:{port}/-/ready"))
            .call()
            .is_ok()
    });
    process
}

fn mapping_mut<'a>(value: &'a mut Value, key: &str) -> &'a mut Value {
    value
        .get_mut(key)
        .unwrap_or_else(|| panic!("no {key} in the manifest"))
}

/// One pod of the example, named `name`, filled in where kube play lacks a
/// field (see the top of this file); returns the manifests and the
/// volumes kube play makes of them.
#[allow(clippy::too_many_arguments)]
fn pod_manifests(
    name: &str,
    outrider_image: &str,
    app_image: &str,
    secret: &str,
    host_port: u16,
    am_port: u16,
    namespace: &str,
) -> (Vec<Value>, Vec<String>) {
    let config_map_name = format!("{name}-config");
    let config = example::runnable_config(&example::sidecar_config()).replace(
        "alertmanager-operated.monitoring.svc:9093",
        &format!("10.0.2.2:{am_port}"),
    ) + "collect_interval: 500ms\nrules: [/etc/outrider/rules.yml]\n";
    assert!(
        config.contains("10.0.2.2"),
        "the example's Alertmanager moved:\n{config}"
    );
    let mut config_map = example::document("deployment.yml", "ConfigMap");
    config_map["metadata"]["name"] = Value::from(config_map_name.as_str());
    config_map["data"]["outrider.yml"] = Value::from(config);
    config_map["data"]["rules.yml"] = Value::from(RULES);

    let mut deployment = example::document("deployment.yml", "Deployment");
    deployment["metadata"]["name"] = Value::from(name);
    deployment["spec"]["replicas"] = Value::from(1);
    let spec = mapping_mut(
        mapping_mut(mapping_mut(&mut deployment, "spec"), "template"),
        "spec",
    );
    // kube play makes a named volume of an emptyDir, the same one for
    // every pod that names it alike; each pod gets its own name.
    let state = format!("{name}-state");
    for volume in spec["volumes"].as_sequence_mut().expect("volumes") {
        if volume.get("configMap").is_some() {
            volume["configMap"]["name"] = Value::from(config_map_name.as_str());
        }
        if volume.get("emptyDir").is_some() {
            volume["name"] = Value::from(state.as_str());
        }
    }
    for container in spec["containers"].as_sequence_mut().expect("containers") {
        if container["name"] == "app" {
            container["image"] = Value::from(app_image);
            // kube play publishes a containerPort without a hostPort on
            // the host's every address; the app needs none from outside.
            container
                .as_mapping_mut()
                .expect("container")
                .remove("ports");
            container["command"] = serde_yaml_ng::from_str(
                "[/bin/busybox, httpd, -f, -p, '127.0.0.1:8081', -h, /www]",
            )
            .expect("command");
            continue;
        }
        container["image"] = Value::from(outrider_image);
        for mount in container["volumeMounts"].as_sequence_mut().expect("mounts") {
            if mount["name"] == "state" {
                mount["name"] = Value::from(state.as_str());
            }
        }
        let mapping = container.as_mapping_mut().expect("container");
        mapping.remove("readinessProbe");
        mapping.remove("livenessProbe");
        container["ports"][0]["hostPort"] = Value::from(host_port);
        container["ports"][0]["hostIP"] = Value::from("127.0.0.1");
        for variable in container["env"].as_sequence_mut().expect("env") {
            let plain = match variable["name"].as_str() {
                Some("POD_NAMESPACE") => Some(namespace.to_owned()),
                Some("NODE_NAME") => Some("node-1".to_owned()),
                _ => None,
            };
            if let Some(value) = plain {
                let mapping = variable.as_mapping_mut().expect("env entry");
                mapping.remove("valueFrom");
                mapping.insert(Value::from("value"), Value::from(value));
            }
            if variable["name"] == "OUTRIDER_PUSH_TOKEN" {
                variable["valueFrom"]["secretKeyRef"]["name"] = Value::from(secret);
            }
        }
    }
    (vec![config_map, deployment], vec![config_map_name, state])
}

/// The value of the first series `name` whose labels include `labels`.
fn series_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    common::parse_samples(text)
        .into_iter()
        .find(|(key, _)| {
            key.name == name
                && labels
                    .iter()
                    .all(|(n, v)| key.labels.get(*n).map(String::as_str) == Some(*v))
        })
        .map(|(_, value)| value)
}

/// The alerts Alertmanager holds named `name`.
fn held(am_port: u16, name: &str) -> Vec<Json> {
    let reply = common::get(&format!("http://127.0.0.1:{am_port}/api/v2/alerts"), &[]);
    if reply.status != 200 {
        return Vec::new();
    }
    let alerts: Vec<Json> = serde_json::from_slice(&reply.body).unwrap_or_default();
    alerts
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .collect()
}

#[test]
fn the_example_runs_in_podman_pods_and_each_pod_pages_under_its_own_name() {
    let started = Instant::now();
    let mut podman = Podman::new();
    let id = std::process::id();
    let outrider_image = format!("localhost/outrider-pod-test:{id}");
    let app_image = format!("localhost/outrider-pod-test-app:{id}");
    podman.build_outrider(
        &format!("localhost/outrider-pod-test-base:{id}"),
        &outrider_image,
    );

    // The app: busybox httpd and a metrics file, from a local rootfs.
    let root = podman.dir.path().join("app-root");
    std::fs::create_dir_all(root.join("bin")).expect("app rootfs");
    std::fs::create_dir_all(root.join("www")).expect("app rootfs");
    std::fs::copy(require("busybox"), root.join("bin/busybox")).expect("copy busybox");
    std::fs::write(root.join("www/metrics"), APP_METRICS).expect("metrics file");
    podman.import(&root, &app_image);

    let am_dir = tempfile::tempdir().expect("temp dir");
    let am_port = free_port();
    let alertmanager = start_alertmanager(am_dir.path(), am_port);
    let secret = format!("outrider-pod-test-push-{id}");
    podman.secret(&secret, "token", "a-push-token-of-enough-length");

    let pods: Vec<(String, u16)> = ["a", "b"]
        .iter()
        .map(|n| (format!("outrider-pod-test-{id}-{n}"), free_port()))
        .collect();
    for (name, host_port) in &pods {
        let (manifests, volumes) = pod_manifests(
            name,
            &outrider_image,
            &app_image,
            &secret,
            *host_port,
            am_port,
            "shop",
        );
        // kube play names a Deployment's pod <name>-pod-0.
        podman.play(&manifests, &format!("{name}-pod-0"), &volumes);
    }

    for (name, host_port) in &pods {
        let sidecar = format!("{name}-pod-0-outrider");
        let url = format!("http://127.0.0.1:{host_port}/metrics");
        let mut text = String::new();
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(2))
            .build();
        let deadline = Instant::now() + Duration::from_secs(20);
        let found = loop {
            if let Ok(reply) = agent.get(&url).call() {
                text = reply.into_string().unwrap_or_default();
                if POD_SERIES
                    .iter()
                    .all(|(n, l)| series_value(&text, n, l).is_some())
                {
                    break true;
                }
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(
            found,
            "{sidecar}: /metrics lacks some of {POD_SERIES:?}:\n{text}\nlog:\n{}",
            podman.logs(&sidecar)
        );
        assert_eq!(series_value(&text, "app_queue_depth", &[]), Some(42.0));
        // The node's figures are not the pod's.
        for node_family in [
            "node_load1",
            "node_memory_MemAvailable_bytes",
            "node_cpu_seconds_total",
        ] {
            assert_eq!(
                series_value(&text, node_family, &[]),
                None,
                "{node_family} in a pod"
            );
        }
        assert_eq!(
            series_value(
                &text,
                "outrider_collector_success",
                &[("collector", "processes")]
            ),
            Some(1.0)
        );
        if series_value(
            &text,
            "outrider_collector_success",
            &[("collector", "cgroups")],
        ) == Some(0.0)
        {
            assert_eq!(
                series_value(&text, "container_memory_working_set_bytes", &[]),
                None
            );
        }
    }

    // The same rule fires in both pods: two alerts, each naming its pod.
    let pod_names: BTreeSet<String> = pods.iter().map(|(n, _)| format!("{n}-pod-0")).collect();
    let alerts_by_pod = || -> BTreeSet<String> {
        held(am_port, "PodQueueDeep")
            .iter()
            .filter(|a| a["labels"]["namespace"] == "shop")
            .filter_map(|a| a["labels"]["pod"].as_str().map(str::to_owned))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while alerts_by_pod() != pod_names && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        alerts_by_pod(),
        pod_names,
        "alerts: {:?}\nalertmanager:\n{}\nsidecar log:\n{}",
        held(am_port, "PodQueueDeep"),
        alertmanager.log_text(),
        podman.logs(&format!("{}-pod-0-outrider", pods[0].0))
    );
    for alert in held(am_port, "PodQueueDeep") {
        assert_eq!(alert["labels"]["node"], "node-1", "{alert}");
        assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
    }

    // Nobody is root in the pod, and nothing of the host is mounted.
    for (name, _) in &pods {
        for container in ["app", "outrider"] {
            let full = format!("{name}-pod-0-{container}");
            let inspect = podman.run(
                &[
                    "inspect",
                    "--format",
                    "{{.Config.User}} {{range .Mounts}}{{.Type}} {{end}}",
                    &full,
                ],
                None,
            );
            let text = String::from_utf8_lossy(&inspect.stdout).trim().to_owned();
            let user = text.split_whitespace().next().unwrap_or("");
            assert!(
                !user.is_empty() && !user.starts_with('0') && !user.starts_with("root"),
                "{full} runs as {text:?}"
            );
            assert!(!text.contains("bind"), "{full} has a host mount: {text}");
        }
    }
    eprintln!("pod test took {:?}", started.elapsed());
}
