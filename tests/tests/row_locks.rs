//! Locking reads, as a user of `with_for_update()` expects them: the rows a
//! session read `for_update` stay locked until its transaction ends; another
//! transaction's `nowait` fails at once, its `skip_locked` takes the other
//! rows (a job queue), `for_share` locks share with each other but not with
//! `for_update`; the lock needs a transaction, which the query opens.

use orm_core::prelude::*;
use orm_core::{ConnectOptions, DbErrorKind, Dialect};
use tests::{Backend, TestDb, backend_tests};

#[entity(table = "rl_jobs")]
#[derive(Debug)]
pub struct Job {
    #[key]
    pub id: i64,
    pub done: bool,
}

async fn seeded(db: &Database) -> Result<()> {
    db.create_all(&[Job::schema()]).await?;
    let mut s = db.session();
    for id in 1..=3 {
        s.add(Job { id, done: false });
    }
    s.commit().await
}

/// `FOR UPDATE NOWAIT` on job `id` fails at once, as a timeout, and the
/// failed transaction is acknowledged.
async fn nowait_fails(db: &Database, id: i64) {
    let mut s = db.session();
    let err = s
        .query::<Job>()
        .filter(Job::ID.eq(id))
        .for_update()
        .nowait()
        .all()
        .await
        .unwrap_err();
    assert_eq!(err.db_kind(), Some(DbErrorKind::Timeout), "{err}");
    s.rollback().await.expect("acknowledge");
}

fn ids(found: &[Handle<Job>]) -> Vec<i64> {
    found.iter().map(|h| h.read().id).collect()
}

async fn locks_hold_until_the_transaction_ends(backend: Backend) {
    let test = TestDb::new(backend).await;
    let mut options = ConnectOptions::default();
    test.same_drivers(&mut options);
    let other = Database::connect_with(&test.url, options)
        .await
        .expect("a second pool");
    seeded(&test.db).await.expect("seed");

    // A locks job 1.
    let mut a = test.db.session();
    let got = a
        .query::<Job>()
        .filter(Job::ID.eq(1))
        .for_update()
        .all()
        .await
        .expect("lock");
    assert_eq!(ids(&got), [1]);
    assert!(
        a.in_transaction(),
        "the locking read opened the session's transaction"
    );

    // B: NOWAIT fails at once, as a timeout; SKIP LOCKED takes the others.
    nowait_fails(&other, 1).await;
    let mut b = other.session();
    let free = b
        .query::<Job>()
        .order_by(Job::ID.asc())
        .for_update()
        .skip_locked()
        .all()
        .await
        .expect("skip locked");
    assert_eq!(ids(&free), [2, 3]);
    b.rollback().await.expect("release");

    // Shared locks share; an exclusive one waits for them.
    let mut b = other.session();
    let shared = b
        .query::<Job>()
        .filter(Job::ID.eq(2))
        .for_share()
        .all()
        .await
        .expect("share");
    assert_eq!(ids(&shared), [2]);
    let mut c = test.db.session();
    let also = c
        .query::<Job>()
        .filter(Job::ID.eq(2))
        .for_share()
        .nowait()
        .all()
        .await
        .expect("share again");
    assert_eq!(ids(&also), [2]);
    c.rollback().await.expect("release");
    nowait_fails(&test.db, 2).await;
    b.rollback().await.expect("release");

    // A's commit releases job 1, and its change is what B then reads.
    got[0].write().done = true;
    a.commit().await.expect("commit");
    let mut b = other.session();
    let now = b
        .query::<Job>()
        .filter(Job::ID.eq(1))
        .for_update()
        .nowait()
        .all()
        .await
        .expect("free now");
    assert!(now[0].read().done);
    b.commit().await.expect("commit");
    other.close().await;
    test.cleanup().await;
}

tests::on_backends!(
    locks_hold_until_the_transaction_ends:
    postgres => Postgres,
    mysql => MySql,
    mysql_sqlx => MySqlSqlx,
);

backend_tests! {
    async fn a_locking_read_says_its_clause_and_runs_in_a_transaction(db) {
        seeded(&db).await?;
        let mut s = db.session();
        let sql = s.query::<Job>().filter(Job::DONE.eq(false)).limit(1).for_update().skip_locked().sql()?;
        let want = match db.dialect() {
            Dialect::Sqlite => None,
            _ => Some("FOR UPDATE SKIP LOCKED"),
        };
        match want {
            Some(clause) => assert!(sql[0].sql().ends_with(clause), "{}", sql[0].sql()),
            None => assert!(!sql[0].sql().contains("FOR "), "{}", sql[0].sql()),
        }
        let share = s.query::<Job>().for_share().sql()?;
        let want = match db.dialect() {
            Dialect::Postgres => "FOR SHARE",
            Dialect::MySql => "LOCK IN SHARE MODE",
            Dialect::Sqlite => "",
        };
        assert!(share[0].sql().ends_with(want), "{}", share[0].sql());
        // A count takes no lock clause (PostgreSQL refuses one with an aggregate).
        assert_eq!(s.query::<Job>().for_update().count().await?, 3);
        let before = s.stats().snapshot().transactions;
        let got = s.query::<Job>().filter(Job::ID.eq(3)).for_update().all().await?;
        assert_eq!(got.len(), 1);
        assert!(s.in_transaction());
        assert_eq!(s.stats().snapshot().transactions, before + 1);
        got[0].write().done = true;
        s.commit().await?;
        assert_eq!(db.session().query::<Job>().filter(Job::DONE.eq(true)).count().await?, 1);
        Ok(())
    }
}
