//! The ORM's own value model: [`Value`], [`SqlType`] and the [`ColumnValue`]
//! trait that maps a Rust field type to both.
//!
//! This module owns the boundary between Rust types and SQL values. Everything
//! above the backend seam (sessions, queries, derive-generated code) speaks
//! `Value`; only `crate::backend` converts a `Value` into a driver argument or
//! a driver cell into a `Value`. That is what lets a driver that calls SQLite
//! directly replace sqlx later without touching sessions or generated code.
//!
//! Decoding is deliberately forgiving about the *representation* a backend
//! returns (SQLite has no native date, uuid or boolean; MySQL reports
//! `BOOLEAN` as `TINYINT`) and strict about *values*: an integer that does not
//! fit the field, a malformed uuid or timestamp text is a [`DecodeFailure`],
//! never a silent truncation or a panic.
//!
//! Layer 0 (values, rows and errors): it uses nothing of the ORM (see `crate::layers`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use ipnetwork::IpNetwork;
use rust_decimal::Decimal;
use uuid::Uuid;

/// The SQL type a column is declared with, independent of backend.
///
/// `crate::sql::ddl` maps each to a backend's type name; typed NULLs carry one so
/// that PostgreSQL receives a correctly typed parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlType {
    /// 16-bit integer (`i16`).
    SmallInt,
    /// 32-bit integer (`i32`).
    Integer,
    /// 64-bit integer (`i64`).
    BigInt,
    /// 32-bit float (`f32`).
    Real,
    /// 64-bit float (`f64`).
    Double,
    /// `bool` (an integer 0/1 on SQLite and MySQL).
    Boolean,
    /// Text (`String`); `VARCHAR(n)` with `#[column(len = n)]`.
    Text,
    /// Bytes (`Vec<u8>`).
    Bytes,
    /// Date and time without a time zone.
    Timestamp,
    /// An instant, stored as UTC.
    TimestampTz,
    /// A calendar date (`NaiveDate`).
    Date,
    /// A time of day (`NaiveTime`).
    Time,
    /// A UUID (native on PostgreSQL, 16 bytes elsewhere).
    Uuid,
    /// A JSON document (`serde_json::Value`).
    Json,
    /// An exact decimal (`rust_decimal::Decimal`): `NUMERIC` on PostgreSQL
    /// (any precision, its scale kept), `DECIMAL(65, 20)` on MySQL,
    /// `NUMERIC` affinity on SQLite (15 significant digits, as SQLite keeps
    /// numbers).
    Decimal,
    /// An unsigned 8-bit integer (`u8`): `TINYINT UNSIGNED` on MySQL,
    /// `smallint` on PostgreSQL (which has no unsigned types: the next
    /// size up holds every value), `INTEGER` on SQLite.
    U8,
    /// An unsigned 16-bit integer (`u16`): `SMALLINT UNSIGNED` on MySQL,
    /// `integer` on PostgreSQL.
    U16,
    /// An unsigned 32-bit integer (`u32`): `INT UNSIGNED` on MySQL,
    /// `bigint` on PostgreSQL.
    U32,
    /// An unsigned 64-bit integer (`u64`): `BIGINT UNSIGNED` on MySQL,
    /// `numeric(20,0)` on PostgreSQL (`bigint` for a generated key),
    /// `INTEGER` on SQLite, which holds at most `i64::MAX` (a larger value
    /// is refused there). Values travel as exact `Decimal`s (one parameter
    /// type for every value of the column).
    U64,
    /// An IP address or network (`std::net::IpAddr`,
    /// `ipnetwork::IpNetwork`): native `inet` on PostgreSQL, its text
    /// (`10.0.0.1`, `10.0.0.0/24`) in `VARCHAR(49)` on MySQL and `TEXT` on
    /// SQLite.
    Inet,
    /// A network (`orm_core::types::Cidr`): `cidr` on PostgreSQL, its text
    /// elsewhere; its values are `Value::Inet`.
    Cidr,
    /// An array (`Vec<i64>`, `Vec<String>` ..): native on PostgreSQL
    /// (`bigint[]`), a JSON array elsewhere (MySQL `JSON`, SQLite `TEXT`).
    Array(Elem),
    /// A database enum (`#[derive(ColumnValue)]` with
    /// `#[column_value(native_enum = "mood")]`): a native enum type on
    /// PostgreSQL (`CREATE TYPE mood AS ENUM (..)`, values bound as that
    /// type), an inline `ENUM('a', ..)` column on MySQL, `TEXT` with a
    /// `CHECK` of the labels on SQLite; its values are [`Value::Enum`].
    Enum(&'static EnumType),
}

