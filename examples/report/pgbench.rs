//! The report's data and queries: pgbench-like tables (branches, tellers,
//! accounts, history) that the report creates and fills itself, and the six
//! report queries (through the typed layer). Shared by `examples/report.rs` and the `cache` benchmark.
//!
//! The rows are made by the server in one statement per table
//! (`generate_series` on PostgreSQL, a recursive CTE on SQLite, joined
//! digits on MariaDB), so filling a million accounts takes seconds, not
//! minutes. Values are deterministic
//! (multiplicative hashing of the row number), so every run reports the same
//! figures.

use orm_core::prelude::*;
use orm_core::{Agg, BatchQuery, CmpOp, Column, CountRows, Dialect, Query, Select};

#[entity(table = "pgbench_branches")]
#[derive(Debug, Clone)]
pub struct Branch {
    #[key]
    pub bid: i32,
    pub bbalance: i64,
    #[column(len = 88)]
    pub filler: String,
}

#[entity(table = "pgbench_tellers")]
#[derive(Debug, Clone)]
pub struct Teller {
    #[key]
    pub tid: i32,
    pub bid: i32,
    pub tbalance: i64,
    #[column(len = 84)]
    pub filler: String,
}

#[entity(table = "pgbench_accounts")]
#[derive(Debug, Clone)]
pub struct Account {
    #[key]
    pub aid: i32,
    pub bid: i32,
    pub abalance: i64,
    #[column(len = 84)]
    pub filler: String,
}

/// pgbench's history has no key; the ORM's entities need one.
#[entity(table = "pgbench_history")]
#[derive(Debug, Clone)]
pub struct History {
    #[key]
    pub hid: i64,
    pub tid: i32,
    pub bid: i32,
    pub aid: i32,
    pub delta: i64,
}

/// Row counts for a pgbench scale factor (history: one row per account).
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub branches: i64,
    pub tellers: i64,
    pub accounts: i64,
    pub history: i64,
}

impl Scale {
    pub fn new(factor: i64) -> Scale {
        Scale {
            branches: factor,
            tellers: 10 * factor,
            accounts: 100_000 * factor,
            history: 100_000 * factor,
        }
    }
}

