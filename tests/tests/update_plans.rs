//! Batched UPDATEs whose plan cannot go bad: a flush of many changed rows
//! is written in a form the database runs as a lookup by primary key per
//! row, whatever the table's statistics say (`orm-core/src/sql/dml.rs`
//! measures the forms). Each scenario makes the statistics lie first (they
//! say the table is empty or holds one row, as on a connection that read
//! them while it was), then loads, changes and flushes 1,200 rows and
//! asks the database how it plans the statements the flush ran.

use orm_core::prelude::*;
use orm_core::{ConnectOptions, Database, Dialect, Value};
use tests::{Backend, TestDb, TestResult, backend_tests};

#[entity(table = "plan_members")]
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    #[key(auto)]
    pub id: i64,
    #[column(len = 64)]
    pub name: String,
    pub visits: i32,
}

#[entity(table = "plan_accounts")]
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    #[key(auto)]
    pub id: i64,
    pub balance: i64,
    #[version]
    pub version: i64,
}

const ROWS: i64 = 1_200;

/// Fills both tables with `ROWS` rows each, in one statement per table.
async fn fill(db: &Database) -> TestResult {
    let rows = |table: &str, columns: &str, row: &dyn Fn(i64) -> String| {
        let values: Vec<String> = (1..=ROWS).map(row).collect();
        format!(
            "INSERT INTO {table} ({columns}) VALUES {}",
            values.join(", ")
        )
    };
    db.execute_sql(
        rows("plan_members", "name, visits", &|i| format!("('m{i}', 0)")),
        vec![],
    )
    .await?;
    db.execute_sql(
        rows("plan_accounts", "balance, version", &|i| {
            format!("({i}, 1)")
        }),
        vec![],
    )
    .await?;
    Ok(())
}

/// What a flush of every row sent: its statement log, how many statements,
/// and how many times they ran (a repeated statement runs once per row).
struct Flushed {
    log: Vec<String>,
    sent: u64,
    runs: usize,
}

/// Loads every row of both tables in `s`, changes each, and flushes.
async fn change_all(s: &mut Session) -> Result<Flushed, orm_core::Error> {
    let members = s.query::<Member>().all().await?;
    let accounts = s.query::<Account>().all().await?;
    assert_eq!(
        (members.len(), accounts.len()),
        (ROWS as usize, ROWS as usize)
    );
    for m in &members {
        m.write().visits += 1;
    }
    for a in &accounts {
        a.write().balance += 1;
    }
    let runs = s.plan_rows()?.iter().map(|st| st.runs()).sum();
    s.stats().log_statements(true);
    let before = s.stats().statements();
    s.flush().await?;
    let sent = s.stats().statements() - before;
    let log = s.stats().take_log();
    Ok(Flushed { log, sent, runs })
}

/// The flush's statements for `rows` changed rows of one table: at most
/// 1,000 rows a statement (on SQLite one UPDATE repeated for each row).
fn expected_statements(rows: i64) -> u64 {
    (rows as u64).div_ceil(1000)
}

/// Values for the placeholders of a logged statement, to EXPLAIN it: all
/// distinct, as a flush's keys are (the servers plan with the values).
fn params_for(sql: &str, dialect: Dialect) -> Vec<Value> {
    let n = match dialect {
        Dialect::Postgres => (1..).take_while(|i| sql.contains(&format!("${i}"))).count(),
        _ => sql.matches('?').count(),
    };
    (1..=n as i64).map(Value::I64).collect()
}

/// The detail column of SQLite's `EXPLAIN QUERY PLAN`, one line per step.
async fn sqlite_plan(db: &Database, sql: &str) -> Result<Vec<String>, orm_core::Error> {
    let rows = db
        .fetch_sql(
            format!("EXPLAIN QUERY PLAN {sql}"),
            params_for(sql, Dialect::Sqlite),
        )
        .await?;
    rows.iter().map(|r| r.get::<String>("detail")).collect()
}

/// Every step searches `table` by its key and none scans it.
fn assert_key_lookup(plan: &[String], table: &str, sql: &str) {
    assert!(
        plan.iter()
            .any(|d| d.starts_with(&format!("SEARCH {table} USING INTEGER PRIMARY KEY"))),
        "a rowid lookup of {table}: {plan:?} for {sql}"
    );
    assert!(
        !plan.iter().any(|d| d.starts_with(&format!("SCAN {table}"))),
        "no scan of {table}: {plan:?} for {sql}"
    );
}

