//! The pushed state on disk: `push.log`, every accepted op as a record
//! (length, CRC-32, postcard of sequence number and op), and
//! `push.snapshot`, the whole store as of a sequence number, written
//! atomically (temporary file, fsync, rename, fsync of the directory).
//!
//! A pusher hears "accepted" only after its record is synced; concurrent
//! pushers share a sync. Compaction writes the snapshot first and then
//! empties the log, so a crash between the two replays nothing twice: the
//! records the snapshot holds have sequence numbers it already covers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::{Group, GroupKey, Op};

const LOG_FILE: &str = "push.log";
const SNAPSHOT_FILE: &str = "push.snapshot";
const SNAPSHOT_MAGIC: &[u8; 8] = b"ORPUSH01";
/// A record larger than this cannot have been written by this program.
const MAX_RECORD: usize = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} is not a folder: outrider keeps pushed metrics in <storage.path>/push")]
    NotAFolder { path: PathBuf },
}

#[derive(Serialize, Deserialize)]
struct Record<'a> {
    seq: u64,
    op: std::borrow::Cow<'a, Op>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    last_seq: u64,
    groups: Vec<(GroupKey, Group)>,
}

/// The log, the ops to replay, and the snapshot's groups they apply over.
pub type Opened = (Log, Vec<Op>, Vec<(GroupKey, Group)>);

#[derive(Serialize)]
struct SnapshotRef<'a> {
    last_seq: u64,
    groups: Vec<(&'a GroupKey, &'a Group)>,
}

/// Computes the CRC-32 of what passes through to the file.
struct HashingWriter<W> {
    inner: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct Writer {
    file: File,
    seq: u64,
    /// Bytes ever appended, across compactions: a position that only grows.
    logical_end: u64,
}

pub struct Log {
    dir: PathBuf,
    writer: Mutex<Writer>,
    /// The same file, for syncs that run while others append.
    sync_file: File,
    synced: Mutex<u64>,
    appended: AtomicU64,
    /// Everything up to here is in the snapshot.
    compacted_through: AtomicU64,
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Log {
    /// Opens (or creates) the log in `dir`; returns it with the ops to
    /// replay over the snapshot's groups.
    pub fn open(dir: &Path) -> Result<Opened, LogError> {
        if dir.exists() && !dir.is_dir() {
            return Err(LogError::NotAFolder {
                path: dir.to_owned(),
            });
        }
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let snapshot = match fs::read(&snapshot_path) {
            Ok(bytes) => decode_snapshot(&bytes, &snapshot_path)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Snapshot {
                last_seq: 0,
                groups: Vec::new(),
            },
            Err(e) => return Err(io_error(&snapshot_path)(e)),
        };
        let log_path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_error(&log_path))?;
        let (records, good_len) = decode_records(&bytes);
        if good_len < bytes.len() {
            // Only the tail can be torn: it was being written when the
            // process died, so it was never acknowledged.
            warn!(
                path = %log_path.display(),
                dropped_bytes = bytes.len() - good_len,
                "push log ends in an incomplete record; it is dropped"
            );
            file.set_len(good_len as u64).map_err(io_error(&log_path))?;
            file.sync_all().map_err(io_error(&log_path))?;
        }
        let mut seq = snapshot.last_seq;
        let mut ops = Vec::new();
        for (record_seq, op) in records {
            if record_seq > snapshot.last_seq {
                ops.push(op);
            }
            seq = seq.max(record_seq);
        }
        let sync_file = file.try_clone().map_err(io_error(&log_path))?;
        let log = Log {
            dir: dir.to_owned(),
            writer: Mutex::new(Writer {
                file,
                seq,
                logical_end: good_len as u64,
            }),
            sync_file,
            synced: Mutex::new(good_len as u64),
            appended: AtomicU64::new(good_len as u64),
            compacted_through: AtomicU64::new(0),
        };
        Ok((log, ops, snapshot.groups))
    }

