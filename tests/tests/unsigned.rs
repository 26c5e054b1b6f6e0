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
