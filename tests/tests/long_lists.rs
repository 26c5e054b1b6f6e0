//! IN and NOT IN lists at the bind limit and past it, alone and combined
//! with other filters, under OR and NOT, with order, limit, offset and
//! count, on every backend: the rows are the ones a single statement with
//! a literal list would return.
//!
//! The lengths are the backend's bind limit, one more, and 40,000 and
//! 70,000 values (past the limit on SQLite, around it on the servers).

use orm_core::Dialect;
use orm_core::prelude::*;
use tests::backend_tests;

#[entity(table = "points")]
#[derive(Debug, Clone)]
pub struct Point {
    #[key]
    pub id: i64,
    #[column(len = 20, index)]
    pub name: String,
    pub level: i32,
}

/// Columns stored as text, blobs, dates or arrays, depending on the backend.
#[entity(table = "stamps")]
#[derive(Debug, Clone)]
pub struct Stamp {
    #[key]
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub tag: uuid::Uuid,
    pub ratio: f64,
}

fn stamp(i: i64) -> Stamp {
    use chrono::TimeZone;
    Stamp {
        id: i,
        at: chrono::Utc
            .timestamp_opt(1_700_000_000 + i * 61, 123_456_000)
            .unwrap(),
        tag: uuid::Uuid::from_u128(0xabcd_0000 + i as u128),
        ratio: i as f64 / 8.0,
    }
}

const ROWS: i64 = 3_000;

async fn seed(db: &Database) -> orm_core::Result<()> {
    db.create_all(&[Point::schema()]).await?;
    let mut s = db.session();
    s.add_all((0..ROWS).map(|id| Point {
        id,
        name: format!("n{id}"),
        level: (id % 5) as i32,
    }));
    s.commit().await
}

fn lengths(db: &Database) -> Vec<usize> {
    let limit = db.bind_limit();
    let mut n = vec![limit, limit + 1, 40_000, 70_000];
    n.sort_unstable();
    n.dedup();
    n
}

/// `n` even numbers from 0: every even id, and many absent ones.
fn evens(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| i * 2).collect()
}

/// `n` distinct values: 0..2,500 and then ids past the table's.
fn within(n: usize) -> Vec<i64> {
    (0..n as i64)
        .map(|i| if i < 2_500 { i } else { i + ROWS })
        .collect()
}

/// The ids of 0..ROWS that `keep` accepts, ascending.
fn expected(keep: impl Fn(i64) -> bool) -> Vec<i64> {
    (0..ROWS).filter(|&id| keep(id)).collect()
}

fn ids(found: &[Handle<Point>]) -> Vec<i64> {
    found.iter().map(|h| h.read().id).collect()
}

/// The statements logged since the last call; with `past_limit`, asserts
/// that each is short: the long list travelled as one parameter (a JSON
/// text or a PostgreSQL array), not as a placeholder per value.
fn one_parameter_lists(s: &Session, past_limit: bool) -> Vec<String> {
    let log = s.stats().take_log();
    if past_limit {
        for sql in &log {
            assert!(
                sql.len() < 1_000,
                "{} characters: {}",
                sql.len(),
                &sql[..200]
            );
        }
    }
    log
}

/// NOT IN `out`, IN `within`, and a third condition.
fn combined<'s>(s: &'s mut Session, out: &[i64], within: &[i64]) -> orm_core::Query<'s, Point> {
    s.query::<Point>()
        .filter(Point::ID.not_in(out))
        .filter(Point::ID.is_in(within))
        .filter(Point::LEVEL.ne(0))
}

