//! Property tests for the /proc/mdstat parser: text made of mdstat's own
//! words in any order never panics it, and arrays written in the kernel's
//! layout read back with their members, size, sync progress and state.

use outrider::collect::mdadm::{ActivityState, md_families, parse_mdstat};
use proptest::prelude::*;

/// The words and marks /proc/mdstat is made of, and some it never holds.
const WORDS: &[&str] = &[
    "md0",
    ":",
    "active",
    "inactive",
    "(auto-read-only)",
    "raid0",
    "raid1",
    "raid5",
    "raid10",
    "linear",
    "sda1[0]",
    "sdb1[1](F)",
    "sdc1[2](S)",
    "[",
    "]",
    "(F)",
    "(S)",
    "1046528",
    "blocks",
    "super",
    "1.2",
    "[2/1]",
    "[4/4]",
    "[99999999999999999999/1]",
    "[U_]",
    "[UUUU]",
    "[==>....]",
    "recovery",
    "resync",
    "check",
    "reshape",
    "=",
    "12.5%",
    "%",
    "(1/2)",
    "(99999999999999999999/2)",
    "finish=1.2min",
    "finish=1e999min",
    "finish=min",
    "speed=100K/sec",
    "speed=K",
    "resync=DELAYED",
    "resync=PENDING",
    "bitmap:",
    "Personalities",
    "unused",
    "-5",
    "\t",
    "é",
];

fn mdstat_like_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(""), Just("      "), Just("md1 : "), Just("\t")],
        prop::collection::vec(prop::sample::select(WORDS), 0..10),
    )
        .prop_map(|(start, words)| format!("{start}{}", words.join(" ")))
}

/// One redundant array as a generator draws it.
#[derive(Clone, Debug)]
struct Array {
    level: &'static str,
    active: usize,
    down: usize,
    failed: usize,
    spare: usize,
    blocks: u64,
    sync: Sync,
    bitmap: bool,
}

#[derive(Clone, Debug)]
enum Sync {
    None,
    Running(&'static str, u64),
    Waiting(&'static str),
}

fn array() -> impl Strategy<Value = Array> {
    (
        prop::sample::select(&["raid1", "raid4", "raid5", "raid6", "raid10"][..]),
        1usize..8,
        0usize..3,
        0usize..3,
        0usize..3,
        1u64..1 << 40,
        0u8..6,
        0.0f64..=1.0,
        any::<bool>(),
    )
        .prop_map(
            |(level, active, down, failed, spare, blocks, sync, done, bitmap)| {
                let synced = (blocks as f64 * done) as u64;
                let sync = match sync {
                    0 => Sync::None,
                    1 => Sync::Running("recovery", synced),
                    2 => Sync::Running("resync", synced),
                    3 => Sync::Running("check", synced),
                    4 => Sync::Waiting("DELAYED"),
                    _ => Sync::Waiting("PENDING"),
                };
                Array {
                    level,
                    active,
                    down,
                    failed,
                    spare,
                    blocks,
                    sync,
                    bitmap,
                }
            },
        )
}

/// An array in the kernel's layout (md.c's md_seq_show): the array line, the
/// size and member counts, the sync progress, the bitmap, a closing line.
fn render(index: usize, a: &Array) -> String {
    let mut members = Vec::new();
    let mut slot = 0;
    for (count, mark) in [(a.active, ""), (a.failed, "(F)"), (a.spare, "(S)")] {
        for _ in 0..count {
            members.push(format!("sd{slot}1[{slot}]{mark}"));
            slot += 1;
        }
    }
    let mut text = format!(
        "md{index} : active {} {}\n      {} blocks super 1.2 [{}/{}] [{}{}]\n",
        a.level,
        members.join(" "),
        a.blocks,
        a.active + a.down,
        a.active,
        "U".repeat(a.active),
        "_".repeat(a.down),
    );
    match &a.sync {
        Sync::None => {}
        Sync::Running(kind, synced) => {
            let percent = *synced as f64 * 100.0 / a.blocks as f64;
            text.push_str(&format!(
                "      [==>..................]  {kind} = {percent:.1}% ({synced}/{}) finish=12.3min speed=4567K/sec\n",
                a.blocks
            ));
        }
        Sync::Waiting(why) => text.push_str(&format!("      \tresync={why}\n")),
    }
    if a.bitmap {
        text.push_str("      bitmap: 1/8 pages [4KB], 65536KB chunk\n");
    }
    text.push_str("      \n");
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mdstat_like_text_never_panics(lines in prop::collection::vec(mdstat_like_line(), 0..14)) {
        let text = lines.join("\n");
        if let Ok(arrays) = parse_mdstat(&text) {
            // Whatever was read, every array gets its full set of series,
            // with at most one state set.
            let [required, disks, state, blocks, synced] = md_families(&arrays);
            let n = arrays.len();
            prop_assert_eq!(
                [required.samples.len(), disks.samples.len(), state.samples.len(), blocks.samples.len(), synced.samples.len()],
                [n, 3 * n, 5 * n, n, n]
            );
            for states in state.samples.chunks(5) {
                prop_assert!(states.iter().map(|s| s.value).sum::<f64>() <= 1.0);
            }
        }
    }

    #[test]
    fn arrays_in_the_kernels_layout_read_back(arrays in prop::collection::vec(array(), 0..5)) {
        let mut text = "Personalities : [raid1] [raid6] [raid5] [raid4] [raid10]\n".to_owned();
        for (index, a) in arrays.iter().enumerate() {
            text.push_str(&render(index, a));
        }
        text.push_str("unused devices: <none>\n");
        let parsed = parse_mdstat(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.len(), arrays.len());
        for (index, (a, p)) in arrays.iter().zip(&parsed).enumerate() {
            prop_assert_eq!(&p.name, &format!("md{index}"));
            prop_assert_eq!(p.disks_active, a.active as i64);
            prop_assert_eq!(p.disks_required, (a.active + a.down) as i64);
            prop_assert_eq!(p.disks_down, a.down as i64);
            prop_assert_eq!(p.disks_failed, a.failed as i64);
            prop_assert_eq!(p.disks_spare, a.spare as i64);
            prop_assert_eq!(p.blocks, a.blocks as i64);
            let (state, synced) = match &a.sync {
                Sync::None => (ActivityState::Active, a.blocks),
                Sync::Running(kind, synced) => (
                    match *kind {
                        "recovery" => ActivityState::Recovering,
                        "check" => ActivityState::Checking,
                        _ => ActivityState::Resyncing,
                    },
                    *synced,
                ),
                Sync::Waiting(_) => (ActivityState::Resyncing, 0),
            };
            prop_assert_eq!(&p.state, &state);
            prop_assert_eq!(p.blocks_synced, synced as i64);
        }
    }
}
