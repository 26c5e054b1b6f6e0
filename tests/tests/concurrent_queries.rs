//! Concurrent queries on every backend: results in input order, a failing
//! query reported with its SQL while the others still return, entity
//! queries landing in one session's identity map, the worker bound, a
//! session's open transaction, and cached items in a batch.

use std::time::{Duration, Instant};

use orm_core::cache::Region;
use orm_core::prelude::*;
use orm_core::{BatchQuery, DbErrorKind, Dialect};
use tests::{backend_tests, slow_select};

#[entity(table = "branches")]
#[derive(Debug, Clone)]
pub struct Branch {
    #[key]
    pub id: i64,
    #[column(len = 32)]
    pub name: String,
    pub balance: i64,
}

async fn seed(db: &Database) -> orm_core::Result<()> {
    db.create_all(&[Branch::schema()]).await?;
    let mut s = db.session();
    s.add_all((1..=12).map(|id| Branch {
        id,
        name: format!("b{id}"),
        balance: id * 10,
    }));
    s.commit().await
}

fn by_id(db: &Database, id: i64) -> orm_core::Result<BatchQuery> {
    db.sql(
        format!("SELECT id, name FROM branches WHERE id = {id}"),
        vec![],
    )
    .batched()
}

backend_tests! {
    async fn results_come_back_in_input_order(db) {
        seed(&db).await?;
        // Descending ids, so completion order and input order differ.
        let batch = (1..=12).rev().map(|id| by_id(&db, id)).collect::<Result<Vec<_>>>()?;
        let before = db.stats().statements();
        let results = db.concurrently(3, batch).await;
        assert_eq!(db.stats().statements() - before, 12);
        let ids = results
            .into_iter()
            .map(|r| r.map(|rows| rows[0].get::<i64>("id")))
            .collect::<Result<Result<Vec<_>>, _>>()??;
        assert_eq!(ids, (1..=12).rev().collect::<Vec<_>>());
        Ok(())
    }

    async fn a_failing_query_is_reported_and_the_others_return(db) {
        seed(&db).await?;
        let batch = vec![
            by_id(&db, 1)?,
            db.sql("SELECT no_such_column FROM branches", vec![]).batched()?,
            by_id(&db, 3)?,
            db.sql("SELECT id FROM no_such_table", vec![]).batched()?,
            by_id(&db, 5)?,
        ];
        let results = db.concurrently(2, batch).await;
        assert_eq!(results.len(), 5);
        for (i, id) in [(0, 1), (2, 3), (4, 5)] {
            let rows = results[i].as_ref().map_err(|e| e.to_string())?;
            assert_eq!(rows[0].get::<i64>("id")?, id);
        }
        let failed = results[1].as_ref().unwrap_err();
        assert_eq!(failed.index, 1);
        assert_eq!(failed.query, "SELECT no_such_column FROM branches");
        assert!(matches!(failed.error.db_kind(), Some(DbErrorKind::Syntax | DbErrorKind::Other)), "{failed}");
        assert!(failed.to_string().contains("query 1 of the batch"), "{failed}");
        assert_eq!(results[3].as_ref().unwrap_err().index, 3);
        Ok(())
    }

    async fn entities_land_in_the_session_identity_map(db) {
        seed(&db).await?;
        let mut s = db.session();
        let batch = vec![
            s.query::<Branch>().filter(Branch::ID.le(5)).order_by(Branch::ID.asc()).batched()?,
            db.sql("SELECT COUNT(*) AS n FROM branches", vec![]).batched()?,
            s.query::<Branch>().filter(Branch::ID.ge(4).and(Branch::ID.le(8))).batched()?,
            s.query::<Branch>().filter(Branch::ID.eq(4)).batched()?,
        ];
        let mut results = s.concurrently(4, batch).await?.into_iter();
        let low = results.next().unwrap()?.entities::<Branch>().expect("branches");
        let count = results.next().unwrap()?.rows().expect("rows");
        let mid = results.next().unwrap()?.entities::<Branch>().expect("branches");
        let four = results.next().unwrap()?.entities::<Branch>().expect("branches");
        assert_eq!(low.iter().map(|b| b.read().id).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(count[0].get::<i64>("n")?, 12);
        assert_eq!(mid.len(), 5);
        let in_mid = mid.iter().find(|b| b.read().id == 4).expect("4 in 4..=8");
        assert!(Handle::ptr_eq(&low[3], in_mid), "one object per key");
        assert!(Handle::ptr_eq(&low[3], &four[0]));
        assert_eq!(s.identity_count::<Branch>(), 8);
        assert_eq!(s.stats().statements(), 4, "counted in the session");
        // The objects are the session's: get() needs no query.
        let two = s.get::<Branch>(2).await?;
        assert!(Handle::ptr_eq(&two, &low[1]));
        assert_eq!(s.stats().statements(), 4);
        Ok(())
    }

    async fn a_loaded_object_keeps_its_pending_changes(db) {
        seed(&db).await?;
        let mut s = db.session();
        s.set_autoflush(false);
        let b = s.get::<Branch>(1).await?;
        b.write().name = "renamed".into();
        let batch = vec![s.query::<Branch>().filter(Branch::ID.le(2)).batched()?];
        let got = s.concurrently(2, batch).await?.remove(0)?.entities::<Branch>().unwrap();
        assert!(Handle::ptr_eq(&got[0], &b) || Handle::ptr_eq(&got[1], &b));
        assert_eq!(b.read().name, "renamed");
        assert!(s.is_dirty(&b));
        Ok(())
    }

    async fn a_session_in_a_transaction_runs_the_batch_inside_it(db) {
        seed(&db).await?;
        let mut s = db.session();
        s.add(Branch { id: 13, name: "new".into(), balance: 0 });
        s.flush().await?;
        let batch = vec![
            s.query::<Branch>().filter(Branch::ID.ge(12)).order_by(Branch::ID.asc()).batched()?,
            s.query::<Branch>().filter(Branch::NAME.eq("new")).batched()?,
        ];
        let results = s.concurrently(2, batch).await?;
        let mut results = results.into_iter().map(|r| r.map(|b| b.entities::<Branch>().unwrap()));
        let tail = results.next().unwrap()?;
        assert_eq!(tail.iter().map(|b| b.read().id).collect::<Vec<_>>(), [12, 13], "sees its own insert");
        assert!(Handle::ptr_eq(&tail[1], &results.next().unwrap()?[0]));
        s.rollback().await?;
        Ok(())
    }

    async fn at_most_limit_queries_run_at_once(db) {
        seed(&db).await?;
        // SQLite cannot sleep, it counts (on its one connection): keep it short.
        let millis = if db.dialect() == Dialect::Sqlite { 50 } else { 250 };
        let slow = || db.sql(slow_select(db.dialect(), millis, "1 AS one"), vec![]).batched();
        let timed = async |limit: usize| -> Result<Duration> {
            let batch = (0..4).map(|_| slow()).collect::<Result<Vec<_>>>()?;
            let started = Instant::now();
            for r in db.concurrently(limit, batch).await {
                assert_eq!(r.map_err(|e| *e.error)?[0].get::<i64>("one")?, 1);
            }
            Ok(started.elapsed())
        };
        let one_at_a_time = timed(1).await?;
        let two_at_a_time = timed(2).await?;
        let four_at_a_time = timed(4).await?;
        if db.dialect() != Dialect::Sqlite {
            // The server sleeps: the elapsed time shows how many ran at once
            // (the test pool has 4 connections).
            assert!(one_at_a_time >= Duration::from_millis(1_000), "{one_at_a_time:?}");
            assert!(two_at_a_time >= Duration::from_millis(500), "{two_at_a_time:?}");
            assert!(two_at_a_time < Duration::from_millis(900), "{two_at_a_time:?}");
            assert!(four_at_a_time < Duration::from_millis(650), "{four_at_a_time:?}");
        }
        Ok(())
    }

    async fn cached_items_of_a_batch_are_served_from_their_region(db) {
        seed(&db).await?;
        db.cache().add(Region::memory("r"))?;
        let batch = |s: &mut Session| -> Result<Vec<BatchQuery>> {
            Ok(vec![
                s.query::<Branch>().filter(Branch::ID.le(3)).cached("r").batched()?,
                db.sql("SELECT COUNT(*) AS n FROM branches", vec![]).cached("r").reads(["branches"]).batched()?,
            ])
        };
        let mut s = db.session();
        let before = db.stats().statements();
        let items = batch(&mut s)?;
        let first = s.concurrently(2, items).await?;
        assert_eq!(db.stats().statements() - before, 2, "two misses");
        let items = batch(&mut s)?;
        let mut again = s.concurrently(2, items).await?.into_iter();
        assert_eq!(db.stats().statements() - before, 2, "both from the region");
        let branches = again.next().unwrap()?.entities::<Branch>().unwrap();
        let first_branches = first.into_iter().next().unwrap()?.entities::<Branch>().unwrap();
        assert!(Handle::ptr_eq(&branches[0], &first_branches[0]));
        assert_eq!(again.next().unwrap()?.rows().unwrap()[0].get::<i64>("n")?, 12);
        Ok(())
    }
}
