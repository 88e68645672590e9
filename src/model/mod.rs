//! The shared vocabulary every stage may use, and which uses no other
//! module of the crate: the clock and RFC 3339 times, counter rates,
//! retry backoff, error chains and lock helpers. Samples and families
//! (`crate::metric`) and series selectors (`crate::selector`) belong to the
//! same layer.

pub mod allocator;
pub mod backoff;
pub mod clock;
pub mod error;
pub mod rate;
pub mod sync;
