//! How long to wait before asking a peer that did not answer again.

use std::time::Duration;

/// A wait that starts at `first`, doubles with each failure up to `last`,
/// and goes back to `first` once the peer answers.
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    last: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, last: Duration) -> Backoff {
        Backoff {
            first,
            last,
            next: first,
        }
    }

    /// The wait before the next attempt; the one after it is twice as long.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.last);
        delay
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_last_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let waits: Vec<u64> = (0..5)
            .map(|_| backoff.next_delay().as_millis() as u64)
            .collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }
}
