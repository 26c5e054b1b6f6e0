//! The one error type of the ORM.
//!
//! Every variant says *what* was involved (entity, key, column, statement) so
//! that a log line is enough to find the row. Database errors keep the
//! backend's own code and add a backend-independent [`DbErrorKind`] so that
//! callers (and the retry helper of a later issue) can branch on "unique
//! violation" or "connection lost" without knowing which server said it.
//!
//! A database error carries the SQL of the statement that failed (attached
//! by `telemetry::observe`, which every statement runs through; never the
//! bound values), and a constraint violation a [`Violation`]: what the
//! backend said about it (constraint, columns, value), completed by the
//! flush that ran the statement (`session/persist.rs`), which knows the
//! rows it wrote.
//!
//! Layer 0 (values, rows and errors): it uses nothing of the ORM (see `crate::layers`).

use std::fmt;

/// The ORM's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A backend-independent classification of database errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DbErrorKind {
    UniqueViolation,
    ForeignKeyViolation,
    NotNullViolation,
    CheckViolation,
    /// The server chose this transaction as a deadlock victim.
    Deadlock,
    /// A serializable transaction could not be ordered (retry it).
    Serialization,
    /// SQLite: the database file is locked by another connection.
    Busy,
    /// The connection died (killed, network, server restart) or the pool is closed.
    ConnectionLost,
    /// The statement ran past a server-side timeout or was cancelled.
    Timeout,
    /// A value the server refused: out of range, invalid encoding, too long.
    InvalidValue,
    /// SQL the server could not parse or plan (a bug in the ORM or a raw query).
    Syntax,
    Other,
}

impl DbErrorKind {
    /// Whether the statement broke a constraint (unique, foreign key, not
    /// null, check): the errors that carry a [`Violation`].
    pub fn is_constraint(self) -> bool {
        matches!(
            self,
            DbErrorKind::UniqueViolation
                | DbErrorKind::ForeignKeyViolation
                | DbErrorKind::NotNullViolation
                | DbErrorKind::CheckViolation
        )
    }

    /// Whether running the same unit of work again may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            DbErrorKind::Deadlock | DbErrorKind::Serialization | DbErrorKind::Busy
        )
    }
}

/// What a constraint violation (unique, foreign key, not null, check) is
/// about, as far as the backend and the flush can tell. Each field is
/// `None` (or empty) when nobody could say; what each backend says:
///
/// | | PostgreSQL | MariaDB / MySQL | SQLite |
/// |---|---|---|---|
/// | `constraint` | the constraint | the key (unique; `PRIMARY` for the primary key) or constraint (foreign key, check) | the CHECK constraint only |
/// | `table` | yes | foreign key, check | unique, not null |
/// | `columns` | unique, foreign key, not null | foreign key, not null; unique when the key is named after its column (as `create_all` names them) | unique, not null |
/// | `value` | unique, foreign key | unique (cut at 192 characters) | found by the flush (below) |
///
/// A flush adds what its rows tell: on SQLite, which names no value, the
/// value of a unique violation by an INSERT is the one that occurs twice in
/// the statement's rows, or else the one of its rows that the table already
/// holds (one SELECT of the key columns, run after the failure inside the
/// same transaction, which SQLite keeps usable after a failed statement),
/// or the row's own when the statement wrote one row. `object_key` is the
/// primary key of the object whose row failed when that is certain: an
/// UPDATE or DELETE of one row, or an INSERT of assigned keys whose row
/// holds the reported value. New objects with generated keys have none yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The constraint or index the server names.
    pub constraint: Option<String>,
    /// The table the constraint belongs to.
    pub table: Option<String>,
    /// The columns of the violated key or constraint (`["email"]`).
    pub columns: Vec<String>,
    /// The offending value as text, several columns joined with `, `.
    pub value: Option<String>,
    /// The primary key of the object whose row violated it.
    pub object_key: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        let mut part = |f: &mut fmt::Formatter<'_>, args: fmt::Arguments<'_>| {
            let r = write!(f, "{sep}{args}");
            sep = ", ";
            r
        };
        if let Some(c) = &self.constraint {
            part(f, format_args!("constraint {c}"))?;
        }
        if let Some(t) = &self.table {
            part(f, format_args!("table {t}"))?;
        }
        match (self.columns.is_empty(), &self.value) {
            (false, Some(v)) => part(f, format_args!("key ({})=({v})", self.columns.join(", ")))?,
            (false, None) => part(f, format_args!("columns ({})", self.columns.join(", ")))?,
            (true, Some(v)) => part(f, format_args!("value ({v})"))?,
            (true, None) => {}
        }
        if let Some(k) = &self.object_key {
            part(f, format_args!("object key {k}"))?;
        }
        Ok(())
    }
}

