//! SQL templates: random filters give the same SQL and parameters as a
//! fresh build (paranoid mode checks every call) and the same rows; lists of
//! every length including empty and past the bind limit; padding keeps the
//! server's prepared statements bounded.

use orm_core::prelude::*;
use orm_core::{
    ConnectOptions, Dialect, Padding, Param, PoolOptions, Shape, TemplateMode, TemplateOptions,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tests::{Backend, TestDb, backend_tests};

#[entity(table = "rules")]
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    #[key]
    pub id: i64,
    #[column(len = 16)]
    pub site: String,
    pub level: i32,
    pub tag: Option<String>,
}

async fn seed(db: &Database, n: i64) -> orm_core::Result<()> {
    db.create_all(&[Rule::schema()]).await?;
    let mut s = db.session();
    s.add_all((0..n).map(|i| Rule {
        id: i,
        site: format!("s{}", i % 7),
        level: (i % 5) as i32,
        tag: (i % 3 != 0).then(|| format!("t{}", i % 4)),
    }));
    s.commit().await
}

fn paranoid(backend: Backend) -> ConnectOptions {
    let _ = backend;
    ConnectOptions {
        templates: TemplateOptions {
            mode: TemplateMode::Paranoid,
            ..TemplateOptions::default()
        },
        ..ConnectOptions::default()
    }
}

/// A random filter over `Rule`.
fn filter() -> impl Strategy<Value = Filter<Rule>> {
    let leaf = prop_oneof![
        (0i64..40).prop_map(|v| Rule::ID.eq(v)),
        (0i32..6).prop_map(|v| Rule::LEVEL.gt(v)),
        (0i32..6).prop_map(|v| Rule::LEVEL.le(v)),
        "s[0-7]".prop_map(|v| Rule::SITE.eq(v)),
        "s[0-7]?%".prop_map(|p| Rule::SITE.like(p)),
        Just(Rule::TAG.is_null()),
        Just(Rule::TAG.is_not_null()),
        prop::collection::vec(0i64..40, 0..12).prop_map(|v| Rule::ID.is_in(v)),
        prop::collection::vec(0i64..40, 0..12).prop_map(|v| Rule::ID.not_in(v)),
        prop::collection::vec("t[0-4]", 0..4).prop_map(|v| Rule::TAG.is_in(v)),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::all),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::any),
            inner.prop_map(|f| !f),
        ]
    })
}

fn property(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t = rt.block_on(TestDb::with_options(backend, paranoid(backend)));
    rt.block_on(seed(&t.db, 40)).expect("seed");
    let db = t.db.clone();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(filter(), any::<bool>(), 0u64..5), |(f, desc, limit)| {
        rt.block_on(async {
            let fail = |e: Error| TestCaseError::fail(e.to_string());
            let mut s = db.session();
            let order = if desc {
                Rule::ID.desc()
            } else {
                Rule::ID.asc()
            };
            // Paranoid mode: a template that differs from the fresh build is an error.
            let templated = s
                .query::<Rule>()
                .filter(f.clone())
                .order_by(order.clone())
                .rows()
                .await
                .map_err(fail)?;
            let plain = s
                .query::<Rule>()
                .filter(f.clone())
                .order_by(order.clone())
                .without_template()
                .rows()
                .await
                .map_err(fail)?;
            prop_assert_eq!(&templated, &plain);
            let n = s
                .query::<Rule>()
                .filter(f.clone())
                .count()
                .await
                .map_err(fail)?;
            prop_assert_eq!(n as usize, plain.len());
            let page = s
                .query::<Rule>()
                .filter(f)
                .order_by(order)
                .limit(limit + 1)
                .offset(limit)
                .rows()
                .await
                .map_err(fail)?;
            prop_assert_eq!(
                page.as_slice(),
                &plain[(limit as usize).min(plain.len())
                    ..((2 * limit + 1) as usize).min(plain.len())]
            );
            Ok(())
        })
    });
    let stats = db.templates().stats();
    rt.block_on(t.cleanup());
    if let Err(e) = result {
        panic!("{backend:?}: {e}");
    }
    assert_eq!(stats.verify_failures, 0);
    assert!(stats.hits > 0 && stats.shapes > 0, "{stats:?}");
}

#[test]
fn random_filters_match_fresh_builds_on_sqlite() {
    property(Backend::Sqlite, 200);
}

#[test]
fn random_filters_match_fresh_builds_on_postgres() {
    property(Backend::Postgres, 64);
}

#[test]
fn random_filters_match_fresh_builds_on_mysql() {
    property(Backend::MySql, 64);
}

