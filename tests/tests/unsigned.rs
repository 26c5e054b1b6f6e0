//! Unsigned integers, as a MySQL user expects of `INT UNSIGNED` columns:
//! `u8`, `u16` and `u32` fields hold their whole range (255, 65,535,
//! 4,294,967,295) on every backend (PostgreSQL and SQLite, which have no
//! unsigned types, store them one size up), work as auto keys, filter and
//! sum; MySQL's own column refuses a negative number written by hand.

use orm_core::prelude::*;
use orm_core::{Agg, Dialect, Value};
use tests::backend_tests;

#[entity(table = "us_counters")]
pub struct Counter {
    #[key(auto)]
    pub id: u32,
    pub byte: u8,
    pub port: u16,
    pub hits: u32,
    pub spare: Option<u32>,
}

/// SUM(hits), SUM(port), MIN(hits), COUNT(*).
type Sums = (Option<i64>, Option<i64>, Option<u32>, i64);

backend_tests! {
    async fn unsigned_integers_hold_their_whole_range(db) {
        db.create_all(&[Counter::schema()]).await?;
        let mut s = db.session();
        let top = s.add(Counter { id: 0, byte: u8::MAX, port: u16::MAX, hits: u32::MAX, spare: Some(u32::MAX) });
        s.add(Counter { id: 0, byte: 0, port: 443, hits: 1, spare: None });
        s.commit().await?;
        let id = top.read().id;
        assert!(id > 0, "an auto key read back");

        let mut fresh = db.session();
        let back = fresh.get::<Counter>(id).await?;
        let c = back.read();
        assert_eq!((c.byte, c.port, c.hits, c.spare), (u8::MAX, u16::MAX, u32::MAX, Some(u32::MAX)));
        drop(c);
        let big = fresh.query::<Counter>().filter(Counter::HITS.gt(u32::MAX - 1)).count().await?;
        assert_eq!(big, 1);
        let sums: Vec<Sums> = fresh
            .query::<Counter>()
            .select((Counter::HITS.sum(), Counter::PORT.sum(), Counter::HITS.min(), Agg::count()))
            .all()
            .await?;
        assert_eq!(sums, [(Some(4_294_967_296), Some(65_978), Some(1), 2)], "sums past u32, in i64");
        back.write().hits -= 1;
        fresh.commit().await?;
        assert_eq!(db.session().get::<Counter>(id).await?.read().hits, u32::MAX - 1);

        // Every row changed: one batched UPDATE of unsigned values.
        let mut third = db.session();
        for h in third.query::<Counter>().all().await? {
            let mut c = h.write();
            c.byte = 200;
            c.spare = Some(u32::MAX - 5);
        }
        third.commit().await?;
        assert_eq!(db.session().query::<Counter>().filter(Counter::SPARE.eq(u32::MAX - 5)).count().await?, 2);

        if db.dialect() == Dialect::MySql {
            let err = db
                .execute_sql("UPDATE us_counters SET byte = -1 WHERE id = ?".to_string(), vec![Value::I64(i64::from(id))])
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Database { .. }), "{err:?}");
        }
        Ok(())
    }
}

/// `BIGINT UNSIGNED` ids and counters, as MySQL schemas have them.
#[entity(table = "us_events")]
pub struct Event {
    #[key(auto)]
    pub id: u64,
    pub seq: u64,
    pub spare: Option<u64>,
}

