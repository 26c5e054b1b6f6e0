//! MySQL and MariaDB through `mysql_async`, without sqlx: the default
//! driver for `mysql:` URLs ([`MySqlDriver::MysqlAsync`](crate::MySqlDriver));
//! `mysql.rs` (through sqlx) is the other choice.
//!
//! Why it exists: measured on one bare connection each (`benches --
//! drivers`), the two drivers cost the same per round trip, but sqlx-mysql
//! decodes a large result about 1.5x slower (10,000 rows: 6.5 ms against
//! 4.5 ms on this machine); the ORM's loads pay that on top of their own
//! work. Everything else is kept identical to `mysql.rs`, so nothing above
//! the seam can tell the two drivers apart except by speed:
//!
//! * the same session set-up on every connection (strict SQL mode, the
//!   statement timeout, `time_zone = '+00:00'`, `NAMES utf8mb4`), the same
//!   `CLIENT_FOUND_ROWS` (rows *matched*, which the version check needs);
//! * every statement prepared (binary protocol) and cached per connection
//!   (`statement_cache_capacity`), as sqlx does;
//! * TCP as the URL says: `mysql_async` would otherwise ask a local server
//!   for its socket and reconnect through it (`prefer_socket`), which would
//!   bypass whatever sits on the port (a proxy, a pooler);
//! * values bound and decoded by the column's reported type and flags as
//!   `mysql.rs` does (a binary collation is text, charset 63 is bytes), and
//!   errors classified by the server's error number through `mysql.rs`'s
//!   table and message parser.
//!
//! Connections live in the shared [`ServerPool`]; a connection dropped
//! mid-statement is dropped (`mysql_async` closes it on a task, the server
//! rolls back what it held), one dropped idle in a transaction is rolled
//! back first (`conn.rs`).
//!
//! Layer 1 (the backend seam): it uses only what is below it (see `crate::layers`).

use std::sync::Arc;

use ::mysql_async as my;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use my::consts::{ColumnFlags, ColumnType};
use my::prelude::Queryable;

use super::pool::{Connector, ServerPool};
use super::{Capabilities, Done, Pool, PoolOptions, mysql};
use crate::error::{DbErrorKind, Error, Result};
use crate::row::RowSet;
use crate::value::{SqlType, Value};

/// The binary "character set" of a column: bytes, not text.
const BINARY_CHARSET: u16 = 63;

/// URL parameters that only sqlx understands and that mean what this driver
/// does anyway (no TLS is compiled into either driver).
const SQLX_ONLY_PARAMS: &[&str] = &["ssl-mode=disabled", "ssl-mode=preferred"];

fn options_of(url: &str) -> Result<my::Opts> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !SQLX_ONLY_PARAMS.contains(p))
        .collect();
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    my::Opts::from_url(&url).map_err(|e| {
        Error::Config(format!(
            "{} is not a URL the mysql_async driver accepts ({e}); \
             `MySqlDriver::Sqlx` accepts sqlx's URL parameters",
            super::redact(&url)
        ))
    })
}

pub(super) async fn connect(
    url: &str,
    options: &PoolOptions,
    timeouts: super::Timeouts,
) -> Result<(Pool, Capabilities)> {
    let builder = my::OptsBuilder::from_opts(options_of(url)?)
        .prefer_socket(false)
        .client_found_rows(true)
        .stmt_cache_size(options.statement_cache_capacity);
    let connect_error = |message: String| Error::Connect {
        url: super::redact(url),
        message,
    };
    // The probe (see `backend::connect`): the driver's cause at once, the
    // server's version (MariaDB and MySQL name the statement timeout
    // differently), then the pool's first connection.
    let mut probe =
        match tokio::time::timeout(timeouts.connect, my::Conn::new(builder.clone())).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(connect_error(e.to_string())),
            Err(_) => {
                return Err(connect_error(format!(
                    "no connection within the connect timeout of {:?}",
                    timeouts.connect
                )));
            }
        };
    let version: String = probe
        .query_first("SELECT VERSION()")
        .await
        .map_err(|e| connect_error(e.to_string()))?
        .unwrap_or_default();
    let setup = format!(
        "{}, time_zone = '+00:00', NAMES utf8mb4",
        mysql::session_setup(&version, timeouts.statement)
    );
    probe
        .query_drop(setup.as_str())
        .await
        .map_err(|e| connect_error(e.to_string()))?;
    // Later connections run the set-up as part of connecting.
    let opts: my::Opts = builder.setup(vec![setup]).into();
    let connect: Connector<my::Conn> = Box::new(move || {
        let opts = opts.clone();
        Box::pin(async move { my::Conn::new(opts).await.map_err(classify) })
    });
    let pool = ServerPool::new(options, connect, Some(probe));
    let caps = Capabilities {
        insert_returning: mysql::mariadb_with_returning(&version),
        bind_limit: mysql::BIND_LIMIT,
    };
    Ok((Pool::MySqlAsync(pool), caps))
}

