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
//! writes leave a share to reads, and how long: a body must arrive within
//! `body_read_timeout`, and a connection busy for longer than that (a client
//! that reads its response slowly) gives way too when a newcomer waits.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::debug;

/// The slots of one listener.
pub struct Slots {
    max: usize,
    /// Busy for longer than this, a connection gives way to a newcomer.
    stall: Duration,
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
    /// The busy connections, the longest busy first, with when they
    /// became busy.
    busy: BTreeMap<u64, (Instant, Weak<Slot>)>,
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
    /// Its key in `State::busy` while busy.
    busy_since: Option<u64>,
    /// Its slot went to a newer connection: it must close, and its drop
    /// gives nothing back.
    evicted: bool,
}

impl Slots {
    pub fn new(max: usize, stall: Duration) -> Arc<Slots> {
        Arc::new(Slots {
            max,
            stall,
            state: Mutex::new(State {
                open: 0,
                next: 0,
                idle: BTreeMap::new(),
                busy: BTreeMap::new(),
            }),
            freed: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        crate::model::sync::lock(&self.state)
    }

    /// A slot for a new connection, which starts idle: a free one, else the
    /// slot of the longest idle connection, else that of a connection busy
    /// for longer than `stall`, else the first one given back.
    pub async fn acquire(self: &Arc<Self>) -> Arc<Slot> {
        loop {
            // Made before looking, so a slot given back meanwhile wakes it.
            let freed = self.freed.notified();
            match self.try_acquire(Instant::now()) {
                Ok(slot) => return slot,
                Err(None) => freed.await,
                Err(Some(stalls)) => {
                    tokio::select! {
                        () = freed => {}
                        () = tokio::time::sleep_until(stalls.into()) => {}
                    }
                }
            }
        }
    }

    /// A slot now, or when the longest busy connection will have stalled
    /// (None: no connection is busy).
    fn try_acquire(self: &Arc<Self>, now: Instant) -> Result<Arc<Slot>, Option<Instant>> {
        let mut state = self.state();
        if state.open < self.max {
            state.open += 1;
        } else {
            self.evict(&mut state, now)?;
        }
        let slot = Arc::new(Slot {
            slots: Arc::clone(self),
            mark: Mutex::new(Mark::default()),
            evicted: Notify::new(),
        });
        slot.mark_idle_locked(&mut state);
        Ok(slot)
    }

    /// Hands the slot of the longest idle connection over, or of the
    /// longest busy one when it has stalled; else says when it will have.
    fn evict(&self, state: &mut State, now: Instant) -> Result<(), Option<Instant>> {
        while let Some((_, victim)) = state.idle.pop_first() {
            // A connection being dropped gives its slot back itself.
            if let Some(victim) = victim.upgrade() {
                victim.hand_over();
                return Ok(());
            }
        }
        while let Some((&key, (since, victim))) = state.busy.first_key_value() {
            let stalls = *since + self.stall;
            if stalls > now {
                return Err(Some(stalls));
            }
            let victim = victim.upgrade();
            state.busy.remove(&key);
            if let Some(victim) = victim {
                debug!("a connection busy for longer than body_read_timeout gives way");
                victim.hand_over();
                return Ok(());
            }
        }
        Err(None)
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.state().open
    }
}

impl Slot {
    fn mark(&self) -> std::sync::MutexGuard<'_, Mark> {
        crate::model::sync::lock(&self.mark)
    }

    /// Its slot went to a newer connection; called with the state locked,
    /// after its entry was taken out.
    fn hand_over(&self) {
        let mut mark = self.mark();
        mark.idle_since = None;
        mark.busy_since = None;
        mark.evicted = true;
        drop(mark);
        self.evicted.notify_one();
    }

    fn mark_idle_locked(self: &Arc<Self>, state: &mut State) {
        let mut mark = self.mark();
        if mark.evicted || mark.idle_since.is_some() {
            return;
        }
        if let Some(key) = mark.busy_since.take() {
            state.busy.remove(&key);
        }
        let key = state.next;
        state.next += 1;
        state.idle.insert(key, Arc::downgrade(self));
        mark.idle_since = Some(key);
    }

    /// A request head has arrived: this connection is not closed for
    /// another until `idle`, unless it stays busy for longer than `stall`.
    pub fn busy(self: &Arc<Self>, now: Instant) {
        let mut state = self.slots.state();
        let mut mark = self.mark();
        if mark.evicted || mark.busy_since.is_some() {
            return;
        }
        if let Some(key) = mark.idle_since.take() {
            state.idle.remove(&key);
        }
        let key = state.next;
        state.next += 1;
        state.busy.insert(key, (now, Arc::downgrade(self)));
        mark.busy_since = Some(key);
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
        let busy_since = mark.busy_since.take();
        let mut state = self.slots.state();
        if let Some(key) = idle_since {
            state.idle.remove(&key);
        }
        if let Some(key) = busy_since {
            state.busy.remove(&key);
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

    const STALL: Duration = Duration::from_secs(30);

    async fn soon<F: std::future::Future>(future: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(100), future)
            .await
            .ok()
    }

    #[tokio::test]
    async fn the_longest_idle_connection_gives_way_and_busy_ones_do_not() {
        let slots = Slots::new(2, STALL);
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
        let now = Instant::now();
        second.busy(now);
        third.busy(now);
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

    #[test]
    fn a_connection_busy_for_too_long_gives_way() {
        let slots = Slots::new(2, STALL);
        let start = Instant::now();
        let first = slots.try_acquire(start).unwrap();
        let second = slots.try_acquire(start).unwrap();
        first.busy(start);
        second.busy(start + Duration::from_secs(5));
        // Both busy: a newcomer is told when the first will have stalled.
        let early = start + Duration::from_secs(10);
        assert_eq!(slots.try_acquire(early).err(), Some(Some(start + STALL)));
        assert!(!first.mark().evicted);
        // Then the first gives way, and the second is next, five seconds on.
        let third = slots.try_acquire(start + STALL).unwrap();
        assert!(first.mark().evicted);
        third.busy(start + STALL);
        assert!(!second.mark().evicted);
        assert_eq!(
            slots.try_acquire(start + STALL).err(),
            Some(Some(start + Duration::from_secs(35)))
        );
        // Idle again in time: it gives way as idle, before any stall.
        second.idle();
        let _fourth = slots.try_acquire(start + STALL).unwrap();
        assert!(second.mark().evicted);
        assert_eq!(slots.open(), 2);
    }

    #[tokio::test]
    async fn a_response_body_marks_its_connection_idle_when_written() {
        use http_body_util::BodyExt;
        let slots = Slots::new(1, STALL);
        let slot = slots.acquire().await;
        slot.busy(Instant::now());
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
