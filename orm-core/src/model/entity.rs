//! The [`Entity`] trait: what `#[entity]` implements for a struct.
//!
//! It is the contract between generated code and the rest of the ORM: the
//! metadata, the primary key, and conversion between a struct and a row of
//! [`Value`]s in the metadata's column order. Users never implement it by
//! hand; they call the inherent items the derive adds (`User::schema()`,
//! `User::NAME`).
//!
//! Layer 1 (the model): it uses only what is below it (see `crate::layers`).

use std::fmt::Debug;
use std::hash::Hash;

use crate::error::Result;
use crate::model::fields::RelationField;
use crate::model::meta::EntityMeta;
use crate::value::Value;

/// A struct mapped to a table. Implemented by `#[entity]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an entity",
    label = "not an entity",
    note = "declare it with #[entity] (use orm_core::entity)"
)]
pub trait Entity: Sized + Send + Sync + 'static {
    /// The primary key: the key field's type, or a tuple for a composite key.
    type Key: Clone + Eq + Hash + Debug + Send + Sync + 'static;

    /// The table's metadata.
    fn meta() -> &'static EntityMeta;

    /// This object's primary key.
    fn key(&self) -> Self::Key;

    /// A key as values, in key-column order.
    fn key_values(key: &Self::Key) -> Vec<Value>;

    /// Reads only the key from a row in metadata column order (so the identity
    /// map can be consulted before the whole row is decoded).
    fn key_from_row(values: &[Value]) -> Result<Self::Key>;

    /// Builds the struct from a row in metadata column order.
    fn from_row(values: Vec<Value>) -> Result<Self>;

    /// Every column's value, in metadata column order.
    fn to_row(&self) -> Vec<Value>;

    /// Sets the field of column `index` (metadata order) from a value: how
    /// generated keys, version counters and refreshed rows reach the struct.
    fn set_column(&mut self, index: usize, value: Value) -> Result<()>;

    /// A semantic change test (`#[entity(is_modified = path)]`): given the
    /// values last loaded or flushed, says whether the object really changed.
    /// `None` (the default) compares column values.
    fn is_modified(&self, _loaded: &[Value]) -> Option<Result<bool>> {
        None
    }

    /// One column's value (metadata order); the derive writes one arm per
    /// column so reading a key attribute does not build the whole row.
    fn column_value(&self, index: usize) -> Value {
        let mut row = self.to_row();
        if index < row.len() {
            row.swap_remove(index)
        } else {
            Value::Null(crate::value::SqlType::Text)
        }
    }

    /// Relationship field `index` (the order of [`EntityMeta::relations`]).
    fn relation(&self, _index: usize) -> Option<&dyn RelationField> {
        None
    }

    /// Relationship field `index`, mutably.
    fn relation_mut(&mut self, _index: usize) -> Option<&mut dyn RelationField> {
        None
    }
}
