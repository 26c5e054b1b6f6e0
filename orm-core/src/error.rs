//! The one error type of the ORM.
//!
//! Every variant says *what* was involved (entity, key, column, statement) so
//! that a log line is enough to find the row. Database errors keep the
//! backend's own code and add a backend-independent [`DbErrorKind`] so that
//! callers (and `Database::retry`) can branch on "unique
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
    /// A row would repeat the value of a unique key or the primary key.
    UniqueViolation,
    /// A foreign key names a row that does not exist, or a row still
    /// referenced would be deleted.
    ForeignKeyViolation,
    /// NULL in a column declared NOT NULL.
    NotNullViolation,
    /// A row fails a CHECK constraint.
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
    /// The connection's view of the schema is stale: PostgreSQL's "cache
    /// lookup failed for type" after an enum type was dropped and made
    /// again (a migration replacing it, `drop_all` + `create_all`) since
    /// the connection learnt its OID. The connection is closed, not
    /// reused; running the unit of work again works on a fresh one.
    SchemaChanged,
    /// Anything else the server said (see the error's `code` and `message`).
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
            DbErrorKind::Deadlock
                | DbErrorKind::Serialization
                | DbErrorKind::Busy
                | DbErrorKind::SchemaChanged
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

/// What went wrong. Every variant names what was involved (entity, key,
/// column, statement). Non-exhaustive: variants may be added, so a `match`
/// needs a catch-all arm.
///
/// ```
/// # use orm_core::prelude::*;
/// #[entity]
/// pub struct Note {
///     #[key]
///     pub id: i64,
///     pub text: String,
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::connect("sqlite::memory:").await?;
/// db.create_all(&[Note::schema()]).await?;
/// let mut s = db.session();
/// match s.get::<Note>(7).await {
///     Ok(note) => println!("{}", note.read().text),
///     Err(Error::NotFound { entity, key }) => assert_eq!((entity, key.as_str()), ("Note", "7")),
///     Err(e) if e.is_retryable() => { /* run the unit of work again: Database::retry */ }
///     Err(e) => return Err(e),
/// }
/// # Ok::<(), orm_core::Error>(())
/// # }).unwrap();
/// ```
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
        /// What kind of failure it is, whichever backend said it.
        kind: DbErrorKind,
        /// SQLSTATE on PostgreSQL, the error number on MySQL, the extended result code on SQLite.
        code: Option<String>,
        /// The server's or driver's own message.
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
    Connect {
        /// The URL, its password replaced by `***`.
        url: String,
        /// The driver's reason ("Connection refused", a timeout).
        message: String,
    },

    /// `get`/`one` found no row.
    #[error("{entity} with key {key} not found")]
    NotFound {
        /// The entity looked for.
        entity: &'static str,
        /// The key looked for, as text (`7`, `(7, "a")`).
        key: String,
    },

    /// `one` found more than one row.
    #[error("expected one {entity}, found {count} rows")]
    MultipleRows {
        /// The entity queried.
        entity: &'static str,
        /// How many rows matched.
        count: usize,
    },

    /// A cell could not become the field's Rust type.
    #[error("cannot decode {entity}.{column}: expected {expected}, found {found}")]
    Decode {
        /// The entity being read.
        entity: &'static str,
        /// The column whose cell did not decode.
        column: String,
        /// The Rust type the field wants.
        expected: &'static str,
        /// The stored value, as text.
        found: String,
    },

    /// A value the backend cannot store faithfully, refused before it is sent.
    #[error("invalid value for {entity}.{column} on {backend}: {reason}")]
    InvalidValue {
        /// The entity being written or queried.
        entity: &'static str,
        /// The column the value is for.
        column: &'static str,
        /// The backend that cannot store it (`sqlite`, `postgres`, `mysql`).
        backend: &'static str,
        /// What the backend would do with it (NaN becoming NULL, a NUL byte).
        reason: String,
    },

    /// Two objects in one session claim the same primary key.
    #[error("{entity} with key {key} is already in the session")]
    DuplicateKey {
        /// The entity of both objects.
        entity: &'static str,
        /// The key they share, as text.
        key: String,
    },

    /// An UPDATE or DELETE matched no row: another transaction changed the
    /// version or deleted the row since it was loaded. Nothing was lost: the
    /// flush rolled back. Reload and retry (see `Database::retry`).
    #[error("stale data: {operation} of {entity} {key} matched no row (expected version {}, {})",
        expected_version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
        if !row_exists { "the row was deleted".to_string() }
        else { format!("the row has version {}", actual_version.map(|v| v.to_string()).unwrap_or_else(|| "-".into())) })]
    StaleData {
        /// The entity whose row changed or went.
        entity: &'static str,
        /// The object's key, as text.
        key: String,
        /// `UPDATE` or `DELETE`.
        operation: &'static str,
        /// The version the session loaded (`None` for unversioned entities).
        expected_version: Option<i64>,
        /// The version the row has now, when it still exists and is versioned.
        actual_version: Option<i64>,
        /// Whether the row still exists (`false`: another transaction deleted it).
        row_exists: bool,
    },

    /// A flush or commit failed earlier; the session refuses work until
    /// `rollback()` acknowledges it (see the session docs).
    #[error("the session's last flush failed ({cause}); call rollback() before using it again")]
    SessionFailed {
        /// The message of the failure that put the session in this state.
        cause: String,
    },

    /// A hook returned an error (or `before_flush` hooks never settled).
    #[error("{event} hook failed: {message}")]
    Hook {
        /// The hook's event (`before_flush`, `before_insert`, ...).
        event: &'static str,
        /// The error the hook returned, as text.
        message: String,
    },

    /// The object is not tracked by this session.
    #[error("{entity} object is not in this session ({state})")]
    NotInSession {
        /// The object's entity.
        entity: &'static str,
        /// The object's state (`detached`, `deleted`, ...).
        state: &'static str,
    },

    /// A relationship was read or changed before it was loaded (the ORM
    /// never loads one behind your back).
    #[error(
        "{relation} of the object with key {key} is not loaded; load it with session.load(&objects, ..) or query.load(..)"
    )]
    NotLoaded {
        /// The relationship, as `Owner.field`.
        relation: String,
        /// The owner's key, as text.
        key: String,
    },

    /// Deleting an object whose relationship refuses deletion while it has
    /// children (`on_delete = "refuse"`).
    #[error(
        "cannot delete {entity} {key}: {relation} still has {children} children (on_delete = \"refuse\")"
    )]
    Restricted {
        /// The entity of the object being deleted.
        entity: &'static str,
        /// Its key, as text.
        key: String,
        /// The relationship that refuses, as `Owner.field`.
        relation: String,
        /// How many children it still has.
        children: usize,
    },

    /// A plain-row lookup by a column name the row does not have.
    #[error("no column named {0:?} in the row")]
    NoSuchColumn(String),

    /// A struct read from a row ([`crate::FromRow`]) names a column the row
    /// does not have: a field without its label in the select list.
    #[error("`{target}` reads a column named {column:?}, which the row does not have (its columns: {})", found.join(", "))]
    MissingColumn {
        /// The struct being read.
        target: &'static str,
        /// The column its field reads.
        column: &'static str,
        /// The row's columns, in order.
        found: Vec<String>,
    },

    /// A struct read from a row ([`crate::FromRow`]) names a column that
    /// the row has twice (both sides' `id` in a join): label one of them.
    #[error(
        "`{target}` reads the column {column:?}, which the row has twice: label one of them (`.label(\"..\")`)"
    )]
    AmbiguousColumn {
        /// The struct being read.
        target: &'static str,
        /// The column its field reads.
        column: &'static str,
    },

    /// A plain-row lookup past the last column.
    #[error("column index {index} out of range (the row has {len} columns)")]
    ColumnIndex {
        /// The index asked for.
        index: usize,
        /// How many columns the row has.
        len: usize,
    },

    /// A URL or option the ORM cannot work with: an unknown URL scheme, a
    /// SQLite URL parameter the direct driver does not know, an option the
    /// backend cannot honour (`insert_returning: Some(false)` on a backend
    /// that reads generated keys only with `RETURNING`), a cache region that
    /// is not set up or is set up twice, a Redis URL that does not parse.
    /// Running again does not help: the configuration has to change.
    #[error("configuration error: {0}")]
    Config(String),

    /// The entities' declarations cannot do what was asked of them: a
    /// foreign-key cycle between tables (`create_all`, `drop_all`, a flush
    /// of both), rows of one table that reference each other through a
    /// non-nullable column, a relationship whose `by` or `keyed_by` names no
    /// column, a relationship to an entity without a single-column primary
    /// key, orphans detached through a non-nullable foreign key. The
    /// declarations have to change.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Hen {
    ///     #[key(auto)] pub id: i64,
    ///     #[column(references = Egg)] pub egg_id: i64,
    /// }
    /// #[entity]
    /// pub struct Egg {
    ///     #[key(auto)] pub id: i64,
    ///     #[column(references = Hen)] pub hen_id: i64,
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// let err = db.create_all(&[Hen::schema(), Egg::schema()]).await.unwrap_err();
    /// assert!(matches!(err, Error::Schema { entity: "Hen", .. }), "{err}");
    /// assert_eq!(err.to_string(), "schema error in Hen: foreign-key cycle between Hen, Egg");
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    #[error("schema error in {}: {message}", relation.as_deref().unwrap_or(*entity))]
    Schema {
        /// The entity whose declaration is at fault (the first of a cycle).
        entity: &'static str,
        /// The relationship at fault, as `Owner.field`, when it is one.
        relation: Option<String>,
        /// What cannot work, and why.
        message: String,
    },

    /// A schema migration that cannot run or did not finish: a migration
    /// file changed after it was applied (its checksum differs), an applied
    /// migration whose file is gone, a migration written for another
    /// backend, a generated plan with destructive changes that were not
    /// allowed, a statement that failed (the cause says which; on
    /// PostgreSQL and SQLite the migration was rolled back, on MySQL the
    /// applied table records how many statements ran), or a failed
    /// migration left on MySQL that has to be repaired first.
    #[error("migration{}: {message}", version.as_ref().map(|v| format!(" {v}")).unwrap_or_default())]
    Migration {
        /// The migration (`<timestamp>_<name>`), when one is at fault.
        version: Option<String>,
        /// What happened, and what to do.
        message: String,
    },

    /// The API was used in a way it does not support: a keyed collection
    /// used before its owner has a handle, `then(..)` following no `load`,
    /// `Relation::set` on a relationship that is not a belongs-to, objects
    /// that wait for the generated key of a parent that is not being
    /// inserted (or left the session), a cache key or expiry without a
    /// region, rows cached under a key another query's rows use, a call
    /// while a cancelled commit is still finishing (await
    /// `Session::settle` first). The program has to change; nothing was
    /// written.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Shelf {
    ///     #[key(auto)] pub id: i64,
    ///     #[has_many(Jar, by = "shelf_id", keyed_by = "label")] pub jars: Keyed<String, Jar>,
    /// }
    /// #[entity]
    /// #[derive(Debug, Default)]
    /// pub struct Jar {
    ///     #[key(auto)] pub id: i64,
    ///     pub shelf_id: i64,
    ///     pub label: String,
    /// }
    /// // Not added to a session: the collection has no owner to link children to.
    /// let mut shelf = Shelf { id: 0, jars: Keyed::new() };
    /// let err = shelf.jars.insert("jam".into(), Jar::default()).unwrap_err();
    /// assert!(matches!(err, Error::Usage { entity: Some("Jar"), .. }), "{err}");
    /// ```
    #[error("{}{message}", place(*entity, relation.as_deref()))]
    Usage {
        /// The entity involved, when one is.
        entity: Option<&'static str>,
        /// The relationship involved, as `Owner.field`, when one is.
        relation: Option<String>,
        /// What was asked, and what to do instead.
        message: String,
    },

    /// A query whose bound values exceed the backend's limit on parameters
    /// per statement, and that can neither be split into several statements
    /// (only one positive `IN` outside OR/NOT, in a query without
    /// LIMIT/OFFSET, can) nor send its long lists as one parameter (an
    /// array on PostgreSQL, JSON text elsewhere: not for values of mixed
    /// types or NaN). Nothing was sent; ask for less per query.
    #[error("{entity}: {values} bound values exceed the backend's limit of {limit} and {reason}")]
    QueryTooLarge {
        /// The entity queried.
        entity: &'static str,
        /// How many values the query binds.
        values: usize,
        /// The backend's limit on bound values per statement.
        limit: usize,
        /// Why the query cannot be split or its lists sent as one parameter.
        reason: String,
    },

    /// A SQL template did not fit its statement: in paranoid mode a stored
    /// template and a fresh build differ, or a template does not bind to
    /// its arguments. For a `Session::fetch_built` query it is the
    /// builder's fault (it reads a value it captured, or writes a
    /// placeholder for an absent parameter or an empty list); for the ORM's
    /// own statements it is a bug. Nothing was sent.
    #[error("SQL template of {site}: {message}")]
    Template {
        /// Whose statement: the entity queried, the site of a
        /// `fetch_built` query, or `flush` for a flush statement.
        site: String,
        /// What did not fit.
        message: String,
    },

    /// Something the ORM relies on did not hold: the database returned
    /// fewer generated keys than rows inserted (a trigger that drops rows),
    /// a query the ORM split when it must be one statement, a column index
    /// the entity does not have. A bug in the ORM, or a database that
    /// behaves as the ORM does not expect; a flush that meets it fails as
    /// after any other failure.
    #[error("internal error{}: {message}", entity.map(|e| format!(" in {e}")).unwrap_or_default())]
    Internal {
        /// The entity involved, when known.
        entity: Option<&'static str>,
        /// The invariant that failed.
        message: String,
    },

    /// This thread holds the write guard of an object the operation has to
    /// read (a guard held across an `.await`, or alive in the same scope):
    /// waiting for it would be for ever. Drop the guard first.
    #[error(
        "{entity} {key} is borrowed for writing by this thread (a write guard held across an .await, or still alive in this scope); drop it first"
    )]
    Borrowed {
        /// The object's entity.
        entity: &'static str,
        /// Its key, as text (`(new, no key yet)` for a new object).
        key: String,
    },

    /// Several children of one keyed collection have the same key attribute
    /// (a key attribute written directly, not through the collection).
    /// Reading that key and flushing the owner report it; nothing is
    /// written. `insert_handle(key, &child)` with the child that keeps the
    /// key settles it (the others are replaced), or give them other keys.
    #[error(
        "{relation} of the object with key {owner}: {children} children have the key {key}; put the one that keeps it there with insert_handle (the others become orphans) or give the others other keys"
    )]
    KeyConflict {
        /// The keyed relationship, as `Owner.field`.
        relation: String,
        /// The owner's key, as text.
        owner: String,
        /// The collection key several children have.
        key: String,
        /// How many children have it.
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

/// `Owner.field: ` or `Entity: ` before a usage message, or nothing.
fn place(entity: Option<&str>, relation: Option<&str>) -> String {
    match relation.or(entity) {
        Some(p) => format!("{p}: "),
        None => String::new(),
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
