//! Lock helpers.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex` even when a panic poisoned it: every state kept behind
/// these locks is updated whole before a lock is released, so what a
/// panicking holder left is still consistent, and one panic must not stop
/// every later tick, scrape or push.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
