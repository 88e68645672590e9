//! Containers: CPU, memory and I/O per container, under cAdvisor's names.

use super::{Dashboard, OUTRIDER, q, rate, scoped, ts};

pub(super) fn dashboard() -> Dashboard {
    let c = r#"name!="""#;
    Dashboard {
        uid: "outrider-containers",
        title: "outrider / Containers".to_owned(),
        description: "Containers, as cAdvisor names them.",
        scope_metric: OUTRIDER.to_owned(),
        extra_variables: Vec::new(),
        rows: vec![(
            "Containers".to_owned(),
            vec![
                ts(
                    "CPU",
                    "percentunit",
                    vec![q(
                        rate("container_cpu_usage_seconds_total", c),
                        "{{instance}} {{name}}",
                    )],
                )
                .describe("CPU seconds per second; 1 is one core."),
                ts(
                    "Memory working set",
                    "bytes",
                    vec![q(
                        scoped("container_memory_working_set_bytes", c),
                        "{{instance}} {{name}}",
                    )],
                ),
                ts(
                    "Memory used of the limit",
                    "percentunit",
                    vec![q(
                        format!(
                            "{} / ({} > 0)",
                            scoped("container_memory_working_set_bytes", c),
                            scoped("container_spec_memory_limit_bytes", c)
                        ),
                        "{{instance}} {{name}}",
                    )],
                )
                .max(1.0),
                ts(
                    "Network",
                    "Bps",
                    vec![
                        q(
                            rate("container_network_receive_bytes_total", c),
                            "{{instance}} {{name}} in",
                        ),
                        q(
                            rate("container_network_transmit_bytes_total", c),
                            "{{instance}} {{name}} out",
                        ),
                    ],
                ),
            ],
        )],
    }
}
