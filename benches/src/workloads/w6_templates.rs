//! W6 (no database): SQL + parameters for one filtered query with an IN
//! list, built fresh with sea-query (through the ORM's query builder,
//! `without_template`) vs served from the template cache. Also the
//! `templates` benchmark (lists up to 1,000, and the rule lookup of a
//! request handler with optional filters and several IN lists).

use std::time::{Duration, Instant};

use orm_core::prelude::*;

use crate::runner::median;

#[entity(table = "quality_rules")]
#[derive(Debug, Clone)]
pub struct Rule {
    #[key]
    pub id: i64,
    #[column(len = 32, index)]
    pub site: String,
    pub kind: i32,
    pub level: i32,
    pub partner: Option<i64>,
    pub body: String,
}

/// ns per statement for `iters` builds, fresh or templated.
fn build_ns(s: &mut Session, ids: &[i64], iters: u32, templated: bool) -> f64 {
    let started = Instant::now();
    for i in 0..iters {
        let q = s
            .query::<Rule>()
            .filter(Rule::ID.is_in(ids))
            .filter(Rule::SITE.eq("site-3"))
            .filter(Rule::LEVEL.ge(i as i32 % 5))
            .order_by(Rule::ID.asc())
            .limit(100);
        let stmts = if templated { q.sql().expect("sql") } else { vec![q.without_template().statement()] };
        std::hint::black_box(stmts);
    }
    started.elapsed().as_nanos() as f64 / f64::from(iters)
}

/// A rule's partner, for the typed join.
#[entity(table = "quality_partners")]
#[derive(Debug, Clone)]
pub struct Partner {
    #[key]
    pub id: i64,
    #[column(len = 32)]
    pub name: String,
    pub tier: i32,
}

/// ns per statement of a typed select (or join), fresh or templated.
fn typed_ns(s: &mut Session, iters: u32, templated: bool, joined: bool) -> f64 {
    use orm_core::{Agg, CountRows, SelectItem};
    let started = Instant::now();
    for i in 0..iters {
        let mut q = s.query::<Rule>().filter(Rule::LEVEL.ge(i as i32 % 5)).filter(Rule::SITE.ne("x")).limit(10);
        if !templated {
            q = q.without_template();
        }
        let stmt = if joined {
            q.join_on(Rule::PARTNER, Partner::ID)
                .filter_joined(Partner::TIER.eq(i as i32 % 3))
                .select((Partner::NAME, CountRows.label("n"), Rule::LEVEL.sum()))
                .group_by(Partner::NAME)
                .sql()
        } else {
            q.select((Rule::SITE, Agg::count().label("n"), Rule::LEVEL.sum()))
                .group_by(Rule::SITE)
                .having(Agg::<Rule, i64>::count().gt(1))
                .order_by_desc(Rule::LEVEL.sum())
                .sql()
        };
        std::hint::black_box(stmt.expect("sql"));
    }
    started.elapsed().as_nanos() as f64 / f64::from(iters)
}

