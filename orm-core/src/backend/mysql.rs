//! MySQL and MariaDB through sqlx: connect in strict SQL mode, bind, decode
//! by the column's reported type, classify by the server's error number.
//!
//! Every connection runs `SET SESSION sql_mode` with `STRICT_ALL_TABLES`, so an
//! out-of-range number or a too-long string is an error, never a silent
//! truncation. sqlx connects with `CLIENT_FOUND_ROWS`, so `rows_affected` is
//! the number of rows *matched*: an UPDATE that writes identical values still
//! reports its row (the unit of work's version check depends on this).
//! MariaDB 10.5+ supports `INSERT ... RETURNING`; MySQL does not, and generated
//! keys come from `LAST_INSERT_ID()` instead.
//!
//! Layer 1 (the backend seam): it uses only what is below it (see `crate::layers`).

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx::mysql::{
    MySqlArguments, MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow,
};
use sqlx::{Arguments, Column, ConnectOptions, Decode, Executor, MySql, Row, TypeInfo, ValueRef};

use super::pool::{Connector, ServerPool};
use super::{Capabilities, Done, Pool, PoolOptions};
use crate::error::{DbErrorKind, Error, Result, Violation};
use crate::value::{SqlType, Value};

pub(super) const BIND_LIMIT: usize = 65_535;
pub(super) const SQL_MODE: &str = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,PIPES_AS_CONCAT'";

pub(super) async fn connect(
    url: &str,
    options: &PoolOptions,
    timeouts: super::Timeouts,
) -> Result<(Pool, Capabilities)> {
    let connect_error = |e: sqlx::Error| super::connect_error(url, &e);
    let url = url.replacen("mariadb://", "mysql://", 1);
    let opts = MySqlConnectOptions::from_str(&url)
        .map_err(connect_error)?
        .statement_cache_capacity(options.statement_cache_capacity)
        .timezone(Some("+00:00".to_string()));
    // Fails fast with the driver's cause (see `backend::connect`), and
    // tells MariaDB from MySQL, whose statement timeouts differ.
    let mut probe = super::probe(&opts, timeouts.connect, &url).await?;
    let version: Result<String> = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut probe)
        .await
        .map_err(connect_error);
    let version = version?;
    let setup: std::sync::Arc<str> = session_setup(&version, timeouts.statement).into();
    prepare(&mut probe, &setup).await.map_err(connect_error)?;
    let connect: Connector<MySqlConnection> = Box::new(move || {
        let (opts, setup) = (opts.clone(), setup.clone());
        Box::pin(async move {
            let mut conn = opts.connect().await.map_err(classify)?;
            prepare(&mut conn, &setup).await.map_err(classify)?;
            Ok(conn)
        })
    });
    let pool = ServerPool::new(options, connect, Some(probe));
    let caps = Capabilities {
        insert_returning: mariadb_with_returning(&version),
        bind_limit: BIND_LIMIT,
    };
    Ok((Pool::MySql(pool), caps))
}

/// Runs the session set-up on a new connection.
async fn prepare(conn: &mut MySqlConnection, setup: &str) -> sqlx::Result<()> {
    conn.execute(sqlx::AssertSqlSafe(setup.to_string()))
        .await
        .map(drop)
}

/// The `SET SESSION` every connection runs: strict mode, and the statement
/// timeout (MariaDB's `max_statement_time` in seconds, fractions allowed;
/// MySQL's `max_execution_time` in milliseconds, SELECTs only).
pub(super) fn session_setup(
    version: &str,
    statement_timeout: Option<std::time::Duration>,
) -> String {
    let mut sql = SQL_MODE.to_string();
    match statement_timeout {
        Some(t) if version.contains("MariaDB") => {
            sql += &format!(", max_statement_time = {:.6}", t.as_secs_f64().max(1e-6));
        }
        Some(t) => sql += &format!(", max_execution_time = {}", t.as_millis().max(1)),
        None => {}
    }
    sql
}

/// MariaDB gained `INSERT ... RETURNING` in 10.5; MySQL has none.
pub(super) fn mariadb_with_returning(version: &str) -> bool {
    if !version.contains("MariaDB") {
        return false;
    }
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (10, 5)
}

