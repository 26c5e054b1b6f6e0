//! Streaming, as a user of SQLAlchemy's `yield_per` or sqlx's `fetch`
//! expects it: rows in the query's order as they arrive, one statement,
//! pending changes flushed first, plain values outside the identity map;
//! and, the part those libraries leave to luck, a stream dropped early or
//! cancelled at any poll leaves the connection and the session's
//! transaction usable, with nothing lost and nothing stored twice.
//! (Memory is measured in `stream_memory.rs`.)

use futures_util::TryStreamExt;
use orm_core::prelude::*;
use orm_core::{ConnectOptions, PoolOptions};
use tests::cancel::{Run, every_poll, poll_at_most};
use tests::{Backend, backend_tests, observed_tests, on_backends, run_with};

#[entity(table = "st_items")]
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    #[key(auto)]
    pub id: i64,
    pub n: i64,
    #[column(len = 10)]
    pub label: String,
}

fn item(n: i64) -> Item {
    Item {
        id: 0,
        n,
        label: format!("l{}", n % 7),
    }
}

async fn seed(db: &Database, rows: i64) -> Result<()> {
    db.create_all(&[Item::schema()]).await?;
    let mut s = db.session();
    s.add_all((0..rows).map(item));
    s.commit().await
}

backend_tests! {
    async fn streams_entities_chunks_rows_and_tuples_in_order(db) {
        db.create_all(&[Item::schema()]).await?;
        let mut s = db.session();
        s.add_all((0..5000).map(item));
        // Pending: the stream autoflushes first and reads in the transaction.
        let mut stream = s.query::<Item>().filter(Item::N.ge(1000)).order_by(Item::N.asc()).stream();
        let mut next = 1000;
        while let Some(it) = stream.try_next().await? {
            assert_eq!(it.n, next);
            next += 1;
        }
        drop(stream);
        assert_eq!(next, 5000);
        s.commit().await?;

        let before = s.stats().statements();
        let sizes: Vec<usize> = s
            .query::<Item>()
            .order_by(Item::N.desc())
            .stream_chunks(700)
            .map_ok(|chunk| chunk.len())
            .try_collect()
            .await?;
        assert_eq!(sizes, [700, 700, 700, 700, 700, 700, 700, 100]);
        assert_eq!(s.stats().statements() - before, 1, "one statement, however many chunks");
        let sum: i64 = s.query::<Item>().stream_rows().map_ok(|r| r.get::<i64>("n").unwrap()).try_fold(0, |a, n| async move { Ok(a + n) }).await?;
        assert_eq!(sum, (0..5000).sum::<i64>());
        let tuples: Vec<(i64, String)> = s
            .query::<Item>()
            .filter(Item::LABEL.eq("l3"))
            .order_by(Item::N.asc())
            .select((Item::N, Item::LABEL))
            .stream()
            .try_collect()
            .await?;
        let expected: Vec<(i64, String)> = (0..5000).filter(|n| n % 7 == 3).map(|n| (n, "l3".to_string())).collect();
        assert_eq!(tuples, expected);
        // An empty result is an empty stream.
        assert_eq!(s.query::<Item>().filter(Item::N.lt(0)).stream().try_collect::<Vec<_>>().await?, []);

        // Streamed values are plain: not in the identity map, not tracked.
        let mut s = db.session();
        let mut five = s.query::<Item>().filter(Item::N.eq(5)).stream().try_next().await?.expect("a row");
        five.n = -5;
        s.commit().await?;
        let before = s.stats().statements();
        let loaded = s.get::<Item>(five.id).await?;
        assert_eq!(loaded.read().n, 5, "the change to a streamed value is not flushed");
        assert_eq!(s.stats().statements() - before, 1, "nothing was in the identity map");
        Ok(())
    }
}

fn one_connection() -> ConnectOptions {
    ConnectOptions {
        pool: PoolOptions {
            max_connections: 1,
            ..PoolOptions::default()
        },
        ..ConnectOptions::default()
    }
}

fn text(e: orm_core::Error) -> String {
    e.to_string()
}

/// Streams dropped after a few rows, on a pool of one connection: in
/// autocommit (the connection goes back and serves the next statement) and
/// in the session's transaction (which commits what it holds).
async fn dropped_early(backend: Backend) {
    run_with(backend, one_connection(), |db| async move {
        seed(&db, 3000).await?;
        let mut s = db.session();
        for round in 0..20 {
            let first: Vec<Item> = s
                .query::<Item>()
                .order_by(Item::N.asc())
                .stream()
                .take(3)
                .try_collect()
                .await?;
            assert_eq!(
                first.iter().map(|i| i.n).collect::<Vec<_>>(),
                [0, 1, 2],
                "round {round}"
            );
            assert_eq!(s.query::<Item>().count().await?, 3000);
        }
        s.add(item(-1));
        s.flush().await?;
        let first: Vec<Item> = s
            .query::<Item>()
            .order_by(Item::N.asc())
            .stream()
            .take(10)
            .try_collect()
            .await?;
        assert_eq!(
            first[0].n, -1,
            "the transaction's own write, first in order"
        );
        assert_eq!(s.query::<Item>().count().await?, 3001);
        s.commit().await?;
        assert_eq!(db.session().query::<Item>().count().await?, 3001);
        Ok(())
    })
    .await
}

on_backends!(dropped_early: sqlite => Sqlite, sqlite_sqlx => SqliteSqlx, postgres => Postgres, mysql => MySql, mysql_sqlx => MySqlSqlx);

use futures_util::StreamExt;

observed_tests! {
    /// A stream read to its end inside a transaction (its pending object
    /// flushed first), cancelled at every poll, through a proxy that makes
    /// every round trip an await point: the session's next commit (after a
    /// rollback if the cancelled call cost the transaction) stores the
    /// object exactly once, as another connection sees it.
    async fn cancelled_at_every_poll(db, observer, proxy) {
        seed(&db, 3000).await?;
        let points = every_poll(5000, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            async move {
                let mut s = db.session();
                let marker = 10_000 + polls as i64;
                s.add(item(marker));
                let run = poll_at_most(polls, async {
                    let all: Vec<Item> = s.query::<Item>().stream().try_collect().await?;
                    Ok::<usize, orm_core::Error>(all.len())
                })
                .await;
                let outcome = match run {
                    Some(read) => {
                        let read = read.map_err(text)?;
                        if read != 3001 {
                            return Err(format!("read {read} rows, not 3001"));
                        }
                        Run::Completed
                    }
                    None => Run::Cancelled(polls),
                };
                if s.commit().await.is_err() {
                    s.rollback().await.map_err(text)?;
                    s.commit().await.map_err(|e| format!("commit after rollback: {e}"))?;
                }
                let mut check = observer.session();
                let stored = check.query::<Item>().filter(Item::N.eq(marker)).count().await.map_err(text)?;
                if stored != 1 {
                    return Err(format!("marker stored {stored} times after {polls} polls"));
                }
                check.query::<Item>().filter(Item::N.eq(marker)).delete().await.map_err(text)?;
                check.commit().await.map_err(text)?;
                Ok(outcome)
            }
        })
        .await?;
        if proxy.is_some() {
            assert!(points >= 1, "through the proxy every round trip is an await point");
        }
        println!("streaming: {:?}: {points} cancellation points", tests::cancel::current_backend());
        Ok(())
    }
}
