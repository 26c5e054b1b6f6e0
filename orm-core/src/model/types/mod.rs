//! Custom column types (SQLAlchemy's `TypeDecorator`): how a Rust type that
//! is not one of the built-in column types is stored, and read back.
//!
//! This module owns the *type-level* side of storage: [`ColumnType`], the
//! trait that generated code and column constants go through, and the
//! [`Converter`]s that a field selects. It must not know about entities,
//! sessions or backends: a converter maps a Rust value to a [`Value`] and
//! back, and everything below `Value` stays as it is.
//!
//! # Two ways to store a type
//!
//! **Per type**: implement [`ColumnValue`] for it, and every field of that
//! type (and `Option` of it) is a column. `#[derive(ColumnValue)]` does it for
//! newtypes over a supported type and for fieldless enums, stored as text (the
//! variant's name) or as an integer (the discriminant):
//!
//! ```
//! use orm_core::ColumnValue;
//!
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ColumnValue)]
//! pub struct ReceiverId(pub i64); // BIGINT; may be a #[key(auto)]
//!
//! #[derive(Debug, Clone, Copy, PartialEq, ColumnValue)]
//! #[column_value(text)] // "Active", "retired"
//! pub enum Status { Active, #[column_value(rename = "retired")] Retired }
//!
//! #[derive(Debug, Clone, Copy, PartialEq, ColumnValue)]
//! #[column_value(integer)] // INTEGER 1, 10
//! pub enum Priority { Low = 1, High = 10 }
//! ```
//!
//! **Per field**: `#[column(with = C)]` stores the field through the
//! [`Converter`] `C`, for types the program does not own or that have several
//! sensible encodings. Shipped: [`AsText`] (any `Display + FromStr`, e.g.
//! `std::net::IpAddr`) and [`AsJson`] (any `serde` type). A converter is a
//! unit struct implementing `Converter<T>`; write your own the same way.
//!
//! ```
//! use std::net::IpAddr;
//! use orm_core::prelude::*;
//!
//! #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
//! pub struct Settings { pub retries: u32, pub tags: Vec<String> }
//!
//! #[entity]
//! pub struct Receiver {
//!     #[key(auto)] pub id: i64,
//!     #[column(with = AsText)] pub address: IpAddr,            // TEXT "10.0.0.1", "::1"
//!     #[column(with = AsText)] pub backup: Option<IpAddr>,      // nullable TEXT
//!     #[column(with = AsJson)] pub settings: Settings,          // jsonb / JSON / TEXT
//! }
//!
//! let ip: IpAddr = "10.0.0.1".parse().unwrap();
//! let _ = Receiver::ADDRESS.eq(ip).or(Receiver::BACKUP.eq(&ip)); // typed filters encode through the converter
//! ```
//!
//! # How generated code names a field's storage: [`ColumnType`]
//!
//! A field's *column type* is the field type itself when that implements
//! [`ColumnValue`] (`String`, `Option<i64>`, `ReceiverId`), and
//! [`With<C, T>`] (or `Option<With<C, T>>`) when the field is `T` (or
//! `Option<T>`) with `#[column(with = C)]`. Column constants are typed by it:
//! `Receiver::ADDRESS: Column<Receiver, With<AsText, IpAddr>>`, so that a
//! filter operand (`IpAddr` or `&IpAddr`) is encoded by the same converter as
//! the field. `With` is never constructed; it only pairs two types.
//!
//! # Decisions
//!
//! * **Decode errors, never panics.** A stored value that does not decode
//!   (`"not-an-ip"` in an `AsText` column of `IpAddr`, JSON of the wrong
//!   shape, an unknown enum name or number) is [`crate::Error::Decode`]
//!   naming the entity, the column, the Rust type and the stored value
//!   (`found text "not-an-ip"`).
//! * **Encoding is infallible.** Entities turn into rows without errors
//!   (`Entity::to_row`), so a converter's `to_value` cannot fail. The one
//!   shipped case that can is `AsJson` on a type whose `Serialize` fails (a
//!   map with non-string keys): that is a property of the type, not of the
//!   data, and it panics with the type's name the first time it is stored.
//! * **`Option` is written literally.** With `with = C`, the derive reads a
//!   field type spelled `Option<T>` as a nullable column of `T`; an alias of
//!   `Option` would ask `C` to store the `Option` itself.
//! * **Networks.** `std::net::IpAddr` and `IpNetwork` are native `inet`
//!   on PostgreSQL, [`Cidr`] native `cidr` (text elsewhere); `AsText` is
//!   still there for a text column of addresses on every backend.
//!
//! Layer 1 (the model): it uses only what is below it (see `crate::layers`).

mod json;
mod network;
mod text;
mod time;

use std::marker::PhantomData;

