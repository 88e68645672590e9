//! The storage folder (`storage.path`): made and locked at start, before
//! anything is restored from it, so a folder that cannot hold state is
//! refused at once with what is wrong, and two outriders never write the
//! same snapshots and log (each would replay, truncate and overwrite the
//! other's). The lock is an advisory `flock` on `<storage.path>/lock`, as
//! Prometheus locks its data directory; the kernel drops it when the
//! process ends, so a kill -9 leaves nothing to clean up.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

pub const LOCK_FILE: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage.path {path}: cannot create the folder: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error(
        "storage.path {path} is not a folder: point storage.path at a folder (it is created when missing)"
    )]
    NotAFolder { path: PathBuf },
    #[error("storage.path {path}: cannot open the lock file {lock}: {source}")]
    LockFile {
        path: PathBuf,
        lock: PathBuf,
        source: io::Error,
    },
    #[error(
        "storage.path {path} is in use by another outrider{holder}: give each instance its own storage.path"
    )]
    InUse { path: PathBuf, holder: String },
}

/// Held for as long as the process uses the folder.
#[derive(Debug)]
pub struct StorageLock {
    _file: File,
}

/// Makes `path` if needed, checks it is a folder outrider can write, and
/// takes its lock.
pub fn lock(path: &Path) -> Result<StorageLock, StorageError> {
    if path.exists() && !path.is_dir() {
        return Err(StorageError::NotAFolder {
            path: path.to_owned(),
        });
    }
    fs::create_dir_all(path).map_err(|source| StorageError::Create {
        path: path.to_owned(),
        source,
    })?;
    let lock = path.join(LOCK_FILE);
    let lock_error = |source| StorageError::LockFile {
        path: path.to_owned(),
        lock: lock.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .map_err(lock_error)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim().parse::<u32>() {
                Ok(pid) => format!(" (pid {pid})"),
                Err(_) => String::new(),
            };
            return Err(StorageError::InUse {
                path: path.to_owned(),
                holder,
            });
        }
        Err(errno) => return Err(lock_error(errno.into())),
    }
    // The pid is for the message a second instance prints; the lock itself
    // is the flock.
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(lock_error)?;
    Ok(StorageLock { _file: file })
}

/// Moves a damaged state file aside, named for the time
/// (`<file>.damaged-<unix seconds>.<nanoseconds>`), so whoever looks into
/// the loss has the bytes. A rename: it needs no space on a full disk.
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(
        ".damaged-{}.{:09}",
        now.as_secs(),
        now.subsec_nanos()
    ));
    let aside = PathBuf::from(aside);
    fs::rename(path, &aside)?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        let error = lock(dir.path()).unwrap_err().to_string();
        assert!(error.contains("in use by another outrider"), "{error}");
        assert!(
            error.contains(&format!("(pid {})", std::process::id())),
            "{error}"
        );
        drop(first);
        lock(dir.path()).unwrap();
    }

    #[test]
    fn a_missing_folder_is_made_and_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let _held = lock(&nested).unwrap();
        assert!(nested.join(LOCK_FILE).is_file());

        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let error = lock(&file).unwrap_err().to_string();
        assert!(error.contains("is not a folder"), "{error}");
        let error = lock(&file.join("below")).unwrap_err().to_string();
        assert!(error.contains("cannot create the folder"), "{error}");
    }
}
