//! `orm-cache`: the caching layer under `orm-core`. It knows nothing of
//! entities or sessions; it caches SQL and rows.
//!
//! What it will own (each is an open issue; nothing is implemented yet):
//!
//! * `template`: compiled SQL templates keyed by the *shape* of a query's
//!   arguments (None vs value, list vs scalar, backend), with expanding `IN`
//!   slots that become as many placeholders as the bound list has values,
//!   PostgreSQL placeholder renumbering, and splitting of lists longer than a
//!   backend's bind limit. `orm-core` will route its own statements (get by
//!   key, flush statements, relation loads) through it.
//! * `region`: result-cache regions with memory and Redis backends, expiry,
//!   stale-while-revalidate, invalidation by table on commit, and the
//!   database as the fallback when the cache is unreachable.
//! * `lock`: the dogpile lock, so one caller per key recomputes a missing value
//!   (in process, and across processes through Redis).