fn bind(params: &[Value]) -> Result<MySqlArguments> {
    let mut args = MySqlArguments::default();
    for (i, v) in params.iter().enumerate() {
        let r = match v {
            Value::Null(_) => args.add(None::<i64>),
            Value::Bool(b) => args.add(*b),
            Value::I16(n) => args.add(*n),
            Value::I32(n) => args.add(*n),
            Value::I64(n) => args.add(*n),
            Value::F32(f) => args.add(*f),
            Value::F64(f) => args.add(*f),
            Value::Text(s) => args.add(s.as_str()),
            Value::Enum(t, i) => args.add(t.label(*i)),
            Value::Bytes(b) => args.add(b.as_slice()),
            Value::Timestamp(t) => args.add(*t),
            // DATETIME(6) has no zone; the ORM stores instants as UTC.
            Value::TimestampTz(t) => args.add(t.naive_utc()),
            Value::Date(d) => args.add(*d),
            Value::Time(t) => args.add(*t),
            Value::Uuid(u) => args.add(u.as_bytes().as_slice()),
            // Exact as text: the server converts it into the DECIMAL column.
            Value::Decimal(d) => args.add(d.to_string()),
            Value::Inet(n) => args.add(crate::value::inet_text(n)),
            // MariaDB's JSON is LONGTEXT with a validity check: send text.
            Value::Json(j) => args.add(j.to_string()),
            // An array column is a JSON array here.
            Value::Array(_, items) => match crate::value::array_json(items) {
                Ok(json) => args.add(json),
                Err(why) => Err(why.into()),
            },
        };
        r.map_err(|e| super::bind_error(i + 1, e))?;
    }
    Ok(args)
}

#[derive(Clone, Copy)]
pub(crate) enum Cell {
    Signed,
    Unsigned,
    F32,
    F64,
    Text,
    Bytes,
    Datetime,
    Timestamp,
    Date,
    Time,
    Null,
}

fn plan(row: &MySqlRow) -> Result<Vec<Cell>> {
    row.columns()
        .iter()
        .map(|c| {
            Ok(match c.type_info().name() {
                "BOOLEAN" | "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" | "YEAR" => {
                    Cell::Signed
                }
                n if n.ends_with("UNSIGNED") => Cell::Unsigned,
                "FLOAT" => Cell::F32,
                "DOUBLE" => Cell::F64,
                "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
                | "SET" | "JSON" | "DECIMAL" => Cell::Text,
                // A text column with a binary collation (utf8mb4_bin, which
                // the ORM's tables use) carries the BINARY flag too: only the
                // collation tells text from bytes.
                "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB"
                    if <String as sqlx::Type<MySql>>::compatible(c.type_info()) =>
                {
                    Cell::Text
                }
                "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB"
                | "BIT" => Cell::Bytes,
                "DATETIME" => Cell::Datetime,
                "TIMESTAMP" => Cell::Timestamp,
                "DATE" => Cell::Date,
                "TIME" => Cell::Time,
                "NULL" => Cell::Null,
                other => return Err(super::unsupported_column(c.name(), other)),
            })
        })
        .collect()
}

fn decode(row: &MySqlRow, plan: &[Cell]) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(plan.len());
    for (i, cell) in plan.iter().enumerate() {
        let raw = row.try_get_raw(i).map_err(classify)?;
        if raw.is_null() {
            out.push(Value::Null(SqlType::Text));
            continue;
        }
        let name = row.columns()[i].name();
        let err = |e| super::cell_error(name, e);
        macro_rules! get {
            ($t:ty) => {
                <$t as Decode<MySql>>::decode(raw).map_err(err)?
            };
        }
        out.push(match cell {
            Cell::Signed => Value::I64(get!(i64)),
            Cell::Unsigned => {
                let n = get!(u64);
                match i64::try_from(n) {
                    Ok(v) => Value::I64(v),
                    // Past i64: an exact decimal, which sorts and compares as the
                    // number it is (as text, 10 would sort before 9).
                    Err(_) => Value::Decimal(rust_decimal::Decimal::from(n)),
                }
            }
            Cell::F32 => Value::F32(get!(f32)),
            Cell::F64 => Value::F64(get!(f64)),
            Cell::Text => Value::Text(get!(String)),
            Cell::Bytes => Value::Bytes(get!(Vec<u8>)),
            Cell::Datetime => Value::Timestamp(get!(NaiveDateTime)),
            Cell::Timestamp => Value::TimestampTz(get!(DateTime<Utc>)),
            Cell::Date => Value::Date(get!(NaiveDate)),
            Cell::Time => Value::Time(get!(NaiveTime)),
            Cell::Null => Value::Null(SqlType::Text),
        });
    }
    Ok(out)
}

/// Classifies by the server's error number (sqlx's `code()` is the SQLSTATE,
/// which MySQL fills too coarsely: 23000 covers unique, FK and not-null).
pub(crate) fn classify(err: sqlx::Error) -> Error {
    let sqlx::Error::Database(db) = &err else {
        return super::classify_other(err);
    };
    let number = db
        .try_downcast_ref::<MySqlDatabaseError>()
        .map(|e| e.number());
    server_error(number, db.message())
}

