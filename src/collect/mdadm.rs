//! `node_md_*{device}` from /proc/mdstat: the software RAID arrays, their
//! member disks, size, sync progress and state, as node_exporter 1.5's
//! mdadm collector (procfs 0.8's reading of the file). No md driver, no file:
//! no series, and `node_scrape_collector_success` 0 as node_exporter reports
//! it. A file it cannot read whole fails the collector, with no series.

use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use super::procfile::{self, parse_error};
use super::{CollectError, Collector};
use crate::metric::Family;
use crate::paths::HostPaths;

/// What an array is doing, from its line's third word, or from its sync line
/// when one says recovery, check or resync (in that order of precedence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActivityState {
    Active,
    Inactive,
    Recovering,
    Resyncing,
    Checking,
    /// Any other word (none the kernel writes today): every one-hot state 0.
    Other(String),
}

impl ActivityState {
    fn from_word(word: &str) -> Self {
        match word {
            "active" => ActivityState::Active,
            "inactive" => ActivityState::Inactive,
            other => ActivityState::Other(other.to_owned()),
        }
    }
}

/// One array of /proc/mdstat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MdArray {
    pub name: String,
    pub state: ActivityState,
    pub disks_active: i64,
    /// The members the array needs (`[n/m]`'s n; every member for raid0
    /// and linear; 0 for an inactive array).
    pub disks_required: i64,
    pub disks_failed: i64,
    /// Missing members (`_` in `[UU_]`); node_exporter 1.5 does not export it.
    pub disks_down: i64,
    pub disks_spare: i64,
    pub blocks: i64,
    /// All the blocks when no sync runs; 0 while a sync waits
    /// (`resync=DELAYED`, `resync=PENDING`).
    pub blocks_synced: i64,
}

/// The regexes are RE2's as procfs writes them, with `[0-9]` for `\d`
/// (which is ASCII there, Unicode in the regex crate); the regex crate's
/// leftmost-first matching is RE2's, so the same text matches the same way.
struct Patterns {
    status: Regex,
    synced_blocks: Regex,
    percent: Regex,
    finish: Regex,
    speed: Regex,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let compile = |p: &str| Regex::new(p).expect("a constant pattern compiles");
    Patterns {
        status: compile(r"([0-9]+) blocks .*\[([0-9]+)/([0-9]+)\] \[([U_]+)\]"),
        synced_blocks: compile(r"\(([0-9]+)/[0-9]+\)"),
        percent: compile(r"= (.+)%"),
        finish: compile(r"finish=(.+)min"),
        speed: compile(r"speed=(.+)[A-Z]"),
    }
});

/// The arrays of /proc/mdstat, in file order. An array line is any line
/// that does not start with a space and is not the `Personalities` or
/// `unused devices` line; it must be followed by at least three more lines
/// (its status line, its sync or bitmap line, and what ends it).
pub fn parse_mdstat(text: &str) -> Result<Vec<MdArray>, String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut arrays = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, _, state, ..] = fields[..] else {
            return Err(format!("fewer than 3 fields in array line {line:?}"));
        };
        let (Some(status_line), Some(after_status), Some(after_that)) = (
            lines.get(index + 1),
            lines.get(index + 2),
            lines.get(index + 3),
        ) else {
            return Err(format!("too few lines after array {name:?}"));
        };
        let status = parse_status(line, status_line)
            .map_err(|reason| format!("array {name:?}: {reason}"))?;
        let sync_line = if after_status.contains("bitmap") {
            after_that
        } else {
            after_status
        };
        let sync_state = if sync_line.contains("recovery") {
            Some(ActivityState::Recovering)
        } else if sync_line.contains("check") {
            Some(ActivityState::Checking)
        } else if sync_line.contains("resync") {
            Some(ActivityState::Resyncing)
        } else {
            None
        };
        let (state, blocks_synced) = match sync_state {
            None => (ActivityState::from_word(state), status.blocks),
            Some(syncing) if sync_line.contains("PENDING") || sync_line.contains("DELAYED") => {
                (syncing, 0)
            }
            Some(syncing) => (
                syncing,
                parse_sync_line(sync_line).map_err(|reason| format!("array {name:?}: {reason}"))?,
            ),
        };
        arrays.push(MdArray {
            name: name.to_owned(),
            state,
            disks_active: status.active,
            disks_required: status.required,
            disks_failed: line.matches("(F)").count() as i64,
            disks_down: status.down,
            disks_spare: line.matches("(S)").count() as i64,
            blocks: status.blocks,
            blocks_synced,
        });
    }
    Ok(arrays)
}

