//! The lifecycle the background sources share (the scrape targets, the
//! probes; the container engine's poller keeps the same rule in its own
//! file): their tasks start on the collector's first tick, on the runtime
//! the tick runs in, and end when the collector is dropped. Never when it is
//! built: a config is built to be checked too (`outrider check`, every
//! reload), and checking one must contact nothing.

use super::CollectError;

/// Whether a source's tasks run, and what to say when they cannot start.
pub struct Background {
    started: bool,
    /// What the tasks talk to, as a failure's `peer`.
    peer: &'static str,
    /// Why they cannot start outside a runtime, as a failure's `reason`.
    no_runtime: &'static str,
}

impl Background {
    pub fn new(peer: &'static str, no_runtime: &'static str) -> Background {
        Background {
            started: false,
            peer,
            no_runtime,
        }
    }

    /// Runs `start` with the current runtime on the first call (the first
    /// tick); later calls do nothing.
    pub fn start_once(
        &mut self,
        start: impl FnOnce(&tokio::runtime::Handle),
    ) -> Result<(), CollectError> {
        if self.started {
            return Ok(());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| CollectError::Peer {
            peer: self.peer.to_owned(),
            reason: self.no_runtime.to_owned(),
        })?;
        start(&runtime);
        self.started = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_once_and_only_inside_a_runtime() {
        let mut background = Background::new("peers", "no tokio runtime to test from");
        let outside = background.start_once(|_| panic!("started outside a runtime"));
        assert_eq!(
            outside.unwrap_err().to_string(),
            "peers: no tokio runtime to test from"
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _inside = runtime.enter();
        let mut starts = 0;
        for _ in 0..3 {
            background.start_once(|_| starts += 1).unwrap();
        }
        assert_eq!(starts, 1);
    }
}