/// Statements longer than this are cut in messages (the error keeps them
/// whole): a flush's INSERT of 10,000 rows is a long line.
const STATEMENT_IN_MESSAGE: usize = 500;

fn statement_in_message(statement: Option<&str>) -> String {
    let Some(s) = statement else {
        return String::new();
    };
    if s.len() <= STATEMENT_IN_MESSAGE {
        return format!("; statement: {s}");
    }
    let mut cut = STATEMENT_IN_MESSAGE;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("; statement: {}… ({} characters)", &s[..cut], s.len())
}

fn violation_in_message(violation: Option<&Violation>) -> String {
    match violation.map(ToString::to_string) {
        Some(v) if !v.is_empty() => format!("; {v}"),
        _ => String::new(),
    }
}

/// What went wrong. Non-exhaustive: later issues add variants.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused a statement or the connection failed.
    #[error("{kind:?} from the database{}: {message} (code {}){}{}",
        entity.map(|e| format!(" while writing {e}")).unwrap_or_default(),
        code.as_deref().unwrap_or("none"),
        violation_in_message(violation.as_deref()),
        statement_in_message(statement.as_deref()))]
    Database {
        kind: DbErrorKind,
        /// SQLSTATE on PostgreSQL, the error number on MySQL, the extended result code on SQLite.
        code: Option<String>,
        message: String,
        /// The entity being written or read, when known.
        entity: Option<&'static str>,
        /// The SQL text of the statement that failed (never the parameters,
        /// which may be secrets); `None` only for failures outside a
        /// statement (opening a transaction, a pool closed before).
        statement: Option<String>,
        /// Constraint violations: the constraint, key and value (see
        /// [`Violation`] for what each backend tells).
        violation: Option<Box<Violation>>,
    },

    /// Could not open a pool for the URL (the URL is shown without password).
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },

    /// `get`/`one` found no row.
    #[error("{entity} with key {key} not found")]
    NotFound { entity: &'static str, key: String },

    /// `one` found more than one row.
    #[error("expected one {entity}, found {count} rows")]
    MultipleRows { entity: &'static str, count: usize },

    /// A cell could not become the field's Rust type.
    #[error("cannot decode {entity}.{column}: expected {expected}, found {found}")]
    Decode {
        entity: &'static str,
        column: String,
        expected: &'static str,
        found: String,
    },

    /// A value the backend cannot store faithfully, refused before it is sent.
    #[error("invalid value for {entity}.{column} on {backend}: {reason}")]
    InvalidValue {
        entity: &'static str,
        column: &'static str,
        backend: &'static str,
        reason: String,
    },

    /// Two objects in one session claim the same primary key.
    #[error("{entity} with key {key} is already in the session")]
    DuplicateKey { entity: &'static str, key: String },

    /// An UPDATE or DELETE matched no row: another transaction changed the
    /// version or deleted the row since it was loaded. Nothing was lost: the
    /// flush rolled back. Reload and retry (see `Database::retry`).
    #[error("stale data: {operation} of {entity} {key} matched no row (expected version {}, {})",
        expected_version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
        if !row_exists { "the row was deleted".to_string() }
        else { format!("the row has version {}", actual_version.map(|v| v.to_string()).unwrap_or_else(|| "-".into())) })]
    StaleData {
        entity: &'static str,
        key: String,
        operation: &'static str,
        expected_version: Option<i64>,
        actual_version: Option<i64>,
        row_exists: bool,
    },

    /// A flush or commit failed earlier; the session refuses work until
    /// `rollback()` acknowledges it (see the session docs).
    #[error("the session's last flush failed ({cause}); call rollback() before using it again")]
    SessionFailed { cause: String },

    /// A hook returned an error (or `before_flush` hooks never settled).
    #[error("{event} hook failed: {message}")]
    Hook {
        event: &'static str,
        message: String,
    },

    /// The object is not tracked by this session.
    #[error("{entity} object is not in this session ({state})")]
    NotInSession {
        entity: &'static str,
        state: &'static str,
    },

    /// A relationship was read or changed before it was loaded (the ORM
    /// never loads one behind your back).
    #[error(
        "{relation} of the object with key {key} is not loaded; load it with session.load(&objects, ..) or query.load(..)"
    )]
    NotLoaded { relation: String, key: String },

    /// Deleting an object whose relationship refuses deletion while it has
    /// children (`on_delete = "refuse"`).
    #[error(
        "cannot delete {entity} {key}: {relation} still has {children} children (on_delete = \"refuse\")"
    )]
    Restricted {
        entity: &'static str,
        key: String,
        relation: String,
        children: usize,
    },

    /// A plain-row lookup by a column name the row does not have.
    #[error("no column named {0:?} in the row")]
    NoSuchColumn(String),

    /// A plain-row lookup past the last column.
    #[error("column index {index} out of range (the row has {len} columns)")]
    ColumnIndex { index: usize, len: usize },

    /// A URL, option or schema the ORM cannot work with.
    #[error("configuration error: {0}")]
    Config(String),

    /// This thread holds the write guard of an object the operation has to
    /// read (a guard held across an `.await`, or alive in the same scope):
    /// waiting for it would be for ever. Drop the guard first.
    #[error(
        "{entity} {key} is borrowed for writing by this thread (a write guard held across an .await, or still alive in this scope); drop it first"
    )]
    Borrowed { entity: &'static str, key: String },

    /// Several children of one keyed collection have the same key attribute
    /// (a key attribute written directly, not through the collection).
    /// Reading that key and flushing the owner report it; nothing is
    /// written. `insert_handle(key, &child)` with the child that keeps the
    /// key settles it (the others are replaced), or give them other keys.
    #[error(
        "{relation} of the object with key {owner}: {children} children have the key {key}; put the one that keeps it there with insert_handle (the others become orphans) or give the others other keys"
    )]
    KeyConflict {
        relation: String,
        owner: String,
        key: String,
        children: usize,
    },
}