/// A database enum type: its name and its labels in declaration order
/// (PostgreSQL and MySQL sort an enum column in that order).
///
/// `#[derive(ColumnValue)]` declares one per enum with
/// `#[column_value(native_enum = "..")]`:
///
/// ```
/// use orm_core::{ColumnValue, SqlType, Value};
///
/// #[derive(Debug, Clone, Copy, PartialEq, ColumnValue)]
/// #[column_value(native_enum = "mood")]
/// enum Mood {
///     Happy,
///     #[column_value(rename = "so-so")]
///     SoSo,
/// }
///
/// let SqlType::Enum(ty) = Mood::SQL_TYPE else { unreachable!() };
/// assert_eq!((ty.name, ty.labels), ("mood", &["Happy", "so-so"][..]));
/// assert_eq!(Mood::SoSo.to_value(), Value::Enum(ty, 1));
/// assert_eq!(Mood::from_value(Value::Text("so-so".into())), Ok(Mood::SoSo));
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EnumType {
    /// The type's name (PostgreSQL's `CREATE TYPE` name).
    pub name: &'static str,
    /// The labels, in declaration order.
    pub labels: &'static [&'static str],
}

impl EnumType {
    /// The label at `index` (`"?"` past the end, which the derive never
    /// makes).
    pub fn label(&self, index: u16) -> &'static str {
        self.labels.get(usize::from(index)).copied().unwrap_or("?")
    }

    /// The index of `label`, if it is one of the type's.
    pub fn index_of(&self, label: &str) -> Option<u16> {
        self.labels
            .iter()
            .position(|l| *l == label)
            .and_then(|i| u16::try_from(i).ok())
    }
}

/// The element type of an array ([`SqlType::Array`], [`Value::Array`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Elem {
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    Boolean,
    Text,
    Bytes,
    Timestamp,
    TimestampTz,
    Date,
    Time,
    Uuid,
    Decimal,
    Inet,
}

impl Elem {
    /// The element's own column type.
    pub const fn sql_type(self) -> SqlType {
        match self {
            Elem::SmallInt => SqlType::SmallInt,
            Elem::Integer => SqlType::Integer,
            Elem::BigInt => SqlType::BigInt,
            Elem::Real => SqlType::Real,
            Elem::Double => SqlType::Double,
            Elem::Boolean => SqlType::Boolean,
            Elem::Text => SqlType::Text,
            Elem::Bytes => SqlType::Bytes,
            Elem::Timestamp => SqlType::Timestamp,
            Elem::TimestampTz => SqlType::TimestampTz,
            Elem::Date => SqlType::Date,
            Elem::Time => SqlType::Time,
            Elem::Uuid => SqlType::Uuid,
            Elem::Decimal => SqlType::Decimal,
            Elem::Inet => SqlType::Inet,
        }
    }

    /// Every element type.
    const ALL: [Elem; 15] = [
        Elem::SmallInt,
        Elem::Integer,
        Elem::BigInt,
        Elem::Real,
        Elem::Double,
        Elem::Boolean,
        Elem::Text,
        Elem::Bytes,
        Elem::Timestamp,
        Elem::TimestampTz,
        Elem::Date,
        Elem::Time,
        Elem::Uuid,
        Elem::Decimal,
        Elem::Inet,
    ];

    /// The element type whose own column type is `t` (`None`: a type no
    /// array holds): the inverse of [`Elem::sql_type`].
    pub fn for_type(t: SqlType) -> Option<Elem> {
        Elem::ALL.into_iter().find(|e| e.sql_type() == t)
    }

    /// The element type of a value (`None`: NULL, JSON, an array).
    pub fn of(value: &Value) -> Option<Elem> {
        Some(match value {
            Value::Bool(_) => Elem::Boolean,
            Value::I16(_) => Elem::SmallInt,
            Value::I32(_) => Elem::Integer,
            Value::I64(_) => Elem::BigInt,
            Value::F32(_) => Elem::Real,
            Value::F64(_) => Elem::Double,
            Value::Text(_) => Elem::Text,
            Value::Bytes(_) => Elem::Bytes,
            Value::Timestamp(_) => Elem::Timestamp,
            Value::TimestampTz(_) => Elem::TimestampTz,
            Value::Date(_) => Elem::Date,
            Value::Time(_) => Elem::Time,
            Value::Uuid(_) => Elem::Uuid,
            Value::Decimal(_) => Elem::Decimal,
            Value::Inet(_) => Elem::Inet,
            Value::Null(_) | Value::Json(_) | Value::Array(..) | Value::Enum(..) => return None,
        })
    }
}

