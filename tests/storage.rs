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

#[test]
fn a_damaged_push_snapshot_is_refused_with_advice_to_move_it_away() {
    let storage = tempfile::tempdir().unwrap();
    std::fs::create_dir(storage.path().join("push")).unwrap();
    std::fs::write(storage.path().join("push/push.snapshot"), "not a snapshot").unwrap();
    let message = refused_start(storage.path(), true);
    assert!(
        message.contains("push.snapshot") && message.contains("move it away"),
        "{message}"
    );
}
