//! The mdadm collector side by side with the real node_exporter (Debian's
//! 1.5): this host has no md arrays, so both read the same fake procfs
//! (`--path.procfs`), whose /proc/mdstat takes each shape of
//! tests/fixtures/mdstat in turn, then a malformed one, then none at all.
//! For each: the same `node_md_*` series with equal values, the same HELP
//! and TYPE, and the same `node_scrape_collector_success{collector="mdadm"}`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::{SeriesKey, get, parse_samples};

/// The `node_md_*` samples and the mdadm collector's success.
fn md_samples(text: &str) -> BTreeMap<SeriesKey, f64> {
    parse_samples(text)
        .into_iter()
        .filter(|(k, _)| {
            k.name.starts_with("node_md_")
                || (k.name == "node_scrape_collector_success"
                    && k.labels.get("collector").map(String::as_str) == Some("mdadm"))
        })
        .collect()
}

/// The HELP and TYPE lines of the `node_md_*` families.
fn md_metadata(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("# HELP node_md_") || l.starts_with("# TYPE node_md_"))
        .map(str::to_owned)
        .collect()
}

/// Replaces /proc/mdstat in one step, so neither reader sees half a file.
fn put_mdstat(procfs: &Path, text: Option<&str>) {
    let target = procfs.join("mdstat");
    match text {
        Some(text) => {
            let staged = procfs.join(".mdstat.new");
            std::fs::write(&staged, text).unwrap();
            std::fs::rename(&staged, &target).unwrap();
        }
        None => {
            let _ = std::fs::remove_file(&target);
        }
    }
}

#[test]
fn mdstat_shapes_match_node_exporter() {
    let node_exporter = common::require("prometheus-node-exporter");
    let procfs = tempfile::tempdir().unwrap();
    let procfs_arg = procfs.path().display().to_string();

    let mut shapes: Vec<(String, Option<String>)> = Vec::new();
    let dir = common::fixtures().join("mdstat");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        shapes.push((name, Some(std::fs::read_to_string(&file).unwrap())));
    }
    shapes.push((
        "a progress line without its figures".to_owned(),
        Some(
            "Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks [2/2] [UU]\n      resync = 3%\n\nunused devices: <none>\n"
                .to_owned(),
        ),
    ));
    shapes.push(("no /proc/mdstat".to_owned(), None));
    assert!(shapes.len() >= 10, "fixtures missing from {dir:?}");

    put_mdstat(procfs.path(), shapes[0].1.as_deref());
    let port = common::free_port();
    let _node_exporter = common::spawn(
        &node_exporter,
        &[
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--path.procfs={procfs_arg}"),
            "--collector.disable-defaults".to_owned(),
            "--collector.mdadm".to_owned(),
        ],
        &[],
    );
    let ne_url = format!("http://127.0.0.1:{port}/metrics");
    common::wait_until(Duration::from_secs(10), "node_exporter", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let outrider =
        common::start_outrider(&["--collect.interval", "200ms", "--path.procfs", &procfs_arg]);
    let outrider_url = outrider.url("/metrics");

    let mut arrays_seen = 0;
    for (shape, text) in &shapes {
        put_mdstat(procfs.path(), text.as_deref());
        // node_exporter reads the file on each scrape; outrider on its tick.
        common::wait_for_tick_after_now(&outrider_url);
        let ours_text = get(&outrider_url, &[]).text();
        let theirs_text = get(&ne_url, &[]).text();
        let (ours, theirs) = (md_samples(&ours_text), md_samples(&theirs_text));
        assert_eq!(ours, theirs, "{shape}: outrider, then node_exporter");
        assert_eq!(
            md_metadata(&ours_text),
            md_metadata(&theirs_text),
            "{shape}: HELP and TYPE"
        );
        let success = theirs
            .iter()
            .find(|(k, _)| k.name == "node_scrape_collector_success")
            .map(|(_, v)| *v);
        let arrays = theirs.keys().filter(|k| k.name == "node_md_blocks").count();
        arrays_seen += arrays;
        match shape.as_str() {
            "no /proc/mdstat" | "a progress line without its figures" => {
                assert_eq!(success, Some(0.0), "{shape}");
                assert_eq!(arrays, 0, "{shape}");
            }
            "no_arrays" => {
                assert_eq!(success, Some(1.0), "{shape}");
                assert_eq!(arrays, 0, "{shape}");
            }
            _ => {
                assert_eq!(success, Some(1.0), "{shape}");
                assert!(arrays > 0, "{shape}: no arrays read");
            }
        }
    }
    assert!(arrays_seen >= 12, "compared only {arrays_seen} arrays");
}
