//! The result cache's side in orm-core: the region registry of an engine
//! ([`ResultCache`]), keys of prepared reads (SHA-1 of dialect, SQL,
//! parameters and tables), reads through a region with the versioned row
//! codec ([`codec`]), the tables a commit wrote, and rows back into entity
//! values. The public face, with the guide, is [`crate::cache`].
//!
//! Layer 2: it runs statements through the runner on an engine; it knows
//! entity values (to decode cached rows) but no session or query.

pub(crate) mod codec;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use orm_cache::region::{CacheKey, Fetched, KeyHasher, Origin};
use parking_lot::RwLock;

use orm_cache::region::{Region, RegionConfig, RegionError, RegionStats, Store};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::model::entity::Entity;
use crate::row::RowSet;
use crate::runner::Prepared;
use crate::telemetry::Stats;

/// The result-cache regions of a [`Database`](crate::Database) (`db.cache()`).
#[derive(Default)]
pub struct ResultCache {
    regions: RwLock<IndexMap<String, Arc<Region>>>,
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.regions.read().values())
            .finish()
    }
}

impl From<RegionError> for Error {
    fn from(e: RegionError) -> Error {
        Error::Config(e.to_string())
    }
}

/// Which region a query reads through, and how.
#[derive(Debug, Clone)]
pub(crate) struct CacheSpec {
    pub region: String,
    pub key: Option<String>,
    pub expiry: Option<Duration>,
}

impl ResultCache {
    /// Sets up a region; its name must be new.
    pub fn add(&self, config: RegionConfig) -> Result<Arc<Region>> {
        let mut regions = self.regions.write();
        if regions.contains_key(config.name()) {
            return Err(Error::Config(format!(
                "a cache region named {:?} exists already",
                config.name()
            )));
        }
        let region = Arc::new(config.build());
        regions.insert(region.name().to_string(), region.clone());
        Ok(region)
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Result<Arc<Region>> {
        self.regions
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Config(format!("no cache region named {name:?}")))
    }

    /// Every region, in the order they were added.
    pub fn regions(&self) -> Vec<Arc<Region>> {
        self.regions.read().values().cloned().collect()
    }

    /// The counters of region `name`.
    pub fn stats(&self, name: &str) -> Result<RegionStats> {
        Ok(self.region(name)?.stats())
    }

    /// Forgets the value stored under the name `key` (given with `.key(..)`).
    pub async fn invalidate(&self, region: &str, key: &str) -> Result<()> {
        let region = self.region(region)?;
        region.invalidate(&region.named_key(key, &[])).await;
        Ok(())
    }

    /// Forgets every value of a region.
    pub async fn invalidate_region(&self, region: &str) -> Result<()> {
        self.region(region)?.invalidate_all().await;
        Ok(())
    }

    /// Forgets every value that read one of `tables`, in every region (and,
    /// for Redis regions, in every process sharing them).
    pub async fn invalidate_tables(&self, tables: &[&str]) {
        if tables.is_empty() {
            return;
        }
        let mut stores: Vec<Store> = Vec::new();
        for region in self.regions.read().values() {
            if !stores.iter().any(|s| s.same(region.store())) {
                stores.push(region.store().clone());
            }
        }
        futures_util::future::join_all(stores.iter().map(|s| s.tables_written(tables))).await;
    }