impl SqlType {
    /// The Rust-facing name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            SqlType::SmallInt => "smallint",
            SqlType::Integer => "integer",
            SqlType::BigInt => "bigint",
            SqlType::Real => "real",
            SqlType::Double => "double",
            SqlType::Boolean => "boolean",
            SqlType::Text => "text",
            SqlType::Bytes => "bytes",
            SqlType::Timestamp => "timestamp",
            SqlType::TimestampTz => "timestamptz",
            SqlType::Date => "date",
            SqlType::Time => "time",
            SqlType::Uuid => "uuid",
            SqlType::Decimal => "decimal",
            SqlType::U8 => "u8",
            SqlType::U16 => "u16",
            SqlType::U32 => "u32",
            SqlType::U64 => "u64",
            SqlType::Inet => "inet",
            SqlType::Cidr => "cidr",
            SqlType::Array(_) => "array",
            SqlType::Enum(t) => t.name,
            SqlType::Json => "json",
        }
    }
}

/// One SQL value, owned. `Null` remembers its type (PostgreSQL needs it).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL NULL of a column of this type.
    Null(SqlType),
    /// A boolean.
    Bool(bool),
    /// A 16-bit integer.
    I16(i16),
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A 32-bit float.
    F32(f32),
    /// A 64-bit float.
    F64(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A date and time without a time zone.
    Timestamp(NaiveDateTime),
    /// An instant in UTC.
    TimestampTz(DateTime<Utc>),
    /// A calendar date.
    Date(NaiveDate),
    /// A time of day.
    Time(NaiveTime),
    /// A UUID.
    Uuid(Uuid),
    /// An exact decimal.
    Decimal(Decimal),
    /// An IP network; an address is the network of its full prefix.
    Inet(IpNetwork),
    /// A JSON document, boxed so that `Value` stays 32 bytes.
    Json(Box<serde_json::Value>),
    /// An array of one element type: an array column's value (`Vec<i64>`),
    /// or a PostgreSQL array parameter the ORM builds for a long IN list
    /// (`col = ANY($1)`).
    Array(Elem, Vec<Value>),
    /// A label of a database enum type ([`SqlType::Enum`]), by index.
    Enum(&'static EnumType, u16),
}

impl Value {
    /// Whether it is NULL (of any type).
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }

    /// The variant's name, for error messages ("found i64").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null(_) => "null",
            Value::Bool(_) => "bool",
            Value::I16(_) => "i16",
            Value::I32(_) => "i32",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Timestamp(_) => "timestamp",
            Value::TimestampTz(_) => "timestamptz",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Uuid(_) => "uuid",
            Value::Decimal(_) => "decimal",
            Value::Inet(_) => "inet",
            Value::Json(_) => "json",
            Value::Array(..) => "array",
            Value::Enum(..) => "enum",
        }
    }

    /// A short rendering for error messages and key descriptions; long text
    /// and blobs are cut so an error never carries a megabyte.
    pub fn describe(&self) -> String {
        const MAX: usize = 64;
        let s = match self {
            Value::Null(_) => "NULL".to_string(),
            Value::Bool(v) => v.to_string(),
            Value::I16(v) => v.to_string(),
            Value::I32(v) => v.to_string(),
            Value::I64(v) => v.to_string(),
            Value::F32(v) => v.to_string(),
            Value::F64(v) => v.to_string(),
            Value::Text(v) => format!("{v:?}"),
            Value::Bytes(v) => format!("<{} bytes>", v.len()),
            Value::Timestamp(v) => v.to_string(),
            Value::TimestampTz(v) => v.to_rfc3339(),
            Value::Date(v) => v.to_string(),
            Value::Time(v) => v.to_string(),
            Value::Uuid(v) => v.to_string(),
            Value::Decimal(v) => v.to_string(),
            Value::Inet(v) => inet_text(v),
            Value::Json(v) => v.to_string(),
            Value::Array(_, v) => format!("<array of {}>", v.len()),
            Value::Enum(t, i) => format!("{:?}", t.label(*i)),
        };
        if s.len() > MAX {
            let mut cut = MAX;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}…", &s[..cut])
        } else {
            s
        }
    }

    /// Widens any integer variant to i64; `None` for other variants.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            _ => None,
        }
    }
}

/// Why a [`Value`] could not become the requested Rust type. The caller adds
/// the entity and column to make it an [`crate::Error::Decode`].
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeFailure {
    /// The Rust type that was wanted.
    pub expected: &'static str,
    /// What was found: the value's kind and a short rendering of it.
    pub found: String,
}

impl DecodeFailure {
    /// `expected` wanted, `found` found.
    pub fn new(expected: &'static str, found: &Value) -> Self {
        DecodeFailure {
            expected,
            found: format!("{} {}", found.kind(), found.describe()),
        }
    }
}

