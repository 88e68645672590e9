//! Cost of accepting pushes on one core, without HTTP and without the sync
//! to disk (`bench/push_vs_pushgateway.sh` measures those, end to end):
//!
//! - `json_batch`: parse a JSON batch of 100 counter increments, check it
//!   against a store of 100k series and apply it;
//! - `pushgateway_put`: parse a text body of 100 samples and replace a group
//!   with it, in a store of 1,000 such groups;
//! - `exposition_parse`: parse a 10k-sample text exposition, as an app
//!   scrape does.
//!
//! Throughput is in samples. Run: `cargo bench --bench push`

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use outrider::push::{Limits, Op, PushConfig, PushMethod, State};
use outrider::textparse::{Dialect, parse};

const SAMPLES_PER_PUSH: usize = 100;
const GROUPS: usize = 1000;

fn json_body(service: usize) -> String {
    let metrics: Vec<String> = (0..SAMPLES_PER_PUSH)
        .map(|i| {
            format!(
                r#"{{"name":"requests_total","type":"counter","value":1,"labels":{{"route":"/r{i}","code":"200"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"service":"svc{service}","metrics":[{}]}}"#,
        metrics.join(",")
    )
}

fn text_body() -> String {
    let mut body = String::from("# HELP queue_depth Items queued.\n# TYPE queue_depth gauge\n");
    for i in 0..SAMPLES_PER_PUSH {
        writeln!(
            body,
            "queue_depth{{queue=\"q{i}\",shard=\"{}\"}} {i}",
            i % 7
        )
        .unwrap();
    }
    body
}

fn limits() -> Limits {
    Limits::new(100_000, 10_000_000, &PushConfig::default())
}

fn push(c: &mut Criterion) {
    let config = PushConfig::default();
    let limits = limits();
    let mut group = c.benchmark_group("push");
    group.throughput(Throughput::Elements(SAMPLES_PER_PUSH as u64));

    // 1,000 services × 100 series: a store of 100k series.
    let mut state = State::default();
    for service in 0..GROUPS {
        let (op, _) = Op::from_json(json_body(service).as_bytes(), &config, 1.0, None).unwrap();
        state.check(&op, &limits).unwrap();
        state.apply(&op);
    }
    assert_eq!(state.series_total(), GROUPS * SAMPLES_PER_PUSH);
    let bodies: Vec<String> = (0..GROUPS).map(json_body).collect();
    let mut next = 0;
    group.bench_function("json_batch", |b| {
        b.iter(|| {
            next = (next + 1) % GROUPS;
            let (op, _) = Op::from_json(bodies[next].as_bytes(), &config, 2.0, None).unwrap();
            state.check(&op, &limits).unwrap();
            black_box(state.apply(&op));
        })
    });

    let body = text_body();
    let mut state = State::default();
    let path = |i: usize| format!("/metrics/job/batch/instance/i{i}");
    for i in 0..GROUPS {
        let op =
            Op::from_pushgateway(PushMethod::Put, &path(i), body.as_bytes(), 1.0, None).unwrap();
        state.apply(&op);
    }
    let paths: Vec<String> = (0..GROUPS).map(path).collect();
    group.bench_function("pushgateway_put", |b| {
        b.iter(|| {
            next = (next + 1) % GROUPS;
            let op =
                Op::from_pushgateway(PushMethod::Put, &paths[next], body.as_bytes(), 2.0, None)
                    .unwrap();
            state.check(&op, &limits).unwrap();
            black_box(state.apply(&op));
        })
    });
    group.finish();

    let mut exposition = String::new();
    for metric in 0..100 {
        writeln!(
            exposition,
            "# HELP app_metric_{metric} A metric.\n# TYPE app_metric_{metric} gauge"
        )
        .unwrap();
        for series in 0..100 {
            writeln!(
                exposition,
                "app_metric_{metric}{{instance=\"host-{series}\",zone=\"z{}\"}} {}.5",
                series % 4,
                series
            )
            .unwrap();
        }
    }
    let mut group = c.benchmark_group("scrape");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("exposition_parse", |b| {
        b.iter(|| black_box(parse(&exposition, Dialect::Text).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, push);
criterion_main!(benches);
