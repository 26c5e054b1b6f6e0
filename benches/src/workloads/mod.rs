//! The database workloads (W1, W2, W3, W4, W5, W7) as cases the runner
//! times, their seed data and their expected result counts; W7's seed and
//! logic are in `receivers`; W6 (no database) and the older single-purpose
//! benchmarks live in their own modules.

pub mod cache;
pub mod drivers;
pub mod in_lists;
pub mod pool_cost;
pub mod receivers;
pub mod w6_templates;
pub mod w8_report;

use orm_core::Database;

use crate::peers::sqlx_raw::Raw;
use crate::peers::{Outcome, Peer};
use crate::schema::{Comment, Group, NewUser, NewUserData, Plane, Post, Reading, Receiver, User, new_users};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    pub fn parse(s: &str) -> Option<Backend> {
        match s.trim() {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "pg" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::Mysql),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    pub fn url(self) -> String {
        let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        match self {
            // A file, never :memory: (`setup` refuses it): every peer's connection opens the same database.
            Backend::Sqlite => env("ORM_BENCH_SQLITE_URL", "sqlite:///tmp/orm-bench.sqlite"),
            Backend::Postgres => env("ORM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
            Backend::Mysql => env("ORM_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
        }
    }
}

/// Everything one backend's cases share: every peer's connection, the
/// seeding database, the seeded key range and the expected counts.
pub struct Ctx {
    pub backend: Backend,
    /// The ORM peer: one connection (see [`orm_options`]).
    pub db: Database,
    /// On SQLite and MySQL, the ORM again through sqlx's driver (`Peer::OrmSqlxDriver`), one connection.
    pub db_sqlx: Option<Database>,
    /// W8's database: the same URL with a memory and a Redis result-cache
    /// region, one connection. Its own, because a database with regions
    /// tells them about every commit (a Redis round trip to bump the written
    /// tables' generations), which the other workloads' ORM must not pay.
    pub db_cached: Database,
    /// The floor: raw sqlx on one bare connection.
    pub raw: Raw,
    /// The SeaORM peer's connection (`Database::connect`, one connection).
    pub sea: sea_orm::DatabaseConnection,
    /// The Diesel peer's one synchronous connection (behind a mutex).
    pub diesel: crate::peers::diesel::Diesel,
    /// The SQLAlchemy peer's Python process (one pooled connection).
    pub sqla: crate::peers::sqlalchemy::SqlAlchemy,
    /// Not a peer: the ORM with its default pool, which creates and seeds
    /// the tables, runs ANALYZE and reseeds W7's tables (all untimed).
    pub admin: Database,
    /// The smallest seeded user id; users `lo .. lo + USERS` exist.
    pub lo: i64,
    /// Rows of W2's join (computed untimed with COUNT).
    pub w2_rows: usize,
    pub w2_users: usize,
    /// Posts and comments of W4's users (computed untimed with COUNT).
    pub w4_posts: usize,
    pub w4_comments: usize,
    /// Rows of W8's report (distinct ages, computed untimed).
    pub w8_rows: usize,
    pub version: String,
    /// How the peers' connections came to their view of the statistics, for the report.
    pub statistics: String,
    /// SQLite: the pragmas read back on every peer's connection, for the report.
    pub pragmas: Option<String>,
}

pub const USERS: usize = 10_000;
pub const JOIN_USERS: i64 = 1_000;
pub const POSTS_PER_USER: usize = 10;
pub const JOIN_MIN_AGE: i32 = 45;
pub const UPDATE_USERS: i64 = 1_000;
/// W4 reads the first 100 users with their posts and the posts' comments.
pub const GRAPH_USERS: i64 = 100;
/// Comments are seeded for the posts of the first 200 users (2 or 3 per
/// post), so W4's filter matters at every level.
pub const COMMENTED_USERS: i64 = 200;
/// W7's receivers (the size of the configuration service's command), and with `--quick`.
pub const RECEIVERS: usize = 200;
pub const QUICK_RECEIVERS: usize = 50;
/// W9's rows, streamed.
pub const READINGS: i64 = 1_000_000;

/// Every table the seed creates (ANALYZE names them on the servers).
const TABLES: [&str; 9] = [
    "bench_users",
    "bench_readings",
    "bench_posts",
    "bench_comments",
    "bench_new_users",
    "bench_receivers",
    "bench_groups",
    "bench_planes",
    "bench_receiver_groups",
];

/// How each ORM peer's `Database` is opened: one connection, opened at
/// connect and kept for the run (no idle timeout, no maximum lifetime, so
/// the pragmas set on it stay), no ping before acquire (the ORM's default).
/// `through_sqlx` picks sqlx's driver on SQLite and MySQL (the defaults are
/// rusqlite and mysql_async; PostgreSQL is sqlx either way).
pub fn orm_options(through_sqlx: bool) -> orm_core::ConnectOptions {
    use orm_core::{MySqlDriver, SqliteDriver};
    orm_core::ConnectOptions {
        pool: orm_core::PoolOptions {
            max_connections: 1,
            min_connections: 1,
            idle_timeout: None,
            max_lifetime: None,
            ..Default::default()
        },
        sqlite_driver: if through_sqlx { SqliteDriver::Sqlx } else { SqliteDriver::Direct },
        mysql_driver: if through_sqlx { MySqlDriver::Sqlx } else { MySqlDriver::MysqlAsync },
        ..Default::default()
    }
}

/// An ORM peer's database on one connection. On SQLite both drivers open
/// the file in WAL mode with foreign keys on, and neither takes
/// `synchronous` from the URL (the direct driver accepts only `mode=`, sqlx
/// only `mode`, `cache`, `immutable`, `vfs`): `PRAGMA synchronous = NORMAL`
/// runs through `execute_sql` on the one connection, and the runner reads it
/// back before every case ([`check_pragmas`]).
async fn orm_peer(backend: Backend, url: &str, through_sqlx: bool) -> Result<Database, Box<dyn std::error::Error>> {
    let db = Database::connect_with(url, orm_options(through_sqlx)).await?;
    if backend == Backend::Sqlite {
        db.execute_sql("PRAGMA synchronous = NORMAL", vec![]).await?;
    }
    Ok(db)
}

/// The in-process peers' connections, opened together.
struct Peers {
    db: Database,
    db_sqlx: Option<Database>,
    db_cached: Database,
    raw: Raw,
    sea: sea_orm::DatabaseConnection,
    diesel: crate::peers::diesel::Diesel,
    sqla: crate::peers::sqlalchemy::SqlAlchemy,
}

impl Peers {
    async fn open(backend: Backend, url: &str) -> Result<Peers, Box<dyn std::error::Error>> {
        let db = orm_peer(backend, url, false).await?;
        let db_sqlx = match backend {
            Backend::Sqlite | Backend::Mysql => Some(orm_peer(backend, url, true).await?),
            Backend::Postgres => None,
        };
        let db_cached = orm_peer(backend, url, false).await?;
        w8_report::regions(&db_cached).await?;
        Ok(Peers {
            db,
            db_sqlx,
            db_cached,
            raw: Raw::connect(backend, url).await?,
            sea: crate::peers::seaorm::connect(url).await?,
            diesel: crate::peers::diesel::Diesel::connect(backend, url)?,
            sqla: crate::peers::sqlalchemy::SqlAlchemy::start(backend, url)?,
        })
    }

    /// One statement on each peer's connection that reads a seeded table:
    /// on SQLite that loads the schema, and with it the statistics the
    /// connection then keeps (SQLite reads `sqlite_stat1` when it loads the
    /// schema, not when another connection runs ANALYZE).
    async fn touch(&self) -> Result<(), Box<dyn std::error::Error>> {
        const SQL: &str = "SELECT COUNT(*) AS n FROM bench_users";
        for db in [Some(&self.db), self.db_sqlx.as_ref(), Some(&self.db_cached)].into_iter().flatten() {
            db.fetch_sql(SQL, vec![]).await?;
        }
        self.raw.scalar_i64(SQL).await?;
        use sea_orm::ConnectionTrait;
        self.sea.query_one_raw(sea_orm::Statement::from_string(self.sea.get_database_backend(), SQL)).await?;
        self.diesel.count_users()?;
        self.sqla.touch()?;
        Ok(())
    }
}

/// Reads `synchronous` and `journal_mode` back on every SQLite peer's
/// connection (untimed, before each case): `synchronous` must be 1
/// (NORMAL) and `journal_mode` wal everywhere. Returns the summary line.
pub async fn check_pragmas(ctx: &Ctx) -> Result<String, Box<dyn std::error::Error>> {
    if ctx.backend != Backend::Sqlite {
        return Ok(String::new());
    }
    let q = |name: &str| format!("SELECT CAST({name} AS TEXT) AS value FROM pragma_{name}");
    let mut seen = Vec::new();
    for name in ["synchronous", "journal_mode", "foreign_keys"] {
        let sql = q(name);
        let orm = |db: &Database| {
            let sql = sql.clone();
            let db = db.clone();
            async move {
                Ok::<String, Box<dyn std::error::Error>>(db.fetch_sql(sql, vec![]).await?[0].get::<String>("value")?)
            }
        };
        use sea_orm::ConnectionTrait;
        let sea_row = ctx
            .sea
            .query_one_raw(sea_orm::Statement::from_string(ctx.sea.get_database_backend(), sql.clone()))
            .await?
            .ok_or("SeaORM: no pragma row")?;
        let mut answers = vec![
            ("orm", orm(&ctx.db).await?),
            ("orm, cached", orm(&ctx.db_cached).await?),
            ("sqlx", ctx.raw.scalar_text(&sql).await?),
            ("seaorm", sea_row.try_get::<String>("", "value")?),
            ("diesel", ctx.diesel.pragma(name)?),
            ("sqlalchemy", ctx.sqla.pragma(name)?),
        ];
        if let Some(db) = &ctx.db_sqlx {
            answers.push(("orm (sqlx driver)", orm(db).await?));
        }
        let want = match name {
            "synchronous" => "1",
            "journal_mode" => "wal",
            _ => "1",
        };
        if let Some((peer, got)) = answers.iter().find(|(_, v)| !v.eq_ignore_ascii_case(want)) {
            return Err(format!("SQLite: {peer}'s connection has {name} = {got}, expected {want}").into());
        }
        seen.push(format!("{name} = {want}"));
    }
    Ok(format!("{} on every peer's connection (read back before each case)", seen.join(", ")))
}

/// SQLite: the plans the floor's connection (a peer's, so its view of the
/// statistics) makes for W5's batched UPDATE (the ORM's shape, a join with
/// a VALUES list of 1,000 rows), W2's join and W4's IN list, one line each,
/// for the log: what `--stale-stats` can change.
pub async fn sqlite_plans(ctx: &Ctx) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let lo = ctx.lo;
    let values: Vec<String> = (lo..lo + UPDATE_USERS).map(|id| format!("({id}, 1)")).collect();
    let queries = [
        (
            "W5 update",
            format!(
                "UPDATE bench_users SET visits = v.column2 FROM (VALUES {}) AS v WHERE bench_users.id = v.column1",
                values.join(", ")
            ),
        ),
        (
            "W2 join",
            format!(
                "SELECT u.id, p.id FROM bench_users u LEFT JOIN bench_posts p ON p.user_id = u.id \
                 WHERE u.id < {} AND u.age >= {JOIN_MIN_AGE}",
                lo + JOIN_USERS
            ),
        ),
        ("W4 posts", format!("SELECT id FROM bench_posts WHERE user_id IN ({}, {}, {})", lo, lo + 1, lo + 2)),
    ];
    let mut out = Vec::new();
    for (what, sql) in queries {
        let steps = ctx.raw.plan(&format!("EXPLAIN QUERY PLAN {sql}")).await?;
        out.push(format!("{what}: {}", steps.join("; ")));
    }
    Ok(out)
}

/// W9's table: [`READINGS`] rows in one INSERT .. SELECT from a generated
/// sequence.
async fn fill_readings(backend: Backend, admin: &Database) -> Result<(), Box<dyn std::error::Error>> {
    const DIGITS: &str = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                          UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                          UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let sql = match backend {
        Backend::Postgres => format!(
            "INSERT INTO bench_readings (sensor, note) SELECT g % 97, 'reading number ' || g \
             FROM generate_series(1, {READINGS}) g"
        ),
        Backend::Sqlite => format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {READINGS}) \
             INSERT INTO bench_readings (sensor, note) SELECT n % 97, 'reading number ' || n FROM seq"
        ),
        Backend::Mysql => format!(
            "INSERT INTO bench_readings (sensor, note) SELECT n % 97, CONCAT('reading number ', n) FROM \
             (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d + 1 AS n \
             FROM {DIGITS} a, {DIGITS} b, {DIGITS} c, {DIGITS} e, {DIGITS} f, {DIGITS} g) seq"
        ),
    };
    admin.execute_sql(sql, vec![]).await?;
    Ok(())
}