    pub fn dir(&self) -> &PathBuf {
        &self.dir
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `op` (not yet synced); returns the position to sync to.
    pub fn append(&self, op: &Op) -> Result<u64, LogError> {
        let mut writer = self.writer();
        let seq = writer.seq + 1;
        let payload = postcard::to_stdvec(&Record {
            seq,
            op: std::borrow::Cow::Borrowed(op),
        })
        .map_err(|e| LogError::Corrupt {
            path: self.dir.join(LOG_FILE),
            reason: format!("encoding: {e}"),
        })?;
        let mut record = Vec::with_capacity(payload.len() + 8);
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        let path = self.dir.join(LOG_FILE);
        if let Err(e) = writer.file.write_all(&record) {
            // Cut off whatever part was written, so the next record starts
            // on a boundary.
            let _ = writer
                .file
                .set_len(writer.logical_end - self.compacted_through_file_base());
            return Err(io_error(&path)(e));
        }
        writer.seq = seq;
        writer.logical_end += record.len() as u64;
        self.appended.store(writer.logical_end, Ordering::Release);
        Ok(writer.logical_end)
    }

    /// Bytes in the log since the last compaction.
    pub fn pending_bytes(&self) -> u64 {
        self.appended.load(Ordering::Acquire) - self.compacted_through.load(Ordering::Acquire)
    }

    /// Where the current file starts in the logical positions.
    fn compacted_through_file_base(&self) -> u64 {
        self.compacted_through.load(Ordering::Acquire)
    }

    /// Returns once everything up to `position` is on disk.
    pub fn sync_to(&self, position: u64) -> Result<(), LogError> {
        if position <= self.compacted_through.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= position {
            return Ok(());
        }
        // Whatever was appended by now goes with this sync.
        let target = self.appended.load(Ordering::Acquire);
        self.sync_file
            .sync_data()
            .map_err(io_error(&self.dir.join(LOG_FILE)))?;
        *synced = target;
        Ok(())
    }

    /// Writes the snapshot of `groups` and empties the log. The caller
    /// holds the store's lock, so nothing is appended meanwhile.
    pub fn compact(
        &self,
        groups: &std::collections::BTreeMap<GroupKey, Group>,
    ) -> Result<(), LogError> {
        let writer = self.writer();
        // Borrowed and streamed to the file: a copy of a store of 100k
        // series would double the memory for a moment, and leave it behind.
        let snapshot = SnapshotRef {
            last_seq: writer.seq,
            groups: groups.iter().collect(),
        };
        let path = self.dir.join(SNAPSHOT_FILE);
        let temporary = self.dir.join(format!("{SNAPSHOT_FILE}.tmp"));
        let file = File::create(&temporary).map_err(io_error(&temporary))?;
        // The checksum goes before the payload, so it is written as zeros
        // first and filled in once the payload has streamed past.
        (&file)
            .write_all(SNAPSHOT_MAGIC)
            .and_then(|()| (&file).write_all(&[0; 4]))
            .map_err(io_error(&temporary))?;
        let crc = {
            let mut hashing = HashingWriter {
                inner: io::BufWriter::new(&file),
                hasher: crc32fast::Hasher::new(),
            };
            postcard::to_io(&snapshot, &mut hashing).map_err(|e| LogError::Corrupt {
                path: temporary.clone(),
                reason: format!("encoding: {e}"),
            })?;
            hashing.flush().map_err(io_error(&temporary))?;
            hashing.hasher.clone().finalize()
        };
        (&file)
            .seek(SeekFrom::Start(SNAPSHOT_MAGIC.len() as u64))
            .and_then(|_| (&file).write_all(&crc.to_le_bytes()))
            .and_then(|()| file.sync_all())
            .map_err(io_error(&temporary))?;
        drop(file);
        fs::rename(&temporary, &path).map_err(io_error(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&self.dir))?;
        // The snapshot holds everything now; a crash before the truncation
        // below replays nothing twice (the sequence numbers say so).
        let log_path = self.dir.join(LOG_FILE);
        writer
            .file
            .set_len(0)
            .and_then(|()| writer.file.sync_all())
            .map_err(io_error(&log_path))?;
        self.compacted_through
            .store(writer.logical_end, Ordering::Release);
        Ok(())
    }
}

fn decode_snapshot(bytes: &[u8], path: &Path) -> Result<Snapshot, LogError> {
    let corrupt = |reason: &str| LogError::Corrupt {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = bytes
        .strip_prefix(SNAPSHOT_MAGIC.as_slice())
        .ok_or_else(|| corrupt("not a push snapshot (bad magic)"))?;
    if rest.len() < 4 {
        return Err(corrupt("truncated"));
    }
    let (crc, payload) = rest.split_at(4);
    if crc32fast::hash(payload).to_le_bytes() != crc {
        return Err(corrupt("checksum mismatch"));
    }
    postcard::from_bytes(payload).map_err(|e| corrupt(&e.to_string()))
}

/// The records that decode, and how many bytes they take.
fn decode_records(bytes: &[u8]) -> (Vec<(u64, Op)>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= 8 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        if len > MAX_RECORD || bytes.len() - at - 8 < len {
            break;
        }
        let payload = &bytes[at + 8..at + 8 + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Ok(record) = postcard::from_bytes::<Record>(payload) else {
            break;
        };
        records.push((record.seq, record.op.into_owned()));
        at += 8 + len;
    }
    (records, at)
}

/// The one thread that syncs the log: it takes every wait queued while it
/// synced last, syncs once for all of them, and answers each. A push never
/// holds a runtime thread while the disk works.
pub struct Syncer {
    requests: std::sync::mpsc::Sender<(u64, tokio::sync::oneshot::Sender<Result<(), String>>)>,
}

impl Syncer {
    pub fn start(log: std::sync::Arc<Log>) -> Syncer {
        let (requests, queue) =
            std::sync::mpsc::channel::<(u64, tokio::sync::oneshot::Sender<Result<(), String>>)>();
        // Ends when the store (and with it the sender) is dropped.
        std::thread::Builder::new()
            .name("outrider-push-sync".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(queue.try_iter());
                    let furthest = waiting.iter().map(|(p, _)| *p).max().unwrap_or(0);
                    let result = log.sync_to(furthest).map_err(|e| e.to_string());
                    for (_, reply) in waiting {
                        let _ = reply.send(result.clone());
                    }
                }
            })
            .expect("starting the push sync thread");
        Syncer { requests }
    }