backend_tests! {
    async fn u64_holds_its_whole_range_where_the_backend_can(db) {
        db.create_all(&[Event::schema()]).await?;
        let mut s = db.session();
        let small = s.add(Event { id: 0, seq: 7, spare: None });
        let edge = s.add(Event { id: 0, seq: i64::MAX as u64, spare: Some(0) });
        s.commit().await?;
        assert!(small.read().id > 0 && edge.read().id > small.read().id, "auto keys read back");
        let top = s.add(Event { id: 0, seq: u64::MAX, spare: Some(u64::MAX - 1) });
        let result = s.commit().await;
        if db.dialect() == Dialect::Sqlite {
            // SQLite's INTEGER ends at i64::MAX: refused, naming the column,
            // before anything is sent.
            match result {
                Err(Error::InvalidValue { entity, column, reason, .. }) => {
                    assert_eq!(entity, "Event");
                    assert!(column == "seq" || column == "spare", "{column}");
                    assert!(reason.contains("9223372036854775807"), "{reason}");
                }
                other => panic!("expected InvalidValue, got {other:?}"),
            }
            s.rollback().await?;
            s.expunge(&top);
        } else {
            result?;
            let mut fresh = db.session();
            let back = fresh.get::<Event>(top.read().id).await?;
            assert_eq!((back.read().seq, back.read().spare), (u64::MAX, Some(u64::MAX - 1)));
            // One statement text, small and large values in turn, on one
            // connection: every u64 travels as one parameter type.
            for v in [u64::MAX, 7, u64::MAX - 1, 0, 7] {
                let n = fresh.query::<Event>().filter(Event::SEQ.eq(v)).count().await?;
                assert_eq!(n, i64::from(v == 7 || v == u64::MAX), "seq = {v}");
            }
            let e = fresh.get::<Event>(small.read().id).await?;
            e.write().spare = Some(5);
            fresh.commit().await?;
            assert_eq!(db.session().get::<Event>(small.read().id).await?.read().spare, Some(5), "NULL, then 5, through one UPDATE text");
            e.write().spare = None;
            fresh.commit().await?;
            // Filters past i64::MAX compare exactly.
            assert_eq!(fresh.query::<Event>().filter(Event::SEQ.gt(u64::MAX - 1)).count().await?, 1);
            assert_eq!(fresh.query::<Event>().filter(Event::SEQ.ge(i64::MAX as u64)).count().await?, 2);
            assert_eq!(fresh.query::<Event>().filter(Event::SEQ.is_in([7u64, u64::MAX])).count().await?, 2);
            // A change in a batched UPDATE of every row.
            for e in fresh.query::<Event>().all().await? {
                let next = e.read().seq.wrapping_sub(1);
                e.write().seq = next;
            }
            fresh.commit().await?;
            let mut third = db.session();
            let seqs: Vec<u64> = third.query::<Event>().order_by(Event::ID.asc()).all().await?.iter().map(|e| e.read().seq).collect();
            assert_eq!(seqs, [6, i64::MAX as u64 - 1, u64::MAX - 1]);
            // A list past the bind limit (split on MySQL, where decimals do
            // not travel as JSON), ordered across its statements as numbers,
            // also past i64::MAX.
            let list: Vec<u64> = [6, i64::MAX as u64 - 1, u64::MAX - 1].into_iter().chain(1_000..71_000).collect();
            let sorted: Vec<u64> = third.query::<Event>().filter(Event::SEQ.is_in(list)).order_by(Event::SEQ.desc()).all().await?.iter().map(|e| e.read().seq).collect();
            assert_eq!(sorted, [u64::MAX - 1, i64::MAX as u64 - 1, 6]);
            // Their sum passes u64 itself: exact, as a decimal.
            let sum = third.query::<Event>().select((Event::SEQ.sum(),)).first().await?;
            let expected = rust_decimal::Decimal::from(6u64) + rust_decimal::Decimal::from(i64::MAX as u64 - 1) + rust_decimal::Decimal::from(u64::MAX - 1);
            assert_eq!(sum, Some((Some(expected),)));
        }
        // A sum where SQLite can hold it.
        let small_sum = db.session().query::<Event>().filter(Event::SEQ.lt(100)).select((Event::SEQ.sum(),)).first().await?;
        assert!(matches!(small_sum, Some((Some(d),)) if d < rust_decimal::Decimal::from(100)), "{small_sum:?}");
        // The key is a u64 through the identity map.
        let mut fresh = db.session();
        let got = fresh.get::<Event>(small.read().id).await?;
        assert_eq!(got.read().spare, None);
        Ok(())
    }
}
