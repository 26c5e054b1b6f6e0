//! PostgreSQL through sqlx: connect, bind with typed NULLs, decode by the
//! column's declared type (planned once per result), classify by SQLSTATE.
//!
//! Layer 1 (the backend seam): it uses only what is below it (see `crate::layers`).

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgRow, PgTypeInfo, PgTypeKind};
use sqlx::{Arguments, Column, ConnectOptions, Decode, Postgres, Row, TypeInfo, ValueRef};

use super::pool::{Connector, ServerPool};
use super::{Capabilities, Done, Pool, PoolOptions};
use crate::error::{DbErrorKind, Error, Result, Violation};
use crate::value::{Elem, SqlType, Value};

/// The wire protocol counts parameters in an i16... as an u16: 65,535.
const BIND_LIMIT: usize = 65_535;

pub(super) async fn connect(
    url: &str,
    options: &PoolOptions,
    timeouts: super::Timeouts,
) -> Result<(Pool, Capabilities)> {
    let connect_error = |e: sqlx::Error| super::connect_error(url, &e);
    let mut opts = PgConnectOptions::from_str(url)
        .map_err(connect_error)?
        .statement_cache_capacity(options.statement_cache_capacity);
    if let Some(t) = timeouts.statement {
        // Sent in the startup packet: no statement per connection.
        opts = opts.options([("statement_timeout", format!("{}ms", t.as_millis().max(1)))]);
    }
    // Fails fast with the driver's cause (see `backend::connect`), and
    // becomes the pool's first connection.
    let probe = super::probe(&opts, timeouts.connect, url).await?;
    let connect: Connector<PgConnection> = Box::new(move || {
        let opts = opts.clone();
        Box::pin(async move { opts.connect().await.map_err(classify) })
    });
    let pool = ServerPool::new(options, connect, Some(probe));
    let caps = Capabilities {
        insert_returning: true,
        bind_limit: BIND_LIMIT,
    };
    Ok((Pool::Postgres(pool), caps))
}

fn bind(params: &[Value]) -> Result<PgArguments> {
    let mut args = PgArguments::default();
    for (i, v) in params.iter().enumerate() {
        let r = match v {
            // PostgreSQL infers parameter types from the statement, but a NULL
            // sent with the wrong type is an error: send the column's type.
            Value::Null(t) => match t {
                SqlType::SmallInt | SqlType::U8 => args.add(None::<i16>),
                SqlType::Integer | SqlType::U16 => args.add(None::<i32>),
                SqlType::BigInt | SqlType::U32 => args.add(None::<i64>),
                SqlType::U64 => args.add(None::<rust_decimal::Decimal>),
                SqlType::Real => args.add(None::<f32>),
                SqlType::Double => args.add(None::<f64>),
                SqlType::Boolean => args.add(None::<bool>),
                SqlType::Text => args.add(None::<String>),
                SqlType::Bytes => args.add(None::<Vec<u8>>),
                SqlType::Timestamp => args.add(None::<NaiveDateTime>),
                SqlType::TimestampTz => args.add(None::<DateTime<Utc>>),
                SqlType::Date => args.add(None::<NaiveDate>),
                SqlType::Time => args.add(None::<NaiveTime>),
                SqlType::Uuid => args.add(None::<uuid::Uuid>),
                SqlType::Decimal => args.add(None::<rust_decimal::Decimal>),
                SqlType::Inet | SqlType::Cidr => args.add(None::<ipnetwork::IpNetwork>),
                SqlType::Json => args.add(None::<serde_json::Value>),
                SqlType::Array(elem) => bind_array(&mut args, *elem, &[], true),
                SqlType::Enum(ty) => args.add(EnumArg(ty.name, None)),
            },
            Value::Bool(b) => args.add(*b),
            Value::I16(n) => args.add(*n),
            Value::I32(n) => args.add(*n),
            Value::I64(n) => args.add(*n),
            Value::F32(f) => args.add(*f),
            Value::F64(f) => args.add(*f),
            Value::Text(s) => args.add(s.as_str()),
            Value::Bytes(b) => args.add(b.as_slice()),
            Value::Timestamp(t) => args.add(*t),
            Value::TimestampTz(t) => args.add(*t),
            Value::Date(d) => args.add(*d),
            Value::Time(t) => args.add(*t),
            Value::Uuid(u) => args.add(*u),
            Value::Decimal(d) => args.add(*d),
            Value::Inet(n) => args.add(*n),
            Value::Json(j) => args.add(sqlx::types::Json(j.as_ref())),
            Value::Array(elem, items) => bind_array(&mut args, *elem, items, false),
            Value::Enum(ty, i) => args.add(EnumArg(ty.name, Some(ty.label(*i)))),
        };
        r.map_err(|e| super::bind_error(i + 1, e))?;
    }
    Ok(args)
}

