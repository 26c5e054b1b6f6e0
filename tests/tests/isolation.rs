//! Transactions under control: `Session::begin_with` opens the session's
//! transaction at an isolation level or read only, as a SQLAlchemy user
//! sets `isolation_level` or `postgresql_readonly`: what a transaction sees
//! of other commits follows the level, writes in a read-only transaction
//! fail and lose nothing.

use orm_core::prelude::*;
use orm_core::{Dialect, Isolation, TxOptions, Value};
use tests::{Backend, TestDb, backend_tests};

#[entity(table = "iso_counters")]
pub struct Counter {
    #[key]
    pub id: i64,
    pub n: i64,
}

async fn n_in(s: &mut Session) -> Result<i64> {
    let rows = s
        .fetch_sql("SELECT n FROM iso_counters WHERE id = 1", vec![])
        .await?;
    Ok(match rows[0].values()[0] {
        Value::I64(n) => n,
        Value::I32(n) => i64::from(n),
        ref other => panic!("{other:?}"),
    })
}

/// What a transaction at each level sees of a commit made meanwhile by
/// another connection.
async fn levels_decide_what_a_transaction_sees(backend: Backend) {
    let test = TestDb::new(backend).await;
    let db = test.db.clone();
    let other = Database::connect(&test.url).await.expect("a second pool");
    db.create_all(&[Counter::schema()]).await.expect("schema");
    db.execute_sql("INSERT INTO iso_counters (id, n) VALUES (1, 1)", vec![])
        .await
        .expect("row");

    let mut s = db.session();
    s.begin_with(Isolation::RepeatableRead)
        .await
        .expect("begin");
    assert_eq!(n_in(&mut s).await.expect("read"), 1);
    other
        .execute_sql("UPDATE iso_counters SET n = 2 WHERE id = 1", vec![])
        .await
        .expect("update");
    assert_eq!(
        n_in(&mut s).await.expect("read"),
        1,
        "repeatable read keeps its snapshot"
    );
    s.commit().await.expect("commit");

    let mut s = db.session();
    s.begin_with(Isolation::ReadCommitted).await.expect("begin");
    assert_eq!(n_in(&mut s).await.expect("read"), 2);
    other
        .execute_sql("UPDATE iso_counters SET n = 3 WHERE id = 1", vec![])
        .await
        .expect("update");
    assert_eq!(
        n_in(&mut s).await.expect("read"),
        3,
        "read committed sees the new commit"
    );
    s.commit().await.expect("commit");

    if backend == Backend::Postgres {
        let mut s = db.session();
        s.begin_with(Isolation::Serializable).await.expect("begin");
        let rows = s
            .fetch_sql("SHOW transaction_isolation", vec![])
            .await
            .expect("show");
        assert_eq!(rows[0].values()[0], Value::Text("serializable".into()));
        s.rollback().await.expect("rollback");
    }
    other.close().await;
    test.cleanup().await;
}

tests::on_backends!(
    levels_decide_what_a_transaction_sees:
    postgres => Postgres,
    mysql => MySql,
    mysql_sqlx => MySqlSqlx,
);

backend_tests! {
    async fn a_read_only_transaction_refuses_writes_and_loses_nothing(db) {
        db.create_all(&[Counter::schema()]).await?;
        let mut s = db.session();
        let begun = s.begin_with(TxOptions::read_only()).await;
        if db.dialect() == Dialect::Sqlite {
            let err = begun.unwrap_err();
            assert!(matches!(err, Error::Config(_)) && err.to_string().contains("mode=ro"), "{err}");
            assert!(!s.in_transaction());
            return Ok(());
        }
        begun?;
        assert!(s.in_transaction());
        assert_eq!(s.query::<Counter>().count().await?, 0, "reads work");
        s.add(Counter { id: 7, n: 1 });
        let err = s.commit().await.unwrap_err();
        assert!(err.to_string().to_lowercase().contains("read"), "{err}");
        // The failed commit rolled back; the object is still pending.
        s.rollback().await?;
        assert_eq!(s.new_objects::<Counter>().len(), 1);
        s.commit().await?;
        assert_eq!(db.session().query::<Counter>().count().await?, 1, "stored by the next, ordinary transaction");
        Ok(())
    }

    async fn begin_with_is_refused_inside_a_transaction(db) {
        db.create_all(&[Counter::schema()]).await?;
        let mut s = db.session();
        s.begin_with(Isolation::Serializable).await?;
        let err = s.begin_with(Isolation::ReadCommitted).await.unwrap_err();
        assert!(matches!(err, Error::Usage { .. }), "{err}");
        s.add(Counter { id: 1, n: 1 });
        s.commit().await?;
        // SQLite is serializable whatever is asked: every level is accepted.
        let mut s = db.session();
        s.begin_with(Isolation::ReadUncommitted).await?;
        assert_eq!(s.query::<Counter>().count().await?, 1);
        s.commit().await?;
        Ok(())
    }
}

tests::observed_tests! {
    /// `begin_with` dropped at every await point: the session is left
    /// without a transaction (its connection never pooled half-open) and
    /// its next commit stores the work once.
    async fn begin_with_cancelled_at_every_await_point(db, observer, proxy) {
        use tests::cancel::{Run, every_poll, poll_at_most};
        db.create_all(&[Counter::schema()]).await?;
        let points = every_poll(200, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            async move {
                observer.execute_sql("DELETE FROM iso_counters", vec![]).await.map_err(|e| e.to_string())?;
                let mut s = db.session();
                let run = poll_at_most(polls, s.begin_with(Isolation::Serializable)).await;
                let completed = run.is_some();
                if let Some(r) = run {
                    r.map_err(|e| e.to_string())?;
                } else if s.in_transaction() {
                    return Err(format!("a transaction is open after a drop at poll {polls}"));
                }
                s.add(Counter { id: 1, n: polls as i64 });
                s.commit().await.map_err(|e| format!("commit after a drop at poll {polls}: {e}"))?;
                let n = observer.session().query::<Counter>().count().await.map_err(|e| e.to_string())?;
                if n != 1 {
                    return Err(format!("{n} rows after a drop at poll {polls}"));
                }
                Ok(if completed { Run::Completed } else { Run::Cancelled(polls) })
            }
        })
        .await?;
        println!("cancellation: begin_with on {:?}: {points} cancellation points", db.dialect());
        Ok(())
    }
}