/// The parameters of one statement, as `mysql.rs` binds them.
fn bind(params: &[Value]) -> Result<my::Params> {
    if params.is_empty() {
        return Ok(my::Params::Empty);
    }
    let datetime = |t: &NaiveDateTime| {
        use chrono::{Datelike, Timelike};
        my::Value::Date(
            t.year() as u16,
            t.month() as u8,
            t.day() as u8,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond() / 1_000,
        )
    };
    let mut out = Vec::with_capacity(params.len());
    for (i, v) in params.iter().enumerate() {
        out.push(match v {
            Value::Null(_) => my::Value::NULL,
            Value::Bool(b) => my::Value::Int(i64::from(*b)),
            Value::I16(n) => my::Value::Int(i64::from(*n)),
            Value::I32(n) => my::Value::Int(i64::from(*n)),
            Value::I64(n) => my::Value::Int(*n),
            Value::F32(f) => my::Value::Float(*f),
            Value::F64(f) => my::Value::Double(*f),
            Value::Text(s) => my::Value::Bytes(s.as_bytes().to_vec()),
            Value::Enum(t, i) => my::Value::Bytes(t.label(*i).as_bytes().to_vec()),
            Value::Bytes(b) => my::Value::Bytes(b.clone()),
            Value::Timestamp(t) => datetime(t),
            // DATETIME(6) has no zone; the ORM stores instants as UTC.
            Value::TimestampTz(t) => datetime(&t.naive_utc()),
            Value::Date(d) => datetime(&d.and_time(NaiveTime::MIN)),
            Value::Time(t) => {
                use chrono::Timelike;
                my::Value::Time(
                    false,
                    0,
                    t.hour() as u8,
                    t.minute() as u8,
                    t.second() as u8,
                    t.nanosecond() / 1_000,
                )
            }
            Value::Uuid(u) => my::Value::Bytes(u.as_bytes().to_vec()),
            // Exact as text: the server converts it into the DECIMAL column.
            Value::Decimal(d) => my::Value::Bytes(d.to_string().into_bytes()),
            Value::Inet(n) => my::Value::Bytes(crate::value::inet_text(n).into_bytes()),
            // MariaDB's JSON is LONGTEXT with a validity check: send text.
            Value::Json(j) => my::Value::Bytes(j.to_string().into_bytes()),
            // An array column is a JSON array here.
            Value::Array(_, items) => match crate::value::array_json(items) {
                Ok(json) => my::Value::Bytes(json.into_bytes()),
                Err(why) => return Err(super::bind_error(i + 1, why)),
            },
        });
    }
    Ok(my::Params::Positional(out))
}

/// How to decode one column, chosen once per result from its type, flags
/// and character set (the same cells as `mysql.rs`).
fn plan(column: &my::Column) -> Result<mysql::Cell> {
    use ColumnType::*;
    use mysql::Cell;
    let unsigned = column.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = column.character_set() == BINARY_CHARSET;
    Ok(match column.column_type() {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_INT24
        | MYSQL_TYPE_LONGLONG
            if unsigned =>
        {
            Cell::Unsigned
        }
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_INT24
        | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => Cell::Signed,
        MYSQL_TYPE_FLOAT => Cell::F32,
        MYSQL_TYPE_DOUBLE => Cell::F64,
        MYSQL_TYPE_DECIMAL
        | MYSQL_TYPE_NEWDECIMAL
        | MYSQL_TYPE_JSON
        | MYSQL_TYPE_ENUM
        | MYSQL_TYPE_SET => Cell::Text,
        MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_STRING
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB => {
            if binary {
                Cell::Bytes
            } else {
                Cell::Text
            }
        }
        MYSQL_TYPE_BIT => Cell::Bytes,
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => Cell::Datetime,
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => Cell::Timestamp,
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Cell::Date,
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Cell::Time,
        MYSQL_TYPE_NULL => Cell::Null,
        other => {
            return Err(super::unsupported_column(
                &column.name_str(),
                &format!("{other:?}"),
            ));
        }
    })
}

