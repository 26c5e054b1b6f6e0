//! The dialect seam: everything the SQL layer writes differently for
//! SQLite, PostgreSQL and MySQL/MariaDB, as one table of facts per dialect
//! ([`Spec`]). The rest of the SQL layer (rendering, templates, DML, DDL)
//! and the flush read the spec; only this file matches on [`Dialect`].
//! A new dialect is one more `Spec`.
//!
//! Layer 1: knows values and column metadata, nothing above.

use sea_query::{
    MysqlQueryBuilder, PostgresQueryBuilder, QueryStatementWriter, SchemaStatementBuilder,
    SqliteQueryBuilder, Values,
};

use orm_cache::template::Placeholders;

use crate::model::meta::ColumnMeta;
use crate::value::{SqlType, Value};

/// Which SQL dialect a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite (in memory or a file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    MySql,
}

/// What one dialect does differently.
#[derive(Debug)]
pub(crate) struct Spec {
    /// A short lowercase name ("sqlite", "postgres", "mysql").
    pub name: &'static str,
    /// `?` or `$1, $2 ...` (numbered at bind time).
    pub placeholders: Placeholders,
    /// The character identifiers are quoted with (doubled inside them).
    pub quote: char,
    /// Whether NULLs sort after every value in ascending order.
    pub nulls_last: bool,
    /// A long list travels as one array parameter (`= ANY($1)`,
    /// `<> ALL($1)`), so no list is ever split at the bind limit.
    pub array_lists: bool,
    /// Past the bind limit, how a list travels as one JSON text parameter
    /// read by a table function (none: arrays cover it).
    pub json_lists: Option<JsonLists>,
    /// OFFSET needs a LIMIT: a query with an offset and no limit gets the
    /// largest LIMIT as a stand-in.
    pub offset_needs_limit: bool,
    /// How a batched UPDATE of many rows is written.
    pub update_batch: UpdateBatch,
    /// Several rows of `DEFAULT VALUES` can go in one INSERT.
    pub multi_row_default_values: bool,
    /// Generated keys can be read back without RETURNING (the first key of
    /// a multi-row INSERT from `LAST_INSERT_ID()`).
    pub last_insert_id: bool,
    /// How a generated integer key is declared.
    pub auto_key: AutoKey,
    /// Indexes go inside CREATE TABLE (no `CREATE INDEX IF NOT EXISTS`),
    /// with this character set and collation on the table.
    pub inline_indexes: Option<(&'static str, &'static str)>,
    /// The backend's type name for a column (see `ddl`).
    pub type_name: fn(&ColumnMeta) -> String,
    /// Values this backend would store unfaithfully: why, per kind.
    pub refuses: Refuses,
    /// What the backend's unique-violation message says: whether it names
    /// the offending value, and how it joins the values of a composite key.
    pub duplicate_value: Option<&'static str>,
    builder: Builder,
}

/// A list past the bind limit, as one JSON parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonLists {
    /// `col IN (SELECT value FROM json_each(?))` (SQLite).
    JsonEach,
    /// `col IN (SELECT j.v FROM JSON_TABLE(?, '$[*]' COLUMNS (..)) AS j)`
    /// (MariaDB 10.6+, MySQL 8.0.4+), with a typed column.
    JsonTable,
}

/// How a flush writes the UPDATEs of rows that changed the same columns.
/// Each form is one whose plan is a key lookup per row whatever the
/// table's statistics say (measured in `dml`'s module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateBatch {
    /// One statement per batch, `SET col = CASE WHEN key = ? THEN ? ..
    /// END WHERE key IN (..)` (PostgreSQL, whose planner scales the row
    /// count of stale statistics by the table's current size).
    CaseArms,
    /// The same with `FORCE INDEX (PRIMARY)` on the target (MySQL,
    /// MariaDB): without it, statistics that say the table is empty make
    /// the IN list a full index scan (MariaDB 10.11 with
    /// engine-independent statistics taken while the table was empty).
    CaseArmsOnPrimary,
    /// One `UPDATE .. WHERE key = ?` run for each row, a repeated
    /// statement (SQLite): the only UPDATE whose plan SQLite never takes
    /// from statistics (a lookup by rowid or by a unique index, chosen
    /// before the cost-based planner runs). Every batched form, a join
    /// with `VALUES` or `CASE` with `IN`, becomes a scan of the table
    /// (nested under the `VALUES` rows, for the join) when the
    /// statistics say it holds at most one row.
    PerRow,
}