impl Error {
    /// The classification of a database error, if this is one.
    pub fn db_kind(&self) -> Option<DbErrorKind> {
        match self {
            Error::Database { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether running the unit of work again (after reloading) may succeed:
    /// stale data, deadlocks, serialization failures, a busy SQLite file.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::StaleData { .. } => true,
            Error::Database { kind, .. } => kind.is_transient(),
            _ => false,
        }
    }

    /// Attaches the entity being written to a database error.
    pub(crate) fn for_entity(mut self, name: &'static str) -> Self {
        if let Error::Database { entity, .. } = &mut self {
            entity.get_or_insert(name);
        }
        self
    }

    /// Attaches the SQL of the statement that failed to a database error.
    pub(crate) fn for_statement(mut self, sql: &str) -> Self {
        if let Error::Database { statement, .. } = &mut self {
            statement.get_or_insert_with(|| sql.to_string());
        }
        self
    }

    /// What a constraint violation is about: constraint, columns, value
    /// (see [`Violation`]).
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Team {
    ///     #[key(auto)]
    ///     pub id: i64,
    ///     #[column(unique)]
    ///     pub name: String,
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// db.create_all(&[Team::schema()]).await?;
    /// let mut s = db.session();
    /// s.add(Team { id: 0, name: "red".into() });
    /// s.add(Team { id: 0, name: "red".into() });
    /// let err = s.commit().await.unwrap_err();
    /// let v = err.violation().expect("a unique violation");
    /// assert_eq!(v.columns, ["name"]);
    /// assert_eq!(v.value.as_deref(), Some("red"));
    /// assert!(err.to_string().contains("key (name)=(red)"), "{err}");
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Error::Database { violation, .. } => violation.as_deref(),
            _ => None,
        }
    }
}

/// Renders a primary key for messages: `7` or `(7, "a")`.
pub(crate) fn describe_key(values: &[crate::value::Value]) -> String {
    struct Key<'a>(&'a [crate::value::Value]);
    impl fmt::Display for Key<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                [one] => f.write_str(&one.describe()),
                many => {
                    f.write_str("(")?;
                    for (i, v) in many.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        f.write_str(&v.describe())?;
                    }
                    f.write_str(")")
                }
            }
        }
    }
    Key(values).to_string()
}
