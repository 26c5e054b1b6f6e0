//! Typed selects and joins through the template cache: a select built in a
//! loop with new values each time is compiled once per shape (the cache's
//! hit and miss counters, and rows that follow the values, prove it);
//! random filters, HAVING values, limits and offsets give the same SQL and
//! parameters as a fresh build (paranoid mode checks every call) and the
//! same rows as the query made `without_template()`.

use orm_core::prelude::*;
use orm_core::{Agg, ConnectOptions, CountRows, Subquery, TemplateMode, TemplateOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tests::{Backend, TestDb, backend_tests};

#[entity(table = "tt_zones")]
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    #[key]
    pub id: i64,
    #[column(len = 16)]
    pub name: String,
    pub rank: i32,
}

#[entity(table = "tt_rules")]
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    #[key]
    pub id: i64,
    #[column(references = Zone)]
    pub zone_id: i64,
    #[column(len = 16)]
    pub site: String,
    pub level: i32,
    pub tag: Option<String>,
}

async fn seed(db: &Database, n: i64) -> orm_core::Result<()> {
    db.create_all(&[Zone::schema(), Rule::schema()]).await?;
    let mut s = db.session();
    s.add_all((0..6).map(|i| Zone {
        id: i,
        name: format!("z{i}"),
        rank: (i % 3) as i32,
    }));
    s.flush().await?;
    s.add_all((0..n).map(|i| Rule {
        id: i,
        zone_id: i % 5,
        site: format!("s{}", i % 7),
        level: (i % 5) as i32,
        tag: (i % 3 != 0).then(|| format!("t{}", i % 4)),
    }));
    s.commit().await
}

#[derive(FromRow, Debug, PartialEq)]
struct PerSite {
    site: String,
    n: i64,
}

backend_tests! {
    async fn a_typed_select_in_a_loop_compiles_once(db) {
        seed(&db, 40).await?;
        let mut s = db.session();
        let before = db.templates().stats();
        for level in 0..10i32 {
            let rows: Vec<PerSite> = s
                .query::<Rule>()
                .filter(Rule::LEVEL.ge(level % 5))
                .select((Rule::SITE, Agg::count().label("n")))
                .group_by(Rule::SITE)
                .having(Agg::<Rule, i64>::count().gt(i64::from(level % 3)))
                .order_by_asc(Rule::SITE)
                .all_as()
                .await?;
            // The rows follow this iteration's values, not the first's.
            let mut expected: Vec<PerSite> = (0..7)
                .map(|site| PerSite {
                    site: format!("s{site}"),
                    n: (0..40).filter(|i| i % 7 == site && (i % 5) >= level % 5).count() as i64,
                })
                .filter(|p| p.n > i64::from(level % 3))
                .collect();
            expected.sort_by(|a, b| a.site.cmp(&b.site));
            assert_eq!(rows, expected, "level {level}");
        }
        let after = db.templates().stats();
        assert_eq!(after.misses - before.misses, 1, "one shape: {after:?}");
        assert_eq!(after.hits - before.hits, 9, "{after:?}");
        // A join in a loop: one shape too, each side's filter bound.
        let before = db.templates().stats();
        for rank in 0..4i32 {
            let n: Vec<(String, i64)> = s
                .query::<Rule>()
                .filter(Rule::LEVEL.lt(3))
                .limit(10)
                .join_on(Rule::ZONE_ID, Zone::ID)
                .filter_joined(Zone::RANK.eq(rank))
                .select((Zone::NAME, CountRows))
                .group_by(Zone::NAME)
                .order_by_asc(Zone::NAME)
                .all()
                .await?;
            let expected: Vec<(String, i64)> = (0..5i64)
                .filter(|z| (z % 3) as i32 == rank)
                .map(|z| (format!("z{z}"), (0..40i64).filter(|i| i % 5 == z && i % 5 < 3).count() as i64))
                .filter(|(_, n)| *n > 0)
                .collect();
            assert_eq!(n, expected, "rank {rank}");
        }
        let after = db.templates().stats();
        assert_eq!(after.misses - before.misses, 1, "{after:?}");
        assert_eq!(after.hits - before.hits, 3, "{after:?}");
        // A scalar subquery item: its values are bound, not baked in.
        for min in [0i32, 3] {
            let rows: Vec<(String, i64)> = s
                .query::<Zone>()
                .filter(Zone::ID.lt(2))
                .order_by(Zone::ID.asc())
                .select((
                    Zone::NAME,
                    Subquery::of(Agg::<Rule, i64>::count())
                        .filter(Rule::LEVEL.ge(min))
                        .correlate(Rule::ZONE_ID, Zone::ID),
                ))
                .all()
                .await?;
            let count = |z: i64| (0..40i64).filter(|i| i % 5 == z && (i % 5) as i32 >= min).count() as i64;
            assert_eq!(rows, [("z0".to_string(), count(0)), ("z1".to_string(), count(1))], "min {min}");
        }
        // A long list (one array parameter on PostgreSQL, a padded IN list
        // elsewhere) in a typed select, checked against a fresh build.
        db.templates().set_mode(TemplateMode::Paranoid);
        let per_site = s
            .query::<Rule>()
            .filter(Rule::ID.is_in(0..600i64))
            .select((Rule::SITE, Agg::count()))
            .group_by(Rule::SITE)
            .order_by_asc(Rule::SITE)
            .all()
            .await;
        db.templates().set_mode(TemplateMode::VerifyOnStore);
        let per_site = per_site?;
        assert_eq!(per_site.len(), 7);
        assert_eq!(per_site.iter().map(|(_, n)| n).sum::<i64>(), 40);
        // Made without_template, the same select is built fresh.
        let before = db.templates().stats();
        let n = s
            .query::<Rule>()
            .without_template()
            .select((Rule::SITE,))
            .distinct()
            .count()
            .await?;
        assert_eq!(n, 7);
        assert_eq!(db.templates().stats().hits, before.hits);
        assert_eq!(db.templates().stats().misses, before.misses);
        Ok(())
    }
}