    /// A commit wrote these tables.
    pub(crate) async fn committed(&self, tables: &[&'static str]) {
        if !self.regions.read().is_empty() {
            self.invalidate_tables(tables).await;
        }
    }
}

/// Adds the tables a flush wrote to a transaction's list (for
/// [`ResultCache::committed`] at commit).
pub(crate) fn note_written(
    written: &mut Vec<&'static str>,
    tables: impl IntoIterator<Item = &'static str>,
) {
    for table in tables {
        if !written.contains(&table) {
            written.push(table);
        }
    }
}

fn region_key(region: &Region, db: &Engine, prepared: &Prepared, spec: &CacheSpec) -> CacheKey {
    let mut tables: Vec<&str> = prepared.tables.iter().map(|t| &**t).collect();
    tables.sort_unstable();
    tables.dedup();
    if let Some(name) = &spec.key {
        return region.named_key(name, &tables);
    }
    let mut id = KeyHasher::new();
    id.part(db.dialect().name().as_bytes());
    let mut params = Vec::new();
    for stmt in &prepared.statements {
        id.part(stmt.sql.as_bytes());
        params.clear();
        for p in &stmt.params {
            codec::put_value(&mut params, p);
        }
        id.part(&params);
    }
    for t in &tables {
        id.part(t.as_bytes());
    }
    region.hashed_key(id, &tables)
}

/// The store key of a prepared query in its region.
pub(crate) fn key_of(db: &Engine, prepared: &Prepared, spec: &CacheSpec) -> Result<String> {
    let region = db.cache().region(&spec.region)?;
    Ok(region_key(&region, db, prepared, spec).as_str().to_string())
}

/// Forgets a prepared query's cached result.
pub(crate) async fn invalidate(db: &Engine, prepared: &Prepared, spec: &CacheSpec) -> Result<()> {
    let region = db.cache().region(&spec.region)?;
    region
        .invalidate(&region_key(&region, db, prepared, spec))
        .await;
    Ok(())
}

/// Objects from rows of `T`'s columns; refuses rows of other columns (a
/// cached value from before a schema change is then a miss).
pub(crate) fn entities<T: Entity>(set: RowSet) -> Result<Vec<T>> {
    let meta = T::meta();
    let same_columns = set.columns.len() == meta.columns.len()
        && set
            .columns
            .iter()
            .zip(meta.columns)
            .all(|(c, m)| c.eq_ignore_ascii_case(m.name));
    if !set.rows.is_empty() && !same_columns {
        return Err(Error::Usage {
            entity: Some(meta.name),
            relation: None,
            message: format!(
                "the rows cached under this key do not have the columns of {} (does another query use the same cache key?)",
                meta.name
            ),
        });
    }
    set.rows.into_iter().map(T::from_row).collect()
}

/// Runs a prepared query through its region: from the store if there, else
/// computed once (see `orm_cache::region`) on the pool, counted in `stats`
/// (the session's) and the database's. `convert` makes the caller's value
/// from rows, fresh or decoded; on decoded rows its failure is a miss.
pub(crate) async fn fetch<V: Send + 'static>(
    db: &Engine,
    prepared: Prepared,
    spec: &CacheSpec,
    stats: Option<Stats>,
    convert: fn(RowSet) -> Result<V>,
) -> Result<Fetched<V>> {
    let region = db.cache().region(&spec.region)?;
    let key = region_key(&region, db, &prepared, spec);
    let prepared = Arc::new(prepared);
    let pool = db.clone();
    let compute = move |origin: Origin| {
        let (db, prepared) = (pool.clone(), prepared.clone());
        // A background refresh is nobody's session's work.
        let stats = stats.clone().filter(|_| origin == Origin::Caller);
        async move {
            let set = prepared.fetch(&db, stats.as_ref()).await?;
            let bytes = codec::encode(&set);
            Ok::<_, Error>((bytes, convert(set)?))
        }
    };
    let decode = |bytes: &[u8]| codec::decode(bytes).and_then(|set| convert(set).ok());
    let fetched = region
        .get_or_compute(&key, spec.expiry, decode, compute)
        .await?;
    tracing::debug!(
        region = region.name(),
        key = key.as_str(),
        source = ?fetched.source,
        "orm.cache"
    );
    Ok(fetched)
}

/// The tables a raw statement reads, as given by the caller.
pub(crate) fn tables<I, S>(tables: I) -> Vec<Cow<'static, str>>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    tables.into_iter().map(|t| Cow::Owned(t.into())).collect()
}