/// A Rust type that can be stored in one column.
///
/// Implemented for the supported scalar types and for `Option<T>` of each
/// (`Option` = nullable). `#[entity]` requires it of every column field
/// without `#[column(with = ..)]`, so an unsupported field type is a compile
/// error at that field.
///
/// Implementing it makes a type storable everywhere (per type, see
/// [`crate::model::types`]); `#[derive(ColumnValue)]` does it for newtypes and
/// enums. A type that implements it should also implement the marker
/// [`crate::Scalar`] (the derive does), so that typed filters compare it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a supported column type",
    label = "unsupported column type",
    note = "supported: i16, i32, i64, u8, u16, u32, u64, f32, f64, bool, String, Vec<u8>, chrono::{{DateTime<Utc>, NaiveDateTime, NaiveDate, NaiveTime}}, time::{{OffsetDateTime, PrimitiveDateTime, Date, Time}}, uuid::Uuid, rust_decimal::Decimal, std::net::IpAddr, orm_core::IpNetwork, orm_core::types::Cidr, serde_json::Value, arrays Vec<T> / Vec<Option<T>> of i16/i32/i64/f32/f64/bool/String/Uuid/Decimal, orm_core::Json<T>, types with #[derive(ColumnValue)], and Option<T> of each",
    note = "or store the field through a converter: #[column(with = AsText)] or #[column(with = AsJson)]"
)]
pub trait ColumnValue: Sized {
    /// The declared SQL type of the column.
    const SQL_TYPE: SqlType;
    /// Whether the column accepts NULL (true only for `Option<T>`).
    const NULLABLE: bool = false;
    /// Whether the type is an integer that can be auto-generated by the database.
    const AUTO_KEY: bool = false;

    /// Encodes the field.
    fn to_value(&self) -> Value;
    /// Decodes a cell; must not panic on any input.
    fn from_value(value: Value) -> Result<Self, DecodeFailure>;
}

impl<T: ColumnValue> ColumnValue for Option<T> {
    const SQL_TYPE: SqlType = T::SQL_TYPE;
    const NULLABLE: bool = true;

    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null(T::SQL_TYPE),
        }
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Null(_) => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

macro_rules! integer_column {
    ($t:ty, $variant:ident, $sql:ident) => {
        impl ColumnValue for $t {
            const SQL_TYPE: SqlType = SqlType::$sql;
            const AUTO_KEY: bool = true;

            fn to_value(&self) -> Value {
                Value::$variant(*self)
            }

            fn from_value(value: Value) -> Result<Self, DecodeFailure> {
                // Backends widen (SQLite has only i64; COUNT is bigint), so
                // accept any integer that fits and refuse the rest.
                value
                    .as_i64()
                    .and_then(|v| <$t>::try_from(v).ok())
                    .ok_or_else(|| DecodeFailure::new(stringify!($t), &value))
            }
        }
    };
}

integer_column!(i16, I16, SmallInt);

/// Unsigned integers travel as the signed variant one size up (what
/// PostgreSQL's column holds; MySQL's unsigned column takes it as is).
macro_rules! unsigned_column {
    ($t:ty, $variant:ident, $wide:ty, $sql:ident) => {
        impl ColumnValue for $t {
            const SQL_TYPE: SqlType = SqlType::$sql;
            const AUTO_KEY: bool = true;

            fn to_value(&self) -> Value {
                Value::$variant(<$wide>::from(*self))
            }

            fn from_value(value: Value) -> Result<Self, DecodeFailure> {
                value
                    .as_i64()
                    .and_then(|v| <$t>::try_from(v).ok())
                    .ok_or_else(|| DecodeFailure::new(stringify!($t), &value))
            }
        }
    };
}

unsigned_column!(u8, I16, i16, U8);
unsigned_column!(u16, I32, i32, U16);
unsigned_column!(u32, I64, i64, U32);

impl ColumnValue for u64 {
    const SQL_TYPE: SqlType = SqlType::U64;
    const AUTO_KEY: bool = true;

    /// Always an exact decimal, whatever the size: a prepared statement's
    /// parameter types are fixed by its first use (sqlx caches statements
    /// by text), so one column's values must travel as one type; an int8
    /// read as numeric would be a silently wrong value.
    fn to_value(&self) -> Value {
        Value::Decimal(Decimal::from(*self))
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        use rust_decimal::prelude::ToPrimitive;
        let fail = |v: &Value| DecodeFailure::new("u64", v);
        match &value {
            // PostgreSQL's numeric(20,0); MySQL hands past-i64 values as text.
            Value::Decimal(d) if d.fract().is_zero() => d.to_u64().ok_or_else(|| fail(&value)),
            Value::Text(s) => s.parse().map_err(|_| fail(&value)),
            v => v
                .as_i64()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| fail(v)),
        }
    }
}
integer_column!(i32, I32, Integer);
integer_column!(i64, I64, BigInt);