/// ANALYZE on the seeding database's connection, every seeded table:
/// PostgreSQL `ANALYZE t, ..`, MariaDB `ANALYZE TABLE t, ..` (InnoDB's
/// persistent statistics), SQLite `ANALYZE` (writes `sqlite_stat1`).
async fn analyze(backend: Backend, admin: &Database) -> Result<(), Box<dyn std::error::Error>> {
    let list = TABLES.join(", ");
    let sql = match backend {
        Backend::Postgres => format!("ANALYZE {list}"),
        Backend::Mysql => format!("ANALYZE TABLE {list}"),
        Backend::Sqlite => "ANALYZE".to_string(),
    };
    let rows = admin.fetch_sql(sql.clone(), vec![]).await?;
    // MariaDB answers a row per table; an error is a row too.
    for row in &rows {
        if let (Ok(kind), Ok(text)) = (row.get::<String>("Msg_type"), row.get::<String>("Msg_text"))
            && kind.eq_ignore_ascii_case("error")
        {
            return Err(format!("{sql}: {text}").into());
        }
    }
    Ok(())
}

/// Drops and recreates the tables and seeds them (untimed), runs ANALYZE,
/// and opens the peers' connections.
///
/// Statistics, by default: every peer's connection is opened after the
/// ANALYZE, so each plans with the seeded tables' statistics (on SQLite a
/// connection reads `sqlite_stat1` when it loads the schema; on the servers
/// the statistics are the server's, shared by every connection, and a
/// connection opened afterwards has no plan cached from before).
///
/// `stale` (SQLite only, `--stale-stats`): every peer's connection is
/// opened after the tables are created and before they are seeded, and
/// reads `bench_users` once, so it loads the schema while `sqlite_stat1`
/// has no row for the bench tables (ANALYZE of an empty table writes none);
/// ANALYZE then runs on the seeding connection only, which the peers'
/// connections do not see (ANALYZE changes no schema cookie, so they do not
/// reload). They keep planning with SQLite's defaults for a table without
/// statistics, which is what a long-lived connection opened before the data
/// grew sees.
pub async fn setup(backend: Backend, quick: bool, stale: bool) -> Result<Ctx, Box<dyn std::error::Error>> {
    let url = backend.url();
    if backend == Backend::Sqlite && (url.contains(":memory:") || url.contains("mode=memory")) {
        return Err(format!("{url}: the SQLite case runs on a file, never in memory (ORM_BENCH_SQLITE_URL)").into());
    }
    let stale = stale && backend == Backend::Sqlite;
    let admin = Database::connect(&url).await?;
    let schema = [
        Comment::schema(),
        Post::schema(),
        User::schema(),
        NewUser::schema(),
        Plane::schema(),
        Receiver::schema(),
        Group::schema(),
        Reading::schema(),
    ];
    admin.drop_all(&schema).await?;
    admin.create_all(&schema).await?;
    let early = if stale {
        let peers = Peers::open(backend, &url).await?;
        peers.touch().await?;
        Some(peers)
    } else {
        None
    };
    let mut s = admin.session();
    s.add_all((0..USERS).map(|i| User {
        name: format!("user-{i}"),
        email: format!("user-{i}@example.org"),
        age: 20 + (i % 50) as i32,
        ..Default::default()
    }));
    s.commit().await?;
    let one = |sql: &str| {
        let (admin, sql) = (&admin, sql.to_string());
        async move { Ok::<i64, Box<dyn std::error::Error>>(admin.fetch_sql(sql, vec![]).await?[0].get::<i64>("n")?) }
    };
    let lo = one("SELECT MIN(id) AS n FROM bench_users").await?;
    let mut s = admin.session();
    s.add_all((0..JOIN_USERS).flat_map(|u| {
        (0..POSTS_PER_USER).map(move |p| Post {
            user_id: lo + u,
            title: format!("post {p} of {u}"),
            views: p as i32,
            ..Default::default()
        })
    }));
    s.commit().await?;
    // W4's comments: 2 or 3 per post of the first COMMENTED_USERS users.
    let mut s = admin.session();
    let posts = s.query::<Post>().filter(Post::USER_ID.lt(lo + COMMENTED_USERS)).all().await?;
    let comments: Vec<Comment> = posts
        .iter()
        .enumerate()
        .flat_map(|(j, p)| {
            let post_id = p.read().id;
            (0..2 + j % 2).map(move |c| Comment {
                post_id,
                body: format!("comment {c} on post {post_id}"),
                likes: (c * j % 7) as i32,
                ..Default::default()
            })
        })
        .collect();
    s.add_all(comments);
    s.commit().await?;
    fill_readings(backend, &admin).await?;
    // W7's tables at the size the case runs (reseeded with the same shape
    // before every operation), so ANALYZE sees them as the case does.
    receivers::seed(&admin, if quick { QUICK_RECEIVERS } else { RECEIVERS }).await?;
    analyze(backend, &admin).await?;
    let (peers, statistics) = match early {
        Some(p) => (
            p,
            "stale (`--stale-stats`): every peer's connection loaded the schema before the seed, when \
             sqlite_stat1 had no row for the bench tables; ANALYZE ran after the seed on the seeding \
             connection only"
                .to_string(),
        ),
        None => (
            Peers::open(backend, &url).await?,
            format!(
                "fresh: {} after the seed, then every peer's connection opened",
                match backend {
                    Backend::Postgres => "ANALYZE of the bench tables",
                    Backend::Mysql => "ANALYZE TABLE of the bench tables",
                    Backend::Sqlite => "ANALYZE (sqlite_stat1)",
                }
            ),
        ),
    };
    let Peers { db, db_sqlx, db_cached, raw, sea, diesel, sqla } = peers;
    sqla.set_lo(lo)?;
    let count = |sql: String| {
        let raw = &raw;
        async move { raw.scalar_i64(&sql).await }
    };
    let w2_rows = count(format!(
        "SELECT COUNT(*) FROM bench_users u LEFT JOIN bench_posts p ON p.user_id = u.id WHERE u.id < {} AND u.age >= {JOIN_MIN_AGE}",
        lo + JOIN_USERS
    ))
    .await? as usize;
    let w2_users =
        count(format!("SELECT COUNT(*) FROM bench_users WHERE id < {} AND age >= {JOIN_MIN_AGE}", lo + JOIN_USERS))
            .await? as usize;
    let hi = lo + GRAPH_USERS;
    let w4_posts = count(format!("SELECT COUNT(*) FROM bench_posts WHERE user_id < {hi}")).await? as usize;
    let w4_comments = count(format!(
        "SELECT COUNT(*) FROM bench_comments c JOIN bench_posts p ON p.id = c.post_id WHERE p.user_id < {hi}"
    ))
    .await? as usize;
    assert_eq!(w4_posts, GRAPH_USERS as usize * POSTS_PER_USER);
    let users = count("SELECT COUNT(*) FROM bench_users".into()).await? as usize;
    let max = count("SELECT MAX(id) FROM bench_users".into()).await?;
    assert_eq!(users, USERS);
    assert_eq!(max - lo + 1, USERS as i64, "seeded ids are not contiguous");
    let w8_rows = count("SELECT COUNT(DISTINCT age) FROM bench_users".into()).await? as usize;
    let version = raw.version().await?;
    let mut ctx = Ctx {
        backend,
        db,
        db_sqlx,
        db_cached,
        raw,
        sea,
        diesel,
        sqla,
        admin,
        lo,
        w2_rows,
        w2_users,
        w4_posts,
        w4_comments,
        w8_rows,
        version,
        statistics,
        pragmas: None,
    };
    if backend == Backend::Sqlite {
        ctx.pragmas = Some(check_pragmas(&ctx).await?);
        for line in sqlite_plans(&ctx).await? {
            eprintln!("[sqlite] plan on the floor's connection, {line}");
        }
    }
    Ok(ctx)
}