/// The ORM error for a server error number and message, whichever driver
/// read them.
pub(crate) fn server_error(number: Option<u16>, message: &str) -> Error {
    let kind = match number.unwrap_or(0) {
        1062 | 1586 => DbErrorKind::UniqueViolation,
        1451 | 1452 | 1216 | 1217 => DbErrorKind::ForeignKeyViolation,
        1048 | 1364 => DbErrorKind::NotNullViolation,
        3819 | 4025 => DbErrorKind::CheckViolation,
        1213 => DbErrorKind::Deadlock,
        // 3572: a NOWAIT lock not available (MySQL 8; MariaDB says 1205).
        1205 | 1969 | 3024 | 3572 => DbErrorKind::Timeout,
        1053 | 1927 | 2006 | 2013 | 4031 => DbErrorKind::ConnectionLost,
        1264 | 1265 | 1292 | 1366 | 1406 | 1367 | 3140 | 4038 => DbErrorKind::InvalidValue,
        1064 | 1054 | 1146 => DbErrorKind::Syntax,
        _ => DbErrorKind::Other,
    };
    let violation = kind.is_constraint().then(|| violation(message));
    super::violation_error(kind, number.map(|n| n.to_string()), message, violation)
}

/// What a MySQL/MariaDB message says about a violated constraint (the
/// server has no separate fields for it):
///
/// * `Duplicate entry 'x' for key 'name'` (MySQL 8: `'users.name'`);
/// * `... a foreign key constraint fails (`db`.`t`, CONSTRAINT `fk` FOREIGN
///   KEY (`a`) REFERENCES ...)`;
/// * `Column 'a' cannot be null`, `Field 'a' doesn't have a default value`;
/// * `CONSTRAINT `c` failed for `db`.`t`` (MariaDB), `Check constraint 'c'
///   is violated.` (MySQL).
pub(crate) fn violation(message: &str) -> Violation {
    let mut v = Violation::default();
    let between = |s: &str, open: &str, close: &str| -> Option<String> {
        let start = s.find(open)? + open.len();
        let end = start + s[start..].find(close)?;
        Some(s[start..end].to_string())
    };
    if let Some(rest) = message.strip_prefix("Duplicate entry '") {
        // The value may hold quotes; the key name follows the last `' for key '`.
        if let Some(at) = rest.rfind("' for key '") {
            v.value = Some(rest[..at].to_string());
            let key = rest[at + "' for key '".len()..].trim_end_matches('\'');
            v.constraint = Some(key.rsplit('.').next().unwrap_or(key).to_string());
        }
    } else if message.contains("foreign key constraint fails") {
        v.constraint = between(message, "CONSTRAINT `", "`");
        v.table = between(message, "`.`", "`");
        if let Some(cols) = between(message, "FOREIGN KEY (", ")") {
            v.columns = cols
                .split(", ")
                .map(|c| c.trim_matches('`').to_string())
                .collect();
        }
    } else if let Some(c) = between(message, "Column '", "' cannot be null")
        .or_else(|| between(message, "Field '", "' doesn't have a default value"))
    {
        v.columns.push(c);
    } else if message.starts_with("CONSTRAINT `") {
        v.constraint = between(message, "CONSTRAINT `", "`");
        v.table = between(message, "`.`", "`");
    } else {
        v.constraint = between(message, "Check constraint '", "'");
    }
    v
}

driver!(
    MySql,
    MySqlArguments,
    MySqlRow,
    Vec<Cell>,
    sqlx::mysql::MySqlQueryResult,
    |r| i64::try_from(r.last_insert_id()).ok()
);

#[cfg(test)]
mod tests {
    #[test]
    fn messages_name_the_violated_constraint() {
        let v = super::violation("Duplicate entry 'it's' for key 'name'");
        assert_eq!(
            (v.value.as_deref(), v.constraint.as_deref()),
            (Some("it's"), Some("name"))
        );
        let v = super::violation("Duplicate entry '7-a' for key 'users.PRIMARY'");
        assert_eq!(
            (v.value.as_deref(), v.constraint.as_deref()),
            (Some("7-a"), Some("PRIMARY"))
        );
        let v = super::violation(
            "Cannot add or update a child row: a foreign key constraint fails (`t_1`.`players`, \
             CONSTRAINT `fk_players_team_id` FOREIGN KEY (`team_id`) REFERENCES `teams` (`id`) ON DELETE CASCADE)",
        );
        assert_eq!(v.constraint.as_deref(), Some("fk_players_team_id"));
        assert_eq!(v.table.as_deref(), Some("players"));
        assert_eq!(v.columns, ["team_id"]);
        assert_eq!(
            super::violation("Column 'name' cannot be null").columns,
            ["name"]
        );
        let v = super::violation("CONSTRAINT `positive` failed for `t_1`.`accounts`");
        assert_eq!(
            (v.constraint.as_deref(), v.table.as_deref()),
            (Some("positive"), Some("accounts"))
        );
    }

    #[test]
    fn returning_only_on_new_mariadb() {
        assert!(super::mariadb_with_returning("10.11.19-MariaDB-0+deb12u1"));
        assert!(!super::mariadb_with_returning("10.4.3-MariaDB"));
        assert!(!super::mariadb_with_returning("8.0.36"));
    }
}