/// `INSERT INTO table (columns) SELECT select FROM <1..n as n>`.
fn fill(dialect: Dialect, table: &str, columns: &str, n: i64, select: &str) -> String {
    match dialect {
        Dialect::Postgres => format!(
            "INSERT INTO {table} ({columns}) SELECT {select} FROM generate_series(CAST(1 AS BIGINT), {n}) AS s(n)"
        ),
        // MariaDB stops recursive CTEs at 1,000 rows by default: cross
        // joins of the ten digits instead.
        Dialect::MySql => {
            let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                          UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 \
                          UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
            let places = n.max(1).to_string().len();
            let number = (0..places)
                .map(|i| format!("d{i}.d * {}", 10i64.pow(i as u32)))
                .collect::<Vec<_>>()
                .join(" + ");
            let from = (0..places)
                .map(|i| format!("{digits} AS d{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO {table} ({columns}) SELECT {select} FROM \
                 (SELECT {number} + 1 AS n FROM {from}) AS s WHERE n <= {n}"
            )
        }
        Dialect::Sqlite => format!(
            "INSERT INTO {table} ({columns}) WITH RECURSIVE s(n) AS \
             (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}) SELECT {select} FROM s"
        ),
    }
}

/// Drops, creates and fills the four tables.
pub async fn create(db: &Database, scale: Scale) -> Result<()> {
    let tables = [
        Branch::schema(),
        Teller::schema(),
        Account::schema(),
        History::schema(),
    ];
    db.drop_all(&tables).await?;
    db.create_all(&tables).await?;
    let d = db.dialect();
    let (tellers, accounts) = (scale.tellers, scale.accounts);
    let per_branch = 100_000;
    for sql in [
        fill(
            d,
            "pgbench_branches",
            "bid, bbalance, filler",
            scale.branches,
            "n, 0, ''",
        ),
        fill(
            d,
            "pgbench_tellers",
            "tid, bid, tbalance, filler",
            tellers,
            &format!("n, {} + 1, 0, ''", div(d, "n - 1", 10)),
        ),
        fill(
            d,
            "pgbench_accounts",
            "aid, bid, abalance, filler",
            accounts,
            &format!(
                "n, {} + 1, (n * 7919) % 20001 - 10000, ''",
                div(d, "n - 1", per_branch)
            ),
        ),
        fill(
            d,
            "pgbench_history",
            "hid, tid, bid, aid, delta",
            scale.history,
            &format!(
                "n, (n * 31) % {tellers} + 1, {} + 1, \
                 (n * 4817) % {accounts} + 1, (n * 7907) % 10001 - 5000",
                div(d, &format!("(n * 31) % {tellers}"), 10)
            ),
        ),
    ] {
        db.execute_sql(sql, vec![]).await?;
    }
    if d == Dialect::Postgres {
        db.execute_sql("ANALYZE", vec![]).await?;
    }
    Ok(())
}

/// Integer division (MySQL's `/` is exact, into a decimal).
fn div(dialect: Dialect, a: &str, b: i64) -> String {
    match dialect {
        Dialect::MySql => format!("({a}) DIV {b}"),
        _ => format!("({a}) / {b}"),
    }
}

/// The six report queries, built with the typed layer, as items of a
/// concurrent batch: (title, query). Each call builds them anew (a batch
/// item runs once).
pub fn report_queries(db: &Database) -> Result<Vec<(&'static str, BatchQuery)>> {
    let mut s = db.session();
    let bucket = || Account::ABALANCE.minus(Account::ABALANCE.modulo(1000));
    Ok(vec![
        ("balance by branch", balance_by_branch(&mut s).batched()?),
        (
            "history by teller",
            s.query::<History>()
                .order_by(History::TID.asc())
                .select((History::TID, Agg::count(), History::DELTA.sum()))
                .group_by(History::TID)
                .batched()?,
        ),
        (
            "overdrawn accounts by branch",
            s.query::<Account>()
                .filter(Account::ABALANCE.lt(0))
                .order_by(Account::BID.asc())
                .select((Account::BID, Agg::count()))
                .group_by(Account::BID)
                .batched()?,
        ),
        (
            "history by account branch",
            s.query::<History>()
                .join_on(History::AID, Account::AID)
                .select((Account::BID, CountRows, History::DELTA.sum()))
                .group_by(Account::BID)
                .order_by_asc(Account::BID)
                .batched()?,
        ),
        (
            "accounts their history disagrees with",
            // Hand-written SQL would sum the history per account first and
            // join the sums (a derived table, which the typed layer does not
            // join yet); this groups the joined rows instead: the same count,
            // measured 1.2x the hand-written time on PostgreSQL and about 2x
            // on SQLite at scale 2.
            s.query::<History>()
                .join_on(History::AID, Account::AID)
                .select((Account::AID,))
                .group_by(Account::AID)
                .group_by(Account::ABALANCE)
                .having_cmp(History::DELTA.sum(), CmpOp::Ne, Account::ABALANCE)
                .count_batched()?,
        ),
        (
            "balance distribution",
            s.query::<Account>()
                .select((bucket(), Agg::count()))
                .group_by(bucket())
                .order_by_asc(bucket())
                .batched()?,
        ),
    ])
}

/// Branch, accounts, balance: the first report query's select list.
type BranchBalance = (
    Column<Account, i32>,
    Agg<Account, i64>,
    Agg<Account, Option<i64>>,
);

/// The first report query, typed: accounts and their balance per branch.
pub fn balance_by_branch(s: &mut Session) -> Select<'_, Account, BranchBalance> {
    s.query::<Account>()
        .order_by(Account::BID.asc())
        .select((Account::BID, Agg::count(), Account::ABALANCE.sum()))
        .group_by(Account::BID)
}

/// The report's slow entity query: the 100 most overdrawn accounts (a scan
/// of every account; pgbench has no index on balances).
pub fn most_overdrawn(s: &mut Session) -> Query<'_, Account> {
    s.query::<Account>()
        .filter(Account::ABALANCE.lt(-9_000))
        .order_by(Account::ABALANCE.asc())
        .order_by(Account::AID.asc())
        .limit(100)
}