struct Status {
    blocks: i64,
    active: i64,
    required: i64,
    down: i64,
}

/// The line under the array's: its size, and for a redundant array
/// `[required/active] [U_…]`.
fn parse_status(array_line: &str, status_line: &str) -> Result<Status, String> {
    let size = status_line
        .split_whitespace()
        .next()
        .ok_or_else(|| format!("empty status line {status_line:?}"))?;
    let blocks = parse_int(size, status_line)?;
    // Striped and concatenated arrays print no `[n/m]`: every member, each
    // with its `[slot]`, is needed and active.
    if array_line.contains("raid0") || array_line.contains("linear") {
        let members = array_line.matches('[').count() as i64;
        return Ok(Status {
            blocks,
            active: members,
            required: members,
            down: 0,
        });
    }
    if array_line.contains("inactive") {
        return Ok(Status {
            blocks,
            active: 0,
            required: 0,
            down: 0,
        });
    }
    let captures = PATTERNS
        .status
        .captures(status_line)
        .ok_or_else(|| format!("no [required/active] [U_] in status line {status_line:?}"))?;
    Ok(Status {
        blocks,
        required: parse_int(&captures[2], status_line)?,
        active: parse_int(&captures[3], status_line)?,
        down: captures[4].matches('_').count() as i64,
    })
}

/// The blocks synced so far from a progress line
/// (`[==>…]  recovery = 12.5% (1024/8192) finish=1.2min speed=1000K/sec`).
/// The percentage, time left and speed are not exported, but a line
/// without them is not one the kernel writes, so it fails as in procfs.
fn parse_sync_line(line: &str) -> Result<i64, String> {
    let patterns = &*PATTERNS;
    let capture = |pattern: &Regex, what: &str| {
        pattern
            .captures(line)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str())
            .ok_or_else(|| format!("no {what} in sync line {line:?}"))
    };
    let synced = parse_int(capture(&patterns.synced_blocks, "(synced/total)")?, line)?;
    parse_float(capture(&patterns.percent, "percentage")?.trim(), line)?;
    parse_float(capture(&patterns.finish, "finish time")?, line)?;
    parse_float(capture(&patterns.speed, "speed")?, line)?;
    Ok(synced)
}

fn parse_int(text: &str, line: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|e| format!("{text:?} in {line:?} is not an integer: {e}"))
}

/// A decimal number; one too large for f64 is refused rather than read as
/// infinity, as Go's ParseFloat refuses it.
fn parse_float(text: &str, line: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|e| format!("{text:?} in {line:?} is not a number: {e}"))?;
    if value.is_infinite() && !text.to_ascii_lowercase().contains("inf") {
        return Err(format!("{text:?} in {line:?} is out of range"));
    }
    Ok(value)
}

