//! Every committed fuzz corpus file through its target, on every test run:
//! what the fuzzer once found interesting must keep passing, and a target
//! without a corpus folder, or a folder without a target, is a mistake.

use std::path::PathBuf;
use std::time::{Duration, Instant};

#[test]
fn every_corpus_input_passes_its_target() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, target) in outrider::fuzzing::TARGETS {
        let folder = corpus.join(name);
        let mut inputs = 0;
        for entry in
            std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let start = Instant::now();
            target(&data);
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{} took {:?}",
                path.display(),
                start.elapsed()
            );
            inputs += 1;
        }
        assert!(inputs > 0, "{name}: no corpus in {}", folder.display());
    }
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            outrider::fuzzing::target(&name).is_some(),
            "fuzz/corpus/{name} has no target in src/fuzzing.rs"
        );
    }
}

/// The binary push decoders on every prefix of their corpus (a body cut
/// short anywhere) and with each byte flipped: each is answered, none
/// panics. The fuzzer goes further; this runs on every `cargo test`.
#[test]
fn binary_push_bodies_cut_or_flipped_anywhere_are_answered() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for name in ["pushgateway_protobuf", "otlp"] {
        let target = outrider::fuzzing::target(name).expect("a target");
        for entry in std::fs::read_dir(corpus.join(name)).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            for end in 0..data.len() {
                target(&data[..end]);
            }
            for at in 0..data.len() {
                let mut flipped = data.clone();
                flipped[at] ^= 0xff;
                target(&flipped);
            }
        }
    }
}
