//! `node_filesystem_*` from the mount table and statfs(2).
//!
//! A hung mount (NFS, FUSE) blocks statfs forever. Each statfs runs on its own
//! thread and is waited for at most `mount_timeout`; a mount that times out is
//! reported with `node_filesystem_device_error` 1 and is not asked again until
//! its pending statfs returns, so a stuck mount costs one parked thread, never a
//! stalled tick.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tracing::{info, warn};

use super::{BuildError, CollectError, Collector, compile_regex};
use crate::metric::Family;
use crate::paths::{self, HostPaths};

/// node_exporter 1.5's defaults as Debian ships them.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Whether the collector runs.
    pub enabled: bool,
    /// Regex of mount points to leave out.
    pub mount_points_exclude: String,
    /// Regex of filesystem types to leave out.
    pub fs_types_exclude: String,
    /// How long one statfs may take before the mount is reported as stuck.
    #[serde(with = "humantime_serde")]
    pub mount_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            mount_points_exclude: DEFAULT_MOUNT_POINTS_EXCLUDE.to_owned(),
            fs_types_exclude: DEFAULT_FS_TYPES_EXCLUDE.to_owned(),
            mount_timeout: Duration::from_secs(5),
        }
    }
}

/// One line of the mount table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub read_only: bool,
}

/// Undoes the kernel's octal escapes of space, tab, newline and backslash.
pub(crate) fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let octal = &bytes[i + 1..i + 4];
            if octal.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let value = octal
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses /proc/N/mounts (fstab format).
pub fn parse_mounts(text: &str) -> Result<Vec<Mount>, String> {
    let mut mounts = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 4 {
            return Err(format!("malformed mount line {line:?}"));
        }
        mounts.push(Mount {
            device: unescape_mount_field(fields[0]),
            mount_point: unescape_mount_field(fields[1]),
            fs_type: unescape_mount_field(fields[2]),
            read_only: fields[3].split(',').any(|option| option == "ro"),
        });
    }
    Ok(mounts)
}

/// The figures of statfs(2) the metrics are made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsUsage {
    pub blocks: u64,
    pub block_size: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
}

/// statfs(2), behind a trait so that tests can make it hang.
pub trait StatFs: Send + Sync + 'static {
    fn statfs(&self, path: &Path) -> io::Result<FsUsage>;
}

pub struct SystemStatFs;

impl StatFs for SystemStatFs {
    fn statfs(&self, path: &Path) -> io::Result<FsUsage> {
        let s = rustix::fs::statfs(path)?;
        // node_exporter multiplies by f_bsize; so do we, so sizes agree.
        Ok(FsUsage {
            blocks: s.f_blocks,
            block_size: s.f_bsize as u64,
            blocks_free: s.f_bfree,
            blocks_available: s.f_bavail,
            files: s.f_files,
            files_free: s.f_ffree,
        })
    }
}

pub struct FilesystemCollector {
    paths: HostPaths,
    mount_points_exclude: regex::Regex,
    fs_types_exclude: regex::Regex,
    timeout: Duration,
    statfs: Arc<dyn StatFs>,
    /// Mount points whose statfs is still running on some thread.
    pending: Arc<Mutex<HashSet<String>>>,
    /// Pod scope: the mounts of outrider's own mount namespace (the pod's
    /// volumes), not the host's.
    own_mounts: bool,
}

enum StatOutcome {
    Usage(FsUsage),
    Failed(io::Error),
    Stuck,
}

impl FilesystemCollector {
    pub fn new(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        Self::with_statfs(config, paths, Arc::new(SystemStatFs))
    }

    pub fn with_statfs(
        config: &Config,
        paths: &HostPaths,
        statfs: Arc<dyn StatFs>,
    ) -> Result<Self, BuildError> {
        Ok(FilesystemCollector {
            paths: paths.clone(),
            mount_points_exclude: compile_regex(
                "filesystem",
                "mount_points_exclude",
                &config.mount_points_exclude,
            )?,
            fs_types_exclude: compile_regex(
                "filesystem",
                "fs_types_exclude",
                &config.fs_types_exclude,
            )?,
            timeout: config.mount_timeout,
            statfs,
            pending: Arc::new(Mutex::new(HashSet::new())),
            own_mounts: false,
        })
    }