/// A rule lookup (`examples/quality_rules.rs`) as a hand-written builder:
/// optional filters, IN lists.
fn rule_lookup(p: &Shape<'_>) -> String {
    let mut sql = String::from("SELECT id FROM rules WHERE 1 = 1");
    if p.present(0) {
        sql += &format!(" AND site = {}", p.param(0));
    }
    if p.present(1) {
        if p.is_empty_list(1) {
            sql += " AND 1 = 0";
        } else {
            sql += &format!(" AND level IN ({})", p.list(1));
        }
    }
    if p.present(2) {
        sql += &format!(" AND id >= {}", p.param(2));
    }
    sql + " ORDER BY id"
}

async fn lookup(
    s: &mut Session,
    site: Option<&str>,
    levels: Option<Vec<i32>>,
    min_id: Option<i64>,
) -> orm_core::Result<Vec<i64>> {
    let params = vec![
        Param::opt(site),
        levels.map_or(Param::Absent, Param::list),
        Param::opt(min_id),
    ];
    s.fetch_built("rules.lookup", params, rule_lookup)
        .await?
        .iter()
        .map(|r| r.get_at::<i64>(0))
        .collect()
}

backend_tests! {
    async fn flush_statements_are_templated(db) {
        seed(&db, 0).await?;
        db.templates().set_mode(TemplateMode::Paranoid);
        let mut s = db.session();
        for round in 0..3i64 {
            // Same shapes each round: 5-row INSERT, batched UPDATE, DELETE.
            let hs = s.add_all((0..5).map(|i| Rule { id: round * 10 + i, site: "x".into(), level: 0, tag: None }));
            s.commit().await?;
            for h in &hs {
                h.write().level = 1 + round as i32;
            }
            s.commit().await?;
            s.delete(&hs[0])?;
            s.commit().await?;
        }
        let stats = db.templates().stats();
        assert_eq!(stats.verify_failures, 0);
        assert!(stats.hits >= 6, "the second and third rounds reuse the templates: {stats:?}");
        assert_eq!(s.query::<Rule>().filter(Rule::LEVEL.eq(3)).count().await?, 4);
        db.templates().set_mode(TemplateMode::VerifyOnStore);
        Ok(())
    }

    async fn built_queries_are_cached_per_shape(db) {
        seed(&db, 40).await?;
        let mut s = db.session();
        let before = db.templates().stats();
        // Same shape, different values and list lengths: one template.
        assert_eq!(lookup(&mut s, Some("s1"), Some(vec![1, 3]), Some(0)).await?, [1, 8, 36]);
        assert_eq!(lookup(&mut s, Some("s2"), Some(vec![2, 4, 0]), Some(10)).await?, [30, 37]);
        // Other shapes: absent filters, an empty list.
        assert_eq!(lookup(&mut s, None, None, Some(38)).await?, [38, 39]);
        assert_eq!(lookup(&mut s, Some("s1"), Some(vec![]), None).await?, Vec::<i64>::new());
        let after = db.templates().stats();
        assert_eq!(after.misses - before.misses, 3, "three shapes");
        assert_eq!(after.hits - before.hits, 1);
        // A builder that branches on something outside its shape is caught:
        // verify-on-store builds a new shape twice and will not cache it...
        let flip = std::sync::atomic::AtomicBool::new(false);
        let sneaky = |_: &Shape<'_>| {
            let on = flip.fetch_xor(true, std::sync::atomic::Ordering::Relaxed);
            format!("SELECT id FROM rules WHERE id {} 3", if on { ">" } else { "<" })
        };
        let failures = db.templates().stats().verify_failures;
        s.fetch_built("rules.sneaky", vec![], &sneaky).await?;
        assert_eq!(db.templates().stats().verify_failures, failures + 1);
        // ...and paranoid mode makes it an error.
        db.templates().set_mode(TemplateMode::Paranoid);
        let err = s.fetch_built("rules.sneaky2", vec![], &sneaky).await.expect_err("paranoid");
        assert!(matches!(&err, Error::Template { site, message } if site == "rules.sneaky2" && message.contains("paranoid")), "{err:?}");
        db.templates().set_mode(TemplateMode::VerifyOnStore);
        Ok(())
    }

    async fn lists_of_every_length(db) {
        seed(&db, 1200).await?;
        let mut s = db.session();
        for n in [0usize, 1, 2, 3, 1000] {
            let ids: Vec<i64> = (0..n as i64).collect();
            assert_eq!(s.query::<Rule>().filter(Rule::ID.is_in(&ids)).count().await?, n as i64, "IN of {n}");
            assert_eq!(s.query::<Rule>().filter(Rule::ID.not_in(&ids)).count().await?, 1200 - n as i64, "NOT IN of {n}");
            let rows = s.query::<Rule>().filter(Rule::ID.is_in(&ids)).all().await?;
            assert_eq!(rows.len(), n);
        }
        // Duplicates and padding are harmless, for IN and NOT IN.
        let dup = [5i64, 5, 5, 7, 7];
        assert_eq!(s.query::<Rule>().filter(Rule::ID.is_in(dup)).count().await?, 2);
        assert_eq!(s.query::<Rule>().filter(Rule::ID.not_in(dup)).count().await?, 1198);
        assert_eq!(s.query::<Rule>().filter(Rule::ID.not_in([1i64, 2, 3])).count().await?, 1197, "padded to 4 with 3 again");
        // NULL vs value shapes.
        assert_eq!(s.query::<Rule>().filter(Rule::TAG.is_null()).count().await?, 400);
        assert_eq!(s.query::<Rule>().filter(Rule::TAG.eq("t1")).count().await?, s.query::<Rule>().filter(Rule::TAG.is_in(["t1"])).count().await?);
        let stats = db.templates().stats();
        assert!(stats.hits > 0, "{stats:?}");
        Ok(())
    }

    async fn lists_at_and_over_the_bind_limit(db) {
        let limit = db.bind_limit();
        seed(&db, 300).await?;
        let mut s = db.session();
        // Mostly absent ids, with duplicates, at the limit and over it.
        for n in [limit, limit + 1, 2 * limit + 7] {
            let ids: Vec<i64> = (0..n as i64).map(|i| (i * 7) % (n as i64 / 2 + 1)).collect();
            let expected = (0..300).filter(|i| ids.contains(i)).count() as i64;
            let before = s.stats().statements();
            let found = s.query::<Rule>().filter(Rule::ID.is_in(&ids)).order_by(Rule::ID.desc()).all().await?;
            let statements = s.stats().statements() - before;
            assert_eq!(found.len() as i64, expected, "{n} values");
            let keys: Vec<i64> = found.iter().map(|h| h.key()).collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(keys, sorted, "split results are ordered as one");
            assert_eq!(s.query::<Rule>().filter(Rule::ID.is_in(&ids)).filter(Rule::LEVEL.ge(0)).count().await?, expected);
            assert!(statements >= 1);
        }
        // NOT IN over the limit is never split: one `<> ALL($1)` array on
        // PostgreSQL, one JSON parameter elsewhere (`tests/long_lists.rs`).
        let many: Vec<i64> = (10..(limit as i64 + 10)).collect();
        let before = s.stats().statements();
        assert_eq!(s.query::<Rule>().filter(Rule::ID.not_in(&many)).count().await?, 10);
        assert_eq!(s.stats().statements() - before, 1);
        Ok(())
    }
}