/// A label (or NULL) of the enum type named `.0`, bound as that type:
/// sqlx finds its OID by name (`to_regtype`, so the connection's
/// `search_path` applies) once per connection.
struct EnumArg(&'static str, Option<&'static str>);

impl sqlx::Type<Postgres> for EnumArg {
    fn type_info() -> PgTypeInfo {
        // Never used: `produces` names the value's own type.
        PgTypeInfo::with_name("text")
    }
}

impl sqlx::Encode<'_, Postgres> for EnumArg {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self.1 {
            // An enum's binary form is its label's text.
            Some(label) => <&str as sqlx::Encode<Postgres>>::encode_by_ref(&label, buf),
            None => Ok(sqlx::encode::IsNull::Yes),
        }
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(PgTypeInfo::with_name(self.0))
    }
}

/// Binds an array of one element type (an array column's value, or a
/// long list as `= ANY($1)`), typed by `elem` even when empty; `null`: a
/// NULL of the array type.
fn bind_array(
    args: &mut PgArguments,
    elem: Elem,
    items: &[Value],
    null: bool,
) -> std::result::Result<(), sqlx::error::BoxDynError> {
    macro_rules! typed {
        ($variant:ident, $t:ty) => {{
            if null {
                return args.add(None::<Vec<$t>>);
            }
            if items.iter().any(Value::is_null) {
                // NULL elements: an array of options.
                let v: Option<Vec<Option<$t>>> = items
                    .iter()
                    .map(|i| match i {
                        Value::$variant(x) => Some(Some(x.clone())),
                        Value::Null(_) => Some(None),
                        _ => None,
                    })
                    .collect();
                return args.add(v.ok_or("an array parameter must hold one type")?);
            }
            let v: Option<Vec<$t>> = items
                .iter()
                .map(|i| match i {
                    Value::$variant(x) => Some(x.clone()),
                    _ => None,
                })
                .collect();
            args.add(v.ok_or("an array parameter must hold one type")?)
        }};
    }
    match elem {
        Elem::BigInt => typed!(I64, i64),
        Elem::Integer => typed!(I32, i32),
        Elem::SmallInt => typed!(I16, i16),
        Elem::Text => typed!(Text, String),
        Elem::Uuid => typed!(Uuid, uuid::Uuid),
        Elem::Boolean => typed!(Bool, bool),
        Elem::Real => typed!(F32, f32),
        Elem::Double => typed!(F64, f64),
        Elem::Bytes => typed!(Bytes, Vec<u8>),
        Elem::Timestamp => typed!(Timestamp, NaiveDateTime),
        Elem::TimestampTz => typed!(TimestampTz, DateTime<Utc>),
        Elem::Date => typed!(Date, NaiveDate),
        Elem::Time => typed!(Time, NaiveTime),
        Elem::Decimal => typed!(Decimal, rust_decimal::Decimal),
        Elem::Inet => typed!(Inet, ipnetwork::IpNetwork),
    }
}

/// Whether a list can travel as one PostgreSQL array parameter: values of
/// one scalar type (not JSON, and no NULLs, which the typed API never puts
/// in a list).
pub(crate) fn array_element_supported(items: &[Value]) -> bool {
    let Some(first) = items.first() else {
        return false;
    };
    // An enum's array would need its array type's name (`mood[]`): a
    // plain list carries it instead.
    !matches!(
        first,
        Value::Null(_) | Value::Json(_) | Value::Array(..) | Value::Enum(..)
    ) && items
        .iter()
        .all(|i| std::mem::discriminant(i) == std::mem::discriminant(first))
}

