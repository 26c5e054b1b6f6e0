//! Array columns, as a PostgreSQL user of SQLAlchemy's `ARRAY(Integer)`
//! expects: `Vec<i64>`, `Vec<String>`, `Vec<f64>`, `Vec<bool>`,
//! `Vec<Uuid>`, `Vec<Decimal>` fields round-trip whole (order, empty
//! arrays, NULL as `None`, unicode and quotes), changes are tracked and
//! written (one batched UPDATE for many rows), and the result cache keeps
//! them. PostgreSQL stores native arrays (`bigint[]`, so its array
//! operators work on the column); MySQL and SQLite a JSON array.

use std::str::FromStr;

use orm_core::prelude::*;
use orm_core::{Dialect, TemplateMode};
use rust_decimal::Decimal;
use tests::backend_tests;

#[entity(table = "ar_posts")]
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    #[key(auto)]
    pub id: i64,
    pub scores: Vec<i64>,
    #[column(len = 20)]
    pub tags: Vec<String>,
    pub weights: Option<Vec<f64>>,
    pub flags: Vec<bool>,
    pub refs: Vec<uuid::Uuid>,
    pub prices: Vec<Decimal>,
    pub small: Vec<i16>,
}

fn post(scores: Vec<i64>, tags: &[&str]) -> Post {
    Post {
        id: 0,
        scores,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        weights: None,
        flags: vec![],
        refs: vec![],
        prices: vec![],
        small: vec![],
    }
}

backend_tests! {
    async fn arrays_round_trip_change_and_stay_exact(db) {
        db.create_all(&[Post::schema()]).await?;
        let mut s = db.session();
        let id = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        let full = Post {
            id: 0,
            scores: vec![3, -1, i64::MAX, 3],
            tags: vec!["zoë".into(), "it's \"quoted\"".into(), "a,b{c}".into(), String::new()],
            weights: Some(vec![0.5, -2.25, 1e300]),
            flags: vec![true, false, true],
            refs: vec![id, uuid::Uuid::nil()],
            prices: vec![Decimal::from_str("0.1").unwrap(), Decimal::from_str("12345678901234.5678").unwrap()],
            small: vec![i16::MIN, 0, i16::MAX],
        };
        let a = s.add(full.clone());
        let b = s.add(post(vec![], &[]));
        s.commit().await?;
        let (ka, kb) = (a.read().id, b.read().id);

        let mut fresh = db.session();
        let got_a = fresh.get::<Post>(ka).await?;
        assert_eq!(*got_a.read(), Post { id: ka, ..full.clone() });
        let got_b = fresh.get::<Post>(kb).await?;
        assert_eq!(*got_b.read(), Post { id: kb, ..post(vec![], &[]) }, "empty arrays and a NULL");

        // A change to one element is a change of the column.
        let before = fresh.stats().statements();
        got_a.write().scores.push(7);
        got_b.write().weights = Some(vec![]);
        got_b.write().tags.push("new".into());
        fresh.commit().await?;
        assert!(fresh.stats().statements() - before <= 3, "one batched UPDATE (+ BEGIN/COMMIT)");
        let mut third = db.session();
        let rows = third.query::<Post>().order_by(Post::ID.asc()).all().await?;
        assert_eq!(rows[0].read().scores, [3, -1, i64::MAX, 3, 7]);
        assert_eq!(rows[1].read().weights, Some(vec![]));
        assert_eq!(rows[1].read().tags, ["new"]);
        // Nothing changed, nothing written.
        let before = third.stats().statements();
        third.commit().await?;
        assert_eq!(third.stats().statements(), before);

        // Many rows changed at once: one batched UPDATE of arrays.
        for r in &rows {
            r.write().small = vec![1, 2];
            r.write().refs.push(id);
        }
        third.commit().await?;
        let rows = db.session().query::<Post>().order_by(Post::ID.asc()).all().await?;
        assert!(rows.iter().all(|r| r.read().small == [1, 2]));
        assert_eq!(rows[1].read().refs, [id]);

        // Through the result cache: the second read is the cache's, the
        // same arrays (element types kept by its encoding).
        db.cache().add(orm_core::cache::Region::memory("ar"))?;
        let read = || async {
            let mut s = db.session();
            let rows = s.query::<Post>().order_by(Post::ID.asc()).cached("ar").all().await?;
            let out: Vec<Post> = rows.iter().map(|r| r.read().clone()).collect();
            Ok::<_, Error>((out, s.stats().statements()))
        };
        let (first, n1) = read().await?;
        let (second, n2) = read().await?;
        assert_eq!(first, second);
        assert_eq!((n1, n2), (1, 0), "the second read comes from the cache");
        assert_eq!(second[0].prices, full.prices);

        if db.dialect() == Dialect::Postgres {
            // Native arrays: the server's operators work on the column.
            let t = db
                .fetch_sql("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'ar_posts'::regclass AND attname = 'tags'".to_string(), vec![])
                .await?;
            assert_eq!(t[0].get::<String>("t")?, "character varying(20)[]");
            let with_7 = db
                .session()
                .query_sql::<Post>("SELECT * FROM ar_posts WHERE scores @> ARRAY[7::bigint]", vec![])
                .await?;
            assert_eq!(with_7.len(), 1);
        }
        Ok(())
    }

    async fn a_float_array_json_cannot_hold_is_refused_on_mysql_and_sqlite(db) {
        db.create_all(&[Post::schema()]).await?;
        // Infinity: PostgreSQL's double precision[] holds it, a JSON
        // array does not (SQLite would take a lone infinite REAL).
        let mut s = db.session();
        let mut p = post(vec![1], &["x"]);
        p.weights = Some(vec![1.0, f64::INFINITY]);
        s.add(p);
        let result = s.commit().await;
        if db.dialect() == Dialect::Postgres {
            result?;
            db.execute_sql("DELETE FROM ar_posts".to_string(), vec![]).await?;
        } else {
            match result {
                Err(Error::InvalidValue { entity, column, reason, .. }) => {
                    assert_eq!((entity, column), ("Post", "weights"));
                    assert!(reason.contains("infinit"), "{reason}");
                }
                other => panic!("expected InvalidValue, got {other:?}"),
            }
            s.rollback().await?;
        }
        drop(s);
        let mut s = db.session();
        let mut p = post(vec![1], &["x"]);
        p.weights = Some(vec![f64::NAN]);
        s.add(p);
        let result = s.commit().await;
        if db.dialect() == Dialect::Postgres {
            // double precision[] holds NaN.
            result?;
            let mut fresh = db.session();
            let back = fresh.query::<Post>().one().await?;
            assert!(back.read().weights.as_ref().is_some_and(|w| w[0].is_nan()));
        } else {
            match result {
                Err(Error::InvalidValue { entity, column, .. }) => assert_eq!((entity, column), ("Post", "weights")),
                other => panic!("expected InvalidValue, got {other:?}"),
            }
            s.rollback().await?;
            assert_eq!(db.session().query::<Post>().count().await?, 0);
        }
        Ok(())
    }
}

