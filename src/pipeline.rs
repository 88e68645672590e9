//! The tick: run the collectors, encode the exposition, publish it. Scrapes
//! read the last published exposition and never run a collector.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::{debug, error};

use crate::collect::Registry;
use crate::exposition::Exposition;

/// The last exposition, shared between the tick and the HTTP handlers.
#[derive(Default)]
pub struct Published {
    current: RwLock<Option<Arc<Exposition>>>,
}

impl Published {
    pub fn get(&self) -> Option<Arc<Exposition>> {
        self.current
            .read()
            .expect("published exposition lock poisoned")
            .clone()
    }

    pub fn publish(&self, exposition: Exposition) {
        *self
            .current
            .write()
            .expect("published exposition lock poisoned") = Some(Arc::new(exposition));
    }
}

/// Runs one tick on the calling thread: collect everything and encode it.
pub fn tick(registry: &mut Registry) -> Exposition {
    Exposition::new(registry.collect_all())
}

/// Ticks every `interval` until `shutdown` turns true. Collection runs on a
/// blocking thread, so a slow collector never stalls the HTTP workers.
pub async fn run(
    mut registry: Registry,
    interval: Duration,
    published: Arc<Published>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let started = std::time::Instant::now();
        let handle = tokio::task::spawn_blocking(move || {
            let exposition = tick(&mut registry);
            (registry, exposition)
        });
        match handle.await {
            Ok((back, exposition)) => {
                registry = back;
                published.publish(exposition);
                debug!(elapsed = ?started.elapsed(), "tick done");
            }
            Err(e) => {
                // A panic in a collector is a bug; the registry went with it.
                error!(error = %e, "tick failed; collection stops");
                return;
            }
        }
    }
}