/// One user of W4's assembled graph: the user, its posts, their comments.
pub type Graph<U, P, C> = (U, Vec<(P, Vec<C>)>);

/// W4's check for peers that assemble `(user, [(post, [comment])])`: the
/// users and posts must be the expected ones; the count is the comments
/// reached by walking the graph.
pub fn graph_outcome<U, P, C>(
    ctx: &Ctx,
    graph: &[Graph<U, P, C>],
    statements: u64,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let posts: usize = graph.iter().map(|(_, p)| p.len()).sum();
    let comments = graph.iter().flat_map(|(_, p)| p).map(|(_, c)| c.len()).sum();
    if graph.len() != GRAPH_USERS as usize || posts != ctx.w4_posts {
        return Err(
            format!("W4: {} users, {posts} posts, expected {GRAPH_USERS}, {}", graph.len(), ctx.w4_posts).into()
        );
    }
    Ok(Outcome::new(comments, statements))
}

/// One timed case: a workload at one size, with the peers that run it.
pub struct Case {
    pub id: &'static str,
    pub label: String,
    pub kind: Kind,
    pub peers: Vec<Peer>,
    /// Operations per peer per pass.
    pub reps: usize,
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// W1: load `n` users.
    Load(usize),
    /// W2: users LEFT JOIN posts with a filter.
    Join,
    /// W3: insert `n` users, keys read back.
    Insert(usize),
    /// W4: users, their posts, the posts' comments, assembled.
    Graph,
    /// W5: load, change, write back, commit.
    Update,
    /// W7: the re-route command on `n` receivers (reseeded before every operation).
    Reroute(usize),
    /// W8: the report query, uncached and through result-cache regions.
    Report,
    /// W9: stream every row of a 1,000,000-row table, one at a time.
    Stream,
}