    /// The pod scope's filesystems: what is mounted into the sidecar
    /// (`<procfs>/self/mountinfo`), so the pod's volumes and not the node's
    /// disks. Files mounted one by one (Kubernetes' /etc/hosts,
    /// /etc/resolv.conf) are not filesystems of the pod and are skipped.
    pub fn for_pod(config: &Config, paths: &HostPaths) -> Result<Self, BuildError> {
        Ok(FilesystemCollector {
            own_mounts: true,
            ..Self::new(config, paths)?
        })
    }

    fn read_mounts(&self) -> Result<Vec<Mount>, CollectError> {
        if self.own_mounts {
            let path = self.paths.proc("self/mountinfo");
            let text = paths::read(&path)?;
            let mounts = super::mountinfo::parse_mountinfo(&text)
                .map_err(|reason| CollectError::Parse { path, reason })?;
            return Ok(mounts
                .into_iter()
                .map(|m| Mount {
                    read_only: m.read_only(),
                    device: m.source,
                    mount_point: m.mount_point,
                    fs_type: m.fs_type,
                })
                .collect());
        }
        // PID 1's table is the host's; /proc/self/mounts is the fallback where
        // hidepid hides PID 1.
        let primary = self.paths.proc("1/mounts");
        let (path, text) = match paths::read(&primary) {
            Ok(text) => (primary, text),
            Err(_) => {
                let fallback = self.paths.proc("mounts");
                let text = paths::read(&fallback)?;
                (fallback, text)
            }
        };
        parse_mounts(&text).map_err(|reason| CollectError::Parse { path, reason })
    }

    fn stat_with_timeout(&self, mount_point: &str) -> StatOutcome {
        let pending = Arc::clone(&self.pending);
        {
            let mut in_flight = pending.lock().expect("pending set lock poisoned");
            if in_flight.contains(mount_point) {
                return StatOutcome::Stuck;
            }
            in_flight.insert(mount_point.to_owned());
        }
        let (sender, receiver) = mpsc::sync_channel(1);
        let statfs = Arc::clone(&self.statfs);
        let path = self.paths.under_rootfs(mount_point);
        let key = mount_point.to_owned();
        let timeout = self.timeout;
        let only_directories = self.own_mounts;
        let spawned = std::thread::Builder::new()
            .name("statfs".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                // Inside the thread: asking a hung mount whether it is a
                // directory blocks as statfs does.
                let result = if only_directories && !path.is_dir() {
                    Err(io::Error::from(io::ErrorKind::NotADirectory))
                } else {
                    statfs.statfs(&path)
                };
                // Leave the pending set before answering, so the next tick sees
                // the mount as free as soon as this tick has its answer.
                pending
                    .lock()
                    .expect("pending set lock poisoned")
                    .remove(&key);
                if started.elapsed() > timeout {
                    info!(collector = "filesystem", mount = %key, "stuck mount answered again");
                }
                let _ = sender.send(result);
            });
        if let Err(error) = spawned {
            self.pending
                .lock()
                .expect("pending set lock poisoned")
                .remove(mount_point);
            return StatOutcome::Failed(error);
        }
        match receiver.recv_timeout(self.timeout) {
            Ok(Ok(usage)) => StatOutcome::Usage(usage),
            Ok(Err(error)) => StatOutcome::Failed(error),
            Err(RecvTimeoutError::Timeout) => {
                warn!(collector = "filesystem", mount = %mount_point, timeout = ?self.timeout, "statfs timed out; reporting the mount as stuck");
                StatOutcome::Stuck
            }
            Err(RecvTimeoutError::Disconnected) => {
                StatOutcome::Failed(io::Error::other("statfs thread ended without an answer"))
            }
        }
    }
}