backend_tests! {
    async fn contains_finds_rows_whose_array_holds_an_element(db) {
        db.create_all(&[Post::schema()]).await?;
        let mut s = db.session();
        let id = uuid::Uuid::from_u128(42);
        let mut a = post(vec![1, 2, 3], &["rust", "orm"]);
        a.refs = vec![id];
        a.prices = vec![Decimal::from_str("1.50").unwrap()];
        s.add(a);
        s.add(post(vec![3, 4], &["sql"]));
        let mut c = post(vec![], &[]);
        c.weights = Some(vec![1.0]);
        s.add(c);
        s.commit().await?;
        assert_eq!(s.query::<Post>().filter(Post::SCORES.contains(3)).count().await?, 2);
        assert_eq!(s.query::<Post>().filter(Post::SCORES.contains(4)).count().await?, 1);
        assert_eq!(s.query::<Post>().filter(Post::SCORES.contains(9)).count().await?, 0);
        assert_eq!(s.query::<Post>().filter(Post::SCORES.not_contains(4)).count().await?, 2, "the empty array too");
        assert_eq!(s.query::<Post>().filter(Post::TAGS.contains("orm")).count().await?, 1);
        assert_eq!(s.query::<Post>().filter(Post::TAGS.contains("or")).count().await?, 0, "whole elements, not substrings");
        assert_eq!(s.query::<Post>().filter(Post::REFS.contains(id)).count().await?, 1);
        // 1.5 finds 1.50: decimals compare as numbers.
        assert_eq!(s.query::<Post>().filter(Post::PRICES.contains(Decimal::from_str("1.5").unwrap())).count().await?, 1);
        assert_eq!(s.query::<Post>().filter(Post::SCORES.contains(3i64).and(Post::TAGS.contains("sql"))).count().await?, 1);
        // In a loop, one template per shape whatever the element.
        let before = db.templates().stats();
        for n in 1..=4i64 {
            let hits = s.query::<Post>().filter(Post::SCORES.contains(n)).all().await?;
            assert_eq!(hits.len(), if n == 3 { 2 } else { 1 }, "element {n}");
        }
        let after = db.templates().stats();
        assert_eq!(after.misses - before.misses, 1, "{after:?}");
        assert_eq!(after.hits - before.hits, 3, "{after:?}");
        Ok(())
    }
}