/// How to decode one column, chosen once per result from its declared type.
#[derive(Clone, Copy)]
pub(crate) enum Cell {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Text,
    Bytes,
    Timestamp,
    TimestampTz,
    Date,
    Time,
    Uuid,
    Json,
    Decimal,
    Inet,
    /// An array of these elements.
    Array(Elem),
}

fn plan(row: &PgRow) -> Result<Vec<Cell>> {
    row.columns()
        .iter()
        .map(|c| {
            Ok(match c.type_info().name() {
                "BOOL" => Cell::Bool,
                "INT2" => Cell::I16,
                "INT4" => Cell::I32,
                "INT8" => Cell::I64,
                "FLOAT4" => Cell::F32,
                "FLOAT8" => Cell::F64,
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" => Cell::Text,
                "BYTEA" => Cell::Bytes,
                "TIMESTAMP" => Cell::Timestamp,
                "TIMESTAMPTZ" => Cell::TimestampTz,
                "DATE" => Cell::Date,
                "TIME" => Cell::Time,
                "UUID" => Cell::Uuid,
                "NUMERIC" => Cell::Decimal,
                "INET" | "CIDR" => Cell::Inet,
                "JSON" | "JSONB" => Cell::Json,
                "INT2[]" => Cell::Array(Elem::SmallInt),
                "INT4[]" => Cell::Array(Elem::Integer),
                "INT8[]" => Cell::Array(Elem::BigInt),
                "FLOAT4[]" => Cell::Array(Elem::Real),
                "FLOAT8[]" => Cell::Array(Elem::Double),
                "BOOL[]" => Cell::Array(Elem::Boolean),
                "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" | "NAME[]" => Cell::Array(Elem::Text),
                "UUID[]" => Cell::Array(Elem::Uuid),
                "NUMERIC[]" => Cell::Array(Elem::Decimal),
                // A native enum arrives as its label.
                _ if matches!(c.type_info().kind(), PgTypeKind::Enum(_)) => Cell::Text,
                other => return Err(super::unsupported_column(c.name(), other)),
            })
        })
        .collect()
}

fn decode(row: &PgRow, plan: &[Cell]) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(plan.len());
    for (i, cell) in plan.iter().enumerate() {
        let raw = row.try_get_raw(i).map_err(classify)?;
        if raw.is_null() {
            out.push(Value::Null(SqlType::Text));
            continue;
        }
        let err = |e| super::cell_error(row.columns()[i].name(), e);
        macro_rules! get {
            ($t:ty) => {
                <$t as Decode<Postgres>>::decode(raw).map_err(err)?
            };
        }
        out.push(match cell {
            Cell::Bool => Value::Bool(get!(bool)),
            Cell::I16 => Value::I16(get!(i16)),
            Cell::I32 => Value::I32(get!(i32)),
            Cell::I64 => Value::I64(get!(i64)),
            Cell::F32 => Value::F32(get!(f32)),
            Cell::F64 => Value::F64(get!(f64)),
            Cell::Text => Value::Text(get!(String)),
            Cell::Bytes => Value::Bytes(get!(Vec<u8>)),
            Cell::Timestamp => Value::Timestamp(get!(NaiveDateTime)),
            Cell::TimestampTz => Value::TimestampTz(get!(DateTime<Utc>)),
            Cell::Date => Value::Date(get!(NaiveDate)),
            Cell::Time => Value::Time(get!(NaiveTime)),
            Cell::Uuid => Value::Uuid(get!(uuid::Uuid)),
            Cell::Decimal => Value::Decimal(get!(rust_decimal::Decimal)),
            Cell::Inet => Value::Inet(get!(ipnetwork::IpNetwork)),
            Cell::Json => Value::Json(Box::new(get!(serde_json::Value))),
            Cell::Array(elem) => {
                macro_rules! array {
                    ($variant:ident, $t:ty) => {
                        get!(Vec<Option<$t>>)
                            .into_iter()
                            .map(|v| v.map_or(Value::Null(elem.sql_type()), Value::$variant))
                            .collect()
                    };
                }
                let items = match elem {
                    Elem::SmallInt => array!(I16, i16),
                    Elem::Integer => array!(I32, i32),
                    Elem::BigInt => array!(I64, i64),
                    Elem::Real => array!(F32, f32),
                    Elem::Double => array!(F64, f64),
                    Elem::Boolean => array!(Bool, bool),
                    Elem::Uuid => array!(Uuid, uuid::Uuid),
                    Elem::Decimal => array!(Decimal, rust_decimal::Decimal),
                    _ => array!(Text, String),
                };
                Value::Array(*elem, items)
            }
        });
    }
    Ok(out)
}

