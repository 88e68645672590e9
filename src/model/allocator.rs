//! What the process asks of glibc's allocator, so that a burst of pushes
//! or a tick over many pushed series does not stay resident once it is
//! over.
//!
//! glibc gives each thread that allocates under contention an arena of
//! its own (up to eight per core) and keeps the free pages of every arena
//! until asked to return them. Ticks and pushes run on the blocking pool,
//! so a push load spreads its transient parse buffers, and each tick its
//! copy of the pushed series, over many arenas that are then held. One
//! arena bounds that spread; a trim after each tick returns what the tick
//! and the pushes since the last one freed. On other C libraries both are
//! no-ops.

/// Most arenas glibc may create. Each arena a thread gets keeps a few
/// hundred KiB of its own even when idle: one arena instead of two is
/// 0.3 MiB less resident in a pod, where the target is 8 MiB in all. It
/// serialises allocation, which the push loads show costs little: every
/// format stays hundreds of times the Pushgateway's rate
/// (docs/performance.md has the run).
pub const ARENA_MAX: i32 = 1;

/// Bounds glibc's arenas; call once at the start, before threads start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn bound_arenas() {
    // An environment setting (`MALLOC_ARENA_MAX`) is the operator's and
    // wins.
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: mallopt only sets a tunable of the allocator; it takes
    // plain integers and is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn bound_arenas() {}

/// Returns the free pages of every arena to the kernel. It walks the
/// heap (a few milliseconds for a hundred MiB), so it runs once a tick,
/// off the async workers.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() {
    // SAFETY: malloc_trim takes the padding to keep and touches only the
    // allocator's own free lists, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}