/// Arrays with NULL elements, as `ARRAY[1, NULL, 3]` in PostgreSQL.
#[entity(table = "ar_gaps")]
#[derive(Debug, Clone, PartialEq)]
pub struct Gappy {
    #[key(auto)]
    pub id: i64,
    pub readings: Vec<Option<i64>>,
    pub names: Option<Vec<Option<String>>>,
}

backend_tests! {
    async fn null_elements_round_trip_and_are_searched_past(db) {
        db.create_all(&[Gappy::schema()]).await?;
        let mut s = db.session();
        let g = s.add(Gappy { id: 0, readings: vec![Some(1), None, Some(3)], names: Some(vec![None, Some("x".into())]) });
        s.add(Gappy { id: 0, readings: vec![None], names: None });
        s.commit().await?;
        let id = g.read().id;
        let mut fresh = db.session();
        let back = fresh.get::<Gappy>(id).await?;
        assert_eq!(back.read().readings, [Some(1), None, Some(3)]);
        assert_eq!(back.read().names, Some(vec![None, Some("x".to_string())]));
        assert_eq!(fresh.query::<Gappy>().filter(Gappy::READINGS.contains(3)).count().await?, 1);
        assert_eq!(fresh.query::<Gappy>().filter(Gappy::NAMES.contains("x")).count().await?, 1);
        // A NULL array holds nothing, and is not matched by not_contains either (as in SQL).
        assert_eq!(fresh.query::<Gappy>().filter(Gappy::NAMES.not_contains("zz")).count().await?, 1);
        // No row: nothing to pair (an empty result carries no column names).
        let none = fresh.query::<Gappy>().filter(Gappy::ID.lt(0)).select((Gappy::ID,)).entities().await?;
        assert!(none.is_empty());
        // A change to a NULL element is a change.
        back.write().readings[1] = Some(2);
        fresh.commit().await?;
        let again = db.session().get::<Gappy>(id).await?;
        assert_eq!(again.read().readings, [Some(1), Some(2), Some(3)]);
        // A NULL element in a plain Vec<T> column is a decode error naming it.
        if db.dialect() == Dialect::Postgres {
            db.execute_sql("UPDATE ar_gaps SET readings = ARRAY[NULL::bigint]".to_string(), vec![]).await?;
            #[entity(table = "ar_gaps")]
            #[derive(Debug)]
            pub struct Strict {
                #[key(auto)]
                pub id: i64,
                pub readings: Vec<i64>,
                pub names: Option<Vec<Option<String>>>,
            }
            let err = db.session().query::<Strict>().all().await.expect_err("a NULL element");
            assert!(matches!(&err, Error::Decode { entity: "Strict", .. }), "{err:?}");
        }
        Ok(())
    }
}

/// The ids of the posts `filter` selects, in order.
async fn post_ids(s: &mut Session, filter: orm_core::Filter<Post>) -> orm_core::Result<Vec<i64>> {
    let found = s
        .query::<Post>()
        .filter(filter)
        .order_by(Post::ID.asc())
        .all()
        .await?;
    Ok(found.iter().map(|p| p.read().id).collect())
}