pub fn cases(quick: bool, backend: Backend) -> Vec<Case> {
    let r = |quick_reps: usize| if quick { quick_reps } else { quick_reps * 3 };
    // On SQLite and MySQL the ORM also runs through sqlx's driver (what the default one buys).
    let orm = || {
        let mut p = vec![Peer::Orm];
        if backend != Backend::Postgres {
            p.push(Peer::OrmSqlxDriver);
        }
        p
    };
    let three = || [vec![Peer::Sqlx], orm(), vec![Peer::SeaOrm, Peer::Diesel, Peer::SqlAlchemy]].concat();
    let receivers = if quick { QUICK_RECEIVERS } else { RECEIVERS };
    vec![
        Case { id: "W1", label: "load 1 user".into(), kind: Kind::Load(1), peers: three(), reps: r(200) },
        Case { id: "W1", label: "load 100 users".into(), kind: Kind::Load(100), peers: three(), reps: r(40) },
        Case { id: "W1", label: "load 10,000 users".into(), kind: Kind::Load(10_000), peers: three(), reps: r(2) },
        Case {
            id: "W2",
            label: "users LEFT JOIN posts, filtered".into(),
            kind: Kind::Join,
            peers: [three(), vec![Peer::OrmJoin]].concat(),
            reps: r(5),
        },
        Case {
            id: "W3",
            label: "insert 100 users, keys back".into(),
            kind: Kind::Insert(100),
            peers: three(),
            reps: r(10),
        },
        Case {
            id: "W3",
            label: "insert 10,000 users, keys back".into(),
            kind: Kind::Insert(10_000),
            peers: three(),
            reps: r(1),
        },
        Case {
            id: "W4",
            label: "100 users + posts + comments, assembled".into(),
            kind: Kind::Graph,
            peers: three(),
            reps: r(10),
        },
        Case {
            id: "W5",
            label: "load 1,000, change 1 column each, commit".into(),
            kind: Kind::Update,
            peers: [vec![Peer::Sqlx, Peer::SqlxBulk], orm(), vec![Peer::SeaOrm, Peer::Diesel, Peer::SqlAlchemy]]
                .concat(),
            reps: r(2),
        },
        Case {
            id: "W7",
            label: format!("re-route {receivers} receivers' planes, one commit"),
            kind: Kind::Reroute(receivers),
            peers: [vec![Peer::Sqlx], orm(), vec![Peer::OrmNaive, Peer::SqlAlchemy]].concat(),
            reps: if quick { 2 } else { 3 },
        },
        Case {
            id: "W8",
            label: "report: posts and views per age (GROUP BY), cached".into(),
            kind: Kind::Report,
            peers: vec![Peer::Sqlx, Peer::Orm, Peer::OrmMemory, Peer::OrmRedis],
            reps: r(20),
        },
        Case {
            id: "W9",
            label: "stream 1,000,000 rows".into(),
            kind: Kind::Stream,
            peers: [vec![Peer::Sqlx], orm(), vec![Peer::SeaOrm, Peer::Diesel]].concat(),
            reps: 1,
        },
    ]
}