/// A SQLite file whose statistics say both tables hold one row, read by
/// every connection of a new pool; then 1,200 rows each are inserted (which
/// does not reload them) and flushed as changes.
async fn sqlite_with_stale_statistics(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let url = test_db.url.clone();
    let driver = test_db.sqlite_driver();
    let outcome = async {
        let db = &test_db.db;
        db.create_all(&[Member::schema(), Account::schema()])
            .await?;
        db.execute_sql("ANALYZE", vec![]).await?;
        db.execute_sql(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES \
             ('plan_members', NULL, '1'), ('plan_accounts', NULL, '1')",
            vec![],
        )
        .await?;
        db.close().await;
        // Every connection of this pool reads the statistics above.
        let options = ConnectOptions {
            sqlite_driver: driver,
            ..ConnectOptions::default()
        };
        let db = Database::connect_with(&url, options).await?;
        fill(&db).await?;
        let stat = db
            .fetch_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'plan_members'",
                vec![],
            )
            .await?;
        assert_eq!(
            stat[0].get::<String>("stat")?,
            "1",
            "the statistics say one row"
        );
        // The control: on these connections a join with the changed rows
        // (the batched form this flush used to write) scans the table.
        let join = "UPDATE plan_members SET visits = v.column2 \
                    FROM (VALUES (?, ?), (?, ?)) AS v WHERE plan_members.id = v.column1";
        let plan = sqlite_plan(&db, join).await?;
        assert!(
            plan.iter().any(|d| d.starts_with("SCAN plan_members")),
            "stale statistics make the join scan: {plan:?}"
        );

        let mut s = db.session();
        let Flushed { log, sent, runs } = change_all(&mut s).await?;
        assert_eq!(sent, 2 * expected_statements(ROWS), "{log:?}");
        assert_eq!(runs, 2 * ROWS as usize, "each statement runs once per row");
        assert!(log.iter().all(|q| q.starts_with("UPDATE")), "{log:?}");
        assert_eq!(log.len() as u64, sent);
        // One single-row UPDATE text per table, repeated for each row,
        // each planned as a rowid lookup.
        let mut shapes: Vec<&String> = log.iter().collect();
        shapes.sort();
        shapes.dedup();
        assert_eq!(shapes.len(), 2, "{shapes:?}");
        for sql in shapes {
            assert!(
                !sql.contains(" IN (") && !sql.contains("VALUES"),
                "one row a run: {sql}"
            );
            let table = if sql.contains("plan_members") {
                "plan_members"
            } else {
                "plan_accounts"
            };
            assert_key_lookup(&sqlite_plan(&db, sql).await?, table, sql);
        }
        s.commit().await?;
        let sums = db
            .fetch_sql(
                "SELECT (SELECT SUM(visits) FROM plan_members) AS visits, \
                 (SELECT SUM(version) FROM plan_accounts) AS versions",
                vec![],
            )
            .await?;
        assert_eq!(
            sums[0].get::<i64>("visits")?,
            ROWS,
            "every row written once"
        );
        assert_eq!(
            sums[0].get::<i64>("versions")?,
            2 * ROWS,
            "every version bumped once"
        );

        // Deleting every row: the control first (a key list scans on these
        // statistics), then the flush's DELETEs, one per row, each a rowid
        // lookup; all rows gone, the versioned ones checked.
        let batch = "DELETE FROM plan_members WHERE id IN (?, ?)";
        let plan = sqlite_plan(&db, batch).await?;
        assert!(
            plan.iter().any(|d| d.starts_with("SCAN plan_members")),
            "stale statistics make a key list scan: {plan:?}"
        );
        let mut s = db.session();
        // Logged from here: the second query's autoflush deletes the members.
        s.stats().log_statements(true);
        let before = s.stats().statements();
        for m in s.query::<Member>().all().await? {
            s.delete(&m)?;
        }
        for a in s.query::<Account>().all().await? {
            s.delete(&a)?;
        }
        s.commit().await?;
        let log = s.stats().take_log();
        let deletes: Vec<&String> = log.iter().filter(|q| q.starts_with("DELETE")).collect();
        assert_eq!(deletes.len() as u64, 2 * expected_statements(ROWS), "{log:?}");
        assert!(s.stats().statements() - before >= deletes.len() as u64);
        let mut shapes = deletes.clone();
        shapes.sort();
        shapes.dedup();
        assert_eq!(shapes.len(), 2, "{shapes:?}");
        for sql in shapes {
            assert!(!sql.contains(" IN ("), "one row a run: {sql}");
            let table = if sql.contains("plan_members") {
                "plan_members"
            } else {
                "plan_accounts"
            };
            assert_key_lookup(&sqlite_plan(&db, sql).await?, table, sql);
        }
        let left = db
            .fetch_sql(
                "SELECT (SELECT COUNT(*) FROM plan_members) + (SELECT COUNT(*) FROM plan_accounts) AS n",
                vec![],
            )
            .await?;
        assert_eq!(left[0].get::<i64>("n")?, 0, "every row deleted");
        db.close().await;
        TestResult::Ok(())
    }
    .await;
    test_db.cleanup().await;
    if let Err(e) = outcome {
        panic!("{backend:?}: {e}");
    }
}

#[tokio::test]
async fn sqlite_file_with_stale_statistics_updates_by_rowid() {
    sqlite_with_stale_statistics(Backend::SqliteFile).await
}