/// How a generated integer key is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoKey {
    /// An identity column of the key's integer type (PostgreSQL).
    Identity,
    /// `INTEGER PRIMARY KEY`, the only form that aliases the rowid (SQLite).
    RowidAlias,
    /// The column's type with `AUTO_INCREMENT` (MySQL).
    AutoIncrement,
}

/// Values refused before they are sent, with the reason for each kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refuses {
    pub nan: Option<&'static str>,
    pub infinity: Option<&'static str>,
    pub nul_in_text: Option<&'static str>,
}

#[derive(Debug, Clone, Copy)]
enum Builder {
    Sqlite,
    Postgres,
    MySql,
}

static SQLITE: Spec = Spec {
    name: "sqlite",
    placeholders: Placeholders::Question,
    quote: '"',
    nulls_last: false,
    array_lists: false,
    json_lists: Some(JsonLists::JsonEach),
    offset_needs_limit: true,
    update_batch: UpdateBatch::PerRow,
    multi_row_default_values: true,
    last_insert_id: false,
    auto_key: AutoKey::RowidAlias,
    inline_indexes: None,
    type_name: sqlite_type,
    refuses: Refuses {
        nan: Some("NaN cannot be stored: SQLite would silently turn it into NULL"),
        infinity: None,
        nul_in_text: None,
    },
    duplicate_value: None,
    builder: Builder::Sqlite,
};

static POSTGRES: Spec = Spec {
    name: "postgres",
    placeholders: Placeholders::Dollar,
    quote: '"',
    nulls_last: true,
    array_lists: true,
    json_lists: None,
    offset_needs_limit: false,
    update_batch: UpdateBatch::CaseArms,
    multi_row_default_values: true,
    last_insert_id: false,
    auto_key: AutoKey::Identity,
    inline_indexes: None,
    type_name: postgres_type,
    refuses: Refuses {
        nan: None,
        infinity: None,
        nul_in_text: Some("text contains a NUL byte, which PostgreSQL text cannot hold"),
    },
    duplicate_value: Some(", "),
    builder: Builder::Postgres,
};

static MYSQL: Spec = Spec {
    name: "mysql",
    placeholders: Placeholders::Question,
    quote: '`',
    nulls_last: false,
    array_lists: false,
    json_lists: Some(JsonLists::JsonTable),
    offset_needs_limit: true,
    update_batch: UpdateBatch::CaseArmsOnPrimary,
    multi_row_default_values: false,
    last_insert_id: true,
    auto_key: AutoKey::AutoIncrement,
    inline_indexes: Some(("utf8mb4", "utf8mb4_bin")),
    type_name: mysql_type,
    refuses: Refuses {
        nan: Some("NaN cannot be stored in a MySQL float column"),
        infinity: Some("infinity cannot be stored in a MySQL float column"),
        nul_in_text: None,
    },
    duplicate_value: Some("-"),
    builder: Builder::MySql,
};

impl Dialect {
    /// This dialect's facts.
    pub(crate) fn spec(self) -> &'static Spec {
        match self {
            Dialect::Sqlite => &SQLITE,
            Dialect::Postgres => &POSTGRES,
            Dialect::MySql => &MYSQL,
        }
    }

    /// A short lowercase name ("sqlite", "postgres", "mysql").
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Refuses values the backend would store unfaithfully, before they are
    /// sent: SQLite turns NaN into NULL, MySQL has no NaN or infinity,
    /// PostgreSQL text cannot hold a NUL byte.
    pub fn check_value(self, value: &Value) -> std::result::Result<(), String> {
        if let Value::Array(_, items) = value {
            for item in items {
                self.check_value(item)?;
                // Outside PostgreSQL an array is JSON, which has no
                // infinity (SQLite stores an infinite float itself).
                let infinite = match *item {
                    Value::F32(f) => f.is_infinite(),
                    Value::F64(f) => f.is_infinite(),
                    _ => false,
                };
                if infinite && self != Dialect::Postgres {
                    return Err("an infinite element: a JSON array cannot hold it".to_string());
                }
            }
            return Ok(());
        }
        let refuses = &self.spec().refuses;
        let float = match *value {
            Value::F32(f) => Some(f64::from(f)),
            Value::F64(f) => Some(f),
            _ => None,
        };
        let why = match (float, value) {
            (Some(f), _) if f.is_nan() => refuses.nan,
            (Some(f), _) if f.is_infinite() => refuses.infinity,
            (_, Value::Text(s)) if s.contains('\0') => refuses.nul_in_text,
            _ => None,
        };
        match why {
            Some(reason) => Err(reason.to_string()),
            None => Ok(()),
        }
    }
}

