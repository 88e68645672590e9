//! Pushed metrics, as a source: each tick reads the push store (and drops
//! the groups whose time to live has passed).

use std::sync::Arc;

use super::{CollectError, Collector};
use crate::metric::Family;
use crate::push::PushStore;

pub struct PushCollector {
    store: Arc<PushStore>,
}

impl PushCollector {
    pub fn new(store: Arc<PushStore>) -> Self {
        PushCollector { store }
    }
}

impl Collector for PushCollector {
    fn collect(&mut self, out: &mut Vec<Family>) -> Result<(), CollectError> {
        out.extend(self.store.families(crate::model::clock::unix_now()));
        Ok(())
    }
}
