//! The storage folder: one outrider per folder, and a folder that cannot
//! hold state refused at start with what is wrong and where.

mod common;

use std::time::{Duration, Instant};

use common::{outrider_binary, start_outrider_in};

const TOKEN: &str = "push-token-0123456789";

/// Runs outrider and expects it to refuse to start: exit 1 within a few
/// seconds (one that starts anyway is killed, and the test fails).
fn refused_start(storage: &std::path::Path, push: bool) -> String {
    let storage = storage.to_str().unwrap().to_owned();
    let args = [
        "--web.listen-address".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--storage.path".to_owned(),
        storage,
    ];
    let envs: &[(&str, &str)] = if push {
        &[("OUTRIDER_PUSH_TOKEN", TOKEN)]
    } else {
        &[]
    };
    let mut process = common::spawn(&outrider_binary(), &args, envs);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = process.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "outrider started instead of refusing:\n{}",
            process.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = process.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    log
}

#[test]
fn a_second_outrider_on_the_same_folder_is_refused_and_the_first_keeps_its_state() {
    let storage = tempfile::tempdir().unwrap();
    let (mut first, _address) = start_outrider_in(
        storage.path(),
        &["--collect.interval", "200ms"],
        &[("OUTRIDER_PUSH_TOKEN", TOKEN)],
    );
    let log_before = std::fs::read(storage.path().join("push/push.log")).unwrap();

    let message = refused_start(storage.path(), true);
    assert!(
        message.contains("is in use by another outrider")
            && message.contains(&format!("(pid {})", first.pid())),
        "{message}"
    );
    // The refused instance touched none of the first one's files.
    assert_eq!(
        std::fs::read(storage.path().join("push/push.log")).unwrap(),
        log_before
    );

    // Once the first is gone (even by kill -9), the folder is free again.
    first.signal_and_wait("KILL", Duration::from_secs(5));
    let (_next, _address) = start_outrider_in(storage.path(), &[], &[]);
}

#[test]
fn a_storage_path_that_cannot_hold_state_is_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();

    let message = refused_start(&file, false);
    assert!(message.contains("is not a folder"), "{message}");

    let message = refused_start(&file.join("below"), false);
    assert!(message.contains("cannot create the folder"), "{message}");

    // A file where the push folder belongs: no advice to move a damaged
    // file away, since nothing is damaged.
    let storage = dir.path().join("storage");
    std::fs::create_dir(&storage).unwrap();
    std::fs::write(storage.join("push"), "x").unwrap();
    let message = refused_start(&storage, true);
    assert!(
        message.contains("push is not a folder") && !message.contains("move"),
        "{message}"
    );
}

/// Starts outrider in a mount namespace of its own, its storage on a
/// 256 KiB tmpfs, and returns it with its address once it is ready.
fn start_on_a_small_disk(storage: &std::path::Path) -> (common::Process, String) {
    let script = format!(
        "mount -t tmpfs -o size=256k tmpfs {dir} && exec {bin} --web.listen-address 127.0.0.1:0 --storage.path {dir} --collect.interval 200ms",
        dir = storage.display(),
        bin = outrider_binary().display()
    );
    let unshare = common::require("unshare");
    let args = ["-rm", "sh", "-c", &script].map(str::to_owned);
    let process = common::spawn(&unshare, &args, &[("OUTRIDER_PUSH_TOKEN", TOKEN)]);
    let mut address = None;
    common::wait_until(Duration::from_secs(10), "outrider listening", || {
        address = process.log_text().lines().find_map(|line| {
            line.contains("message=listening")
                .then(|| {
                    line.split_whitespace()
                        .find_map(|f| f.strip_prefix("address="))
                })
                .flatten()
                .map(str::to_owned)
        });
        address.is_some()
    });
    let address = address.expect("waited for it");
    let ready = format!("http://{address}/-/ready");
    common::wait_until(Duration::from_secs(10), "outrider ready", || {
        common::get(&ready, &[]).status == 200
    });
    (process, address)
}

#[test]
fn a_full_disk_answers_507_with_retry_after_and_loses_no_acknowledged_push() {
    let storage = tempfile::tempdir().unwrap();
    let (_process, address) = start_on_a_small_disk(storage.path());
    let body: String = (0..100)
        .map(|i| format!("filler{{i=\"{i}\"}} {i}\n"))
        .collect();
    let mut acknowledged = Vec::new();
    let mut full = None;
    // 256 KiB hold a few dozen of these; the loop is bounded well past it.
    for job in 0..400 {
        let reply = common::send(
            "PUT",
            &format!("http://{address}/metrics/job/j{job}"),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            body.as_bytes(),
        );
        match reply.status {
            200 => acknowledged.push(format!("j{job}")),
            _ => {
                full = Some(reply);
                break;
            }
        }
    }
    let reply = full.expect("the disk never filled");
    assert_eq!(reply.status, 507, "{}", reply.text());
    assert!(reply.headers.contains_key("retry-after"));
    assert!(
        reply.text().contains("No space left on device"),
        "{}",
        reply.text()
    );
    assert!(!acknowledged.is_empty());
    // Every push that was acknowledged is served.
    let metrics = format!("http://{address}/metrics");
    common::wait_until(Duration::from_secs(5), "the last push exported", || {
        let text = common::get(&metrics, &[]).text();
        acknowledged
            .iter()
            .all(|job| text.contains(&format!("job=\"{job}\"")))
    });
}