impl ColumnValue for f32 {
    const SQL_TYPE: SqlType = SqlType::Real;

    fn to_value(&self) -> Value {
        Value::F32(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::F32(v) => Ok(v),
            // SQLite stores every REAL as f64; an f32 written there reads back
            // exactly, so narrowing is lossless for values we wrote.
            Value::F64(v) => Ok(v as f32),
            v => Err(DecodeFailure::new("f32", &v)),
        }
    }
}

impl ColumnValue for f64 {
    const SQL_TYPE: SqlType = SqlType::Double;

    fn to_value(&self) -> Value {
        Value::F64(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::F64(v) => Ok(v),
            Value::F32(v) => Ok(v.into()),
            v => Err(DecodeFailure::new("f64", &v)),
        }
    }
}

impl ColumnValue for Decimal {
    const SQL_TYPE: SqlType = SqlType::Decimal;

    fn to_value(&self) -> Value {
        Value::Decimal(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Decimal(v) => Ok(v),
            // SQLite's NUMERIC affinity keeps a number as an integer or a
            // double; MySQL's text protocol and a SUM may hand back text.
            Value::I64(v) => Ok(Decimal::from(v)),
            Value::I32(v) => Ok(Decimal::from(v)),
            Value::I16(v) => Ok(Decimal::from(v)),
            // The shortest text that reads back as the same double, so
            // 12.5 stays 12.5 (not 12.4999..).
            Value::F64(v) => {
                parse_decimal(&v.to_string()).ok_or_else(|| DecodeFailure::new("Decimal", &value))
            }
            Value::Text(ref s) => {
                parse_decimal(s).ok_or_else(|| DecodeFailure::new("Decimal", &value))
            }
            v => Err(DecodeFailure::new("Decimal", &v)),
        }
    }
}

/// A decimal from its text, trailing fractional zeros dropped first (a
/// MySQL `DECIMAL(65, 20)` pads to twenty places, more digits than a
/// `Decimal` holds); exponent forms (`1e-7`, a double's text) too.
pub(crate) fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    let s = match s.split_once('.') {
        Some((_, frac)) if !s.contains(['e', 'E']) && frac.ends_with('0') => {
            s.trim_end_matches('0').trim_end_matches('.')
        }
        _ => s,
    };
    s.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(s).ok())
}

/// An address or network as the text backends without `inet` store: an
/// address alone (`10.0.0.1`), a network with its prefix (`10.0.0.0/24`).
pub(crate) fn inet_text(net: &IpNetwork) -> String {
    if net.prefix() == max_prefix(net.ip()) {
        net.ip().to_string()
    } else {
        net.to_string()
    }
}

fn max_prefix(ip: std::net::IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

impl ColumnValue for IpNetwork {
    const SQL_TYPE: SqlType = SqlType::Inet;

    fn to_value(&self) -> Value {
        Value::Inet(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Inet(v) => Ok(v),
            Value::Text(ref s) => s
                .parse()
                .map_err(|_| DecodeFailure::new("IpNetwork", &value)),
            v => Err(DecodeFailure::new("IpNetwork", &v)),
        }
    }
}

impl ColumnValue for std::net::IpAddr {
    const SQL_TYPE: SqlType = SqlType::Inet;

    fn to_value(&self) -> Value {
        Value::Inet(IpNetwork::from(*self))
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        // A network (a prefix shorter than the address) is not an address.
        match IpNetwork::from_value(value.clone()) {
            Ok(net) if net.prefix() == max_prefix(net.ip()) => Ok(net.ip()),
            _ => Err(DecodeFailure::new("IpAddr", &value)),
        }
    }
}

impl ColumnValue for bool {
    const SQL_TYPE: SqlType = SqlType::Boolean;

    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Bool(v) => Ok(v),
            // SQLite and MySQL store booleans as integers.
            ref v => match v.as_i64() {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(DecodeFailure::new("bool", v)),
            },
        }
    }
}

impl ColumnValue for String {
    const SQL_TYPE: SqlType = SqlType::Text;

    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Text(v) => Ok(v),
            v => Err(DecodeFailure::new("String", &v)),
        }
    }
}

impl ColumnValue for Vec<u8> {
    const SQL_TYPE: SqlType = SqlType::Bytes;

    fn to_value(&self) -> Value {
        Value::Bytes(self.clone())
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Bytes(v) => Ok(v),
            v => Err(DecodeFailure::new("Vec<u8>", &v)),
        }
    }
}