impl Collector for FilesystemCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mounts = self.read_mounts()?;
        let mut size = Family::gauge("node_filesystem_size_bytes", "Filesystem size in bytes.");
        let mut free = Family::gauge(
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
        );
        let mut avail = Family::gauge(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
        );
        let mut files = Family::gauge("node_filesystem_files", "Filesystem total file nodes.");
        let mut files_free = Family::gauge(
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
        );
        let mut readonly =
            Family::gauge("node_filesystem_readonly", "Filesystem read-only status.");
        let mut device_error = Family::gauge(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
        );
        let mut seen = HashSet::new();
        for mount in mounts {
            let mount_point = self.paths.strip_rootfs(&mount.mount_point);
            if self.mount_points_exclude.is_match(&mount_point)
                || self.fs_types_exclude.is_match(&mount.fs_type)
            {
                continue;
            }
            // A mount point can be listed twice (bind mounts, stacked mounts);
            // one series per label set, as the first mount listed.
            if !seen.insert((
                mount.device.clone(),
                mount.fs_type.clone(),
                mount_point.clone(),
            )) {
                continue;
            }
            let labels = [
                ("device", mount.device.as_str()),
                ("fstype", mount.fs_type.as_str()),
                ("mountpoint", mount_point.as_str()),
            ];
            let usage = match self.stat_with_timeout(&mount.mount_point) {
                StatOutcome::Usage(usage) => usage,
                StatOutcome::Failed(error) if error.kind() == io::ErrorKind::NotADirectory => {
                    continue;
                }
                StatOutcome::Failed(error) => {
                    tracing::debug!(collector = "filesystem", mount = %mount_point, error = %error, "statfs failed");
                    device_error.push(labels, 1.0);
                    continue;
                }
                StatOutcome::Stuck => {
                    device_error.push(labels, 1.0);
                    continue;
                }
            };
            let bs = usage.block_size as f64;
            device_error.push(labels, 0.0);
            size.push(labels, usage.blocks as f64 * bs);
            free.push(labels, usage.blocks_free as f64 * bs);
            avail.push(labels, usage.blocks_available as f64 * bs);
            files.push(labels, usage.files as f64);
            files_free.push(labels, usage.files_free as f64);
            readonly.push(labels, if mount.read_only { 1.0 } else { 0.0 });
        }
        out.extend([size, free, avail, files, files_free, readonly, device_error]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_lines_with_escapes_and_options() {
        let text = "/dev/sda1 / ext4 rw,relatime 0 0\n\
/dev/sdb1 /mnt/my\\040disk vfat ro,noatime 0 0\n\
\n";
        let mounts = parse_mounts(text).unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].mount_point, "/");
        assert!(!mounts[0].read_only);
        assert_eq!(mounts[1].mount_point, "/mnt/my disk");
        assert!(mounts[1].read_only);
        assert!(parse_mounts("/dev/sda1 /\n").is_err());
    }

    #[test]
    fn unescape_leaves_non_octal_backslashes_alone() {
        assert_eq!(unescape_mount_field("a\\134b"), "a\\b");
        assert_eq!(unescape_mount_field("a\\9b"), "a\\9b");
        assert_eq!(unescape_mount_field("trailing\\04"), "trailing\\04");
        assert_eq!(unescape_mount_field("\\011tab"), "\ttab");
    }

    #[test]
    fn default_excludes_are_node_exporters() {
        let c = FilesystemCollector::new(&Config::default(), &HostPaths::default()).unwrap();
        for excluded in [
            "/proc",
            "/sys/fs/cgroup",
            "/run",
            "/var/lib/docker/overlay2/x",
        ] {
            assert!(c.mount_points_exclude.is_match(excluded), "{excluded}");
        }
        for kept in ["/", "/home", "/var/lib/docker", "/srv/runner"] {
            assert!(!c.mount_points_exclude.is_match(kept), "{kept}");
        }
        assert!(c.fs_types_exclude.is_match("cgroup2"));
        assert!(!c.fs_types_exclude.is_match("ext4"));
    }
}
