//! A per-node cache of tenants, applications and connectors, which every login, refresh grant
//! and slow-migration login reads, and of API keys by their hash, which every API call reads.
//!
//! Writes through this store invalidate it at once, so this node sees its own updates
//! immediately; another node's cache may serve the old settings for up to [`TTL`]. A read that
//! raced with a write never re-populates the cache with what it read before the write: each
//! write bumps a generation, and a value read under an older generation is not kept.
//!
//! Only keys that exist are kept (at most [`MAX_API_KEYS`]), so a caller trying random keys
//! neither fills the cache nor is answered from it.

use portcullis_domain::migration::connectors::Connector;
use portcullis_domain::{ApiKey, Application, Tenant};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long another node's write may go unseen here.
pub const TTL: Duration = Duration::from_secs(5);

/// The most API keys kept; past it the cache starts empty again.
pub const MAX_API_KEYS: usize = 10_000;

#[derive(Default)]
pub(crate) struct Cache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    /// Every tenant, oldest first, and by id.
    tenants: Option<(Instant, Arc<Tenants>)>,
    applications: HashMap<Uuid, (Instant, Application)>,
    connectors: HashMap<Uuid, (Instant, Connector)>,
    /// Key hash → key.
    api_keys: HashMap<String, (Instant, ApiKey)>,
}

pub(crate) struct Tenants {
    pub all: Vec<Tenant>,
    pub by_id: HashMap<Uuid, usize>,
}

impl Tenants {
    pub fn new(all: Vec<Tenant>) -> Self {
        let by_id = all
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((t.id?, i)))
            .collect();
        Tenants { all, by_id }
    }

    pub fn get(&self, id: Uuid) -> Option<&Tenant> {
        self.by_id.get(&id).map(|&i| &self.all[i])
    }
}

/// The entry for `id` while younger than [`TTL`].
fn fresh<T: Clone>(map: &HashMap<Uuid, (Instant, T)>, id: Uuid) -> Option<T> {
    match map.get(&id) {
        Some((at, v)) if at.elapsed() < TTL => Some(v.clone()),
        _ => None,
    }
}

/// Keeps `v` under `id` (a stored value always has one), stamped now.
fn keep<T>(map: &mut HashMap<Uuid, (Instant, T)>, id: Option<Uuid>, v: T) {
    if let Some(id) = id {
        map.insert(id, (Instant::now(), v));
    }
}

impl Cache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("not poisoned")
    }

    /// The generation to hand back to a `put_*` after reading the database.
    pub fn generation(&self) -> u64 {
        self.inner().generation
    }

    pub fn tenants(&self) -> Option<Arc<Tenants>> {
        match &self.inner().tenants {
            Some((at, t)) if at.elapsed() < TTL => Some(t.clone()),
            _ => None,
        }
    }

    pub fn put_tenants(&self, generation: u64, tenants: Arc<Tenants>) {
        let mut inner = self.inner();
        if inner.generation == generation {
            inner.tenants = Some((Instant::now(), tenants));
        }
    }

    pub fn application(&self, id: Uuid) -> Option<Application> {
        fresh(&self.inner().applications, id)
    }

    pub fn put_application(&self, generation: u64, app: Application) {
        let mut inner = self.inner();
        if inner.generation == generation {
            keep(&mut inner.applications, app.id, app);
        }
    }

    pub fn connector(&self, id: Uuid) -> Option<Connector> {
        fresh(&self.inner().connectors, id)
    }

    pub fn put_connector(&self, generation: u64, c: Connector) {
        let mut inner = self.inner();
        if inner.generation == generation {
            keep(&mut inner.connectors, c.id, c);
        }
    }

    pub fn api_key(&self, key_hash: &str) -> Option<ApiKey> {
        match self.inner().api_keys.get(key_hash) {
            Some((at, k)) if at.elapsed() < TTL => Some(k.clone()),
            _ => None,
        }
    }

    pub fn put_api_key(&self, generation: u64, key_hash: &str, key: ApiKey) {
        let mut inner = self.inner();
        if inner.generation == generation {
            if inner.api_keys.len() >= MAX_API_KEYS {
                inner.api_keys.clear();
            }
            inner
                .api_keys
                .insert(key_hash.to_string(), (Instant::now(), key));
        }
    }

    /// After any write to tenants, applications, connectors or API keys.
    pub fn invalidate(&self) {
        let mut inner = self.inner();
        inner.generation += 1;
        inner.tenants = None;
        inner.applications.clear();
        inner.connectors.clear();
        inner.api_keys.clear();
    }
}