backend_tests! {
    async fn set_and_length_filters_compare_arrays_as_postgresql_does(db) {
        // SQLAlchemy's ARRAY comparators: overlap (&&), contains (@>),
        // contained_by (<@), and a length, on every backend.
        db.create_all(&[Post::schema(), Gappy::schema()]).await?;
        db.templates().set_mode(TemplateMode::Paranoid);
        let mut s = db.session();
        let id = uuid::Uuid::from_u128(7);
        let mut a = post(vec![1, 2, 3], &["rust", "orm"]);
        a.refs = vec![id];
        a.prices = vec![Decimal::from_str("1.50").unwrap(), Decimal::from_str("2").unwrap()];
        let a = s.add(a);
        let b = s.add(post(vec![3, 4], &["sql"]));
        let c = s.add(post(vec![], &[]));
        let gappy = s.add(Gappy { id: 0, readings: vec![Some(1), None], names: None });
        let full = s.add(Gappy { id: 0, readings: vec![Some(1), Some(2)], names: Some(vec![Some("x".into())]) });
        s.commit().await?;
        let (a, b, c) = (a.read().id, b.read().id, c.read().id);

        assert_eq!(post_ids(&mut s, Post::SCORES.overlaps([3i64, 9])).await?, [a, b]);
        assert_eq!(post_ids(&mut s, Post::SCORES.overlaps([4i64])).await?, [b]);
        assert_eq!(post_ids(&mut s, Post::SCORES.overlaps(Vec::<i64>::new())).await?, Vec::<i64>::new(), "an empty set overlaps nothing");
        assert_eq!(post_ids(&mut s, Post::TAGS.overlaps(["orm", "go"])).await?, [a]);
        assert_eq!(post_ids(&mut s, Post::SCORES.contains_all([3i64, 1])).await?, [a]);
        assert_eq!(post_ids(&mut s, Post::SCORES.contains_all([3i64])).await?, [a, b]);
        assert_eq!(post_ids(&mut s, Post::SCORES.contains_all(Vec::<i64>::new())).await?, [a, b, c], "every array holds the empty set");
        assert_eq!(post_ids(&mut s, Post::TAGS.contains_all(["rust", "orm"])).await?, [a]);
        assert_eq!(post_ids(&mut s, Post::SCORES.contained_by([1i64, 2, 3, 5])).await?, [a, c], "the empty array too");
        assert_eq!(post_ids(&mut s, Post::TAGS.contained_by(["sql", "go"])).await?, [b, c]);
        assert_eq!(post_ids(&mut s, Post::REFS.overlaps([id, uuid::Uuid::nil()])).await?, [a]);
        // Decimals compare as numbers: 1.5 is 1.50.
        assert_eq!(post_ids(&mut s, Post::PRICES.contains_all([Decimal::from_str("1.5").unwrap(), Decimal::from(2)])).await?, [a]);
        // A long set is still one parameter.
        let many: Vec<i64> = (100..1100).chain([4]).collect();
        assert_eq!(post_ids(&mut s, Post::SCORES.overlaps(many)).await?, [b]);

        assert_eq!(post_ids(&mut s, Post::SCORES.len().eq(3)).await?, [a]);
        assert_eq!(post_ids(&mut s, Post::SCORES.len().ge(2)).await?, [a, b]);
        assert_eq!(post_ids(&mut s, Post::TAGS.len().lt(1)).await?, [c]);
        assert_eq!(post_ids(&mut s, Post::SCORES.len().ne(0).and(Post::TAGS.len().le(1))).await?, [b]);

        // NULL elements and NULL arrays, as PostgreSQL sees them.
        let gap = |f: orm_core::Filter<Gappy>| async {
            let mut s = db.session();
            let rows = s.query::<Gappy>().filter(f).order_by(Gappy::ID.asc()).all().await?;
            Ok::<_, Error>(rows.iter().map(|g| g.read().id).collect::<Vec<i64>>())
        };
        let (gappy, full) = (gappy.read().id, full.read().id);
        assert_eq!(gap(Gappy::READINGS.contained_by([1i64, 2])).await?, [full], "a NULL element is in no set");
        assert_eq!(gap(Gappy::READINGS.overlaps([1i64])).await?, [gappy, full]);
        assert_eq!(gap(Gappy::READINGS.len().eq(2)).await?, [gappy, full], "a NULL element counts");
        assert_eq!(gap(Gappy::NAMES.contains_all(Vec::<String>::new())).await?, [full], "a NULL array matches no set filter");
        assert_eq!(gap(Gappy::NAMES.len().ge(0)).await?, [full], "a NULL array has no length");

        // In a loop: one template per shape, whatever the set's size.
        let before = db.templates().stats();
        for n in 1..=4i64 {
            let set: Vec<i64> = (0..n).collect();
            s.query::<Post>().filter(Post::SCORES.overlaps(set)).count().await?;
        }
        let after = db.templates().stats();
        assert_eq!(after.misses - before.misses, 1, "{after:?}");
        Ok(())
    }
}