/// Parses the text forms SQLite holds for timestamps (sqlx writes RFC 3339
/// with `T`; `CURRENT_TIMESTAMP` writes `YYYY-MM-DD HH:MM:SS`).
fn parse_naive_datetime(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.naive_utc()))
}

impl ColumnValue for NaiveDateTime {
    const SQL_TYPE: SqlType = SqlType::Timestamp;

    fn to_value(&self) -> Value {
        Value::Timestamp(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Timestamp(v) => Ok(v),
            Value::TimestampTz(v) => Ok(v.naive_utc()),
            Value::Text(ref s) => {
                parse_naive_datetime(s).ok_or_else(|| DecodeFailure::new("NaiveDateTime", &value))
            }
            v => Err(DecodeFailure::new("NaiveDateTime", &v)),
        }
    }
}

impl ColumnValue for DateTime<Utc> {
    const SQL_TYPE: SqlType = SqlType::TimestampTz;

    fn to_value(&self) -> Value {
        Value::TimestampTz(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::TimestampTz(v) => Ok(v),
            // MySQL DATETIME carries no zone; the ORM always writes UTC there.
            Value::Timestamp(v) => Ok(v.and_utc()),
            Value::Text(ref s) => DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .ok()
                .or_else(|| parse_naive_datetime(s).map(|n| n.and_utc()))
                .ok_or_else(|| DecodeFailure::new("DateTime<Utc>", &value)),
            v => Err(DecodeFailure::new("DateTime<Utc>", &v)),
        }
    }
}

impl ColumnValue for NaiveDate {
    const SQL_TYPE: SqlType = SqlType::Date;

    fn to_value(&self) -> Value {
        Value::Date(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Date(v) => Ok(v),
            Value::Text(ref s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| DecodeFailure::new("NaiveDate", &value)),
            v => Err(DecodeFailure::new("NaiveDate", &v)),
        }
    }
}

impl ColumnValue for NaiveTime {
    const SQL_TYPE: SqlType = SqlType::Time;

    fn to_value(&self) -> Value {
        Value::Time(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Time(v) => Ok(v),
            Value::Text(ref s) => NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
                .map_err(|_| DecodeFailure::new("NaiveTime", &value)),
            v => Err(DecodeFailure::new("NaiveTime", &v)),
        }
    }
}

impl ColumnValue for Uuid {
    const SQL_TYPE: SqlType = SqlType::Uuid;

    fn to_value(&self) -> Value {
        Value::Uuid(*self)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Uuid(v) => Ok(v),
            Value::Bytes(ref b) => {
                Uuid::from_slice(b).map_err(|_| DecodeFailure::new("Uuid", &value))
            }
            Value::Text(ref s) => {
                Uuid::parse_str(s).map_err(|_| DecodeFailure::new("Uuid", &value))
            }
            v => Err(DecodeFailure::new("Uuid", &v)),
        }
    }
}

impl ColumnValue for serde_json::Value {
    const SQL_TYPE: SqlType = SqlType::Json;

    fn to_value(&self) -> Value {
        Value::Json(Box::new(self.clone()))
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        match value {
            Value::Json(v) => Ok(*v),
            // SQLite and MariaDB keep JSON as text.
            Value::Text(ref s) => {
                serde_json::from_str(s).map_err(|_| DecodeFailure::new("serde_json::Value", &value))
            }
            v => Err(DecodeFailure::new("serde_json::Value", &v)),
        }
    }
}

macro_rules! value_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                ColumnValue::to_value(&v)
            }
        }
    )*};
}

value_from!(
    i16,
    i32,
    i64,
    f32,
    f64,
    bool,
    String,
    Vec<u8>,
    NaiveDateTime,
    DateTime<Utc>,
    NaiveDate,
    NaiveTime,
    Uuid,
    serde_json::Value
);

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}

impl<T: ColumnValue> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.to_value()
    }
}

