//! A unit-of-work ORM for Rust: entities declared with `#[entity]`, a
//! [`Session`] with an identity map, typed queries built with sea-query,
//! and sqlx backends for SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! ```
//! use orm_core::prelude::*;
//!
//! #[entity(table = "authors")]
//! #[derive(Debug, Clone)]
//! pub struct Author {
//!     #[key(auto)]
//!     pub id: i64,
//!     #[column(unique)]
//!     pub name: String,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.create_all(&[Author::schema()]).await?;
//! let mut s = db.session();
//! s.add(Author { id: 0, name: "Le Guin".into() });
//! s.commit().await?;
//! let a = s.query::<Author>().filter(Author::NAME.eq("Le Guin")).one().await?;
//! assert!(a.read().id > 0);
//! # Ok::<(), orm_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # `#[entity]` reference
//!
//! On the struct, `#[entity]` with any of these arguments, in any order:
//!
//! | argument | meaning |
//! |---|---|
//! | `table = "name"` | the SQL table (default: the snake_case plural of the struct name, `OrderLine` -> `order_lines`) |
//! | `is_modified = path` | a `fn(&Self, &Self) -> bool` (the object, then the object as last loaded or flushed) that says whether the object really changed, replacing the column-by-column comparison ([`Entity::is_modified`]) |
//! | `after_load = path` | a `fn(&mut Self)` run at the end of [`Entity::from_row`], so on every object built from a row (queries, `refresh`, the `is_modified` comparison): the place to compute `#[transient]` derived state. It is part of the type and runs before the session's `after_load::<T>` hooks ([`hooks`]), which are per session or database, ordered, fallible, and skip rows that map to an object already in the session |
//! | `logic(A, path::B)` | implements each logic trait for the entity with an empty body (`impl A for Entity {}`): logic traits have only default methods, written against fields traits |
//! | `fields(A, path::B)` | implements each [`#[fields]`](macro@fields) trait for the entity from its fields, with no hand-written impl |
//! | `crate = path` | the path generated code takes to this crate, `::orm_core` by default: for a crate that re-exports `orm_core` under its own name (`pub use orm_core::*;` in `my_facade`, which brings the hidden module generated code calls along), so that code using the macros through it need not name `orm_core`: `#[my_facade::entity(crate = my_facade)]`; `#[fields(crate = path)]` and `#[column_value(crate = path)]` take the same |
//!
//! On fields:
//!
//! | attribute | meaning |
//! |---|---|
//! | `#[key]` | part of the primary key (several fields make a composite key) |
//! | `#[key(auto)]` | a key the database generates (i16/i32/i64, or a `#[derive(ColumnValue)]` newtype over one); its value is ignored on insert and set after |
//! | `#[version]` | the optimistic-lock counter (one non-key `i32`/`i64` field per entity): set to 1 on insert, bumped by every flush that changes the row, checked by UPDATE and DELETE |
//! | `#[transient]` | not a column: no metadata, no column constant, not in rows, not change-tracked; `Default::default()` when built from a row (then `after_load` may set it). The type must implement `Default` |
//! | `#[column(rename = "sql_name")]` | the SQL column name (default: the field name) |
//! | `#[column(unique)]` / `#[column(index)]` | a unique constraint / a plain index |
//! | `#[column(default = "SQL")]` | the column's DEFAULT in `create_all` (the ORM's own inserts always send the field) |
//! | `#[column(len = 64)]` | VARCHAR(64) / VARBINARY(64) |
//! | `#[column(precision = 12, scale = 2)]` | a decimal column of 12 digits, 2 after the point: `numeric(12,2)` / `DECIMAL(12,2)` (SQLite keeps no precision); precision 1 to 65, scale 0 (the default) to 30 and at most the precision, MySQL's limits, checked at compile time, as is the field being a decimal. A value with more places than the scale (the server would round it, and the object would no longer be its row) or more digits before the point than the column holds is `Error::InvalidValue` naming the entity and column, before anything is sent (flushes, upserts, bulk updates) |
//! | `#[column(references = Other)]` | a foreign key to `Other`'s primary key |
//! | `#[column(references = Other, on_delete = "cascade")]` | ... with `restrict` (default), `cascade` or `set_null` |
//! | `#[column(with = AsText)]` | stores the field through a [`Converter`]: [`AsText`] (`Display + FromStr`, e.g. `IpAddr`), [`AsJson`] (any serde type) or your own; `Option<T>` is a nullable column of `T` |
//!
//! `Option<T>` fields are nullable. Supported field types: see [`ColumnValue`];
//! `#[derive(ColumnValue)]` adds newtypes and enums, `with = ..` anything a
//! converter handles (see [`types`]). Each column field also becomes a typed
//! column constant: `Author::NAME`.
//!
//! Relationship fields ([`relation`]) are not columns. The first argument
//! is the target entity (`Self` for the entity itself); a field has one of
//! these attributes and no `#[key]`, `#[version]`, `#[transient]` or
//! `#[column(..)]`:
//!
//! | attribute | meaning |
//! |---|---|
//! | `#[belongs_to(Receiver, by = "receiver_id")]` | a [`Ref<Receiver>`](Ref): the parent whose key is in this entity's column field `receiver_id` (the foreign key, usually with `#[column(references = Receiver)]`) |
//! | `#[has_many(Plane, by = "receiver_id")]` | a [`Many<Plane>`](Many): the children whose field `receiver_id` holds this entity's key |
//! | `#[has_many(Plane, by = "receiver_id", keyed_by = "name")]` | a [`Keyed<K, Plane>`](Keyed): the children by the value of their field `name` (of type `K`) |
//! | `#[has_many(.., on_delete = "delete")]` | deleting the owner deletes its children (`"delete"`, the default), fails while it has children (`"refuse"`), or sets their foreign key to NULL (`"detach"`: the column must be nullable) |
//! | `#[has_many(.., orphans = "delete")]` | a child removed from the collection is deleted (`"delete"`, the default) or gets a NULL foreign key (`"detach"`) |
//! | `#[many_to_many(Group, via = "receiver_groups")]` | a [`Many<Group>`](Many) through the association table `receiver_groups`, whose columns default to `<owner>_id` and `<target>_id` (`receiver_id`, `group_id`) |
//! | `#[many_to_many(.., owner_column = "a_id", target_column = "b_id")]` | the association table's columns (needed when the defaults are the same: a many-to-many of an entity to itself) |
//!
//! The derive checks what it can see (that `by` of a belongs-to names a
//! column field, the field types, the arguments); the compiler checks the
//! rest, at the attribute: that the target is an entity, that the field
//! holds the target (`#[has_many(Plane, ..)] planes: Many<Group>` does not
//! compile), and that a has-many's `by` and `keyed_by` are fields of the
//! target. Built from a row, a relationship field is unloaded; each becomes
//! a typed relationship constant, `Receiver::PLANES`, to load it
//! (`query.load(Receiver::PLANES)`). An entity with relationships can still
//! `#[derive(Clone, Debug, Default)]`.
//!
//! # Schema apart from business logic
//!
//! For every entity, `#[entity]` also generates a *fields trait*,
//! `<Entity>Fields`: an accessor per field (`fn name(&self) -> &String`) and a
//! setter per field that is neither a key nor the `#[version]` counter
//! (`fn set_name(&mut self, value: String)`; setters only assign, change
//! tracking compares values). A relationship field has a mutable accessor
//! instead of a setter (`fn planes_mut(&mut self) -> &mut Many<Plane>`). Business logic lives in traits with default
//! methods over a fields trait, in modules with no session and no SQL; it is
//! attached with `logic(..)` and unit-tested on any plain struct that
//! implements the fields trait. The trait is `<Entity>Fields`, with the
//! struct's visibility, and it reaches every field whatever the field's own
//! visibility (a type of that name next to the entity would clash); its
//! methods are named after the
//! fields, so a field named like a method of [`Entity`] (`key`) or of a
//! logic trait needs the qualified form (`Entity::key(&x)`) where both
//! traits are in scope.
//!
//! ```
//! mod logic {
//!     // No ORM here but the generated trait.
//!     pub trait AccountLogic: super::schema::AccountFields {
//!         fn is_overdrawn(&self) -> bool { *self.balance() < 0 }
//!         fn deposit(&mut self, amount: i64) { let b = *self.balance(); self.set_balance(b + amount) }
//!     }
//! }
//!
//! mod schema {
//!     use orm_core::prelude::*;
//!     #[entity(logic(crate::logic::AccountLogic))]
//!     pub struct Account {
//!         #[key(auto)] pub id: i64,
//!         pub balance: i64,
//!     }
//! }
//!
//! use logic::AccountLogic;
//!
//! fn main() {
//!     let mut a = schema::Account { id: 0, balance: -5 };
//!     assert!(a.is_overdrawn());
//!     a.deposit(10);
//!     assert_eq!(a.balance, 5);
//! }
//! ```
//!
//! A logic trait shared by several entities (`Audited` on every audited
//! entity) is written against a small fields trait marked
//! [`#[fields]`](macro@fields), which `fields(..)` implements for each entity
//! that lists it. Each method without a default body is an accessor
//! `fn name(&self) -> &T;` or a setter `fn set_name(&mut self, value: T);` of
//! the entity's field `name` (keys and the version counter have no setter).
//! The `#[fields]` trait and the entities must be in the same crate.
//!
//! ```
//! use orm_core::prelude::*;
//!
//! #[fields]
//! pub trait AuditFields {
//!     fn updated_by(&self) -> &String;
//!     fn set_updated_by(&mut self, value: String);
//! }
//!
//! pub trait Audited: AuditFields {
//!     fn touch(&mut self, who: &str) { self.set_updated_by(who.to_string()) }
//! }
//!
//! #[entity(fields(AuditFields), logic(Audited))]
//! pub struct Invoice { #[key(auto)] pub id: i64, pub updated_by: String }
//!
//! #[entity(fields(AuditFields), logic(Audited))]
//! pub struct Customer { #[key] pub code: String, pub updated_by: String }
//!
//! fn main() {
//!     let mut c = Customer { code: "c1".into(), updated_by: String::new() };
//!     c.touch("ann");
//!     assert_eq!(c.updated_by, "ann");
//! }
//! ```
//!
//! Generics: `#[entity]` structs cannot be generic (a compile error says so);
//! `#[derive(ColumnValue)]` newtypes can.