#[tokio::test]
async fn sqlite_sqlx_file_with_stale_statistics_updates_by_rowid() {
    sqlite_with_stale_statistics(Backend::SqliteSqlxFile).await
}

/// MariaDB/MySQL's `EXPLAIN` of `sql`: (type, key) of the row for `table`.
async fn mysql_access(
    db: &Database,
    sql: &str,
    table: &str,
) -> Result<(String, Option<String>), orm_core::Error> {
    let rows = db
        .fetch_sql(format!("EXPLAIN {sql}"), params_for(sql, Dialect::MySql))
        .await?;
    let row = rows
        .iter()
        .find(|r| r.get::<String>("table").is_ok_and(|t| t == table))
        .unwrap_or_else(|| panic!("no plan row for {table}: {rows:?}"));
    Ok((
        row.get::<String>("type")?,
        row.get::<Option<String>>("key")?,
    ))
}

/// MariaDB with engine-independent statistics taken while the tables were
/// empty (what the optimizer prefers when they exist): the batched UPDATE
/// is a range on PRIMARY, where without `FORCE INDEX` it reads the whole
/// index; the version-checked batch (`(id, version) IN (..)`) too.
#[tokio::test]
async fn mysql_with_stale_statistics_updates_by_primary_key() {
    tests::run(Backend::MySql, |db| async move {
        db.create_all(&[Member::schema(), Account::schema()])
            .await?;
        for t in ["plan_members", "plan_accounts"] {
            db.execute_sql(format!("ANALYZE TABLE {t} PERSISTENT FOR ALL"), vec![])
                .await?;
        }
        fill(&db).await?;
        let mut s = db.session();
        let Flushed { log, sent, runs } = change_all(&mut s).await?;
        assert_eq!(sent, 2 * expected_statements(ROWS), "{log:?}");
        assert_eq!(runs as u64, sent, "one run each");
        for sql in &log {
            assert!(
                sql.starts_with("UPDATE") && sql.contains("FORCE INDEX (PRIMARY)"),
                "{sql}"
            );
            let table = if sql.contains("plan_members") {
                "plan_members"
            } else {
                "plan_accounts"
            };
            let access = mysql_access(&db, sql, table).await?;
            assert_eq!(
                access,
                ("range".to_string(), Some("PRIMARY".to_string())),
                "{sql}"
            );
            // The control: the same statement without the hint does not
            // use the key range on these statistics.
            let bare = sql.replace(" FORCE INDEX (PRIMARY)", "");
            let (kind, _) = mysql_access(&db, &bare, table).await?;
            assert_ne!(
                kind, "range",
                "stale statistics make the bare form scan: {bare}"
            );
        }
        s.commit().await?;
        let sums = db
            .fetch_sql(
                "SELECT CAST((SELECT SUM(visits) FROM plan_members) AS SIGNED) AS visits, \
                 CAST((SELECT SUM(version) FROM plan_accounts) AS SIGNED) AS versions",
                vec![],
            )
            .await?;
        assert_eq!(sums[0].get::<i64>("visits")?, ROWS);
        assert_eq!(sums[0].get::<i64>("versions")?, 2 * ROWS);
        Ok(())
    })
    .await
}

backend_tests! {
    /// 1,200 version-checked rows flushed at once: every version bumped
    /// once and the statements the dialect writes (one per row on SQLite,
    /// batches of 1,000 on the servers); then a row changed behind the
    /// session's back makes the next flush fail naming that row, and none
    /// of the batch is kept.
    async fn version_checked_updates_name_the_stale_row(db) {
        db.create_all(&[Member::schema(), Account::schema()]).await?;
        fill(&db).await?;
        let mut s = db.session();
        let accounts = s.query::<Account>().all().await?;
        for a in &accounts {
            a.write().balance += 1;
        }
        let before = s.stats().statements();
        s.commit().await?;
        assert_eq!(s.stats().statements() - before, expected_statements(ROWS));
        assert!(accounts.iter().all(|a| a.read().version == 2));

        // Row 700 moves on in another transaction.
        let stale = accounts[699].read().id;
        db.execute_sql(
            format!("UPDATE plan_accounts SET balance = -1, version = version + 1 WHERE id = {stale}"),
            vec![],
        )
        .await?;
        for a in &accounts {
            a.write().balance += 1;
        }
        let err = s.commit().await.expect_err("a stale row");
        match &err {
            orm_core::Error::StaleData { operation, key, expected_version, actual_version, row_exists, .. } => {
                assert_eq!(*operation, "UPDATE");
                assert_eq!(key, &stale.to_string());
                assert_eq!((*expected_version, *actual_version, *row_exists), (Some(2), Some(3), true));
            }
            other => panic!("expected StaleData, got {other:?}"),
        }
        let rows = db
            .fetch_sql(
                "SELECT COUNT(*) AS n FROM plan_accounts WHERE version = 2",
                vec![],
            )
            .await?;
        assert_eq!(rows[0].get::<i64>("n")?, ROWS - 1, "nothing of the failed flush is kept");
        Ok(())
    }
}