/// Array columns: `Vec<T>` of the element types below, stored as a native
/// array on PostgreSQL and as a JSON array elsewhere (decoded from either).
/// `Vec<u8>` stays bytes; `Vec<Option<T>>` holds NULL elements (JSON
/// `null` on MySQL and SQLite).
macro_rules! array_column {
    ($($t:ty => $elem:ident),* $(,)?) => {$(
        array_column!(@one $t, $elem);
        array_column!(@one Option<$t>, $elem);
    )*};
    (@one $t:ty, $elem:ident) => {
        impl ColumnValue for Vec<$t> {
            const SQL_TYPE: SqlType = SqlType::Array(Elem::$elem);

            fn to_value(&self) -> Value {
                Value::Array(Elem::$elem, self.iter().map(ColumnValue::to_value).collect())
            }

            fn from_value(value: Value) -> Result<Self, DecodeFailure> {
                let expected = concat!("Vec<", stringify!($t), ">");
                let items = match value {
                    Value::Array(_, items) => items,
                    Value::Text(ref text) => json_items(text).ok_or_else(|| DecodeFailure::new(expected, &value))?,
                    Value::Json(ref json) => json_values(json).ok_or_else(|| DecodeFailure::new(expected, &value))?,
                    Value::Bytes(ref b) => std::str::from_utf8(b)
                        .ok()
                        .and_then(json_items)
                        .ok_or_else(|| DecodeFailure::new(expected, &value))?,
                    v => return Err(DecodeFailure::new(expected, &v)),
                };
                items
                    .into_iter()
                    .map(|item| {
                        <$t>::from_value(item).map_err(|f| DecodeFailure {
                            expected,
                            found: format!("an element {}", f.found),
                        })
                    })
                    .collect()
            }
        }
    };
}

array_column!(
    i16 => SmallInt,
    i32 => Integer,
    i64 => BigInt,
    f32 => Real,
    f64 => Double,
    bool => Boolean,
    String => Text,
    Uuid => Uuid,
    Decimal => Decimal,
);

/// The elements of a JSON array's text (SQLite's and MySQL's array columns).
fn json_items(text: &str) -> Option<Vec<Value>> {
    json_values(&serde_json::from_str(text).ok()?)
}

/// The elements of a JSON array as values: numbers as integers where they
/// are, text as text (decimals and UUIDs are written as text).
fn json_values(json: &serde_json::Value) -> Option<Vec<Value>> {
    use serde_json::Value as J;
    json.as_array()?
        .iter()
        .map(|item| match item {
            J::Bool(b) => Some(Value::Bool(*b)),
            J::Number(n) => n
                .as_i64()
                .map(Value::I64)
                .or_else(|| n.as_f64().map(Value::F64)),
            J::String(s) => Some(Value::Text(s.clone())),
            J::Null => Some(Value::Null(SqlType::Text)),
            _ => None,
        })
        .collect()
}

