//! `orm-cache`: the caching layer under `orm-core`. It knows nothing of
//! entities or sessions; it caches SQL text and opaque values.
//!
//! * [`template`]: compiled SQL templates. A statement is compiled once per
//!   *shape* of its arguments into text split at its parameter slots; binding
//!   fills the slots, expands list slots into as many placeholders as the
//!   list has values, numbers PostgreSQL placeholders, pads lists to a few
//!   lengths, and splits lists longer than the bind limit.
//! * [`template::TemplateCache`]: the bounded, concurrent cache of templates
//!   with its safety modes and statistics.
//! * [`region`]: result-cache regions (in memory, in Redis): expiry,
//!   stale-while-revalidate, generation-based invalidation, and the dogpile
//!   lock (one computation per key, in this process through the `lock` module and
//!   across processes through Redis), with deadlines and a circuit breaker
//!   so that an unreachable Redis only ever sends queries to the database.
//!
//! Why regions store bytes, not rows: this crate sits under `orm-core` and
//! cannot name its `Value`; the ORM encodes rows with its own versioned codec
//! (`orm_core::cache`) and a region adds an envelope (format version,
//! freshness, generations, checksum), so either format can change without
//! ever decoding garbage.

#![warn(missing_docs)]

mod lock;
pub mod region;
pub mod template;