backend_tests! {
    async fn bulk_writes_and_upserts_are_templated_and_checked(db) {
        seed(&db, 40).await?;
        // Paranoid mode: every use is checked against a fresh build, so a
        // template that differs (NULL cells, SET values, lists) fails here.
        db.templates().set_mode(TemplateMode::Paranoid);
        let result = async {
            let mut s = db.session();
            let before = db.templates().stats();
            for round in 0..3i32 {
                // Bulk UPDATE and DELETE by filter, new values each round.
                let n = s
                    .query::<Rule>()
                    .filter(Rule::LEVEL.eq(round).and(Rule::ID.is_in([round as i64, 10 + round as i64, 15])))
                    .update([Rule::SITE.set(format!("r{round}")), Rule::TAG.set(None::<String>)])
                    .await?;
                assert_eq!(n, if round == 0 { 3 } else { 2 }, "round {round}");
                s.commit().await?;
                // Upserts with NULL cells, an update and a do-nothing.
                let rows = |tag: Option<&'static str>| -> Vec<Rule> {
                    (0..3)
                        .map(|i| Rule {
                            id: 100 + i,
                            zone_id: 1,
                            site: format!("u{i}"),
                            level: round,
                            tag: tag.map(str::to_string),
                        })
                        .collect()
                };
                s.upsert(rows(None)).run().await?;
                s.upsert(rows(Some("t"))).update(Rule::TAG).run().await?;
                s.upsert(rows(None)).do_nothing().run().await?;
                s.commit().await?;
                let deleted = s.query::<Rule>().filter(Rule::ID.eq(39 - round as i64)).delete().await?;
                assert_eq!(deleted, 1);
                s.commit().await?;
            }
            let after = db.templates().stats();
            assert_eq!(after.verify_failures, before.verify_failures);
            assert!(after.hits - before.hits >= 10, "the second and third rounds reuse them: {after:?}");
            let mut fresh = db.session();
            assert_eq!(fresh.query::<Rule>().filter(Rule::ID.ge(100)).count().await?, 3);
            assert_eq!(fresh.query::<Rule>().filter(Rule::TAG.eq("t")).count().await?, 3, "the upsert's update");
            assert_eq!(fresh.query::<Rule>().filter(Rule::SITE.eq("r0")).count().await?, 3);
            assert_eq!(fresh.query::<Rule>().filter(Rule::ID.ge(37).and(Rule::ID.lt(40))).count().await?, 0);
            Ok::<(), Error>(())
        }
        .await;
        db.templates().set_mode(TemplateMode::VerifyOnStore);
        result?;
        Ok(())
    }
}

