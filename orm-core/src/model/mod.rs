//! The model: what `#[entity]` declares, as plain data and the traits
//! generated code implements. It never names a session or a handle.
//!
//! * [`entity`]: the [`Entity`](entity::Entity) trait;
//! * [`meta`]: table and column metadata;
//! * [`column`]: typed columns, filters and orderings;
//! * `expr`: select expressions and subqueries as data;
//! * [`types`]: column types and converters.
//!
//! Layer 1 (the model): it uses only what is below it (see `crate::layers`).

pub(crate) mod column;
pub(crate) mod entity;
pub(crate) mod expr;
#[doc(hidden)]
pub mod fields;
pub(crate) mod meta;
pub(crate) mod relation;
pub mod types;
