//! The host: CPU, memory, disks, filesystems and network, under node_exporter's names.

use super::{Dashboard, OUTRIDER, q, rate, scoped, ts};

pub(super) fn dashboard() -> Dashboard {
    Dashboard {
        uid: "outrider-host",
        title: "outrider / Host".to_owned(),
        description: "Host CPU, memory, load, filesystems, disks and network, as node_exporter names them.",
        scope_metric: OUTRIDER.to_owned(),
        extra_variables: Vec::new(),
        rows: vec![
            (
                "CPU and memory".to_owned(),
                vec![
                    ts(
                        "CPU busy",
                        "percentunit",
                        vec![q(
                            format!(
                                "1 - avg by (instance) ({})",
                                rate("node_cpu_seconds_total", r#"mode="idle""#)
                            ),
                            "{{instance}}",
                        )],
                    )
                    .max(1.0),
                    ts(
                        "Load",
                        "short",
                        vec![
                            q(scoped("node_load1", ""), "{{instance}} 1m"),
                            q(scoped("node_load5", ""), "{{instance}} 5m"),
                            q(scoped("node_load15", ""), "{{instance}} 15m"),
                        ],
                    ),
                    ts(
                        "Memory available",
                        "percentunit",
                        vec![q(
                            format!(
                                "{} / {}",
                                scoped("node_memory_MemAvailable_bytes", ""),
                                scoped("node_memory_MemTotal_bytes", "")
                            ),
                            "{{instance}}",
                        )],
                    )
                    .max(1.0),
                    ts(
                        "Memory",
                        "bytes",
                        vec![
                            q(
                                scoped("node_memory_MemTotal_bytes", ""),
                                "{{instance}} total",
                            ),
                            q(
                                scoped("node_memory_MemAvailable_bytes", ""),
                                "{{instance}} available",
                            ),
                        ],
                    ),
                ],
            ),
            (
                "Filesystems and disks".to_owned(),
                vec![
                    ts(
                        "Filesystem space available",
                        "percentunit",
                        vec![q(
                            format!(
                                "{} / {}",
                                scoped(
                                    "node_filesystem_avail_bytes",
                                    r#"fstype!~"tmpfs|ramfs|squashfs""#
                                ),
                                scoped(
                                    "node_filesystem_size_bytes",
                                    r#"fstype!~"tmpfs|ramfs|squashfs""#
                                )
                            ),
                            "{{instance}} {{mountpoint}}",
                        )],
                    )
                    .max(1.0),
                    ts(
                        "Inodes available",
                        "percentunit",
                        vec![q(
                            format!(
                                "{} / {}",
                                scoped(
                                    "node_filesystem_files_free",
                                    r#"fstype!~"tmpfs|ramfs|squashfs""#
                                ),
                                scoped(
                                    "node_filesystem_files",
                                    r#"fstype!~"tmpfs|ramfs|squashfs""#
                                )
                            ),
                            "{{instance}} {{mountpoint}}",
                        )],
                    )
                    .max(1.0),
                    ts(
                        "Disk throughput",
                        "Bps",
                        vec![
                            q(
                                rate("node_disk_read_bytes_total", ""),
                                "{{instance}} {{device}} read",
                            ),
                            q(
                                rate("node_disk_written_bytes_total", ""),
                                "{{instance}} {{device}} written",
                            ),
                        ],
                    ),
                    ts(
                        "Disk busy",
                        "percentunit",
                        vec![q(
                            rate("node_disk_io_time_seconds_total", ""),
                            "{{instance}} {{device}}",
                        )],
                    )
                    .max(1.0),
                ],
            ),
            (
                "Network".to_owned(),
                vec![
                    ts(
                        "Network throughput",
                        "Bps",
                        vec![
                            q(
                                rate("node_network_receive_bytes_total", r#"device!="lo""#),
                                "{{instance}} {{device}} in",
                            ),
                            q(
                                rate("node_network_transmit_bytes_total", r#"device!="lo""#),
                                "{{instance}} {{device}} out",
                            ),
                        ],
                    ),
                    ts(
                        "Network errors and drops",
                        "pps",
                        vec![
                            q(
                                rate("node_network_receive_errs_total", ""),
                                "{{instance}} {{device}} receive errors",
                            ),
                            q(
                                rate("node_network_transmit_errs_total", ""),
                                "{{instance}} {{device}} transmit errors",
                            ),
                            q(
                                rate("node_network_receive_drop_total", ""),
                                "{{instance}} {{device}} receive drops",
                            ),
                        ],
                    ),
                ],
            ),
        ],
    }
}