/// A random filter over `Rule`.
fn rule_filter() -> impl Strategy<Value = Filter<Rule>> {
    let leaf = prop_oneof![
        (0i64..40).prop_map(|v| Rule::ID.eq(v)),
        (0i32..6).prop_map(|v| Rule::LEVEL.gt(v)),
        "s[0-7]".prop_map(|v| Rule::SITE.eq(v)),
        "s[0-7]?%".prop_map(|p| Rule::SITE.like(p)),
        Just(Rule::TAG.is_null()),
        prop::collection::vec(0i64..40, 0..12).prop_map(|v| Rule::ID.is_in(v)),
        prop::collection::vec(0i64..40, 0..12).prop_map(|v| Rule::ID.not_in(v)),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::all),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::any),
            inner.prop_map(|f| !f),
        ]
    })
}

/// A random filter over `Zone`.
fn zone_filter() -> impl Strategy<Value = Option<Filter<Zone>>> {
    prop::option::of(prop_oneof![
        (0i32..3).prop_map(|v| Zone::RANK.eq(v)),
        prop::collection::vec(0i64..6, 0..4).prop_map(|v| Zone::ID.is_in(v)),
        "z[0-6]".prop_map(|v| Zone::NAME.ne(v)),
    ])
}

type Case = (Filter<Rule>, Option<Filter<Zone>>, i64, Option<(u64, u64)>);

/// The query of a case, made `without_template()` unless `template`.
fn base<'s>(
    s: &'s mut Session,
    (f, _, _, page): &Case,
    template: bool,
) -> orm_core::Query<'s, Rule> {
    let mut q = s.query::<Rule>().filter(f.clone());
    if !template {
        q = q.without_template();
    }
    if let Some((limit, offset)) = page {
        q = q.limit(*limit).offset(*offset);
    }
    q
}

async fn grouped(
    s: &mut Session,
    case: &Case,
    template: bool,
) -> orm_core::Result<Vec<orm_core::Row>> {
    base(s, case, template)
        .select((Rule::SITE, Agg::count().label("n"), Rule::LEVEL.max()))
        .group_by(Rule::SITE)
        .having(Agg::<Rule, i64>::count().ge(case.2))
        .order_by_asc(Rule::SITE)
        .rows()
        .await
}

async fn joined(
    s: &mut Session,
    case: &Case,
    template: bool,
) -> orm_core::Result<Vec<(i64, Option<String>)>> {
    let mut j = base(s, case, template).left_join_on(Rule::ZONE_ID, Zone::ID);
    if let Some(zf) = &case.1 {
        j = j.filter_joined(zf.clone());
    }
    j.select((Rule::ID, Zone::NAME.nullable()))
        .order_by_asc(Rule::ID)
        .all()
        .await
}

/// The templated rows (paranoid mode checks the template's SQL and
/// parameters against a fresh build) and the plain query's agree.
async fn one_case(s: &mut Session, case: Case) -> Result<(), TestCaseError> {
    let fail = |e: Error| TestCaseError::fail(e.to_string());
    let templated = grouped(s, &case, true).await.map_err(fail)?;
    let plain = grouped(s, &case, false).await.map_err(fail)?;
    prop_assert_eq!(templated, plain);
    let templated = joined(s, &case, true).await.map_err(fail)?;
    let plain = joined(s, &case, false).await.map_err(fail)?;
    prop_assert_eq!(templated, plain);
    Ok(())
}

fn property(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let options = ConnectOptions {
        templates: TemplateOptions {
            mode: TemplateMode::Paranoid,
            ..TemplateOptions::default()
        },
        ..ConnectOptions::default()
    };
    let t = rt.block_on(TestDb::with_options(backend, options));
    rt.block_on(seed(&t.db, 40)).expect("seed");
    let db = t.db.clone();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        rule_filter(),
        zone_filter(),
        0i64..4,
        prop::option::of((1u64..6, 0u64..4)),
    );
    let result = runner.run(&strategy, |case| {
        rt.block_on(async {
            let mut s = db.session();
            one_case(&mut s, case).await
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
fn random_typed_selects_match_fresh_builds_on_sqlite() {
    property(Backend::Sqlite, 128);
}

#[test]
fn random_typed_selects_match_fresh_builds_on_postgres() {
    property(Backend::Postgres, 48);
}

#[test]
fn random_typed_selects_match_fresh_builds_on_mysql() {
    property(Backend::MySql, 48);
}
