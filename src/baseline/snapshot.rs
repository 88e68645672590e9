//! Baselines on disk, so a restart (even after kill -9) continues where the
//! last snapshot left off.
//!
//! Format, version 15: the magic `OUTRIDRB`, then little-endian u32 version,
//! u64 payload length and u32 CRC-32 of the payload, then the payload (the
//! tracked series, postcard-encoded). A write goes to `<file>.tmp`, is fsynced
//! and renamed over the file, and the directory is fsynced: a reader sees the
//! old snapshot or the new one, never half of one.
//!
//! Version 1 lacked the anomaly score's state, version 2 kept a histogram
//! of surprises where later versions keep the anomaly likelihood, version
//! 3 lacked the largest recent excursions the spike test reads, version 4
//! the weeks in which each hour of the week was seen, version 5 the usual
//! interval between samples, version 6 the likelihood's largest recent
//! run, version 7 held each hour of the week as a value where later
//! versions hold its offset from the profile's level, version 8 lacked
//! the spike test's incident under way, version 9 the likelihood's
//! reading under way, version 10 how long its values lasted, version 11
//! the records of the reading under way kept apart, version 12 whether a
//! transit was under way, version 13 counted each hour of the week's
//! samples in whole numbers, where later versions count a series scraped
//! every 37.5 s or more often in shares of a 5-minute reading, and version
//! 14 lacked the highest score given out lately under the firing level;
//! they are refused like any other version, so baselines start afresh (or
//! from Prometheus's history, with `baselines.warm_start`) once after the
//! upgrade.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Tracked;

const MAGIC: &[u8; 8] = b"OUTRIDRB";
pub const VERSION: u32 = 15;
const HEADER_BYTES: usize = 8 + 4 + 8 + 4;
pub const FILE_NAME: &str = "baselines.snapshot";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a baseline snapshot (bad magic)")]
    NotASnapshot { path: PathBuf },
    #[error(
        "{path}: snapshot version {found} is not supported (this outrider reads version {VERSION})"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("{path}: truncated: {found} payload bytes of {expected}")]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path}: corrupt: checksum mismatch")]
    Checksum { path: PathBuf },
    #[error("{path}: corrupt: {reason}")]
    Decode { path: PathBuf, reason: String },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    }
}

pub fn encode(series: &[&Tracked]) -> Vec<u8> {
    let payload = postcard::to_allocvec(series).expect("encoding to memory cannot fail");
    let mut out = Vec::with_capacity(HEADER_BYTES + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

pub fn decode(bytes: &[u8], path: &Path) -> Result<Vec<Tracked>, SnapshotError> {
    let path = path.to_owned();
    if bytes.len() < HEADER_BYTES {
        if bytes.starts_with(&MAGIC[..bytes.len().min(8)]) {
            return Err(SnapshotError::Truncated {
                path,
                expected: 0,
                found: bytes.len() as u64,
            });
        }
        return Err(SnapshotError::NotASnapshot { path });
    }
    if &bytes[..8] != MAGIC {
        return Err(SnapshotError::NotASnapshot { path });
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let version = word(8);
    if version != VERSION {
        return Err(SnapshotError::Version {
            path,
            found: version,
        });
    }
    let expected = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let checksum = word(20);
    let payload = &bytes[HEADER_BYTES..];
    if payload.len() as u64 != expected {
        return Err(SnapshotError::Truncated {
            path,
            expected,
            found: payload.len() as u64,
        });
    }
    if crc32fast::hash(payload) != checksum {
        return Err(SnapshotError::Checksum { path });
    }
    postcard::from_bytes(payload).map_err(|e| SnapshotError::Decode {
        path,
        reason: e.to_string(),
    })
}

/// Writes the snapshot atomically into `dir`, creating the directory.
pub fn write(dir: &Path, series: &[&Tracked]) -> Result<(), SnapshotError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let path = dir.join(FILE_NAME);
    let temporary = dir.join(format!("{FILE_NAME}.tmp"));
    let bytes = encode(series);
    let mut file = File::create(&temporary).map_err(io_error(&temporary))?;
    file.write_all(&bytes).map_err(io_error(&temporary))?;
    file.sync_all().map_err(io_error(&temporary))?;
    drop(file);
    fs::rename(&temporary, &path).map_err(io_error(&path))?;
    // The rename is durable only once the directory entry is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    Ok(())
}

/// Reads the snapshot in `dir`; Ok(None) when there is none yet.
pub fn read(dir: &Path) -> Result<Option<Vec<Tracked>>, SnapshotError> {
    let path = dir.join(FILE_NAME);
    match fs::read(&path) {
        Ok(bytes) => decode(&bytes, &path).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{CounterReading, Previous, SeriesState, Settings};

    fn tracked(name: &str) -> Tracked {
        let settings = Settings {
            seasonal: true,
            ..Settings::default()
        };
        let mut state = SeriesState::new(&settings);
        for i in 0..30 {
            state.update(f64::from(i), 1000.0 + 15.0 * f64::from(i), &settings);
        }
        Tracked {
            name: name.into(),
            labels: vec![("device".into(), "eth0".into())],
            track: 0,
            previous: Some(Previous::Counter(CounterReading {
                value: 5.0,
                time: 1.0,
            })),
            state,
            last_seen: 1450.0,
            exported: None,
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let series = [tracked("a"), tracked("b")];
        write(dir.path(), &series.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(read(dir.path()).unwrap().unwrap(), series.to_vec());
        assert!(!dir.path().join("baselines.snapshot.tmp").exists());
    }

    #[test]
    fn every_kind_of_damage_is_an_error_not_a_panic() {
        let path = Path::new("x");
        let good = encode(&[&tracked("a")]);
        for cut in [0, 5, 8, 20, 24, good.len() / 2, good.len() - 1] {
            assert!(decode(&good[..cut], path).is_err(), "cut at {cut}");
        }
        let mut flipped = good.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0xff;
        assert!(matches!(
            decode(&flipped, path),
            Err(SnapshotError::Checksum { .. })
        ));
        let mut old = good.clone();
        old[8] = 1;
        assert!(matches!(
            decode(&old, path),
            Err(SnapshotError::Version { found: 1, .. })
        ));
        // Version 3 lacked the spike test's excursions.
        let mut previous = good.clone();
        previous[8] = 3;
        assert!(matches!(
            decode(&previous, path),
            Err(SnapshotError::Version { found: 3, .. })
        ));
        // Version 14 lacked the score's pulse under the firing level.
        let mut last = good.clone();
        last[8] = 14;
        assert!(matches!(
            decode(&last, path),
            Err(SnapshotError::Version { found: 14, .. })
        ));
        let mut version = good.clone();
        version[8] = 16;
        assert!(matches!(
            decode(&version, path),
            Err(SnapshotError::Version { found: 16, .. })
        ));
        assert!(matches!(
            decode(b"hello world, not a snapshot at all", path),
            Err(SnapshotError::NotASnapshot { .. })
        ));
    }
}