backend_tests! {
    async fn not_in_at_any_length(db) {
        seed(&db).await?;
        let limit = db.bind_limit();
        let mut s = db.session();
        s.stats().log_statements(true);
        let odd = expected(|id| id % 2 == 1);
        for n in lengths(&db) {
            let list = evens(n);
            let past = n > limit || db.dialect() == Dialect::Postgres;
            let found = s.query::<Point>().filter(Point::ID.not_in(&list)).order_by(Point::ID.asc()).all().await?;
            assert_eq!(ids(&found), odd, "NOT IN of {n}");
            assert_eq!(one_parameter_lists(&s, past).len(), 1, "{n}: one statement");
            assert_eq!(s.query::<Point>().filter(Point::ID.not_in(&list)).count().await?, odd.len() as i64, "count, {n}");
            // A negated IN is a NOT IN.
            assert_eq!(s.query::<Point>().filter(!Point::ID.is_in(&list)).count().await?, odd.len() as i64, "!IN, {n}");
            // Two long NOT IN lists are ANDed: the rows outside both.
            let threes: Vec<i64> = (0..n as i64).map(|i| i * 3).collect();
            let both = Filter::all([Point::ID.not_in(&list), Point::ID.not_in(&threes)]);
            assert_eq!(
                s.query::<Point>().filter(both).count().await?,
                expected(|id| id % 2 == 1 && id % 3 != 0).len() as i64,
                "all(NOT IN, NOT IN), {n}"
            );
            // A long IN under OR cannot be split into a union of parts either.
            let any = Filter::any([Point::ID.is_in(&list), Point::LEVEL.eq(1)]);
            let found = s.query::<Point>().filter(any).order_by(Point::ID.asc()).all().await?;
            assert_eq!(ids(&found), expected(|id| id % 2 == 0 || id % 5 == 1), "any(IN, level = 1), {n}");
            // Text travels with its exact value and the column's comparison.
            let names: Vec<String> = list.iter().map(|i| format!("n{i}")).collect();
            let found = s.query::<Point>().filter(Point::NAME.not_in(&names)).filter(Point::LEVEL.ge(3)).order_by(Point::ID.desc()).all().await?;
            let mut want = expected(|id| id % 2 == 1 && id % 5 >= 3);
            want.reverse();
            assert_eq!(ids(&found), want, "text NOT IN, {n}");
            one_parameter_lists(&s, past);
        }
        // Lengths past the limit share one shape: values are never part of it.
        let shapes = db.templates().stats().shapes;
        let hits = db.templates().stats().hits;
        let n = s.query::<Point>().filter(Point::ID.not_in(evens(71_234))).count().await?;
        assert_eq!(n, odd.len() as i64);
        let stats = db.templates().stats();
        assert_eq!((stats.shapes, stats.hits), (shapes, hits + 1), "{stats:?}");
        Ok(())
    }

    async fn long_lists_with_in_order_limit_and_count(db) {
        seed(&db).await?;
        let limit = db.bind_limit();
        let mut s = db.session();
        s.stats().log_statements(true);
        for n in lengths(&db) {
            // One of the two lists may still fit beside the other's parameter.
            let past = db.dialect() == Dialect::Postgres;
            let (out, within) = (evens(n), within(n));
            let keep = |id: i64| id % 2 == 1 && id < 2_500 && id % 5 != 0;
                        let all = expected(keep);
            let found = combined(&mut s, &out, &within).order_by(Point::ID.desc()).all().await?;
            let mut desc = all.clone();
            desc.reverse();
            assert_eq!(ids(&found), desc, "{n}: ordered as one statement");
            // The IN may be split (a union of parts, sorted again); the NOT
            // IN never is, so with both past the limit, every part carries
            // the whole NOT IN as one parameter.
            let log = s.stats().take_log();
            assert!(!log.is_empty());
            // NOT IN goes first (as one parameter); then the IN is split
            // if it does not fit beside the two other parameters.
            if n + 2 > limit && db.dialect() != Dialect::Postgres {
                assert!(log.len() >= 2, "{n}: the IN is split: {}", log.len());
            } else {
                assert_eq!(log.len(), 1, "{n}");
            }
            // A page: never split, both lists as parameters.
            let page = combined(&mut s, &out, &within).order_by(Point::ID.desc()).limit(7).offset(3).all().await?;
            assert_eq!(ids(&page), desc[3..10], "{n}: a page");
            assert_eq!(one_parameter_lists(&s, past).len(), 1, "{n}: a page is one statement");
            assert_eq!(combined(&mut s, &out, &within).count().await?, all.len() as i64, "{n}: count");
            assert_eq!(combined(&mut s, &out, &within).limit(10).offset(all.len() as u64 - 4).count().await?, 4, "{n}: count of a page");
            let rows = combined(&mut s, &out, &within).order_by(Point::ID.asc()).offset(all.len() as u64 - 2).rows().await?;
            let tail: Vec<i64> = rows.iter().map(|r| r.get::<i64>("id")).collect::<Result<_, _>>()?;
            assert_eq!(tail, all[all.len() - 2..], "{n}: offset without limit");
            one_parameter_lists(&s, false);
        }
        Ok(())
    }

    async fn long_lists_of_timestamps_uuids_and_floats(db) {
        db.create_all(&[Stamp::schema()]).await?;
        let mut s = db.session();
        s.add_all((0..100).map(stamp));
        s.commit().await?;
        let n = db.bind_limit() as i64 + 1_000;
        // Every even row's value, and many values no row has.
        let pick = |i: i64| if i < 50 { i * 2 } else { 1_000 + i };
        let odd: Vec<i64> = (0..100).filter(|i| i % 2 == 1).collect();
        let at: Vec<_> = (0..n).map(|i| stamp(pick(i)).at).collect();
        let tags: Vec<_> = (0..n).map(|i| stamp(pick(i)).tag).collect();
        let ratios: Vec<f64> = (0..n).map(|i| stamp(pick(i)).ratio).collect();
        let ids = |found: Vec<Handle<Stamp>>| found.iter().map(|h| h.read().id).collect::<Vec<_>>();
        let found = s.query::<Stamp>().filter(Stamp::AT.not_in(&at)).order_by(Stamp::ID.asc()).all().await?;
        assert_eq!(ids(found), odd, "timestamps");
        let found = s.query::<Stamp>().filter(Stamp::TAG.not_in(&tags)).order_by(Stamp::ID.asc()).limit(100).all().await?;
        assert_eq!(ids(found), odd, "uuids");
        let found = s.query::<Stamp>().filter(!Stamp::RATIO.is_in(&ratios)).order_by(Stamp::ID.asc()).all().await?;
        assert_eq!(ids(found), odd, "floats");
        assert_eq!(s.query::<Stamp>().filter(Stamp::AT.is_in(&at)).filter(Stamp::TAG.is_in(&tags)).limit(1_000).count().await?, 50);
        Ok(())
    }

    async fn relation_sized_in_lists_still_split_and_dedupe(db) {
        // A positive IN alone past the limit keeps being split into parts
        // whose rows are combined; duplicates count once, and a list whose
        // distinct values fit is not split at all.
        seed(&db).await?;
        let limit = db.bind_limit();
        let mut s = db.session();
        let list = evens(limit + 5_000);
        let before = s.stats().statements();
        assert_eq!(s.query::<Point>().filter(Point::ID.is_in(&list)).count().await?, ROWS / 2);
        let statements = s.stats().statements() - before;
        match db.dialect() {
            Dialect::Postgres => assert_eq!(statements, 1, "one array"),
            _ => assert!(statements >= 2, "split: {statements}"),
        }
        let repeated: Vec<i64> = (0..(limit as i64 + 5_000)).map(|i| i % 1_000).collect();
        let before = s.stats().statements();
        let found = s.query::<Point>().filter(Point::ID.is_in(&repeated)).filter(Point::ID.not_in(&repeated[..limit])).all().await?;
        assert!(found.is_empty());
        assert_eq!(s.stats().statements() - before, 1, "1,000 distinct values fit in one statement");
        Ok(())
    }
}
