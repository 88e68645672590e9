//! Where the host's pseudo-filesystems are. Every host path goes through here, so
//! tests run the collectors on fixture trees and a container can read the host's
//! `/proc` mounted elsewhere (`--path.procfs=/host/proc`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostPaths {
    /// procfs mount point.
    pub procfs: PathBuf,
    /// sysfs mount point.
    pub sysfs: PathBuf,
    /// Root of the host's filesystem; mount points are read below it and
    /// reported without it.
    pub rootfs: PathBuf,
    /// udev's database, for the model and serial of disks.
    pub udev_data: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
            udev_data: PathBuf::from("/run/udev/data"),
        }
    }
}

impl HostPaths {
    pub fn proc(&self, relative: &str) -> PathBuf {
        self.procfs.join(relative)
    }

    pub fn sys(&self, relative: &str) -> PathBuf {
        self.sysfs.join(relative)
    }

    pub fn udev(&self, relative: &str) -> PathBuf {
        self.udev_data.join(relative)
    }

    /// The path at which a mount point of the host is reachable from here.
    pub fn under_rootfs(&self, mount_point: &str) -> PathBuf {
        self.rootfs.join(mount_point.trim_start_matches('/'))
    }

    /// A mount point as the host sees it: `/host/var` becomes `/var` when the
    /// rootfs is `/host`.
    pub fn strip_rootfs(&self, mount_point: &str) -> String {
        let root = self.rootfs.to_string_lossy();
        let root = root.trim_end_matches('/');
        if root.is_empty() {
            return mount_point.to_owned();
        }
        match mount_point.strip_prefix(root) {
            Some("") => "/".to_owned(),
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => mount_point.to_owned(),
        }
    }
}

/// Reads a whole pseudo-file; they are small and generated on read.
pub fn read(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|source| ReadError {
        path: path.to_owned(),
        source,
    })
}

/// A host file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading {path}: {source}")]
pub struct ReadError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_rootfs_prefix_only_at_a_path_boundary() {
        let paths = HostPaths {
            rootfs: PathBuf::from("/host"),
            ..HostPaths::default()
        };
        assert_eq!(paths.strip_rootfs("/host"), "/");
        assert_eq!(paths.strip_rootfs("/host/var/lib"), "/var/lib");
        assert_eq!(paths.strip_rootfs("/hostile"), "/hostile");
        assert_eq!(paths.strip_rootfs("/etc"), "/etc");
        assert_eq!(HostPaths::default().strip_rootfs("/var"), "/var");
        assert_eq!(paths.under_rootfs("/var"), PathBuf::from("/host/var"));
    }
}
