//! The peers: one module each, one function per workload. Every function
//! returns the count the workload checks and the statements it sent.

pub mod diesel;
pub mod orm;
pub mod seaorm;
pub mod sqlalchemy;
pub mod sqlx_raw;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    /// Raw sqlx on one bare connection (no pool), the floor of every ratio: hand-written SQL, `query_as`,
    /// `QueryBuilder` for multi-row inserts, `RETURNING` on inserts, the
    /// straightforward per-row UPDATE loop for W5, hash-map assembly for W4
    /// and batched writes for W7.
    Sqlx,
    /// Raw sqlx with the one bulk UPDATE a unit of work can exploit (W5):
    /// `UPDATE .. FROM UNNEST($1, $2)` on PostgreSQL, one `CASE` elsewhere.
    SqlxBulk,
    /// This ORM: a fresh session per operation.
    Orm,
    /// This ORM used the naive way (W7 only): load and save each object in
    /// its own session and transaction, as a hand-written load/save layer does.
    OrmNaive,
    /// SeaORM 2.0 as its documentation writes it (W1-W5; see `seaorm`).
    SeaOrm,
    /// Diesel 2.3, synchronous, as its documentation writes it (W1-W5; see `diesel`).
    Diesel,
    /// SQLAlchemy 2.x ORM in a Python subprocess, as its documentation
    /// writes it (W1-W5, W7; see `sqlalchemy` and `benches/python/sqla_peer.py`).
    SqlAlchemy,
    /// This ORM on SQLite or MySQL through sqlx's driver instead of the
    /// default one (rusqlite, mysql_async): the measure of what it buys.
    OrmSqlxDriver,
    /// This ORM's typed join (W2): one LEFT JOIN into `(User, Option<Post>)`
    /// pairs through the identity map.
    OrmJoin,
    /// This ORM reading through a memory result-cache region (W8).
    OrmMemory,
    /// This ORM reading through a Redis result-cache region (W8).
    OrmRedis,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Sqlx => "sqlx",
            Peer::SqlxBulk => "sqlx bulk",
            Peer::Orm => "orm",
            Peer::OrmNaive => "orm naive",
            Peer::SeaOrm => "seaorm",
            Peer::Diesel => "diesel",
            Peer::SqlAlchemy => "sqlalchemy",
            Peer::OrmSqlxDriver => "orm (sqlx driver)",
            Peer::OrmJoin => "orm, typed join",
            Peer::OrmMemory => "orm, memory cache",
            Peer::OrmRedis => "orm, Redis cache",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// The result count the workload checks.
    pub count: usize,
    /// Data statements sent (the ORM's `session.stats()`, counted by hand for raw sqlx).
    pub statements: u64,
    /// The operation's time as the peer measured it (an out-of-process
    /// peer, so the pipe round trip is not charged to it); `None` for
    /// in-process peers, which the runner times itself.
    pub elapsed: Option<std::time::Duration>,
}

impl Outcome {
    /// An in-process peer's outcome (the runner's clock times it).
    pub fn new(count: usize, statements: u64) -> Outcome {
        Outcome { count, statements, elapsed: None }
    }
}
