//! SQLite through sqlx: connect (WAL, busy timeout, foreign keys), bind,
//! decode by storage class, classify errors by extended result code.
//!
//! SQLite is dynamically typed, so rows decode by the *storage class* of each
//! value (INTEGER, REAL, TEXT, BLOB); `crate::value` then turns text into
//! timestamps or uuids as the field asks. Timestamps are written as
//! `YYYY-MM-DD HH:MM:SS[.f]` text in UTC so that they sort and compare
//! correctly in SQL.
//!
//! Layer 1 (the backend seam): it uses only what is below it (see `crate::layers`).

use std::str::FromStr;

use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqliteRow, SqliteSynchronous,
};
use sqlx::{Arguments, Decode, Row, Sqlite, TypeInfo, ValueRef};

use super::{Capabilities, Done, Pool, PoolOptions};

/// The `synchronous` levels a `sqlite:` URL may ask for
/// (`?synchronous=normal`), on both drivers. Left out, SQLite's default
/// stands: `FULL`, a committed transaction survives a power loss. `NORMAL`
/// in WAL mode (what file databases use here) never corrupts the file but
/// may lose the last commits on a power loss or an OS crash, not on an
/// application crash; it spares one fsync per commit.
pub(crate) const SYNCHRONOUS: [&str; 4] = ["off", "normal", "full", "extra"];

/// Takes `synchronous=..` out of a `sqlite:` URL: the URL without it (for
/// the driver's own parser) and the level, checked.
pub(crate) fn take_synchronous(url: &str) -> Result<(String, Option<&'static str>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut level = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", v)) => {
                let v = v.to_ascii_lowercase();
                level = Some(SYNCHRONOUS.into_iter().find(|l| *l == v).ok_or_else(|| {
                    Error::Config(format!(
                        "unknown SQLite synchronous level {v:?} in the URL (expected off, normal, full or extra)"
                    ))
                })?);
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, level))
}
use crate::error::{DbErrorKind, Error, Result, Violation};
use crate::value::Value;

/// `SQLITE_MAX_VARIABLE_NUMBER` of SQLite 3.32+, the fallback if the
/// linked library cannot be asked.
pub(crate) const BIND_LIMIT: usize = 32_766;

/// The bind limit of an open connection (`sqlite3_limit`; shared with the
/// direct driver).
///
/// # Safety
/// `db` must be a valid connection handle that no other thread uses during
/// the call (a negative new value only reads the limit).
pub(crate) unsafe fn limit_of(db: *mut libsqlite3_sys::sqlite3) -> Option<usize> {
    // SAFETY: the caller's contract.
    let limit = unsafe {
        libsqlite3_sys::sqlite3_limit(db, libsqlite3_sys::SQLITE_LIMIT_VARIABLE_NUMBER, -1)
    };
    usize::try_from(limit).ok().filter(|&l| l > 0)
}

/// Asks the linked library for its bind limit (`sqlite3_limit`): a build
/// with another `SQLITE_MAX_VARIABLE_NUMBER` is honoured, not assumed.
async fn bind_limit(pool: &sqlx::SqlitePool) -> Option<usize> {
    let mut conn = pool.acquire().await.ok()?;
    let mut handle = conn.lock_handle().await.ok()?;
    let db = handle.as_raw_handle();
    // SAFETY: the locked handle guarantees sqlx's worker thread makes no call
    // on this connection while we hold it.
    unsafe { limit_of(db.as_ptr()) }
}

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

// Statement timeouts (both SQLite drivers). SQLite has no timer of its own:
// a progress handler, called every `PROGRESS_STEPS` virtual-machine steps,
// interrupts the statement (`SQLITE_INTERRUPT`, a `Timeout`) once it has run
// too long. It must know when the running statement started; SQLite's trace
// hook says so (`SQLITE_TRACE_STMT` as a statement starts,
// `SQLITE_TRACE_PROFILE` as it ends), and the time is kept per thread: a
// statement runs from its first step to its end on one thread (the direct
// driver never suspends mid-statement, sqlx's driver steps each connection
// on its own worker thread), so the statement running on a thread is the
// last one that started there. Both hooks are plain functions with the
// timeout as their context value, so nothing needs freeing when a
// connection closes. Waiting for a lock is not running: it is bounded by
// the busy timeout instead.