/// The five families node_exporter 1.5 exports for `arrays`, each array's
/// series in file order.
pub fn md_families(arrays: &[MdArray]) -> [Family; 5] {
    let mut required = Family::gauge("node_md_disks_required", "Total number of disks of device.");
    let mut disks = Family::gauge(
        "node_md_disks",
        "Number of active/failed/spare disks of device.",
    );
    let mut state = Family::gauge("node_md_state", "Indicates the state of md-device.");
    let mut blocks = Family::gauge("node_md_blocks", "Total number of blocks on device.");
    let mut synced = Family::gauge(
        "node_md_blocks_synced",
        "Number of blocks synced on device.",
    );
    for array in arrays {
        let device = array.name.as_str();
        required.push([("device", device)], array.disks_required as f64);
        for (name, count) in [
            ("active", array.disks_active),
            ("failed", array.disks_failed),
            ("spare", array.disks_spare),
        ] {
            disks.push([("device", device), ("state", name)], count as f64);
        }
        for (name, this) in [
            ("active", ActivityState::Active),
            ("inactive", ActivityState::Inactive),
            ("recovering", ActivityState::Recovering),
            ("resync", ActivityState::Resyncing),
            ("check", ActivityState::Checking),
        ] {
            let one_hot = if array.state == this { 1.0 } else { 0.0 };
            state.push([("device", device), ("state", name)], one_hot);
        }
        blocks.push([("device", device)], array.blocks as f64);
        synced.push([("device", device)], array.blocks_synced as f64);
    }
    [required, disks, state, blocks, synced]
}

pub struct MdadmCollector {
    path: PathBuf,
    buffer: String,
}

impl MdadmCollector {
    pub fn new(paths: &HostPaths) -> Self {
        MdadmCollector {
            path: paths.proc("mdstat"),
            buffer: String::new(),
        }
    }
}