impl Spec {
    /// Quotes an identifier.
    pub(crate) fn quote(&self, ident: &str) -> String {
        let q = self.quote;
        let mut out = String::with_capacity(ident.len() + 2);
        out.push(q);
        for c in ident.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
        out
    }

    /// A sea-query statement as text and values in this dialect.
    pub(crate) fn build(&self, stmt: &impl QueryStatementWriter) -> (String, Values) {
        match self.builder {
            Builder::Postgres => stmt.build(PostgresQueryBuilder),
            Builder::MySql => stmt.build(MysqlQueryBuilder),
            Builder::Sqlite => stmt.build(SqliteQueryBuilder),
        }
    }

    /// A sea-query statement as text with its values written in as
    /// literals (quoted and escaped by sea-query for this dialect): for the
    /// constants of a select expression, which are part of its text.
    pub(crate) fn inline(&self, stmt: &impl QueryStatementWriter) -> String {
        match self.builder {
            Builder::Postgres => stmt.to_string(PostgresQueryBuilder),
            Builder::MySql => stmt.to_string(MysqlQueryBuilder),
            Builder::Sqlite => stmt.to_string(SqliteQueryBuilder),
        }
    }

    /// A sea-query schema statement as text in this dialect.
    pub(crate) fn build_schema(&self, stmt: &impl SchemaStatementBuilder) -> String {
        match self.builder {
            Builder::Postgres => stmt.to_string(PostgresQueryBuilder),
            Builder::MySql => stmt.to_string(MysqlQueryBuilder),
            Builder::Sqlite => stmt.to_string(SqliteQueryBuilder),
        }
    }
}

/// Labels as SQL string literals, comma separated (`'a', 'it''s'`): an
/// enum's labels in DDL, which takes no parameters. `mysql`: MySQL also
/// reads a backslash in a literal as an escape, so they are doubled, and
/// the list is written as `information_schema` shows an ENUM's (no space
/// after the comma), so migrations compare it as it is.
pub(crate) fn sql_string_list(labels: &[&str], mysql: bool) -> String {
    let quoted: Vec<String> = labels
        .iter()
        .map(|l| {
            let l = if mysql {
                l.replace('\\', "\\\\")
            } else {
                l.to_string()
            };
            format!("'{}'", l.replace('\'', "''"))
        })
        .collect();
    quoted.join(if mysql { "," } else { ", " })
}

/// Whether a column sits in an index (MySQL needs a bounded text type there).
fn keyed(c: &ColumnMeta) -> bool {
    c.primary_key || c.unique || c.indexed || c.references.is_some()
}

fn sqlite_type(c: &ColumnMeta) -> String {
    match c.sql_type {
        SqlType::SmallInt
        | SqlType::Integer
        | SqlType::BigInt
        | SqlType::Boolean
        | SqlType::U8
        | SqlType::U16
        | SqlType::U32
        | SqlType::U64 => "INTEGER",
        SqlType::Real | SqlType::Double => "REAL",
        SqlType::Bytes | SqlType::Uuid => "BLOB",
        SqlType::Decimal => "NUMERIC",
        // No enum type: a CHECK of the labels, written as part of the
        // column's type so that migrations compare and rebuild it.
        SqlType::Enum(t) => {
            return format!(
                "TEXT CHECK ({} IN ({}))",
                SQLITE.quote(c.name),
                sql_string_list(t.labels, false)
            );
        }
        _ => "TEXT",
    }
    .to_string()
}