/// An array as the JSON text MySQL and SQLite store: numbers and booleans
/// as themselves, decimals (exactly), UUIDs and text as strings. `Err`
/// names what JSON cannot hold (NaN or infinity, an element of another kind).
pub(crate) fn array_json(items: &[Value]) -> Result<String, String> {
    use serde_json::Value as J;
    let json: Result<Vec<J>, String> = items
        .iter()
        .map(|v| match v {
            Value::Bool(b) => Ok(J::Bool(*b)),
            Value::I16(n) => Ok(J::from(*n)),
            Value::I32(n) => Ok(J::from(*n)),
            Value::I64(n) => Ok(J::from(*n)),
            Value::F32(f) => serde_json::Number::from_f64(f64::from(*f))
                .map(J::Number)
                .ok_or_else(|| format!("{f} in an array")),
            Value::F64(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .ok_or_else(|| format!("{f} in an array")),
            Value::Text(t) => Ok(J::String(t.clone())),
            Value::Uuid(u) => Ok(J::String(u.to_string())),
            // Without trailing zeros, so that a search finds 1.5 as 1.50.
            Value::Decimal(d) => Ok(J::String(d.normalize().to_string())),
            Value::Null(_) => Ok(J::Null),
            other => Err(format!("a {} element in an array column", other.kind())),
        })
        .collect();
    Ok(J::Array(json?).to_string())
}

/// Value equality for change detection: NaN equals NaN, so a NaN column is
/// not dirty forever.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits() || x == y,
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits() || x == y,
        (Value::Null(_), Value::Null(_)) => true,
        (Value::Array(x, xs), Value::Array(y, ys)) => {
            x == y && xs.len() == ys.len() && xs.iter().zip(ys).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// [`same`] over two parameter lists (a template's check against a fresh
/// build: a NaN parameter is the same NaN).
pub(crate) fn same_all(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

/// Orders two cells of one column (for re-sorting split results); NULLs
/// sort as the backend sorts them.
pub(crate) fn compare(a: &Value, b: &Value, nulls_last: bool) -> std::cmp::Ordering {
    use Value as V;
    use std::cmp::Ordering;
    match (a, b) {
        (V::Null(_), V::Null(_)) => Ordering::Equal,
        (V::Null(_), _) => {
            if nulls_last {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (_, V::Null(_)) => {
            if nulls_last {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (V::Text(x), V::Text(y)) => x.cmp(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        (V::F32(x), V::F32(y)) => x.total_cmp(y),
        (V::F64(x), V::F64(y)) => x.total_cmp(y),
        (V::Bytes(x), V::Bytes(y)) => x.cmp(y),
        (V::Timestamp(x), V::Timestamp(y)) => x.cmp(y),
        (V::TimestampTz(x), V::TimestampTz(y)) => x.cmp(y),
        (V::Date(x), V::Date(y)) => x.cmp(y),
        (V::Time(x), V::Time(y)) => x.cmp(y),
        (V::Uuid(x), V::Uuid(y)) => x.cmp(y),
        // By declaration, as PostgreSQL and MySQL order an enum column.
        (V::Enum(t, x), V::Enum(u, y)) => t.name.cmp(u.name).then(x.cmp(y)),
        // Decimals, and u64 values (integers up to i64::MAX, decimals past it).
        (V::Decimal(x), V::Decimal(y)) => x.cmp(y),
        (V::Decimal(x), _) if b.as_i64().is_some() => {
            x.cmp(&Decimal::from(b.as_i64().unwrap_or(0)))
        }
        (_, V::Decimal(y)) if a.as_i64().is_some() => Decimal::from(a.as_i64().unwrap_or(0)).cmp(y),
        _ => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_small() {
        // Every cell of every row is a Value: arrays carry a one-byte
        // element type, JSON is boxed, an enum is its type's address and
        // a label's index, so a cell stays 32 bytes (a typed NULL too:
        // an enum's SqlType is the type's address).
        assert_eq!(std::mem::size_of::<Value>(), 32);
        assert!(std::mem::size_of::<SqlType>() <= 16);
    }

    #[test]
    fn arrays_read_from_json_and_refuse_what_they_cannot_hold() {
        assert_eq!(
            Vec::<i64>::from_value(Value::Text("[1, -2, 3]".into())),
            Ok(vec![1, -2, 3])
        );
        assert_eq!(
            Vec::<Option<String>>::from_value(Value::Text(r#"["a", null]"#.into())),
            Ok(vec![Some("a".into()), None])
        );
        assert!(Vec::<i64>::from_value(Value::Text("[1, null]".into())).is_err());
        assert!(Vec::<i16>::from_value(Value::Text("[70000]".into())).is_err());
        assert!(Vec::<i64>::from_value(Value::Text("not json".into())).is_err());
        let d = Decimal::new(150, 2); // 1.50
        assert_eq!(
            array_json(&[Value::Decimal(d), Value::Null(SqlType::Decimal)]).unwrap(),
            r#"["1.5",null]"#
        );
        assert!(array_json(&[Value::F64(f64::NAN)]).is_err());
    }

    #[test]
    fn u64_travels_as_an_integer_or_an_exact_decimal() {
        assert_eq!(7u64.to_value(), Value::Decimal(Decimal::from(7)));
        assert_eq!(u64::MAX.to_value(), Value::Decimal(Decimal::from(u64::MAX)));
        assert_eq!(u64::from_value(u64::MAX.to_value()), Ok(u64::MAX));
        assert_eq!(
            u64::from_value(Value::Text("18446744073709551615".into())),
            Ok(u64::MAX)
        );
        assert!(u64::from_value(Value::I64(-1)).is_err());
        assert!(u64::from_value(Value::Decimal(Decimal::new(15, 1))).is_err());
    }

    #[test]
    fn integers_refuse_out_of_range_values() {
        assert_eq!(i16::from_value(Value::I64(300)), Ok(300));
        let err = i16::from_value(Value::I64(70_000)).unwrap_err();
        assert_eq!(err.expected, "i16");
        assert!(err.found.contains("70000"), "{}", err.found);
    }

    #[test]
    fn option_maps_null_both_ways() {
        assert_eq!(
            Option::<i32>::None.to_value(),
            Value::Null(SqlType::Integer)
        );
        assert_eq!(
            Option::<i32>::from_value(Value::Null(SqlType::BigInt)),
            Ok(None)
        );
    }

    #[test]
    fn sqlite_text_forms_decode() {
        let ts =
            NaiveDateTime::from_value(Value::Text("2024-02-29 13:14:15.123456".into())).unwrap();
        assert_eq!(ts.to_string(), "2024-02-29 13:14:15.123456");
        let utc =
            DateTime::<Utc>::from_value(Value::Text("2024-02-29T13:14:15+02:00".into())).unwrap();
        assert_eq!(utc.to_rfc3339(), "2024-02-29T11:14:15+00:00");
        assert!(Uuid::from_value(Value::Bytes(vec![1, 2, 3])).is_err());
    }

    #[test]
    fn describe_cuts_long_text_on_a_char_boundary() {
        let s = Value::Text("é".repeat(100)).describe();
        assert!(s.ends_with('…'));
        assert!(s.len() < 80);
    }
}