/// Padding bounds the statements the server prepares: lists of 1..=1,000
/// values make a handful of texts, not a thousand.
#[tokio::test]
async fn padding_bounds_prepared_statements_on_postgres() {
    async fn prepared(padding: Padding) -> i64 {
        let options = ConnectOptions {
            pool: PoolOptions {
                max_connections: 1,
                ..PoolOptions::default()
            },
            templates: TemplateOptions {
                padding,
                ..TemplateOptions::default()
            },
            ..ConnectOptions::default()
        };
        let t = TestDb::with_options(Backend::Postgres, options).await;
        let result = async {
            seed(&t.db, 10).await?;
            let mut s = t.db.session();
            for n in 1..=1000i64 {
                let ids: Vec<i64> = (0..n).collect();
                s.query::<Rule>().filter(Rule::ID.is_in(&ids)).count().await?;
            }
            let rows = s.fetch_sql("SELECT COUNT(*) FROM pg_prepared_statements WHERE statement LIKE '%\"id\" IN (%' AND statement NOT LIKE '%pg_prepared_statements%'", vec![]).await?;
            rows[0].get_at::<i64>(0)
        }
        .await;
        t.cleanup().await;
        result.expect("queries run")
    }
    let padded = prepared(Padding::PowerOfTwo).await;
    let exact = prepared(Padding::None).await;
    assert!(
        padded <= 11,
        "powers of two up to 1,024: {padded} prepared statements"
    );
    assert!(
        exact > 250,
        "without padding every length is its own statement (sqlx keeps up to its cache size): {exact}"
    );
    let _ = Dialect::Postgres;
}