fn postgres_type(c: &ColumnMeta) -> String {
    postgres_type_of(c.sql_type, c)
}

/// PostgreSQL's name of `t` (the column's type, or its arrays' element
/// type, whose length and precision the column's attributes give).
fn postgres_type_of(t: SqlType, c: &ColumnMeta) -> String {
    match t {
        SqlType::SmallInt | SqlType::U8 => "smallint",
        SqlType::Integer | SqlType::U16 => "integer",
        SqlType::BigInt | SqlType::U32 => "bigint",
        // A generated key never passes i64::MAX: a plain identity column.
        SqlType::U64 if c.auto_increment => "bigint",
        SqlType::U64 => "numeric(20,0)",
        SqlType::Real => "real",
        SqlType::Double => "double precision",
        SqlType::Boolean => "boolean",
        SqlType::Text => return c.max_len.map_or("text".into(), |n| format!("varchar({n})")),
        SqlType::Bytes => "bytea",
        SqlType::Timestamp => "timestamp",
        SqlType::TimestampTz => "timestamptz",
        SqlType::Date => "date",
        SqlType::Time => "time",
        SqlType::Uuid => "uuid",
        SqlType::Json => "jsonb",
        SqlType::Decimal => {
            return c
                .decimal
                .map_or("numeric".into(), |(p, s)| format!("numeric({p},{s})"));
        }
        SqlType::Inet => "inet",
        SqlType::Cidr => "cidr",
        SqlType::Array(elem) => return format!("{}[]", postgres_type_of(elem.sql_type(), c)),
        SqlType::Enum(t) => return POSTGRES.quote(t.name),
    }
    .to_string()
}

fn mysql_type(c: &ColumnMeta) -> String {
    match c.sql_type {
        SqlType::SmallInt => "SMALLINT",
        SqlType::U8 => "TINYINT UNSIGNED",
        SqlType::U16 => "SMALLINT UNSIGNED",
        SqlType::U32 => "INT UNSIGNED",
        SqlType::U64 => "BIGINT UNSIGNED",
        SqlType::Integer => "INT",
        SqlType::BigInt => "BIGINT",
        SqlType::Real => "FLOAT",
        SqlType::Double => "DOUBLE",
        SqlType::Boolean => "BOOLEAN",
        SqlType::Text => match (c.max_len, keyed(c)) {
            (Some(n), _) => return format!("VARCHAR({n})"),
            (None, true) => "VARCHAR(255)",
            (None, false) => "LONGTEXT",
        },
        SqlType::Bytes => match (c.max_len, keyed(c)) {
            (Some(n), _) => return format!("VARBINARY({n})"),
            (None, true) => "VARBINARY(255)",
            (None, false) => "LONGBLOB",
        },
        SqlType::Timestamp | SqlType::TimestampTz => "DATETIME(6)",
        SqlType::Date => "DATE",
        SqlType::Time => "TIME(6)",
        SqlType::Uuid => "BINARY(16)",
        // An array is a JSON array here.
        SqlType::Json | SqlType::Array(_) => "JSON",
        SqlType::Decimal => {
            return c.decimal.map_or("DECIMAL(65,20)".into(), |(p, s)| {
                format!("DECIMAL({p},{s})")
            });
        }
        // An IPv6 address with a prefix: 39 + 4, 45 for a mapped IPv4 one.
        SqlType::Inet | SqlType::Cidr => "VARCHAR(49)",
        SqlType::Enum(t) => return format!("ENUM({})", sql_string_list(t.labels, true)),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_is_per_backend() {
        assert!(Dialect::Sqlite.check_value(&Value::F64(f64::NAN)).is_err());
        assert!(
            Dialect::Sqlite
                .check_value(&Value::F64(f64::INFINITY))
                .is_ok()
        );
        assert!(
            Dialect::MySql
                .check_value(&Value::F32(f32::NEG_INFINITY))
                .is_err()
        );
        assert!(Dialect::Postgres.check_value(&Value::F64(f64::NAN)).is_ok());
        assert!(
            Dialect::Postgres
                .check_value(&Value::Text("a\0b".into()))
                .is_err()
        );
        assert!(
            Dialect::MySql
                .check_value(&Value::Text("a\0b".into()))
                .is_ok()
        );
    }
}