/// Decodes one cell by its plan. The binary protocol sends numbers and
/// dates as such; text arrives as bytes and is moved, not copied.
fn decode(cell: mysql::Cell, value: my::Value, name: &str) -> Result<Value> {
    use mysql::Cell;
    let wrong = |found: &my::Value| super::cell_error(name, format!("unexpected value {found:?}"));
    Ok(match (cell, value) {
        (_, my::Value::NULL) | (Cell::Null, _) => Value::Null(SqlType::Text),
        (Cell::Signed, my::Value::Int(n)) => Value::I64(n),
        (Cell::Signed | Cell::Unsigned, my::Value::UInt(n)) => match i64::try_from(n) {
            Ok(v) => Value::I64(v),
            // Past i64: an exact decimal, which sorts and compares as the
            // number it is (as text, 10 would sort before 9).
            Err(_) => Value::Decimal(rust_decimal::Decimal::from(n)),
        },
        (Cell::Unsigned, my::Value::Int(n)) => Value::I64(n),
        (Cell::F32, my::Value::Float(f)) => Value::F32(f),
        (Cell::F64, my::Value::Double(f)) => Value::F64(f),
        (Cell::F64, my::Value::Float(f)) => Value::F64(f64::from(f)),
        (Cell::Text, my::Value::Bytes(b)) => {
            Value::Text(String::from_utf8(b).map_err(|e| super::cell_error(name, e.utf8_error()))?)
        }
        (Cell::Bytes, my::Value::Bytes(b)) => Value::Bytes(b),
        (Cell::Datetime, v @ my::Value::Date(..)) => Value::Timestamp(datetime(&v, name)?),
        (Cell::Timestamp, v @ my::Value::Date(..)) => Value::TimestampTz(
            DateTime::<Utc>::from_naive_utc_and_offset(datetime(&v, name)?, Utc),
        ),
        (Cell::Date, v @ my::Value::Date(..)) => Value::Date(datetime(&v, name)?.date()),
        (Cell::Time, my::Value::Time(false, 0, h, m, s, us)) => Value::Time(
            NaiveTime::from_hms_micro_opt(h.into(), m.into(), s.into(), us)
                .ok_or_else(|| super::cell_error(name, "a time of day out of range"))?,
        ),
        (Cell::Time, v @ my::Value::Time(..)) => {
            return Err(super::cell_error(
                name,
                format!("{v:?} is not a time of day (negative or past 24 hours)"),
            ));
        }
        (_, other) => return Err(wrong(&other)),
    })
}

fn datetime(v: &my::Value, name: &str) -> Result<NaiveDateTime> {
    let my::Value::Date(y, mo, d, h, mi, s, us) = *v else {
        return Err(super::cell_error(name, "not a date"));
    };
    NaiveDate::from_ymd_opt(y.into(), mo.into(), d.into())
        .and_then(|date| date.and_hms_micro_opt(h.into(), mi.into(), s.into(), us))
        .ok_or_else(|| super::cell_error(name, format!("{v:?} is not a valid date and time")))
}

/// Runs a query and decodes every row.
pub(crate) async fn fetch(conn: &mut my::Conn, sql: &str, params: &[Value]) -> Result<RowSet> {
    let params = bind(params)?;
    let mut result = conn.exec_iter(sql, params).await.map_err(classify)?;
    let (columns, cells) = columns(&result)?;
    let mut set = RowSet {
        columns,
        rows: Vec::new(),
    };
    while let Some(row) = result.next().await.map_err(classify)? {
        set.rows.push(decode_row(&cells, row, &set.columns)?);
    }
    // A statement that returns more than one result (a procedure call):
    // the first is the answer, the rest are drained so the connection is
    // clean.
    result.drop_result().await.map_err(classify)?;
    Ok(set)
}