impl Collector for MdadmCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        if !procfile::read_into(&self.path, &mut self.buffer)? {
            return Err(CollectError::NoData("no /proc/mdstat".into()));
        }
        let arrays = parse_mdstat(&self.buffer).map_err(|r| parse_error(&self.path, r))?;
        if !arrays.is_empty() {
            out.extend(md_families(&arrays));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(text: &str, name: &str) -> MdArray {
        parse_mdstat(text)
            .unwrap()
            .into_iter()
            .find(|a| a.name == name)
            .unwrap()
    }

    /// (active, required, failed, down, spare, blocks, synced) of an array.
    fn counts(a: &MdArray) -> (i64, i64, i64, i64, i64, i64, i64) {
        (
            a.disks_active,
            a.disks_required,
            a.disks_failed,
            a.disks_down,
            a.disks_spare,
            a.blocks,
            a.blocks_synced,
        )
    }

    /// A fixture of tests/fixtures/mdstat, written in the kernel's layout.
    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/mdstat/", $name))
        };
    }

    const CLEAN: &str = fixture!("clean_levels");

    #[test]
    fn clean_arrays_of_each_level() {
        let arrays = parse_mdstat(CLEAN).unwrap();
        let names: Vec<&str> = arrays.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["md10", "md2", "md3", "md1"]);
        assert!(arrays.iter().all(|a| a.state == ActivityState::Active));
        assert_eq!(
            counts(&arrays[0]),
            (4, 4, 0, 0, 0, 2093056, 2093056),
            "raid10"
        );
        assert_eq!(
            counts(&arrays[1]),
            (2, 2, 0, 0, 0, 4190208, 4190208),
            "raid0"
        );
        assert_eq!(
            counts(&arrays[2]),
            (2, 2, 0, 0, 0, 3141632, 3141632),
            "linear"
        );
        assert_eq!(
            counts(&arrays[3]),
            (2, 2, 0, 0, 0, 1046528, 1046528),
            "raid1 with a bitmap"
        );
    }

    #[test]
    fn degraded_raid5_with_a_failed_member_and_a_spare() {
        let text = fixture!("degraded_raid5");
        let md5 = array(text, "md5");
        assert_eq!(md5.state, ActivityState::Active);
        assert_eq!(counts(&md5), (3, 4, 1, 1, 1, 3139584, 3139584));
    }

    #[test]
    fn recovery_resync_and_check_in_progress() {
        let text = fixture!("syncing");
        let md6 = array(text, "md6");
        assert_eq!(md6.state, ActivityState::Recovering);
        assert_eq!(counts(&md6), (5, 6, 0, 1, 0, 8380416, 298112));
        let md7 = array(text, "md7");
        assert_eq!(md7.state, ActivityState::Resyncing);
        assert_eq!(md7.blocks_synced, 995328);
        let md8 = array(text, "md8");
        assert_eq!(md8.state, ActivityState::Checking);
        assert_eq!(md8.blocks_synced, 64000);
    }

    #[test]
    fn a_waiting_resync_has_synced_nothing() {
        for (word, text) in [
            ("DELAYED", fixture!("resync_delayed")),
            ("PENDING", fixture!("resync_pending")),
        ] {
            let md9 = array(text, "md9");
            assert_eq!(md9.state, ActivityState::Resyncing, "{word}");
            assert_eq!(md9.blocks_synced, 0, "{word}");
        }
    }

    #[test]
    fn a_reshape_counts_as_active_and_in_sync() {
        // procfs 0.8 does not know the word: node_exporter 1.5 shows the
        // array active, all blocks synced.
        let text = fixture!("reshape");
        let md4 = array(text, "md4");
        assert_eq!(md4.state, ActivityState::Active);
        assert_eq!(counts(&md4), (4, 4, 0, 0, 0, 2093056, 2093056));
    }

    #[test]
    fn an_inactive_array_has_no_members_counted() {
        let text = fixture!("inactive");
        let md127 = array(text, "md127");
        assert_eq!(md127.state, ActivityState::Inactive);
        assert_eq!(counts(&md127), (0, 0, 0, 0, 2, 3906764976, 3906764976));
    }

    #[test]
    fn no_arrays_is_no_series() {
        assert_eq!(parse_mdstat(fixture!("no_arrays")).unwrap(), []);
        assert_eq!(parse_mdstat("").unwrap(), []);
        let mut out = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mdstat"), fixture!("no_arrays")).unwrap();
        let paths = HostPaths {
            procfs: dir.path().to_owned(),
            ..HostPaths::default()
        };
        MdadmCollector::new(&paths).collect(&mut out).unwrap();
        assert!(out.is_empty());
        std::fs::remove_file(dir.path().join("mdstat")).unwrap();
        assert!(matches!(
            MdadmCollector::new(&paths).collect(&mut out),
            Err(CollectError::NoData(_))
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn malformed_files_are_errors_naming_the_array() {
        let cases = [
            // Cut short after the status line.
            "md0 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks [2/2] [UU]\n",
            // Too few fields in the array line.
            "md0 :\n      1 blocks\n\n\n",
            // No member counts.
            "md0 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks super 1.2\n      \n\n",
            // Size not a number.
            "md0 : active raid1 sdb1[1] sda1[0]\n      many blocks [2/2] [UU]\n      \n\n",
            // A count past i64.
            "md0 : active raid1 sda1[0]\n      1 blocks [99999999999999999999/1] [U]\n      \n\n",
            // A progress line without its figures.
            "md0 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks [2/2] [UU]\n      resync = 3%\n\n",
            // A finish time too large for a float.
            "md0 : active raid1 sdb1[1] sda1[0]\n      1 blocks [2/2] [UU]\n      resync = 1% (1/2) finish=1e999min speed=1K/sec\n\n",
        ];
        for text in cases {
            let error = parse_mdstat(text).unwrap_err();
            assert!(
                error.contains("md0") || error.contains("fields"),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn families_are_node_exporters() {
        let arrays = parse_mdstat(CLEAN).unwrap();
        let families = md_families(&arrays[3..]);
        let names: Vec<&str> = families.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "node_md_disks_required",
                "node_md_disks",
                "node_md_state",
                "node_md_blocks",
                "node_md_blocks_synced"
            ]
        );
        let state = &families[2];
        let one_hot: Vec<(&str, f64)> = state
            .samples
            .iter()
            .map(|s| (s.labels[1].1.as_str(), s.value))
            .collect();
        assert_eq!(
            one_hot,
            [
                ("active", 1.0),
                ("inactive", 0.0),
                ("recovering", 0.0),
                ("resync", 0.0),
                ("check", 0.0)
            ]
        );
        assert_eq!(families[1].samples.len(), 3);
    }
}