thread_local! {
    /// When the statement running on this thread started.
    static STARTED: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

/// VM steps between progress checks: one clock read per ~1,000 steps costs
/// nothing measurable and interrupts within microseconds.
const PROGRESS_STEPS: std::ffi::c_int = 1_000;

unsafe extern "C" fn on_trace(
    event: std::ffi::c_uint,
    _ctx: *mut std::ffi::c_void,
    _stmt: *mut std::ffi::c_void,
    x: *mut std::ffi::c_void,
) -> std::ffi::c_int {
    match event {
        libsqlite3_sys::SQLITE_TRACE_STMT => {
            // For a trigger's sub-program X is a comment ("-- TRIGGER t"):
            // part of the statement already running, not a new one.
            let text = x.cast::<u8>();
            // SAFETY: SQLite passes its statement text, NUL-terminated.
            let trigger = !text.is_null() && unsafe { *text == b'-' && *text.add(1) == b'-' };
            if !trigger {
                STARTED.set(Some(std::time::Instant::now()));
            }
        }
        libsqlite3_sys::SQLITE_TRACE_PROFILE => STARTED.set(None),
        _ => {}
    }
    0
}

unsafe extern "C" fn on_progress(ctx: *mut std::ffi::c_void) -> std::ffi::c_int {
    let limit = std::time::Duration::from_micros(ctx as usize as u64);
    std::ffi::c_int::from(STARTED.get().is_some_and(|t| t.elapsed() > limit))
}

/// Before sqlx rolls a transaction back: if SQLite already did (it rolls
/// back the whole transaction itself after an interrupted write, a full
/// disk, an I/O error), begin one again, so that sqlx's ROLLBACK succeeds
/// and its count of open transactions on the connection returns to zero
/// (a failed ROLLBACK would leave it at one, and the connection's next
/// BEGIN would be a SAVEPOINT).
pub(crate) async fn resync_rolled_back(conn: &mut sqlx::SqliteConnection) {
    let Ok(mut handle) = conn.lock_handle().await else {
        return;
    };
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: the locked handle keeps sqlx's worker thread off this
    // connection during these calls.
    unsafe {
        if libsqlite3_sys::sqlite3_get_autocommit(db) != 0 {
            libsqlite3_sys::sqlite3_exec(
                db,
                c"BEGIN".as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }
}

/// Interrupts every statement of connection `db` that runs longer than
/// `timeout` (see above).
///
/// # Safety
/// `db` must be a valid connection handle that no other thread uses during
/// the call.
pub(crate) unsafe fn set_statement_timeout(
    db: *mut libsqlite3_sys::sqlite3,
    timeout: std::time::Duration,
) {
    let micros = usize::try_from(timeout.as_micros())
        .unwrap_or(usize::MAX)
        .max(1);
    // SAFETY: the caller's contract; the callbacks own no data.
    unsafe {
        libsqlite3_sys::sqlite3_trace_v2(
            db,
            (libsqlite3_sys::SQLITE_TRACE_STMT | libsqlite3_sys::SQLITE_TRACE_PROFILE) as _,
            Some(on_trace),
            std::ptr::null_mut(),
        );
        libsqlite3_sys::sqlite3_progress_handler(
            db,
            PROGRESS_STEPS,
            Some(on_progress),
            micros as *mut std::ffi::c_void,
        );
    }
}

/// How a value is stored in SQLite. Both SQLite drivers bind through this,
/// so a database written by one reads back identically through the other:
/// timestamps as `YYYY-MM-DD HH:MM:SS[.f]` text in UTC, uuids as 16-byte
/// blobs, booleans as 0/1, JSON as text.
pub(crate) enum Stored<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(std::borrow::Cow<'a, str>),
    Blob(&'a [u8]),
}

pub(crate) fn stored(v: &Value) -> std::result::Result<Stored<'_>, &'static str> {
    let text = |s: String| Stored::Text(s.into());
    Ok(match v {
        Value::Null(_) => Stored::Null,
        Value::Bool(b) => Stored::Integer(i64::from(*b)),
        Value::I16(n) => Stored::Integer(i64::from(*n)),
        Value::I32(n) => Stored::Integer(i64::from(*n)),
        Value::I64(n) => Stored::Integer(*n),
        Value::F32(f) => Stored::Real(f64::from(*f)),
        Value::F64(f) => Stored::Real(*f),
        Value::Text(s) => Stored::Text(s.as_str().into()),
        Value::Enum(t, i) => Stored::Text(t.label(*i).into()),
        Value::Bytes(b) => Stored::Blob(b),
        Value::Timestamp(t) => text(t.format(TIMESTAMP_FORMAT).to_string()),
        Value::TimestampTz(t) => text(t.naive_utc().format(TIMESTAMP_FORMAT).to_string()),
        Value::Date(d) => text(d.format("%Y-%m-%d").to_string()),
        Value::Time(t) => text(t.format("%H:%M:%S%.f").to_string()),
        Value::Uuid(u) => Stored::Blob(u.as_bytes()),
        // Into a NUMERIC-affinity column, which keeps it as an integer or a
        // double (15 significant digits) and compares it as a number.
        Value::Decimal(d) => text(d.to_string()),
        Value::Inet(n) => text(crate::value::inet_text(n)),
        Value::Json(j) => text(j.to_string()),
        // An array column is a JSON array here.
        Value::Array(_, items) => text(
            crate::value::array_json(items)
                .map_err(|_| "an array element JSON cannot hold (NaN, infinity)")?,
        ),
    })
}

pub(super) async fn connect(
    url: &str,
    options: &PoolOptions,
    timeouts: super::Timeouts,
) -> Result<(Pool, Capabilities)> {
    let connect_error = |e: sqlx::Error| Error::Connect {
        url: url.to_string(),
        message: e.to_string(),
    };
    let (plain, synchronous) = take_synchronous(url)?;
    let mut opts = SqliteConnectOptions::from_str(&plain)
        .map_err(connect_error)?
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(5))
        .statement_cache_capacity(options.statement_cache_capacity);
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut pool = options.clone();
    if in_memory {
        // Each connection to `:memory:` would be its own database, and the
        // data vanishes with the last connection: keep exactly one, forever.
        pool.max_connections = 1;
        pool.min_connections = 1;
        pool.idle_timeout = None;
        pool.max_lifetime = None;
    } else {
        opts = opts
            .journal_mode(SqliteJournalMode::Wal)
            .create_if_missing(true);
    }
    if let Some(level) = synchronous {
        opts = opts.synchronous(match level {
            "off" => SqliteSynchronous::Off,
            "normal" => SqliteSynchronous::Normal,
            "extra" => SqliteSynchronous::Extra,
            _ => SqliteSynchronous::Full,
        });
    }
    let statement_timeout = timeouts.statement;
    let connecting = pool
        .sqlx::<Sqlite>()
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if let Some(t) = statement_timeout {
                    let mut handle = conn.lock_handle().await?;
                    // SAFETY: the locked handle keeps sqlx's worker thread
                    // off this connection during the call.
                    unsafe { set_statement_timeout(handle.as_raw_handle().as_ptr(), t) };
                }
                Ok(())
            })
        })
        .connect_with(opts);
    // An SQLite open is local: a path that cannot be opened fails at once
    // (sqlx's pool does not retry it); the timeout bounds a locked file.
    let pool = tokio::time::timeout(timeouts.connect, connecting)
        .await
        .map_err(|_| Error::Connect {
            url: url.to_string(),
            message: format!(
                "no connection within the connect timeout of {:?}",
                timeouts.connect
            ),
        })?
        .map_err(connect_error)?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&pool)
        .await
        .map_err(connect_error)?;
    let caps = Capabilities {
        insert_returning: version_at_least(&version, (3, 35)),
        bind_limit: bind_limit(&pool).await.unwrap_or(BIND_LIMIT),
    };
    Ok((Pool::Sqlite(pool), caps))
}

fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

fn bind(params: &[Value]) -> Result<SqliteArguments> {
    let mut args = SqliteArguments::default();
    for (i, v) in params.iter().enumerate() {
        let r = match stored(v) {
            Ok(Stored::Null) => args.add(None::<i64>),
            Ok(Stored::Integer(n)) => args.add(n),
            Ok(Stored::Real(f)) => args.add(f),
            Ok(Stored::Text(s)) => args.add(s.into_owned()),
            Ok(Stored::Blob(b)) => args.add(b.to_vec()),
            Err(why) => Err(why.into()),
        };
        r.map_err(|e| super::bind_error(i + 1, e))?;
    }
    Ok(args)
}

/// SQLite decodes by each cell's storage class: nothing to plan.
fn plan(_row: &SqliteRow) -> Result<()> {
    Ok(())
}

fn decode(row: &SqliteRow, _plan: &()) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(row.len());
    for i in 0..row.len() {
        let raw = row.try_get_raw(i).map_err(classify)?;
        if raw.is_null() {
            out.push(Value::Null(crate::value::SqlType::Text));
            continue;
        }
        let name = || row.columns()[i].name_owned();
        let cell = |e| super::cell_error(&name(), e);
        let ty = raw.type_info();
        let value = match ty.name() {
            "INTEGER" => Value::I64(<i64 as Decode<Sqlite>>::decode(raw).map_err(cell)?),
            "REAL" => Value::F64(<f64 as Decode<Sqlite>>::decode(raw).map_err(cell)?),
            "TEXT" => Value::Text(<String as Decode<Sqlite>>::decode(raw).map_err(cell)?),
            "BLOB" => Value::Bytes(<Vec<u8> as Decode<Sqlite>>::decode(raw).map_err(cell)?),
            other => return Err(super::unsupported_column(&name(), other)),
        };
        out.push(value);
    }
    Ok(out)
}

