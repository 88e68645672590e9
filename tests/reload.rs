//! Reloading without a restart: a rule file that breaks is refused and the
//! old rules keep firing; when it is fixed, the new rules apply. SIGHUP
//! reloads too, and `POST /-/reload` answers with the outcome.

mod common;

use std::time::Duration;

use common::{family, get, parse_samples, start_outrider_in};

const TOKEN: &str = "a-reload-token-of-some-length";

fn rule(name: &str) -> String {
    format!(
        "groups:\n  - name: reload\n    rules:\n      - alert: {name}\n        selector: node_load1\n        threshold: {{above: {{warning: -1}}}}\n"
    )
}

fn firing(address: &str) -> Vec<String> {
    let reply = get(&format!("http://{address}/api/v1/alerts"), &[]);
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    json["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "firing")
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_owned())
        .collect()
}

fn gauge(address: &str, name: &str) -> f64 {
    let samples = parse_samples(&get(&format!("http://{address}/metrics"), &[]).text());
    *family(&samples, name).values().next().unwrap()
}

#[test]
fn a_broken_rule_file_is_refused_and_a_fixed_one_applies() {
    let storage = tempfile::tempdir().unwrap();
    let rules = storage.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("a.yml"), rule("FirstRule")).unwrap();
    let config = storage.path().join("outrider.yml");
    std::fs::write(
        &config,
        format!(
            "collect_interval: 200ms\nrules: ['{}']\ncollectors:\n  containers: {{enabled: false}}\n",
            rules.display()
        ),
    )
    .unwrap();
    let (mut process, address) = start_outrider_in(
        storage.path(),
        &["--config.file", config.to_str().unwrap()],
        &[("OUTRIDER_RELOAD_TOKEN", TOKEN)],
    );
    common::wait_until(Duration::from_secs(10), "FirstRule to fire", || {
        firing(&address) == ["FirstRule"]
    });
    assert_eq!(
        gauge(&address, "outrider_config_last_reload_successful"),
        1.0
    );

    // Break it: critical below warning for an `above` rule.
    std::fs::write(
        rules.join("a.yml"),
        rule("FirstRule").replace("{warning: -1}", "{warning: 2, critical: 1}"),
    )
    .unwrap();
    common::wait_until(Duration::from_secs(10), "the reload to be refused", || {
        gauge(&address, "outrider_config_last_reload_successful") == 0.0
    });
    assert_eq!(
        firing(&address),
        ["FirstRule"],
        "the old rule keeps running"
    );
    assert!(process.log_text().contains("reload refused"));
    // Asked over HTTP, the refusal is the answer, with its reason.
    let url = format!("http://{address}/-/reload");
    let right = format!("Bearer {TOKEN}");
    let refused = common::request("POST", &url, &[("Authorization", &right)]);
    assert_eq!(refused.status, 500, "{}", refused.text());
    assert!(
        refused.text().starts_with("reload refused")
            && refused.text().contains("rule FirstRule: threshold.above"),
        "{}",
        refused.text()
    );

    // Fix it with a different rule.
    std::fs::write(rules.join("a.yml"), rule("SecondRule")).unwrap();
    common::wait_until(Duration::from_secs(10), "the new rule to apply", || {
        gauge(&address, "outrider_config_last_reload_successful") == 1.0
            && firing(&address) == ["SecondRule"]
    });
    let samples = parse_samples(&get(&format!("http://{address}/metrics"), &[]).text());
    let rules_in_state: Vec<String> = family(&samples, "outrider_rule_state")
        .keys()
        .map(|l| l["rule"].clone())
        .collect();
    assert_eq!(
        rules_in_state,
        ["SecondRule"],
        "the removed rule's series are gone"
    );

    // SIGHUP reloads as well.
    let before = gauge(
        &address,
        "outrider_config_last_reload_success_timestamp_seconds",
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &process.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    common::wait_until(Duration::from_secs(10), "a reload on SIGHUP", || {
        gauge(
            &address,
            "outrider_config_last_reload_success_timestamp_seconds",
        ) > before
    });

    // And POST /-/reload, with the token only.
    assert_eq!(common::request("POST", &url, &[]).status, 401);
    let wrong = format!("Bearer {}", TOKEN.replace('a', "b"));
    assert_eq!(
        common::request("POST", &url, &[("Authorization", &wrong)]).status,
        401
    );
    assert_eq!(common::request("GET", &url, &[]).status, 405);
    let before = gauge(
        &address,
        "outrider_config_last_reload_success_timestamp_seconds",
    );
    let reloaded = common::request("POST", &url, &[("Authorization", &right)]);
    assert_eq!(
        (reloaded.status, reloaded.text().as_str()),
        (200, "configuration and rules reloaded\n")
    );
    common::wait_until(Duration::from_secs(10), "a reload over HTTP", || {
        gauge(
            &address,
            "outrider_config_last_reload_success_timestamp_seconds",
        ) > before
    });

    // Settings a reload does not apply are named, in the answer and the log.
    std::fs::write(
        &config,
        format!(
            "collect_interval: 300ms\nrules: ['{}']\ncollectors:\n  containers: {{enabled: false}}\nprobes:\n  - name: db\n    tcp: {{address: '127.0.0.1:1'}}\n",
            rules.display()
        ),
    )
    .unwrap();
    let reloaded = common::request("POST", &url, &[("Authorization", &right)]);
    assert_eq!(
        (reloaded.status, reloaded.text().as_str()),
        (
            200,
            "configuration and rules reloaded; these changed settings take effect on a restart: collect_interval, probes\n"
        )
    );
    assert!(
        process
            .log_text()
            .lines()
            .any(|l| l.contains("take effect on a restart")
                && l.contains("collect_interval, probes")),
        "{}",
        process.log_text()
    );
    assert_eq!(firing(&address), ["SecondRule"], "the rules still run");
    let status = process.signal_and_wait("TERM", Duration::from_secs(10));
    assert!(status.success());
}