/// The data an operation needs, built untimed.
pub enum Input {
    None,
    Users(Vec<NewUserData>),
}

pub fn input(kind: Kind) -> Input {
    match kind {
        Kind::Insert(n) => Input::Users(new_users(n)),
        _ => Input::None,
    }
}

/// The count a correct operation returns.
pub fn expected(ctx: &Ctx, kind: Kind) -> usize {
    match kind {
        Kind::Load(n) | Kind::Insert(n) => n,
        Kind::Join => ctx.w2_rows,
        Kind::Graph => ctx.w4_comments,
        Kind::Update => UPDATE_USERS as usize,
        Kind::Reroute(n) => receivers::effects(n).changes,
        Kind::Report => ctx.w8_rows,
        Kind::Stream => READINGS as usize,
    }
}

/// Untimed work before a case's first operation.
pub async fn prepare(ctx: &Ctx, kind: Kind) -> Result<(), Box<dyn std::error::Error>> {
    match kind {
        Kind::Reroute(n) => receivers::seed(&ctx.admin, n).await?,
        Kind::Report => w8_report::reset(&ctx.db_cached).await?,
        _ => {}
    }
    Ok(())
}

/// Untimed check of the database after an operation (for workloads whose
/// effect is in the data, not in what the operation returns).
pub async fn check(ctx: &Ctx, kind: Kind) -> Result<(), String> {
    match kind {
        Kind::Reroute(n) => receivers::check(ctx, n).await,
        _ => Ok(()),
    }
}

