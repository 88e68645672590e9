//! Processes: the process groups, under process-exporter's names.

use super::{Dashboard, OUTRIDER, q, rate, scoped, ts, variable};

pub(super) fn dashboard() -> Dashboard {
    let group_var = variable(
        "groupname",
        "groupname",
        r#"namedprocess_namegroup_num_procs{job=~"$job", instance=~"$instance"}"#,
    );
    let g = r#"groupname=~"$groupname""#;
    Dashboard {
        uid: "outrider-processes",
        title: "outrider / Processes".to_owned(),
        description: "Process groups, as process-exporter names them.",
        scope_metric: OUTRIDER.to_owned(),
        extra_variables: vec![group_var],
        rows: vec![(
            "Process groups".to_owned(),
            vec![
                ts(
                    "CPU",
                    "percentunit",
                    vec![q(
                        format!(
                            "sum by (instance, groupname) ({})",
                            rate("namedprocess_namegroup_cpu_seconds_total", g)
                        ),
                        "{{instance}} {{groupname}}",
                    )],
                )
                .describe("CPU seconds per second; 1 is one core."),
                ts(
                    "Resident memory",
                    "bytes",
                    vec![q(
                        scoped(
                            "namedprocess_namegroup_memory_bytes",
                            &format!(r#"{g}, memtype="resident""#),
                        ),
                        "{{instance}} {{groupname}}",
                    )],
                ),
                ts(
                    "Processes",
                    "short",
                    vec![q(
                        scoped("namedprocess_namegroup_num_procs", g),
                        "{{instance}} {{groupname}}",
                    )],
                ),
                ts(
                    "Zombies",
                    "short",
                    vec![q(
                        scoped(
                            "namedprocess_namegroup_states",
                            &format!(r#"{g}, state="Zombie""#),
                        ),
                        "{{instance}} {{groupname}}",
                    )],
                ),
                ts(
                    "Open file descriptors",
                    "short",
                    vec![q(
                        scoped("namedprocess_namegroup_open_filedesc", g),
                        "{{instance}} {{groupname}}",
                    )],
                ),
                ts(
                    "Worst file descriptor use",
                    "percentunit",
                    vec![q(
                        scoped("namedprocess_namegroup_worst_fd_ratio", g),
                        "{{instance}} {{groupname}}",
                    )],
                )
                .max(1.0)
                .describe("The process of the group closest to its fd limit."),
                ts(
                    "Disk I/O",
                    "Bps",
                    vec![
                        q(
                            rate("namedprocess_namegroup_read_bytes_total", g),
                            "{{instance}} {{groupname}} read",
                        ),
                        q(
                            rate("namedprocess_namegroup_write_bytes_total", g),
                            "{{instance}} {{groupname}} written",
                        ),
                    ],
                ),
                ts(
                    "Threads",
                    "short",
                    vec![q(
                        scoped("namedprocess_namegroup_num_threads", g),
                        "{{instance}} {{groupname}}",
                    )],
                ),
            ],
        )],
    }
}
