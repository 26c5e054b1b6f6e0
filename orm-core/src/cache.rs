//! The result cache: query results kept in named regions (in memory or in
//! Redis), shared by sessions and, through Redis, by processes.
//!
//! This module is the glue between the ORM and `orm-cache`'s regions,
//! which know nothing of rows: it encodes results with a versioned codec
//! ([`codec`]), hashes statements into keys, tells regions which tables a
//! commit wrote, and turns cached rows into objects of a session.
//!
//! ## Set up once, opt in per query
//!
//! ```
//! # use orm_core::prelude::*;
//! use std::time::Duration;
//! use orm_core::cache::{Region, RedisOptions, RedisStore};
//!
//! #[entity]
//! pub struct Account {
//!     #[key(auto)]
//!     pub id: i64,
//!     pub balance: i64,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.create_all(&[Account::schema()]).await?;
//! db.cache().add(Region::memory("short").expiry(Duration::from_secs(30)))?;
//! // Shared by processes (nothing is sent until a query uses it):
//! let redis = RedisStore::new("redis://127.0.0.1:6379", RedisOptions::default())?;
//! db.cache().add(
//!     Region::redis("reports", &redis)
//!         .expiry(Duration::from_secs(600))
//!         .stale_while_revalidate(Duration::from_secs(60)),
//! )?;
//!
//! let mut s = db.session();
//! let rich = s
//!     .query::<Account>()
//!     .filter(Account::BALANCE.gt(1_000))
//!     .cached("short")                     // region; .key("rich") / .expiry(..) optional
//!     .all()
//!     .await?;                             // objects through the identity map (merge)
//! let totals = db
//!     .sql("SELECT COUNT(*) AS n FROM accounts", vec![])
//!     .cached("short")
//!     .reads(["accounts"])                 // what invalidates it
//!     .rows()
//!     .await?;
//! # let _ = (rich, totals);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! ## What is cached, and when it is gone
//!
//! The key is the region's prefix plus a SHA-1 of the dialect, the SQL, its
//! parameters in order and the tables read (or a name given with `.key(..)`).
//! A value is the encoded rows, fresh for the region's (or the query's)
//! expiry, then served stale for the stale-while-revalidate window while one
//! background task refreshes it. It is gone early when:
//!
//! * **a commit wrote a table it read**: [`crate::Session::commit`] tells
//!   every region's store which tables its transaction wrote; each table
//!   has a generation counter (in Redis: shared by every process on the
//!   namespace), and a value computed under an older generation is a miss.
//!   Generations are read before a value is computed and the value is
//!   stored only if they are unchanged, so a result read before a
//!   conflicting commit is never stored over the newer state;
//! * it is invalidated by key ([`ResultCache::invalidate`],
//!   [`CachedQuery::invalidate`]), by region
//!   ([`ResultCache::invalidate_region`]) or by table
//!   ([`ResultCache::invalidate_tables`], for writes made with raw SQL,
//!   which the ORM does not see).
//!
//! Entity queries read their entity's table; raw SQL reads the tables it
//! names with `.reads(..)` (none: only expiry and explicit invalidation).
//! Memory regions are per process: another process's commits reach them
//! only through expiry.
//!
//! ## When Redis is away
//!
//! The query runs on the database and the caller gets correct rows; every
//! Redis call has a deadline, a circuit breaker skips Redis after repeated
//! failures, errors are counted ([`RedisStore::stats`]) and logged once per
//! interval (see `orm_cache::region`). A value that does not decode (damaged,
//! or from another format version) is a miss. Generation bumps that could
//! not be sent are sent with the next lookup that reaches Redis; until then
//! other processes may serve values the commit should have invalidated.
//!
//! Layer 5 (the entry points): it uses only what is below it (see `crate::layers`).

pub use crate::query::prepared::CachedQuery;
pub use crate::results::ResultCache;
pub use orm_cache::region::{
    MemoryStore, RedisOptions, RedisStats, RedisStore, Region, RegionConfig, RegionError,
    RegionStats, Source, Store,
};