#![warn(missing_docs)]

mod backend;
pub mod cache;
mod database;
mod engine;
mod error;
mod layers;
pub mod migrate;
mod model;
mod object;
mod query;
pub mod relation;
mod results;
mod row;
mod runner;
mod session;
mod sql;
mod telemetry;
mod value;

pub use model::types;
pub use session::hooks;

mod __private;

/// The derive's private API under its versioned name, the only name
/// generated code uses (see `__private.rs` for why it carries a version).
#[doc(hidden)]
pub mod __private_v1 {
    pub use crate::__private::*;
}

pub use backend::{Dialect, Isolation, MySqlDriver, PoolOptions, SqliteDriver, TxOptions};
pub use database::{ConnectOptions, Database};
pub use error::{DbErrorKind, Error, Result, Violation};
pub use hooks::{EntityEvent, Hooks};
/// IP networks (`10.0.0.0/24`), a column type beside `std::net::IpAddr`.
pub use ipnetwork::IpNetwork;
pub use model::column::{
    ArrayColumn, ArrayElement, ArrayLen, ArrayOf, Assign, CmpOp, Column, Comparable, Direction,
    Filter, Operand, Order, Scalar, SetOp,
};
pub use model::entity::Entity;
pub use model::meta::{ColumnMeta, EntityMeta, ForeignKey, IndexMeta, OnDelete};
pub use orm_cache::template::{Mode as TemplateMode, Padding, TemplateStats};
pub use orm_derive::{ColumnValue, FromRow, entity, fields};
pub use query::batch::{BatchError, BatchQuery, Batched};
pub use query::raw::SqlQuery;
pub use query::{
    Agg, Also, Case, CountRows, FromBoth, FromLeft, FromRight, FromSecond, FromThird, Having, Item,
    Join, JoinHaving, JoinItem, JoinList, JoinSelect, Joined, Labeled, OnColumn, OnRelation, Outer,
    Page, Param, Query, STREAM_CHUNK, Select, SelectItem, SelectList, Shape, Side, Statement,
    Subquery, Summable, Synchronize, TemplateOptions, Uncorrelated, Upsert,
};
pub use relation::{Keyed, Many, Path, Ref, Relation, ValueView};
pub use row::{FromRow, Row, RowSet};
pub use session::{
    BORROW_WAIT, Change, Handle, ObjectState, ReadGuard, Session, WriteGuard, set_borrow_wait,
};
pub use telemetry::{Stats, StatsSnapshot};
pub use types::{AsJson, AsText, ColumnType, Converter, Json, With};
pub use value::{ColumnValue, DecodeFailure, Elem, EnumType, SqlType, Value};

/// The names most programs need: `use orm_core::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AsJson, AsText, ColumnValue, Database, Entity, Error, Filter, FromRow, Handle, Keyed, Many,
        ObjectState, Ref, Result, SelectItem, Session, entity, fields,
    };
}
