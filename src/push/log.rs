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
use tracing::{error, warn};

use super::{Group, GroupKey, Op, PushError};

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

/// Computes the CRC-32 of what passes through to the file, and keeps the
/// first write error: the serializer reports any failure as a full
/// buffer, which would hide a full disk.
struct HashingWriter<W> {
    inner: W,
    hasher: crc32fast::Hasher,
    failure: Option<io::Error>,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.inner.write(bytes) {
            Ok(written) => {
                self.hasher.update(&bytes[..written]);
                Ok(written)
            }
            Err(e) => {
                let kept = io::Error::new(e.kind(), e.to_string());
                self.failure.get_or_insert(e);
                Err(kept)
            }
        }
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
    damage: Damage,
}

/// What damage on disk cost at the start.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Damage {
    /// Acknowledged records of the log that were damaged and skipped.
    pub log_records_lost: u64,
    /// Whether the snapshot was damaged and set aside (its groups lost).
    pub snapshot_set_aside: bool,
}

/// Moves a damaged file aside and names where, or says why it could not:
/// either way the start goes on, since what holds is already read.
fn set_aside_or_say(path: &Path) -> String {
    match crate::storage::set_aside(path) {
        Ok(aside) => aside.display().to_string(),
        Err(e) => format!("none: it could not be moved aside: {e}"),
    }
}

/// Replaces the log with its good records, atomically, and opens it for
/// appending.
fn rewrite_log(dir: &Path, bytes: &[u8], decoded: &Decoded) -> Result<File, LogError> {
    let log_path = dir.join(LOG_FILE);
    let temporary = dir.join(format!("{LOG_FILE}.tmp"));
    let mut kept = Vec::with_capacity(bytes.len());
    for (seq, op) in &decoded.records {
        kept.extend(encode_record(*seq, op).map_err(|reason| LogError::Corrupt {
            path: log_path.clone(),
            reason,
        })?);
    }
    fs::write(&temporary, &kept)
        .and_then(|()| File::open(&temporary)?.sync_all())
        .and_then(|()| fs::rename(&temporary, &log_path))
        .and_then(|()| File::open(dir)?.sync_all())
        .map_err(io_error(&temporary))?;
    OpenOptions::new()
        .read(true)
        .append(true)
        .open(&log_path)
        .map_err(io_error(&log_path))
}

