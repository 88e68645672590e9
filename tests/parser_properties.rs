//! Property tests for every parser of outside input: whatever the bytes, a
//! parser returns a value or an error, never panics; and well-formed input
//! round-trips.

use outrider::collect::{
    arp, cgroups, conntrack, cpu, diskstats, filefd, filesystem, hwmon, loadavg, mdadm, meminfo,
    mountinfo, netdev, netstat, os, pressure, processes, schedstat, self_process, selinux,
    sockstat, softnet, stat, udp_queues, vmstat,
};
use outrider::config::Config;
use outrider::rules;
use outrider::selector::Selector;
use proptest::prelude::*;

/// The parsers of the node_exporter collectors' files, on any text.
fn node_exporter_parsers(text: &str) {
    let all = regex::Regex::new("").unwrap();
    let _ = vmstat::parse_vmstat(text, &all);
    let mut stats = Vec::new();
    let _ = netstat::parse_snmp(text, &all, &mut stats);
    let _ = netstat::parse_snmp6(text, &all, &mut stats);
    let _ = sockstat::parse_sockstat(text);
    let _ = filefd::parse_file_nr(text);
    let _ = pressure::parse_psi(text);
    let _ = conntrack::parse_conntrack_stat(text);
    let _ = softnet::parse_softnet(text);
    let _ = mdadm::parse_mdstat(text);
    let _ = arp::parse_arp(text);
    let _ = udp_queues::parse_udp_queues(text);
    let _ = schedstat::parse_schedstat(text);
    let _ = os::parse_os_release(text);
    let _ = os::version_number(text);
    let _ = selinux::parse_config_mode(text);
    for word in text.split_whitespace() {
        let _ = hwmon::explode_sensor_filename(word);
        let _ = hwmon::clean_name(word);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn proc_parsers_never_panic(text in "\\PC{0,400}") {
        let _ = cpu::parse_cpu_times(&text, 100.0);
        let _ = stat::parse_stat(&text);
        let _ = meminfo::parse_meminfo(&text);
        let _ = loadavg::parse_loadavg(&text);
        let _ = diskstats::parse_diskstats(&text);
        let _ = diskstats::parse_udev(&text);
        let _ = netdev::parse_net_dev(&text);
        let _ = filesystem::parse_mounts(&text);
        let _ = self_process::parse_proc_stat(&text);
        let _ = self_process::parse_max_fds(&text);
        node_exporter_parsers(&text);
        pod_parsers(&text);
    }

    #[test]
    fn proc_parsers_never_panic_on_proc_like_lines(
        lines in prop::collection::vec("[a-z0-9()_:|]{0,12}( +[-0-9a-zA-Z\\\\]{0,22}){0,20}", 0..12)
    ) {
        let text = lines.join("\n");
        let _ = cpu::parse_cpu_times(&text, 100.0);
        let _ = stat::parse_stat(&text);
        let _ = meminfo::parse_meminfo(&text);
        let _ = diskstats::parse_diskstats(&text);
        let _ = netdev::parse_net_dev(&text);
        let _ = filesystem::parse_mounts(&text);
        let _ = self_process::parse_proc_stat(&text);
        node_exporter_parsers(&text);
        pod_parsers(&text);
        // mountinfo-shaped: fields, the separator, more fields.
        pod_parsers(&text.replacen('\n', " - ", 3));
    }

    #[test]
    fn meminfo_round_trips(entries in prop::collection::btree_map("[A-Z][a-zA-Z]{0,10}", (0u64..1 << 40, any::<bool>()), 1..20)) {
        let text: String = entries
            .iter()
            .map(|(key, (value, kb))| format!("{key}: {value}{}\n", if *kb { " kB" } else { "" }))
            .collect();
        let parsed = meminfo::parse_meminfo(&text).unwrap();
        prop_assert_eq!(parsed.len(), entries.len());
        for ((key, (value, kb)), (name, parsed_value)) in entries.iter().zip(&parsed) {
            if *kb {
                prop_assert_eq!(name.clone(), format!("{key}_bytes"));
                prop_assert_eq!(*parsed_value, *value as f64 * 1024.0);
            } else {
                prop_assert_eq!(name, key);
                prop_assert_eq!(*parsed_value, *value as f64);
            }
        }
    }

    #[test]
    fn mount_points_with_escaped_whitespace_round_trip(point in "/[a-z \\t]{1,20}") {
        let escaped = point.replace(' ', "\\040").replace('\t', "\\011");
        let mounts = filesystem::parse_mounts(&format!("/dev/x {escaped} ext4 rw 0 0\n")).unwrap();
        prop_assert_eq!(&mounts[0].mount_point, &point);
    }

    #[test]
    fn config_parser_never_panics(text in "\\PC{0,300}") {
        if let Ok(config) = Config::from_yaml(&text, "fuzz.yml") {
            let _ = config.validate();
        }
    }

    #[test]
    fn config_parser_never_panics_on_yaml_shaped_input(
        key in "(collect_interval|web|log|collectors|paths|storage|cpu|filesystem|mount_timeout|enabled)",
        value in "(15s|0s|-1|true|null|\\[\\]|\\{\\}|'\\('|[a-z0-9 ]{0,10})",
        nested in any::<bool>(),
    ) {
        let text = if nested {
            format!("collectors:\n  {key}:\n    {key}: {value}\n")
        } else {
            format!("{key}: {value}\n")
        };
        if let Ok(config) = Config::from_yaml(&text, "fuzz.yml") {
            let _ = config.validate();
        }
    }

    #[test]
    fn rule_and_selector_parsers_never_panic(text in "\\PC{0,300}") {
        let _ = rules::parse(&text, "fuzz.yml");
        let _ = Selector::parse(&text);
    }

    #[test]
    fn rule_parser_never_panics_on_rule_shaped_input(
        kind in "(threshold: \\{above: \\{warning: [-0-9.]{1,4}\\}\\}|anomaly: \\{ratio: \\{critical: [0-9]\\}\\}|absent: [0-9]{1,3}[smh]|slo: \\{objective: [0-9.]{1,5}, errors: e, total: t, period: 1d\\}|threshold: \\{\\})",
        selector in "(x|x\\{a=\"b\"\\}|\\{a=~\"\\(\"\\}|)",
        name in "[A-Za-z][a-zA-Z0-9]{0,8}",
        template in "(\\{\\{ \\$value \\}\\}|\\{\\{ \\$labels\\.[a-z]{0,3} \\}\\}|\\{\\{|plain)",
    ) {
        let text = format!(
            "groups:\n  - name: g\n    rules:\n      - alert: {name}\n        selector: '{selector}'\n        {kind}\n        summary: '{template}'\n"
        );
        if let Ok(groups) = rules::parse(&text, "fuzz.yml") {
            prop_assert!(rules::RuleSet::from_groups(groups).is_ok());
        }
    }

    #[test]
    fn selectors_round_trip_their_matchers(
        name in "[a-z_][a-z0-9_]{0,10}",
        labels in prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", "[a-zA-Z0-9 ._/-]{0,10}", 0..4),
    ) {
        let body: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let selector = Selector::parse(&format!("{name}{{{}}}", body.join(", "))).unwrap();
        prop_assert_eq!(selector.metric.as_deref(), Some(name.as_str()));
        let series: outrider::metric::Labels = labels.iter().map(|(k, v)| (k.clone().into(), v.clone())).collect();
        prop_assert!(selector.matches_labels(&series));
    }
}

/// The parsers of the pod scope: mountinfo, /proc/PID/cgroup and the
/// cgroup files (any file may hold the text).
fn pod_parsers(text: &str) {
    let _ = mountinfo::parse_mountinfo(text);
    let _ = cgroups::parse_proc_cgroup(text);
    let _ = cgroups::parse_single(text);
    let _ = cgroups::parse_cpu_max(text);
    let _ = cgroups::parse_flat_keyed(text);
    let any = |_: &str| Some(text.to_owned());
    let _ = cgroups::parse_v2(&any);
    let _ = cgroups::parse_v1(&any, 100.0);
    let mut sample = processes::ProcessSample::default();
    let _ = processes::parse_stat(text, &mut sample);
}