/// Classifies by SQLSTATE.
pub(crate) fn classify(err: sqlx::Error) -> Error {
    let sqlx::Error::Database(db) = &err else {
        return super::classify_other(err);
    };
    let code = db.code().map(|c| c.into_owned());
    let state = code.as_deref().unwrap_or("");
    let kind = match state {
        "23505" => DbErrorKind::UniqueViolation,
        "23503" => DbErrorKind::ForeignKeyViolation,
        "23502" => DbErrorKind::NotNullViolation,
        "23514" => DbErrorKind::CheckViolation,
        "40P01" => DbErrorKind::Deadlock,
        "40001" => DbErrorKind::Serialization,
        "57014" | "55P03" => DbErrorKind::Timeout,
        "57P01" | "57P02" | "57P03" => DbErrorKind::ConnectionLost,
        s if s.starts_with("08") => DbErrorKind::ConnectionLost,
        s if s.starts_with("22") => DbErrorKind::InvalidValue,
        s if s.starts_with("42") => DbErrorKind::Syntax,
        // sqlx bound a type by the OID it read when the type was made;
        // the type has been made again since.
        "XX000" if db.message().starts_with("cache lookup failed for type") => {
            DbErrorKind::SchemaChanged
        }
        _ => DbErrorKind::Other,
    };
    let violation = kind.is_constraint().then(|| {
        db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .map(violation)
            .unwrap_or_default()
    });
    super::violation_error(kind, code, db.message(), violation)
}

/// What PostgreSQL's error fields say about a violated constraint: the
/// constraint, table and (not null) column, and for keys the detail line
/// `Key (a, b)=(1, x) already exists.` (or `is not present in table ..`).
fn violation(e: &sqlx::postgres::PgDatabaseError) -> Violation {
    let mut v = Violation {
        constraint: e.constraint().map(str::to_string),
        table: e.table().map(str::to_string),
        ..Violation::default()
    };
    if let Some(c) = e.column() {
        v.columns.push(c.to_string());
    }
    if let Some((columns, value)) = e.detail().and_then(key_detail) {
        v.columns = columns;
        v.value = Some(value);
    }
    v
}

/// Splits `Key (a, b)=(1, x) ...` into its columns and value text.
pub(crate) fn key_detail(detail: &str) -> Option<(Vec<String>, String)> {
    let rest = detail.strip_prefix("Key (")?;
    let (columns, rest) = rest.split_once(")=(")?;
    // The value may hold parentheses; the words after it hold none.
    let value = &rest[..rest.rfind(')')?];
    let columns = columns.split(", ").map(|c| c.trim_matches('"').to_string());
    Some((columns.collect(), value.to_string()))
}

driver!(
    Postgres,
    PgArguments,
    PgRow,
    Vec<Cell>,
    sqlx::postgres::PgQueryResult,
    |r| None
);

#[cfg(test)]
mod tests {
    #[test]
    fn key_details_split_into_columns_and_value() {
        assert_eq!(
            super::key_detail("Key (email)=(a@x (home)) already exists."),
            Some((vec!["email".to_string()], "a@x (home)".to_string()))
        );
        assert_eq!(
            super::key_detail(r#"Key (team_id, "order")=(5, 2) is not present in table "teams"."#),
            Some((
                vec!["team_id".to_string(), "order".to_string()],
                "5, 2".to_string()
            ))
        );
        assert_eq!(super::key_detail("Failing row contains (1, null)."), None);
    }
}
