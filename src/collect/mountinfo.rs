//! `/proc/<pid>/mountinfo`: the mounts of one mount namespace, with the part
//! of each filesystem a mount shows (its root). The pod scope reads its own
//! (`/proc/self/mountinfo`) for the volumes mounted into the sidecar and for
//! the cgroup filesystems it can see.

/// One line of mountinfo (proc(5)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    /// The directory of the filesystem this mount shows (`/` for all of it;
    /// a bind mount or a cgroup namespace shows a part).
    pub root: String,
    pub mount_point: String,
    /// The per-mount options (`ro` or `rw` first).
    pub options: String,
    pub fs_type: String,
    pub source: String,
    /// The per-superblock options; for cgroup v1 they name the controllers.
    pub super_options: String,
}

impl MountInfo {
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Parses mountinfo; a line without the ` - ` separator or with too few
/// fields is an error naming it, as the kernel never writes one.
pub fn parse_mountinfo(text: &str) -> Result<Vec<MountInfo>, String> {
    let mut mounts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let malformed = || format!("malformed mountinfo line {line:?}");
        let (before, after) = line.split_once(" - ").ok_or_else(malformed)?;
        let fields: Vec<&str> = before.split_ascii_whitespace().collect();
        let tail: Vec<&str> = after.split_ascii_whitespace().collect();
        if fields.len() < 6 || tail.len() < 2 {
            return Err(malformed());
        }
        mounts.push(MountInfo {
            root: super::filesystem::unescape_mount_field(fields[3]),
            mount_point: super::filesystem::unescape_mount_field(fields[4]),
            options: fields[5].to_owned(),
            fs_type: tail[0].to_owned(),
            source: super::filesystem::unescape_mount_field(tail[1]),
            super_options: tail.get(2).copied().unwrap_or_default().to_owned(),
        });
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_with_optional_fields_and_escapes() {
        let text = "\
36 35 98:0 /mnt1 /mnt/my\\040data rw,noatime master:1 - ext3 /dev/root rw,errors=continue
92 88 0:32 /libpod_parent/libpod-91cb /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let mounts = parse_mountinfo(text).unwrap();
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].mount_point, "/mnt/my data");
        assert_eq!(mounts[0].root, "/mnt1");
        assert_eq!(mounts[0].fs_type, "ext3");
        assert_eq!(mounts[0].source, "/dev/root");
        assert!(!mounts[0].read_only());
        assert!(mounts[1].read_only());
        assert_eq!(mounts[1].super_options, "rw,memory");
        assert_eq!(mounts[2].fs_type, "cgroup2");
        assert!(parse_mountinfo("36 35 98:0 / /mnt rw ext3").is_err());
        assert!(parse_mountinfo("36 35 / - ext3 /dev/root rw").is_err());
    }
}