    /// Completes once the log is synced up to `position`.
    pub async fn wait(&self, position: u64) -> Result<(), String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send((position, reply))
            .map_err(|_| "the sync thread has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the sync thread has stopped".to_owned())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delete(job: &str) -> Op {
        Op::Delete {
            group: vec![("job".into(), job.into())],
        }
    }

    #[test]
    fn appended_ops_come_back_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, ops, _) = Log::open(dir.path()).unwrap();
            assert!(ops.is_empty());
            let end = log.append(&delete("a")).unwrap();
            log.append(&delete("b")).unwrap();
            log.sync_to(end).unwrap();
        }
        let path = dir.path().join(LOG_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let full = bytes.len();
        bytes.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        fs::write(&path, &bytes).unwrap();
        let (log, ops, _) = Log::open(dir.path()).unwrap();
        assert_eq!(ops, vec![delete("a"), delete("b")]);
        assert_eq!(fs::metadata(&path).unwrap().len() as usize, full);
        // Appends continue after the cut.
        log.append(&delete("c")).unwrap();
        drop(log);
        let (_, ops, _) = Log::open(dir.path()).unwrap();
        assert_eq!(ops.len(), 3);
    }

    #[test]
    fn compaction_replays_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _, _) = Log::open(dir.path()).unwrap();
        log.append(&delete("a")).unwrap();
        let before_compaction = fs::read(dir.path().join(LOG_FILE)).unwrap();
        let mut groups = std::collections::BTreeMap::new();
        groups.insert(vec![("job".into(), "kept".into())], Group::default());
        log.compact(&groups).unwrap();
        let end = log.append(&delete("b")).unwrap();
        log.sync_to(end).unwrap();
        drop(log);
        let (_, ops, restored) = Log::open(dir.path()).unwrap();
        assert_eq!(ops, vec![delete("b")]);
        assert_eq!(restored.len(), 1);
        // A crash after the snapshot but before the truncation leaves the
        // old records in the log: they are skipped by sequence number.
        let mut log_bytes = before_compaction;
        log_bytes.extend(fs::read(dir.path().join(LOG_FILE)).unwrap());
        fs::write(dir.path().join(LOG_FILE), log_bytes).unwrap();
        let (_, ops, _) = Log::open(dir.path()).unwrap();
        assert_eq!(ops, vec![delete("b")]);
    }

    #[test]
    fn a_damaged_snapshot_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SNAPSHOT_FILE), b"ORPUSH01\0\0\0\0garbage").unwrap();
        let error = Log::open(dir.path()).err().unwrap().to_string();
        assert!(error.contains("checksum"), "{error}");
    }
}
