//! What the push store holds per pushed series, counted by the allocator:
//! the bench's 1000 groups of 100 series (a gauge and a counter family
//! with two labels each) pushed through the Pushgateway's API, then the
//! same groups pushed again as a load would. One test in this binary, so
//! no other test's allocations are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use outrider::push::{Limits, Op, PushConfig, PushMethod, State};

/// Counts the bytes allocated and not yet freed (what was asked for, not
/// what the allocator adds around it).
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every call is passed on to the system allocator unchanged; only
// a counter is kept beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const GROUPS: usize = 1000;
const HALF: usize = 50;

/// The bench's body (bench/push_vs_pushgateway.sh) for one group.
fn body() -> String {
    let mut body = String::from("# HELP bench_gauge A pushed gauge.\n# TYPE bench_gauge gauge\n");
    for i in 0..HALF {
        body.push_str(&format!("bench_gauge{{series=\"{i}\",kind=\"g\"}} {i}.5\n"));
    }
    body.push_str(
        "# HELP bench_requests_total A pushed counter.\n# TYPE bench_requests_total counter\n",
    );
    for i in 0..HALF {
        body.push_str(&format!(
            "bench_requests_total{{series=\"{i}\",code=\"200\"}} {}\n",
            i * 1000
        ));
    }
    body
}

fn push_all(state: &mut State, limits: &Limits, body: &str, at: f64) {
    for group in 0..GROUPS {
        let path = format!("/metrics/job/bench/instance/{group}");
        let op = Op::from_pushgateway(PushMethod::Put, &path, body.as_bytes(), at, None)
            .expect("the bench body parses");
        state.check(&op, limits).expect("within the limits");
        state.apply(&op);
    }
}

#[test]
fn a_held_series_costs_under_64_bytes_and_pushing_it_again_adds_nothing() {
    let limits = Limits::new(10_000, 1_000_000, &PushConfig::default());
    let body = body();
    let before = HELD.load(Ordering::Relaxed);
    let mut state = State::default();
    push_all(&mut state, &limits, &body, 1.0);
    let series = state.series_total();
    assert_eq!(series, GROUPS * 2 * HALF);
    let held = HELD.load(Ordering::Relaxed) - before;
    let per_series = held as f64 / series as f64;
    // A map of owned strings per series held about 400 bytes each.
    assert!(
        per_series < 64.0,
        "the store holds {held} bytes for {series} series: {per_series:.0} B/series"
    );

    // A load replaces every group with the same series: what it frees
    // and what it keeps must balance.
    push_all(&mut state, &limits, &body, 2.0);
    let again = HELD.load(Ordering::Relaxed) - before;
    assert!(
        again <= held,
        "pushing the same groups again grew the store from {held} to {again} bytes"
    );
    drop(state);
    eprintln!("push store: {per_series:.1} B/series ({held} bytes for {series} series)");
}
