//! Hand-written SQL through templates: a rule lookup whose filters depend on the request (optional
//! filters, several IN lists of varying length), run in a loop with SQL
//! templates off and on; prints lookups/s for both and the template cache's
//! statistics.
//!
//! Every shape of the query (which filters are present, which lists are
//! empty) is compiled once; list lengths do not multiply the shapes, and
//! values never enter the cache key, so branching on a value can only ever
//! select another shape, never a wrong template.
//!
//! `cargo run --release --example quality_rules` (SQLite in memory; set
//! `DATABASE_URL` for a server).

use std::time::Instant;

use orm_core::prelude::*;

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

/// The lookup: which filters apply depends on the request.
async fn lookup(s: &mut Session, request: i64) -> Result<usize, Error> {
    let mut q = s
        .query::<Rule>()
        .filter(Rule::SITE.eq(format!("site-{}", request % 50)));
    if request % 2 == 0 {
        q = q.filter(Rule::KIND.is_in([(request % 7) as i32, ((request + 1) % 7) as i32]));
    }
    if request % 3 == 0 {
        let levels: Vec<i32> = (0..(request % 5) as i32 + 1).collect();
        q = q.filter(Rule::LEVEL.is_in(levels));
    }
    if request % 5 == 0 {
        q = q.filter(
            Rule::PARTNER
                .is_null()
                .or(Rule::PARTNER.is_in([request % 100, (request + 7) % 100])),
        );
    }
    Ok(q.order_by(Rule::ID.asc()).limit(20).rows().await?.len())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let db = Database::connect(&url).await?;
    db.drop_all(&[Rule::schema()]).await?;
    db.create_all(&[Rule::schema()]).await?;
    let mut s = db.session();
    s.add_all((0..5_000).map(|i| Rule {
        id: i,
        site: format!("site-{}", i % 50),
        kind: (i % 7) as i32,
        level: (i % 5) as i32,
        partner: (i % 3 == 0).then_some(i % 100),
        body: "x".repeat(40),
    }));
    s.commit().await?;
    println!("quality rules on {}: 5,000 rules", db.dialect().name());

    let lookups = 3_000;
    let mut rates = Vec::new();
    for round in 0..3 {
        for on in [false, true] {
            db.templates().set_enabled(on);
            let started = Instant::now();
            let mut found = 0;
            for request in 0..lookups {
                found += lookup(&mut s, request).await?;
            }
            let rate = lookups as f64 / started.elapsed().as_secs_f64();
            if round > 0 {
                rates.push((on, rate));
            }
            std::hint::black_box(found);
        }
    }
    let avg = |on: bool| {
        let r: Vec<f64> = rates
            .iter()
            .filter(|(o, _)| *o == on)
            .map(|(_, r)| *r)
            .collect();
        r.iter().sum::<f64>() / r.len() as f64
    };
    let (off, on) = (avg(false), avg(true));
    println!("templates off: {off:>8.0} lookups/s");
    println!(
        "templates on:  {on:>8.0} lookups/s  ({:+.0}%)",
        (on / off - 1.0) * 100.0
    );
    let stats = db.templates().stats();
    println!(
        "template cache: {} shapes, {} hits, {} misses, {} verify failures",
        stats.shapes, stats.hits, stats.misses, stats.verify_failures
    );
    Ok(())
}
