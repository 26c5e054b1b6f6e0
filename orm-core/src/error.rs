//! The one error type of the ORM.
//!
//! Every variant says *what* was involved (entity, key, column, statement) so
//! that a log line is enough to find the row. Database errors keep the
//! backend's own code and add a backend-independent [`DbErrorKind`] so that
//! callers (and the retry helper of a later issue) can branch on "unique
//! violation" or "connection lost" without knowing which server said it.

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
    /// Whether running the same unit of work again may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            DbErrorKind::Deadlock | DbErrorKind::Serialization | DbErrorKind::Busy
        )
    }
}

/// What went wrong. Non-exhaustive: later issues add variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused a statement or the connection failed.
    #[error("{kind:?} from the database{}: {message} (code {}){}",
        entity.map(|e| format!(" while writing {e}")).unwrap_or_default(),
        code.as_deref().unwrap_or("none"),
        statement.as_deref().map(|s| format!("; statement: {s}")).unwrap_or_default())]
    Database {
        kind: DbErrorKind,
        /// SQLSTATE on PostgreSQL, the error number on MySQL, the extended result code on SQLite.
        code: Option<String>,
        message: String,
        /// The entity being written or read, when known.
        entity: Option<&'static str>,
        /// The SQL text (never the parameters, which may be secrets).
        statement: Option<String>,
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
}

/// Renders a primary key for messages: `7` or `(7, "a")`.
pub(crate) fn describe_key(values: &[crate::Value]) -> String {
    struct Key<'a>(&'a [crate::Value]);
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
