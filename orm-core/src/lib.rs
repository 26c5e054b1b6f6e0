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
//!
//! On fields:
//!
//! | attribute | meaning |
//! |---|---|
//! | `#[key]` | part of the primary key (several fields make a composite key) |
//! | `#[key(auto)]` | a key the database generates (i16/i32/i64); its value is ignored on insert and set after |
//! | `#[version]` | the optimistic-lock counter (one non-key `i32`/`i64` field per entity): set to 1 on insert, bumped by every flush that changes the row, checked by UPDATE and DELETE |
//! | `#[column(rename = "sql_name")]` | the SQL column name (default: the field name) |
//! | `#[column(unique)]` / `#[column(index)]` | a unique constraint / a plain index |
//! | `#[column(default = "SQL")]` | the column's DEFAULT in `create_all` (the ORM's own inserts always send the field) |
//! | `#[column(len = 64)]` | VARCHAR(64) / VARBINARY(64) |
//! | `#[column(references = Other)]` | a foreign key to `Other`'s primary key |
//! | `#[column(references = Other, on_delete = "cascade")]` | ... with `restrict` (default), `cascade` or `set_null` |
//!
//! `Option<T>` fields are nullable. Supported field types: see [`ColumnValue`].
//! Each field also becomes a typed column constant: `Author::NAME`.

mod backend;
mod column;
mod database;
mod entity;
mod error;
pub mod hooks;
mod meta;
mod query;
mod row;
mod schema;
mod session;
mod telemetry;
mod value;

#[doc(hidden)]
pub mod __private;

pub use backend::{Dialect, PoolOptions};
pub use column::{CmpOp, Column, Comparable, Direction, Filter, Operand, Order, Scalar};
pub use database::{ConnectOptions, Database};
pub use entity::Entity;
pub use error::{DbErrorKind, Error, Result};
pub use hooks::{EntityEvent, Hooks};
pub use meta::{ColumnMeta, EntityMeta, ForeignKey, OnDelete};
pub use orm_derive::entity;
pub use query::{Query, Statement};
pub use row::{Row, RowSet};
pub use session::{Change, Handle, ObjectState, Session};
pub use telemetry::{Stats, StatsSnapshot};
pub use value::{ColumnValue, DecodeFailure, SqlType, Value};

/// The names most programs need: `use orm_core::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Database, Entity, Error, Filter, Handle, ObjectState, Result, Session, entity,
    };
}