pub async fn templates() -> Result<(), Error> {
    let db = Database::connect("sqlite::memory:").await?;
    db.create_all(&[Rule::schema()]).await?;
    let mut s = db.session();
    println!("## SQL + parameters for one query, fresh (sea-query) vs template\n");
    println!("| IN list | fresh ns | template ns | speed-up |");
    println!("|---:|---:|---:|---:|");
    for n in [1usize, 2, 5, 10, 50, 100, 1000] {
        let ids: Vec<i64> = (0..n as i64).collect();
        let iters = (200_000 / (n as u32 + 10)).max(200);
        build_ns(&mut s, &ids, iters / 10, true); // warm-up, and the first build stores the template
        build_ns(&mut s, &ids, iters / 10, false);
        let (mut fresh, mut tpl) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            fresh.push(Duration::from_nanos(build_ns(&mut s, &ids, iters, false) as u64));
            tpl.push(Duration::from_nanos(build_ns(&mut s, &ids, iters, true) as u64));
        }
        let (f, t) = (median(fresh), median(tpl));
        println!(
            "| {n} | {} | {} | {:.1}x |",
            f.as_nanos(),
            t.as_nanos(),
            f.as_nanos() as f64 / t.as_nanos().max(1) as f64
        );
    }
    let stats = db.templates().stats();
    println!("\ntemplate cache: {stats:?}\n");

    // Typed selects (issue 17): a grouped, labelled select with HAVING and
    // a LIMIT, and a typed join with a filter on each side.
    println!("## SQL + parameters for a typed select, fresh vs template\n");
    println!("| statement | fresh ns | template ns | speed-up |");
    println!("|---|---:|---:|---:|");
    for (name, joined) in [("grouped select", false), ("typed join", true)] {
        let iters = 50_000;
        typed_ns(&mut s, iters / 10, true, joined);
        typed_ns(&mut s, iters / 10, false, joined);
        let (mut fresh, mut tpl) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            fresh.push(Duration::from_nanos(typed_ns(&mut s, iters, false, joined) as u64));
            tpl.push(Duration::from_nanos(typed_ns(&mut s, iters, true, joined) as u64));
        }
        let (f, t) = (median(fresh), median(tpl));
        println!(
            "| {name} | {} | {} | {:.1}x |",
            f.as_nanos(),
            t.as_nanos(),
            f.as_nanos() as f64 / t.as_nanos().max(1) as f64
        );
    }
    println!();

    // The rule lookup: optional filters and several IN lists per request.
    let mut w = db.session();
    w.add_all((0..5_000).map(|i| Rule {
        id: i,
        site: format!("site-{}", i % 50),
        kind: (i % 7) as i32,
        level: (i % 5) as i32,
        partner: (i % 3 == 0).then_some(i % 100),
        body: "x".repeat(40),
    }));
    w.commit().await?;
    println!("## quality_rules lookups on in-memory SQLite\n");
    println!("| templates | lookups/s |");
    println!("|---|---:|");
    let mut results = [Vec::new(), Vec::new()];
    for pass in 0..10 {
        for (slot, on) in [(0, false), (1, true)] {
            db.templates().set_enabled(on);
            let started = Instant::now();
            let lookups = 2_000;
            for i in 0..lookups {
                lookup(&mut s, i).await?;
            }
            if pass > 0 {
                results[slot].push(Duration::from_secs_f64(lookups as f64 / started.elapsed().as_secs_f64() / 1e6));
            }
        }
    }
    let off = median(results[0].clone()).as_secs_f64() * 1e6;
    let on = median(results[1].clone()).as_secs_f64() * 1e6;
    println!("| off | {off:.0} |\n| on | {on:.0} |\n\nratio on/off: {:.2}x", on / off);
    Ok(())
}

/// One lookup: which filters apply depends on the request.
async fn lookup(s: &mut Session, i: i64) -> Result<usize, Error> {
    let mut q = s.query::<Rule>().filter(Rule::SITE.eq(format!("site-{}", i % 50)));
    if i % 2 == 0 {
        q = q.filter(Rule::KIND.is_in([(i % 7) as i32, ((i + 1) % 7) as i32]));
    }
    if i % 3 == 0 {
        q = q.filter(Rule::LEVEL.is_in((0..(i % 5) as i32 + 1).collect::<Vec<_>>()));
    }
    if i % 5 == 0 {
        q = q.filter(Rule::PARTNER.is_null().or(Rule::PARTNER.is_in([i % 100, (i + 7) % 100])));
    }
    Ok(q.order_by(Rule::ID.asc()).limit(20).rows().await?.len())
}

/// One W6 row: the IN-list length, and for each pass the fresh and the
/// templated ns per statement.
pub struct W6Row {
    pub n: usize,
    pub fresh: Vec<f64>,
    pub template: Vec<f64>,
}

/// W6 over IN lists of 1..50 ids, interleaved over `passes` passes.
pub async fn w6(quick: bool) -> Result<Vec<W6Row>, Error> {
    let db = Database::connect("sqlite::memory:").await?;
    db.create_all(&[Rule::schema()]).await?;
    let mut s = db.session();
    let passes = if quick { 5 } else { 9 };
    let mut out = Vec::new();
    for n in [1usize, 2, 5, 10, 20, 50] {
        let ids: Vec<i64> = (0..n as i64).collect();
        let iters = if quick { 20_000 } else { 60_000 } / (n as u32 / 10 + 1);
        build_ns(&mut s, &ids, iters / 10, true);
        build_ns(&mut s, &ids, iters / 10, false);
        let mut row = W6Row { n, fresh: Vec::new(), template: Vec::new() };
        for pass in 0..passes {
            if pass % 2 == 0 {
                row.fresh.push(build_ns(&mut s, &ids, iters, false));
                row.template.push(build_ns(&mut s, &ids, iters, true));
            } else {
                row.template.push(build_ns(&mut s, &ids, iters, true));
                row.fresh.push(build_ns(&mut s, &ids, iters, false));
            }
        }
        out.push(row);
    }
    Ok(out)
}