/// Untimed work after each operation.
pub async fn cleanup(ctx: &Ctx, kind: Kind) -> Result<(), Box<dyn std::error::Error>> {
    match kind {
        Kind::Insert(_) => {
            ctx.raw.execute("DELETE FROM bench_new_users").await?;
        }
        Kind::Reroute(n) => receivers::seed(&ctx.admin, n).await?,
        _ => {}
    }
    Ok(())
}

/// The ORM's database for `peer`: the default one, or on SQLite the pool
/// through sqlx's driver.
fn orm_db(ctx: &Ctx, peer: Peer) -> Result<&Database, Box<dyn std::error::Error>> {
    match (peer, &ctx.db_sqlx) {
        (Peer::OrmSqlxDriver, Some(db)) => Ok(db),
        (Peer::OrmSqlxDriver, None) => Err("orm (sqlx driver) runs on SQLite and MySQL only".into()),
        _ => Ok(&ctx.db),
    }
}

pub async fn run(ctx: &Ctx, peer: Peer, kind: Kind, input: &Input) -> Result<Outcome, Box<dyn std::error::Error>> {
    use crate::peers::{diesel, orm, seaorm, sqlx_raw};
    let users = || match input {
        Input::Users(u) => u.as_slice(),
        Input::None => &[],
    };
    Ok(match (peer, kind) {
        (Peer::Orm | Peer::OrmSqlxDriver, Kind::Load(n)) => orm::load(ctx, orm_db(ctx, peer)?, n).await?,
        (Peer::Orm | Peer::OrmSqlxDriver, Kind::Join) => orm::join(ctx, orm_db(ctx, peer)?).await?,
        (Peer::OrmJoin, Kind::Join) => orm::typed_join(ctx, &ctx.db).await?,
        (Peer::OrmJoin, _) => return Err("orm, typed join runs W2 only".into()),
        (Peer::Orm | Peer::OrmSqlxDriver, Kind::Stream) => orm::stream(orm_db(ctx, peer)?).await?,
        (Peer::Sqlx, Kind::Stream) => sqlx_raw::stream(ctx).await?,
        (Peer::SeaOrm, Kind::Stream) => seaorm::stream(ctx).await?,
        (Peer::Diesel, Kind::Stream) => diesel::stream(ctx).await?,
        (Peer::SqlxBulk | Peer::OrmNaive | Peer::OrmMemory | Peer::OrmRedis, Kind::Stream) => {
            return Err("W9 runs raw sqlx, the ORM, SeaORM and Diesel".into());
        }
        (Peer::Orm | Peer::OrmSqlxDriver, Kind::Insert(_)) => orm::insert(orm_db(ctx, peer)?, users()).await?,
        (Peer::Orm | Peer::OrmSqlxDriver, Kind::Graph) => orm::graph(ctx, orm_db(ctx, peer)?).await?,
        (Peer::Orm | Peer::OrmSqlxDriver, Kind::Update) => orm::update(ctx, orm_db(ctx, peer)?).await?,
        (Peer::Orm | Peer::OrmSqlxDriver, Kind::Reroute(_)) => orm::reroute(orm_db(ctx, peer)?).await?,
        (Peer::OrmNaive, Kind::Reroute(_)) => orm::reroute_naive(&ctx.db).await?,
        (Peer::OrmNaive, _) => return Err("orm naive runs W7 only".into()),
        (Peer::Sqlx, Kind::Load(n)) => sqlx_raw::load(ctx, n).await?,
        (Peer::Sqlx, Kind::Join) => sqlx_raw::join(ctx).await?,
        (Peer::Sqlx, Kind::Insert(_)) => sqlx_raw::insert(ctx, users()).await?,
        (Peer::Sqlx, Kind::Graph) => sqlx_raw::graph(ctx).await?,
        (Peer::Sqlx, Kind::Update) => sqlx_raw::update(ctx, false).await?,
        (Peer::Sqlx, Kind::Reroute(_)) => sqlx_raw::reroute(ctx).await?,
        (Peer::SqlxBulk, Kind::Update) => sqlx_raw::update(ctx, true).await?,
        (Peer::SqlxBulk, _) => return Err("sqlx bulk runs W5 only".into()),
        (Peer::SeaOrm, Kind::Load(n)) => seaorm::load(ctx, n).await?,
        (Peer::SeaOrm, Kind::Join) => seaorm::join(ctx).await?,
        (Peer::SeaOrm, Kind::Insert(_)) => seaorm::insert(ctx, users()).await?,
        (Peer::SeaOrm, Kind::Graph) => seaorm::graph(ctx).await?,
        (Peer::SeaOrm, Kind::Update) => seaorm::update(ctx).await?,
        (Peer::SeaOrm, Kind::Reroute(_)) => return Err("seaorm runs W1-W5 only".into()),
        (Peer::Diesel, Kind::Load(n)) => diesel::load(ctx, n).await?,
        (Peer::Diesel, Kind::Join) => diesel::join(ctx).await?,
        (Peer::Diesel, Kind::Insert(_)) => diesel::insert(ctx, users()).await?,
        (Peer::Diesel, Kind::Graph) => diesel::graph(ctx).await?,
        (Peer::Diesel, Kind::Update) => diesel::update(ctx).await?,
        (Peer::Diesel, Kind::Reroute(_)) => return Err("diesel runs W1-W5 only".into()),
        (Peer::SqlAlchemy, kind) => ctx.sqla.run(kind)?,
        (Peer::Orm, Kind::Report) => w8_report::orm(ctx, None).await?,
        (Peer::OrmMemory, Kind::Report) => w8_report::orm(ctx, Some("memory")).await?,
        (Peer::OrmRedis, Kind::Report) => w8_report::orm(ctx, Some("redis")).await?,
        (Peer::Sqlx, Kind::Report) => w8_report::sqlx(ctx).await?,
        (Peer::OrmMemory | Peer::OrmRedis, _) => {
            return Err("the cached ORM peers run W8 only".into());
        }
        (Peer::SeaOrm | Peer::Diesel, Kind::Report) => {
            return Err("W8 compares the ORM's regions with raw sqlx only".into());
        }
        (Peer::OrmSqlxDriver, Kind::Report) => {
            return Err("W8 runs the ORM on the default driver".into());
        }
    })
}