#[test]
fn reload_over_http_is_off_without_a_token() {
    let outrider = common::start_outrider(&[]);
    let reply = common::request(
        "POST",
        &outrider.url("/-/reload"),
        &[("Authorization", "Bearer x")],
    );
    assert_eq!(reply.status, 404);
    assert!(reply.text().contains("web.reload_token"));
    let short = std::process::Command::new(common::outrider_binary())
        .env("OUTRIDER_RELOAD_TOKEN", "short")
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 16 characters"));
}

/// A reload (and `outrider check`) builds the new config's collectors to
/// check it. The background sources (the container engine's poller, the
/// scrape and probe tasks) start on a collector's first tick, never when it
/// is built: checking a config asks the engine, the apps and the probed
/// services nothing, where each reload used to poll the engine once (a
/// list and two requests per container) and scrape every target.
#[test]
fn checking_a_config_starts_no_background_source_and_the_first_tick_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outrider.yml");
    std::fs::write(
        &config,
        format!(
            "collectors:\n  containers:\n    docker_host: unix://{}/engine.sock\n\
scrape:\n  - name: app\n    url: http://127.0.0.1:1/metrics\n\
probes:\n  - name: db\n    tcp: {{address: '127.0.0.1:1'}}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tasks = || runtime.metrics().num_alive_tasks();
    let _inside = runtime.enter();
    let config = outrider::config::Config::load(&config).unwrap();
    let before = tasks();
    for _ in 0..3 {
        config.validate().unwrap();
    }
    let mut registry = config.registry().unwrap();
    assert_eq!(tasks(), before, "tasks started by checking a config");
    registry.collect_all();
    // The engine's poller, the scrape target's task and the probe's task.
    assert!(
        tasks() >= before + 3,
        "the first tick starts the sources: {} tasks, {before} before",
        tasks()
    );
}