pub use json::{AsJson, Json};
pub use network::{Cidr, CidrError};
pub use text::AsText;

use crate::value::{ColumnValue, DecodeFailure, SqlType, Value};

/// Text column types (`String`, `Option<String>`): what the text functions
/// of typed selects take; `Len` is the type of their length (`i64`, or
/// `Option<i64>` for a nullable column).
pub trait TextLike {
    /// `i64` or `Option<i64>`.
    type Len: ColumnValue;
}

impl TextLike for String {
    type Len = i64;
}

impl TextLike for Option<String> {
    type Len = Option<i64>;
}

/// Date and timestamp column types (chrono's `DateTime<Utc>`,
/// `NaiveDateTime`, `NaiveDate` and their `Option`s): what the date parts of
/// typed selects take (`Event::AT.year()`); `Part` is `i64`, or
/// `Option<i64>` for a nullable column.
pub trait DateLike {
    /// `i64` or `Option<i64>`.
    type Part: ColumnValue;
    /// A `DateTime<Utc>`: its parts are read in UTC.
    #[doc(hidden)]
    const ZONED: bool;
}

macro_rules! date_like {
    ($($t:ty => $zoned:expr),*) => {$(
        impl DateLike for $t {
            type Part = i64;
            const ZONED: bool = $zoned;
        }
        impl DateLike for Option<$t> {
            type Part = Option<i64>;
            const ZONED: bool = $zoned;
        }
    )*};
}

date_like!(
    chrono::DateTime<chrono::Utc> => true,
    chrono::NaiveDateTime => false,
    chrono::NaiveDate => false
);

/// A way to store a Rust type `T` in one column, selected per field with
/// `#[column(with = Self)]`. Implemented by unit structs such as [`AsText`].
///
/// ```
/// use orm_core::{Converter, DecodeFailure, SqlType, Value};
///
/// /// Stores a `bool` as "yes" / "no".
/// pub struct YesNo;
///
/// impl Converter<bool> for YesNo {
///     const SQL_TYPE: SqlType = SqlType::Text;
///     fn to_value(value: &bool) -> Value {
///         Value::Text(if *value { "yes" } else { "no" }.into())
///     }
///     fn from_value(value: Value) -> Result<bool, DecodeFailure> {
///         match value {
///             Value::Text(s) if s == "yes" => Ok(true),
///             Value::Text(s) if s == "no" => Ok(false),
///             other => Err(DecodeFailure::new("yes/no", &other)),
///         }
///     }
/// }
/// assert_eq!(<YesNo as Converter<bool>>::to_value(&true), Value::Text("yes".into()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot store a column of type `{T}`",
    label = "no `Converter<{T}>` for this converter",
    note = "AsText stores types that are Display + FromStr, AsJson types that are serde Serialize + DeserializeOwned"
)]
pub trait Converter<T> {
    /// The declared SQL type of the column.
    const SQL_TYPE: SqlType;

    /// Encodes a field value. Must not fail (see the module docs).
    fn to_value(value: &T) -> Value;

    /// Decodes a stored value; must not panic on any input.
    fn from_value(value: Value) -> Result<T, DecodeFailure>;
}

/// The column type of a field of type `T` stored through converter `C`
/// (`#[column(with = C)]`). A type-level pair: never constructed.
pub struct With<C, T>(PhantomData<fn() -> (C, T)>);

/// How one field is stored: what generated code and [`crate::Column`] use.
///
/// Implemented for every [`ColumnValue`] (the type stores itself) and for
/// [`With<C, T>`] / `Option<With<C, T>>` (converter `C` stores `T`). Not meant
/// to be implemented directly: implement `ColumnValue` or [`Converter`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a supported column type",
    label = "unsupported column type",
    note = "supported: i16, i32, i64, u8, u16, u32, u64, f32, f64, bool, String, Vec<u8>, chrono::{{DateTime<Utc>, NaiveDateTime, NaiveDate, NaiveTime}}, time::{{OffsetDateTime, PrimitiveDateTime, Date, Time}}, uuid::Uuid, rust_decimal::Decimal, std::net::IpAddr, orm_core::IpNetwork, orm_core::types::Cidr, serde_json::Value, arrays Vec<T> / Vec<Option<T>> of i16/i32/i64/f32/f64/bool/String/Uuid/Decimal, orm_core::Json<T>, types with #[derive(ColumnValue)], and Option<T> of each",
    note = "or store the field through a converter: #[column(with = AsText)] or #[column(with = AsJson)]"
)]
pub trait ColumnType {
    /// The Rust type of the field.
    type Field;
    /// The declared SQL type of the column.
    const SQL_TYPE: SqlType;
    /// Whether the column accepts NULL.
    const NULLABLE: bool;
    /// Whether the database can generate the value (`#[key(auto)]`).
    const AUTO_KEY: bool;