/// Runs a query and yields its rows in chunks of at most `batch` as they
/// arrive (see `backend::stream`). Dropped before its end, the rest of the
/// result is left on the connection, which `mysql_async` reads off before
/// the connection's next command.
pub(crate) fn stream<'c>(
    conn: &'c mut my::Conn,
    sql: Arc<str>,
    params: &[Value],
    batch: usize,
) -> impl futures_util::Stream<Item = Result<RowSet>> + Send + 'c {
    let params = bind(params);
    async_stream::try_stream! {
        let mut result = conn.exec_iter(&*sql, params?).await.map_err(classify)?;
        let (columns, cells) = columns(&result)?;
        let mut chunk = super::Chunk::new(batch);
        chunk.set_columns(columns.clone());
        while let Some(row) = result.next().await.map_err(classify)? {
            if let Some(full) = chunk.push(decode_row(&cells, row, &columns)?) {
                yield full;
            }
        }
        result.drop_result().await.map_err(classify)?;
        if let Some(rest) = chunk.finish() {
            yield rest;
        }
    }
}

type Columns = (Arc<[Box<str>]>, Vec<mysql::Cell>);

/// A result's column names and how to decode each.
fn columns<P: my::prelude::Protocol>(result: &my::QueryResult<'_, '_, P>) -> Result<Columns> {
    let Some(columns) = result.columns() else {
        return Ok((Arc::from(Vec::new()), Vec::new()));
    };
    let names = columns
        .iter()
        .map(|c| Box::from(c.name_str().as_ref()))
        .collect::<Arc<[Box<str>]>>();
    let cells = columns.iter().map(plan).collect::<Result<Vec<_>>>()?;
    Ok((names, cells))
}

fn decode_row(cells: &[mysql::Cell], row: my::Row, names: &[Box<str>]) -> Result<Vec<Value>> {
    let values = row.unwrap();
    let mut out = Vec::with_capacity(cells.len());
    for (i, (cell, value)) in cells.iter().zip(values).enumerate() {
        out.push(decode(*cell, value, &names[i])?);
    }
    Ok(out)
}

/// Runs a statement that returns no rows (or whose rows are not wanted).
pub(crate) async fn execute(conn: &mut my::Conn, sql: &str, params: &[Value]) -> Result<Done> {
    let params = bind(params)?;
    conn.exec_drop(sql, params).await.map_err(classify)?;
    Ok(Done {
        rows_affected: conn.affected_rows(),
        last_insert_id: conn.last_insert_id().and_then(|id| i64::try_from(id).ok()),
    })
}

/// BEGIN, COMMIT or ROLLBACK (text protocol: nothing to prepare).
pub(crate) async fn control(conn: &mut my::Conn, sql: &'static str) -> Result<()> {
    conn.query_drop(sql).await.map_err(classify)
}

/// Classifies by the server's error number, as `mysql.rs` does; a lost or
/// closed connection is [`DbErrorKind::ConnectionLost`].
pub(crate) fn classify(err: my::Error) -> Error {
    match err {
        my::Error::Server(e) => mysql::server_error(Some(e.code), &e.message),
        my::Error::Io(e) => {
            super::database_error(DbErrorKind::ConnectionLost, None, &e.to_string())
        }
        my::Error::Driver(e) => {
            let kind = match e {
                my::DriverError::ConnectionClosed | my::DriverError::PoolDisconnected => {
                    DbErrorKind::ConnectionLost
                }
                _ => DbErrorKind::Other,
            };
            super::database_error(kind, None, &e.to_string())
        }
        other => super::database_error(DbErrorKind::Other, None, &other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlx_url_parameters_that_change_nothing_are_accepted() {
        let opts = super::options_of("mariadb://root@h:3306/db?ssl-mode=disabled").unwrap();
        assert_eq!(opts.db_name(), Some("db"));
        assert_eq!(opts.ip_or_hostname(), "h");
        let err = super::options_of("mysql://root@h/db?ssl-mode=required").unwrap_err();
        assert!(err.to_string().contains("MySqlDriver::Sqlx"), "{err}");
    }
}