/// One record: length, CRC-32 of the payload, and the payload.
fn encode_record(seq: u64, op: &Op) -> Result<Vec<u8>, String> {
    let payload = postcard::to_stdvec(&Record {
        seq,
        op: std::borrow::Cow::Borrowed(op),
    })
    .map_err(|e| format!("encoding: {e}"))?;
    let mut record = Vec::with_capacity(payload.len() + 8);
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    Ok(record)
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
        let mut damage = Damage::default();
        let empty = || Snapshot {
            last_seq: 0,
            groups: Vec::new(),
        };
        let snapshot = match fs::read(&snapshot_path) {
            Ok(bytes) => match decode_snapshot(&bytes, &snapshot_path) {
                Ok(snapshot) => snapshot,
                // Damage is set aside, as in the log and the baselines: a
                // sidecar that refused to start would take its pod's
                // readiness with it. What cannot be read at all (a
                // permission, a folder) stops the start below.
                Err(e) => {
                    // Moved before the message: a macro's fields are only
                    // evaluated when the level is on.
                    let aside = set_aside_or_say(&snapshot_path);
                    error!(
                        error = %e,
                        damaged_copy = %aside,
                        "push snapshot damaged: the groups it held are lost; the log's pushes are replayed"
                    );
                    damage.snapshot_set_aside = true;
                    empty()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => empty(),
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
        let decoded = decode_records(&bytes, snapshot.last_seq);
        let good_len = if decoded.lost > 0 {
            // Keep the damaged file for whoever wants to look into it, and
            // carry on with a log of the records that hold.
            let aside = set_aside_or_say(&log_path);
            error!(
                path = %log_path.display(),
                lost_records = decoded.lost,
                kept_records = decoded.records.len(),
                damaged_copy = %aside,
                "push log damaged: the damaged records are skipped and every later record whose checksum holds is kept"
            );
            file = rewrite_log(dir, &bytes, &decoded)?;
            damage.log_records_lost = decoded.lost;
            file.metadata().map_err(io_error(&log_path))?.len() as usize
        } else {
            if decoded.good_len < bytes.len() {
                // Only the tail is torn: it was being written when the
                // process died, so it was never acknowledged.
                warn!(
                    path = %log_path.display(),
                    dropped_bytes = bytes.len() - decoded.good_len,
                    "push log ends in an incomplete record; it is dropped"
                );
                file.set_len(decoded.good_len as u64)
                    .map_err(io_error(&log_path))?;
                file.sync_all().map_err(io_error(&log_path))?;
            }
            decoded.good_len
        };
        let records = decoded.records;
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
            damage,
        };
        Ok((log, ops, snapshot.groups))
    }

    pub fn dir(&self) -> &PathBuf {
        &self.dir
    }

    /// What damage on disk cost when the log was opened.
    pub fn damage(&self) -> Damage {
        self.damage
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `op` (not yet synced); returns the position to sync to.
    pub fn append(&self, op: &Op) -> Result<u64, LogError> {
        let mut writer = self.writer();
        let seq = writer.seq + 1;
        let record = encode_record(seq, op).map_err(|reason| LogError::Corrupt {
            path: self.dir.join(LOG_FILE),
            reason,
        })?;
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
        if let Err(e) = write_snapshot(&temporary, &snapshot) {
            // A partial snapshot left behind would hold the disk space that
            // ran out, and the next compaction would fail the same way.
            let _ = fs::remove_file(&temporary);
            return Err(e);
        }
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

/// Streams `snapshot` into `temporary` and syncs it.
fn write_snapshot(temporary: &Path, snapshot: &SnapshotRef<'_>) -> Result<(), LogError> {
    let file = File::create(temporary).map_err(io_error(temporary))?;
    // The checksum goes before the payload, so it is written as zeros
    // first and filled in once the payload has streamed past.
    (&file)
        .write_all(SNAPSHOT_MAGIC)
        .and_then(|()| (&file).write_all(&[0; 4]))
        .map_err(io_error(temporary))?;
    let crc = {
        let mut hashing = HashingWriter {
            inner: io::BufWriter::new(&file),
            hasher: crc32fast::Hasher::new(),
            failure: None,
        };
        let encoded = postcard::to_io(snapshot, &mut hashing)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let flushed = hashing.flush();
        if let Some(failure) = hashing.failure.take() {
            return Err(io_error(temporary)(failure));
        }
        encoded.map_err(|e| LogError::Corrupt {
            path: temporary.to_owned(),
            reason: format!("encoding: {e}"),
        })?;
        flushed.map_err(io_error(temporary))?;
        hashing.hasher.clone().finalize()
    };
    (&file)
        .seek(SeekFrom::Start(SNAPSHOT_MAGIC.len() as u64))
        .and_then(|_| (&file).write_all(&crc.to_le_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(io_error(temporary))
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

/// The record at `at`, with its size, if its length, contents and checksum
/// hold together. The checksum comes last: a full decode of a random
/// stretch fails within a few bytes, so a resync that tries every offset
/// hashes almost nothing.
fn record_at(bytes: &[u8], at: usize) -> Option<(u64, Op, usize)> {
    let head = bytes.get(at..at + 8)?;
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
    if len > MAX_RECORD || bytes.len() - at - 8 < len {
        return None;
    }
    let payload = &bytes[at + 8..at + 8 + len];
    let (record, rest) = postcard::take_from_bytes::<Record>(payload).ok()?;
    if !rest.is_empty() || crc32fast::hash(payload) != crc {
        return None;
    }
    Some((record.seq, record.op.into_owned(), 8 + len))
}

/// What a log's bytes hold.
#[derive(Debug, Default)]
struct Decoded {
    /// Every record whose checksum holds, in file order.
    records: Vec<(u64, Op)>,
    /// Where the last good record ends.
    good_len: usize,
    /// Records lost to damage that good records follow, counted by the
    /// gaps in their sequence numbers.
    lost: u64,
}

/// Decodes the records. A record that does not hold is skipped by
/// looking for the next one that does (with a higher sequence number), so
/// one damaged byte loses one record, not every later one. What no good
/// record follows is a torn tail when it is a record cut short (the process
/// died while writing it, before it was acknowledged) and a lost record
/// otherwise. `after_seq` is the snapshot's last sequence number, from
/// which the records lost before the first good one are counted.
fn decode_records(bytes: &[u8], after_seq: u64) -> Decoded {
    let mut decoded = Decoded::default();
    let mut at = 0;
    let mut last_seq: Option<u64> = None;
    while at < bytes.len() {
        if let Some((seq, op, size)) = record_at(bytes, at) {
            decoded.records.push((seq, op));
            last_seq = Some(seq);
            at += size;
            decoded.good_len = at;
            continue;
        }
        let next = (at + 1..bytes.len()).find_map(|candidate| {
            record_at(bytes, candidate)
                .filter(|(seq, _, _)| last_seq.is_none_or(|last| *seq > last))
                .map(|found| (candidate, found))
        });
        let Some((candidate, (seq, op, size))) = next else {
            if !cut_short(&bytes[at..]) {
                decoded.lost += 1;
            }
            break;
        };
        let before = last_seq.unwrap_or(after_seq);
        decoded.lost += seq.saturating_sub(before.saturating_add(1)).max(1);
        decoded.records.push((seq, op));
        last_seq = Some(seq);
        at = candidate + size;
        decoded.good_len = at;
    }
    decoded
}

/// Whether the bytes after the last good record are a record cut short by
/// a crash: a head or a payload that runs past the end, or the zeros a
/// file system leaves where a write did not land.
fn cut_short(rest: &[u8]) -> bool {
    let Some(head) = rest.get(..8) else {
        return true;
    };
    let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    len > rest.len() - 8 || rest.iter().all(|&b| b == 0)
}

type SyncReply = tokio::sync::oneshot::Sender<Result<(), PushError>>;

/// The one thread that syncs the log: it takes every wait queued while it
/// synced last, syncs once for all of them, and answers each. A push never
/// holds a runtime thread while the disk works.
pub struct Syncer {
    requests: std::sync::mpsc::Sender<(u64, SyncReply)>,
}

impl Syncer {
    pub fn start(log: std::sync::Arc<Log>) -> Syncer {
        let (requests, queue) = std::sync::mpsc::channel::<(u64, SyncReply)>();
        // Ends when the store (and with it the sender) is dropped.
        std::thread::Builder::new()
            .name("outrider-push-sync".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(queue.try_iter());
                    let furthest = waiting.iter().map(|(p, _)| *p).max().unwrap_or(0);
                    let result = log.sync_to(furthest).map_err(|e| PushError::from(&e));
                    for (_, reply) in waiting {
                        let _ = reply.send(result.clone());
                    }
                }
            })
            .expect("starting the push sync thread");
        Syncer { requests }
    }

    /// Completes once the log is synced up to `position`.
    pub async fn wait(&self, position: u64) -> Result<(), PushError> {
        let stopped = || PushError::Storage("the sync thread has stopped".to_owned());
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send((position, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
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
    fn a_damaged_snapshot_is_set_aside_and_the_log_still_replays() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, _, _) = Log::open(dir.path()).unwrap();
            let end = log.append(&delete("after-the-snapshot")).unwrap();
            log.sync_to(end).unwrap();
        }
        let damaged = b"ORPUSH01\0\0\0\0garbage";
        fs::write(dir.path().join(SNAPSHOT_FILE), damaged).unwrap();
        let (log, ops, groups) = Log::open(dir.path()).unwrap();
        assert!(groups.is_empty());
        assert_eq!(ops, vec![delete("after-the-snapshot")]);
        assert!(log.damage().snapshot_set_aside);
        assert_eq!(
            copies_set_aside(dir.path(), SNAPSHOT_FILE),
            vec![damaged.to_vec()]
        );
    }

    fn copies_set_aside(dir: &Path, file: &str) -> Vec<Vec<u8>> {
        let prefix = format!("{file}.damaged-");
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(&prefix)
            })
            .map(|p| fs::read(p).unwrap())
            .collect()
    }

    /// Ten records a..j, synced; returns the log's bytes and where each
    /// record starts.
    fn ten_records(dir: &Path) -> (Vec<u8>, Vec<usize>) {
        let (log, _, _) = Log::open(dir).unwrap();
        let mut starts = vec![0];
        for job in "abcdefghij".chars() {
            let end = log.append(&delete(&job.to_string())).unwrap();
            starts.push(end as usize);
            log.sync_to(end).unwrap();
        }
        starts.pop();
        (fs::read(dir.join(LOG_FILE)).unwrap(), starts)
    }

    fn jobs(ops: &[Op]) -> String {
        ops.iter()
            .map(|op| match op {
                Op::Delete { group } => group[0].1.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_damaged_record_in_the_middle_loses_that_record_only() {
        // A byte in a record's payload, the length field of the first
        // record (which once lost every later record), and the payload of
        // the last, a whole record and no torn tail.
        for (record, offset) in [(3, 9), (0, 1), (9, 9)] {
            let dir = tempfile::tempdir().unwrap();
            let (mut bytes, starts) = ten_records(dir.path());
            let original = bytes.clone();
            bytes[starts[record] + offset] ^= 0x5A;
            fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();

            let (log, ops, _) = Log::open(dir.path()).unwrap();
            let mut expected: String = "abcdefghij".into();
            expected.remove(record);
            assert_eq!(jobs(&ops), expected);
            assert_eq!(log.damage().log_records_lost, 1);
            assert_eq!(copies_set_aside(dir.path(), LOG_FILE), vec![bytes.clone()]);
            // The log now holds the good records, and appends follow them.
            assert!(fs::metadata(dir.path().join(LOG_FILE)).unwrap().len() < original.len() as u64);
            let end = log.append(&delete("k")).unwrap();
            log.sync_to(end).unwrap();
            drop(log);
            let (log, ops, _) = Log::open(dir.path()).unwrap();
            assert_eq!(jobs(&ops), format!("{expected}k"));
            assert_eq!(log.damage().log_records_lost, 0);
        }
    }

    #[test]
    fn a_failed_compaction_leaves_no_partial_snapshot_and_names_the_full_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _, _) = Log::open(dir.path()).unwrap();
        let end = log.append(&delete("kept")).unwrap();
        log.sync_to(end).unwrap();
        // Writes through this link land on /dev/full: "no space left".
        let temporary = dir.path().join(format!("{SNAPSHOT_FILE}.tmp"));
        std::os::unix::fs::symlink("/dev/full", &temporary).unwrap();
        let mut groups = std::collections::BTreeMap::new();
        groups.insert(vec![("job".into(), "kept".into())], Group::default());
        let error = log.compact(&groups).unwrap_err();
        assert!(
            error.to_string().contains("No space left on device"),
            "{error}"
        );
        assert!(matches!(PushError::from(&error), PushError::NoSpace(_)));
        assert!(fs::symlink_metadata(&temporary).is_err());
        assert!(!dir.path().join(SNAPSHOT_FILE).exists());
        drop(log);
        let (_, ops, _) = Log::open(dir.path()).unwrap();
        assert_eq!(ops, vec![delete("kept")]);
    }
}