    /// Encodes the field.
    fn encode(field: &Self::Field) -> Value;
    /// Decodes a cell.
    fn decode(value: Value) -> Result<Self::Field, DecodeFailure>;
}

impl<T: ColumnValue> ColumnType for T {
    type Field = T;
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = T::NULLABLE;
    const AUTO_KEY: bool = T::AUTO_KEY;

    fn encode(field: &T) -> Value {
        field.to_value()
    }

    fn decode(value: Value) -> Result<T, DecodeFailure> {
        T::from_value(value)
    }
}

impl<C: Converter<T>, T> ColumnType for With<C, T> {
    type Field = T;
    const SQL_TYPE: SqlType = C::SQL_TYPE;
    const NULLABLE: bool = false;
    const AUTO_KEY: bool = false;

    fn encode(field: &T) -> Value {
        <C as Stores<T, NotNull>>::encode(field)
    }

    fn decode(value: Value) -> Result<T, DecodeFailure> {
        <C as Stores<T, NotNull>>::decode(value)
    }
}

impl<C: Converter<T>, T> ColumnType for Option<With<C, T>> {
    type Field = Option<T>;
    const SQL_TYPE: SqlType = C::SQL_TYPE;
    const NULLABLE: bool = true;
    const AUTO_KEY: bool = false;

    fn encode(field: &Option<T>) -> Value {
        <C as Stores<Option<T>, Nullable>>::encode(field)
    }

    fn decode(value: Value) -> Result<Option<T>, DecodeFailure> {
        <C as Stores<Option<T>, Nullable>>::decode(value)
    }
}

/// How generated code stores a `#[column(with = C)]` field of type `F`:
/// `C: Stores<F, NotNull>`, or `C: Stores<Option<T>, Nullable>` for a field
/// spelled `Option<T>`. It is [`ColumnType`] seen from the converter, so
/// that a converter that cannot store the field is reported as such (with
/// what the shipped converters need) rather than as an unsupported type.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot store a field of type `{F}`",
    label = "`{Self}` cannot store this type",
    note = "#[column(with = C)] needs `C: Converter<T>` for the field type T (`Option<T>` stores T): AsText stores types that are Display + FromStr, AsJson types that are serde Serialize + DeserializeOwned"
)]
pub trait Stores<F, N> {
    const SQL_TYPE: SqlType;
    const NULLABLE: bool;
    const AUTO_KEY: bool = false;

    fn encode(field: &F) -> Value;
    fn decode(value: Value) -> Result<F, DecodeFailure>;
}

/// [`Stores`] marker: a field that is not an `Option`.
#[doc(hidden)]
pub struct NotNull;

/// [`Stores`] marker: an `Option<T>` field, NULL for `None`.
#[doc(hidden)]
pub struct Nullable;

impl<C: Converter<T>, T> Stores<T, NotNull> for C {
    const SQL_TYPE: SqlType = C::SQL_TYPE;
    const NULLABLE: bool = false;

    fn encode(field: &T) -> Value {
        C::to_value(field)
    }

    fn decode(value: Value) -> Result<T, DecodeFailure> {
        C::from_value(value)
    }
}

impl<C: Converter<T>, T> Stores<Option<T>, Nullable> for C {
    const SQL_TYPE: SqlType = C::SQL_TYPE;
    const NULLABLE: bool = true;

    fn encode(field: &Option<T>) -> Value {
        match field {
            Some(v) => C::to_value(v),
            None => Value::Null(C::SQL_TYPE),
        }
    }

    fn decode(value: Value) -> Result<Option<T>, DecodeFailure> {
        match value {
            Value::Null(_) => Ok(None),
            v => C::from_value(v).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn with_encodes_through_the_converter_and_option_adds_null() {
        let ip: IpAddr = "::1".parse().unwrap();
        assert_eq!(
            <With<AsText, IpAddr>>::encode(&ip),
            Value::Text("::1".into())
        );
        assert_eq!(
            <Option<With<AsText, IpAddr>>>::encode(&None),
            Value::Null(SqlType::Text)
        );
        assert_eq!(
            <Option<With<AsText, IpAddr>>>::decode(Value::Null(SqlType::BigInt)),
            Ok(None)
        );
        assert_eq!(
            <Option<With<AsText, IpAddr>>>::decode(Value::Text("10.0.0.1".into())),
            Ok(Some("10.0.0.1".parse().unwrap()))
        );
        const {
            assert!(!<With<AsText, IpAddr> as ColumnType>::NULLABLE);
            assert!(<Option<With<AsText, IpAddr>> as ColumnType>::NULLABLE);
            assert!(<i64 as ColumnType>::AUTO_KEY);
        }
    }
}
