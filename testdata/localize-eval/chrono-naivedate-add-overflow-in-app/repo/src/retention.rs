use chrono::{Duration, NaiveDateTime, Utc};

use crate::config::RetentionConfig;
use crate::store::{Snapshot, Store};

pub struct Pruner<'a> {
    store: &'a Store,
    config: &'a RetentionConfig,
}

impl<'a> Pruner<'a> {
    pub fn new(store: &'a Store, config: &'a RetentionConfig) -> Self {
        Pruner { store, config }
    }

    fn expires_at(&self, snapshot: &Snapshot) -> NaiveDateTime {
        let keep = Duration::days(self.config.keep_days);
        snapshot.created + keep
    }

    pub fn prune(&self) -> anyhow::Result<usize> {
        let now = Utc::now().naive_utc();
        let mut removed = 0;
        for snapshot in self.store.snapshots()? {
            if self.expires_at(&snapshot) < now {
                self.store.remove(&snapshot.id)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