trait NameOwned {
    fn name_owned(&self) -> String;
}

impl<C: sqlx::Column> NameOwned for C {
    fn name_owned(&self) -> String {
        self.name().to_string()
    }
}

/// Classifies by SQLite's extended result code.
pub(crate) fn classify(err: sqlx::Error) -> Error {
    let sqlx::Error::Database(db) = &err else {
        return super::classify_other(err);
    };
    let code = db.code().map(|c| c.into_owned());
    let extended: i32 = code.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
    error_of(extended, code, db.message())
}

/// The ORM error for an extended result code and message (shared with the
/// direct driver).
pub(crate) fn error_of(extended: i32, code: Option<String>, message: &str) -> Error {
    let kind = kind_of(extended, message);
    let violation = kind.is_constraint().then(|| violation(message));
    super::violation_error(kind, code, message, violation)
}

/// What SQLite's message says about a violated constraint:
/// `UNIQUE constraint failed: t.a, t.b`, `NOT NULL constraint failed: t.a`,
/// `CHECK constraint failed: name`; a foreign key failure names nothing.
pub(crate) fn violation(message: &str) -> Violation {
    let mut v = Violation::default();
    if let Some((what, rest)) = message.split_once(" constraint failed: ") {
        if what == "CHECK" {
            v.constraint = Some(rest.to_string());
        } else {
            for qualified in rest.split(", ") {
                let (table, column) = qualified.split_once('.').unwrap_or(("", qualified));
                if !table.is_empty() {
                    v.table = Some(table.to_string());
                }
                v.columns.push(column.to_string());
            }
        }
    }
    v
}

/// The error kind of an extended result code (shared with the direct driver).
pub(crate) fn kind_of(extended: i32, message: &str) -> DbErrorKind {
    match extended {
        2067 | 1555 => DbErrorKind::UniqueViolation,
        787 => DbErrorKind::ForeignKeyViolation,
        1299 => DbErrorKind::NotNullViolation,
        275 => DbErrorKind::CheckViolation,
        _ => match extended & 0xff {
            5 | 6 => DbErrorKind::Busy,
            9 => DbErrorKind::Timeout,
            18 | 20 | 25 => DbErrorKind::InvalidValue,
            10 | 26 => DbErrorKind::ConnectionLost,
            1 if message.contains("syntax error") => DbErrorKind::Syntax,
            _ => DbErrorKind::Other,
        },
    }
}

driver!(
    Sqlite,
    SqliteArguments,
    SqliteRow,
    (),
    sqlx::sqlite::SqliteQueryResult,
    |r| Some(r.last_insert_rowid())
);

#[cfg(test)]
mod tests {
    #[test]
    fn messages_name_table_and_columns() {
        let v = super::violation("UNIQUE constraint failed: users.team, users.name");
        assert_eq!(
            (v.table.as_deref(), v.columns.as_slice()),
            (Some("users"), &["team".to_string(), "name".to_string()][..])
        );
        assert_eq!(
            super::violation("NOT NULL constraint failed: teams.name").columns,
            ["name"]
        );
        assert_eq!(
            super::violation("CHECK constraint failed: positive")
                .constraint
                .as_deref(),
            Some("positive")
        );
        assert_eq!(
            super::violation("FOREIGN KEY constraint failed"),
            Default::default()
        );
    }

    #[test]
    fn version_compare() {
        assert!(super::version_at_least("3.45.1", (3, 35)));
        assert!(!super::version_at_least("3.34.9", (3, 35)));
    }
}
