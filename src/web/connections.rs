//! Connection slots under `max_connections`, and which connection gives way
//! when they are all taken.
//!
//! A connection is *busy* from the moment its request head has arrived
//! until its response has been written, and *idle* otherwise: before its
//! first request head is complete (a TLS handshake, a slow-loris client
//! trickling its headers), and between requests on a keep-alive
//! connection. When every slot is taken, a new connection takes the slot of
//! the connection that has been idle longest, which is closed; only when
//! every connection is busy does a new one wait. So connections that hold a
//! slot without asking anything cannot keep a scraper out: the scraper's
//! connection is the newest, and it sends its whole request at once. How
//! many connections can be busy is bounded by `max_requests`, of which
//! writes leave a share to reads.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use tokio::sync::Notify;

/// The slots of one listener.
pub struct Slots {
    max: usize,
    state: Mutex<State>,
    /// A slot was given back, or a connection went idle and can give way.
    freed: Notify,
}

struct State {
    open: usize,
    /// Orders idle connections: a larger number went idle later.
    next: u64,
    /// The idle connections, the longest idle first.
    idle: BTreeMap<u64, Weak<Slot>>,
}

/// One connection's slot; given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    mark: Mutex<Mark>,
    evicted: Notify,
}

#[derive(Default)]
struct Mark {
    /// Its key in `State::idle` while idle.
    idle_since: Option<u64>,
    /// Its slot went to a newer connection: it must close, and its drop
    /// gives nothing back.
    evicted: bool,
}

impl Slots {
    pub fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max,
            state: Mutex::new(State {
                open: 0,
                next: 0,
                idle: BTreeMap::new(),
            }),
            freed: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a new connection, which starts idle: a free one, else the
    /// slot of the longest idle connection, else the first one given back.
    pub async fn acquire(self: &Arc<Self>) -> Arc<Slot> {
        loop {
            // Made before looking, so a slot given back meanwhile wakes it.
            let freed = self.freed.notified();
            {
                let mut state = self.state();
                let take = if state.open < self.max {
                    state.open += 1;
                    true
                } else {
                    Self::evict_longest_idle(&mut state)
                };
                if take {
                    let slot = Arc::new(Slot {
                        slots: Arc::clone(self),
                        mark: Mutex::new(Mark::default()),
                        evicted: Notify::new(),
                    });
                    slot.mark_idle_locked(&mut state);
                    return slot;
                }
            }
            freed.await;
        }
    }

    /// Hands the longest idle connection's slot over; false when none is
    /// idle.
    fn evict_longest_idle(state: &mut State) -> bool {
        while let Some((_, victim)) = state.idle.pop_first() {
            // A connection being dropped gives its slot back itself.
            let Some(victim) = victim.upgrade() else {
                continue;
            };
            let mut mark = victim.mark();
            mark.idle_since = None;
            mark.evicted = true;
            drop(mark);
            victim.evicted.notify_one();
            return true;
        }
        false
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.state().open
    }
}

impl Slot {
    fn mark(&self) -> std::sync::MutexGuard<'_, Mark> {
        self.mark.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mark_idle_locked(self: &Arc<Self>, state: &mut State) {
        let mut mark = self.mark();
        if mark.evicted || mark.idle_since.is_some() {
            return;
        }
        let key = state.next;
        state.next += 1;
        state.idle.insert(key, Arc::downgrade(self));
        mark.idle_since = Some(key);
    }

    /// A request head has arrived: this connection may not be closed for
    /// another until `idle`.
    pub fn busy(&self) {
        let mut state = self.slots.state();
        let mut mark = self.mark();
        if let Some(key) = mark.idle_since.take() {
            state.idle.remove(&key);
        }
    }

    /// The response has been written.
    pub fn idle(self: &Arc<Self>) {
        let mut state = self.slots.state();
        self.mark_idle_locked(&mut state);
        drop(state);
        // A newcomer waiting while every connection was busy may take it.
        self.slots.freed.notify_one();
    }

    /// Completes when this connection's slot went to a newer connection.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mark = self.mark.get_mut().unwrap_or_else(|e| e.into_inner());
        // Checked before taking the state's lock: an evicted slot can be
        // dropped by `evict_longest_idle`, which holds it.
        if mark.evicted {
            return;
        }
        let idle_since = mark.idle_since.take();
        let mut state = self.slots.state();
        if let Some(key) = idle_since {
            state.idle.remove(&key);
        }
        state.open -= 1;
        drop(state);
        self.slots.freed.notify_one();
    }
}

/// A response body that marks its connection idle once it has been
/// written (or dropped), so a response in flight is never cut short to make
/// room.
pub struct Tracked<B> {
    body: B,
    slot: Option<Arc<Slot>>,
}

impl<B> Tracked<B> {
    pub fn new(body: B, slot: Option<Arc<Slot>>) -> Tracked<B> {
        Tracked { body, slot }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        if let Some(slot) = &self.slot {
            slot.idle();
        }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn soon<F: std::future::Future>(future: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(100), future)
            .await
            .ok()
    }

    #[tokio::test]
    async fn the_longest_idle_connection_gives_way_and_busy_ones_do_not() {
        let slots = Slots::new(2);
        let first = slots.acquire().await;
        let second = slots.acquire().await;
        assert_eq!(slots.open(), 2);
        // Both idle: a third takes the slot of the first, which is told.
        let third = slots.acquire().await;
        assert!(soon(first.evicted()).await.is_some());
        assert!(soon(second.evicted()).await.is_none());
        drop(first);
        assert_eq!(slots.open(), 2, "an evicted slot was handed over");
        // Busy connections stay; a newcomer waits for one to be given back.
        second.busy();
        third.busy();
        let waiting = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.acquire().await }
        });
        assert!(soon(second.evicted()).await.is_none());
        // Idle again, after its response: then it gives way.
        second.idle();
        let fourth = soon(waiting).await.expect("a slot").unwrap();
        assert!(soon(second.evicted()).await.is_some());
        assert!(soon(third.evicted()).await.is_none());
        // A slot given back by a closed connection goes to the next.
        drop(third);
        assert_eq!(slots.open(), 1);
        let fifth = slots.acquire().await;
        assert_eq!(slots.open(), 2);
        drop((second, fourth, fifth));
        assert_eq!(slots.open(), 0);
    }

    #[tokio::test]
    async fn a_response_body_marks_its_connection_idle_when_written() {
        use http_body_util::BodyExt;
        let slots = Slots::new(1);
        let slot = slots.acquire().await;
        slot.busy();
        let body = Tracked::new(
            http_body_util::Full::new(bytes::Bytes::from_static(b"x")),
            Some(Arc::clone(&slot)),
        );
        let newcomer = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.acquire().await }
        });
        assert!(soon(slot.evicted()).await.is_none(), "busy while written");
        let written = body.collect().await.unwrap().to_bytes();
        assert_eq!(&written[..], b"x");
        assert!(soon(newcomer).await.is_some());
        assert!(soon(slot.evicted()).await.is_some());
    }
}
