//! The small, documented API that `#[entity]`-generated code calls
//! (and `#[fields]` and `#[derive(ColumnValue)]`).
//!
//! It is public only under its versioned name, `orm_core::__private_v1`
//! (`lib.rs`), and generated code refers to `::orm_core::__private_v1::*`
//! only (or `<path>::__private_v1::*` with `#[entity(crate = path)]`), so
//! user `use` statements and renames cannot break it. Not for direct use:
//! items here may change without notice.
//!
//! Why the name carries a version: the items here and the derive that calls
//! them change together, so a derive must only ever expand against the
//! orm-core it was written for. Cargo sees to that for released crates,
//! because orm-core requires exactly its own version of orm-derive
//! (`orm-derive = { version = "=0.1.0", .. }` in the workspace's
//! `Cargo.toml`, as serde requires `=1.0.x` of serde_derive and diesel
//! `~1.4.0` of diesel_derives). The name covers what the pin cannot see (a
//! direct dependency on another orm-derive, a patched or vendored copy, a
//! checkout between releases): generated code names the module of the API
//! it was written for, as serde's names `serde::__private228`, so a derive
//! and an orm-core that do not match fail to compile at once, at the
//! attribute, with ``could not find `__private_v1` in `orm_core` ``, rather
//! than with errors about individual items deep in generated code.
//!
//! The number goes up (here, in `lib.rs`, and in orm-derive's
//! `crate_path::PRIVATE_MODULE`) whenever an item here is added, removed, or
//! changes signature or meaning.
//!
//! Layer 5 (the entry points): it uses only what is below it (see `crate::layers`).

pub use crate::error::{Error, Result};
pub use crate::model::column::{Column, Scalar};
pub use crate::model::entity::Entity;
pub use crate::model::fields::RelationField;
pub use crate::model::meta::{ColumnMeta, EntityMeta, ForeignKey, IndexMeta, OnDelete};
pub use crate::model::relation::{
    OnDeleteChildren, Orphans, Relation, RelationKind, RelationMeta, Via,
};
pub use crate::model::types::{ColumnType, NotNull, Nullable, Stores, With};
pub use crate::relation::Holds;
pub use crate::row::{FromRow, Row};
pub use crate::session::type_ops::type_ops;
pub use crate::value::{ColumnValue, DecodeFailure, EnumType, SqlType, Value};
pub use std::sync::atomic::AtomicU64;

/// Implements a `#[fields]` trait for an entity; invoked by the `macro_rules!`
/// that `#[fields]` generates, which the entity's `fields(..)` calls.
pub use orm_derive::__impl_fields as impl_fields;

fn decode_error(meta: &'static EntityMeta, index: usize, failure: DecodeFailure) -> Error {
    Error::Decode {
        entity: meta.name,
        column: meta
            .columns
            .get(index)
            .map_or_else(|| index.to_string(), |c| c.name.to_string()),
        expected: failure.expected,
        found: failure.found,
    }
}

/// How generated code decodes a cell: `<T as ColumnType>::decode`, passed as
/// a function rather than as a `T: ColumnType` bound, so that an unsupported
/// field type is reported once, by the projection at the field's type.
pub type Decoder<F> = fn(Value) -> std::result::Result<F, DecodeFailure>;

/// Decodes one owned cell as column `index` of `meta`.
pub fn decode<F>(
    value: Value,
    meta: &'static EntityMeta,
    index: usize,
    decoder: Decoder<F>,
) -> Result<F> {
    decoder(value).map_err(|f| decode_error(meta, index, f))
}

/// Decodes a borrowed cell (used for keys, which are small).
pub fn decode_ref<F>(
    values: &[Value],
    meta: &'static EntityMeta,
    index: usize,
    decoder: Decoder<F>,
) -> Result<F> {
    let value = values
        .get(index)
        .cloned()
        .ok_or_else(|| short_row(meta, values.len()))?;
    decode(value, meta, index, decoder)
}

fn short_row(meta: &'static EntityMeta, len: usize) -> Error {
    Error::Decode {
        entity: meta.name,
        column: format!("(row of {len} values)"),
        expected: "one value per column",
        found: format!("{len} values for {} columns", meta.columns.len()),
    }
}

/// Moves the cells of a row out one at a time, in column order.
pub struct Cells {
    values: std::vec::IntoIter<Value>,
    meta: &'static EntityMeta,
    index: usize,
}

impl Cells {
    /// The cells of one row of `meta`'s columns; a row of another width is an error.
    pub fn new(values: Vec<Value>, meta: &'static EntityMeta) -> Result<Cells> {
        if values.len() != meta.columns.len() {
            return Err(short_row(meta, values.len()));
        }
        Ok(Cells {
            values: values.into_iter(),
            meta,
            index: 0,
        })
    }

    /// Decodes the next cell.
    #[allow(clippy::should_implement_trait)]
    pub fn next<F>(&mut self, decoder: Decoder<F>) -> Result<F> {
        let index = self.index;
        self.index += 1;
        let value = self
            .values
            .next()
            .ok_or_else(|| short_row(self.meta, index))?;
        decode(value, self.meta, index, decoder)
    }
}
