//! A configuration service: receivers with keyed configuration planes and
//! groups, changed by commands. A command re-routes every receiver of
//! a group: each routing plane gets a new gateway, a missing filter plane is
//! created, legacy planes are removed, and each touched receiver's config
//! serial is bumped by a before-flush hook.
//!
//! It runs the command twice on the same data: the naive way (load and save
//! each object in its own transaction, re-reading the parent after each
//! child, as a hand-written load/save layer above an ORM does) and through
//! one unit of work, and prints the statements each took.
//!
//! `cargo run --example receivers` (SQLite in memory; set `DATABASE_URL` for
//! a server).

mod logic;
mod schema;

use std::collections::HashSet;
use std::time::Instant;

use logic::{PlaneLogic, ReceiverLogic};
use orm_core::prelude::*;
use schema::{Group, Plane, Receiver};

const RECEIVERS: usize = 200;

fn plane(config: &str) -> Plane {
    Plane {
        config: config.into(),
        ..Default::default()
    }
}

/// Builds the data through the relationships: one commit inserts the
/// receivers and groups, then the planes with the receivers' new keys, then
/// the association rows.
async fn seed(db: &Database) -> Result<(), Error> {
    let all = [Receiver::schema(), Group::schema(), Plane::schema()];
    db.drop_all(&all).await?;
    db.create_all(&all).await?;
    let mut s = db.session();
    let groups = s.add_all(["edge", "core"].map(|n| Group {
        id: 0,
        name: n.into(),
        receivers: Many::new(),
    }));
    for i in 0..RECEIVERS {
        let r = s.add(Receiver {
            id: 0,
            name: format!("rx-{i:03}"),
            address: std::net::IpAddr::V4(std::net::Ipv4Addr::new(
                10,
                0,
                (i / 250) as u8,
                (i % 250 + 1) as u8,
            )),
            config_serial: 0,
            version: 0,
            planes: Keyed::new(),
            groups: Many::new(),
        });
        let mut r = r.write();
        r.groups.add(&groups[usize::from(i % 4 == 0)])?; // three quarters are "edge"
        r.planes
            .insert("routing".into(), plane("via=10.0.0.1;mtu=1500"))?;
        if i % 3 == 0 {
            r.planes.insert("legacy".into(), plane("old"))?;
        }
        if i % 2 == 0 {
            r.planes.insert("filter".into(), plane("deny=none"))?;
        }
    }
    s.commit().await
}

/// The naive way: one transaction per object, the parent re-read after each child.
async fn naive(db: &Database) -> Result<u64, Error> {
    let before = db.stats().statements();
    let edge = db
        .session()
        .query::<Group>()
        .filter(Group::NAME.eq("edge"))
        .one()
        .await?
        .key();
    // The hand-written layer read the association table itself.
    let members = db
        .fetch_sql(
            format!("SELECT receiver_id FROM receiver_groups WHERE group_id = {edge}"),
            vec![],
        )
        .await?;
    for m in members {
        let receiver_id: i64 = m.get("receiver_id")?;
        let mut s = db.session();
        let receiver = s.get::<Receiver>(receiver_id).await?;
        let planes = s
            .query::<Plane>()
            .filter(Plane::RECEIVER_ID.eq(receiver_id))
            .all()
            .await?;
        let kinds: Vec<String> = planes.iter().map(|p| p.read().kind.clone()).collect();
        let gateway = receiver.read().gateway();
        for p in &planes {
            let mut s = db.session();
            let p = s.get::<Plane>(p.key()).await?;
            let legacy = p.read().is_legacy();
            if legacy {
                s.delete(&p)?;
            } else if !p.write().reroute(gateway) {
                continue;
            }
            s.commit().await?;
            bump_serial(db, receiver_id).await?;
        }
        for kind in logic::missing_kinds(kinds.iter().map(String::as_str)) {
            let mut s = db.session();
            s.add(Plane {
                receiver_id,
                kind: kind.into(),
                ..plane("deny=none")
            });
            s.commit().await?;
            bump_serial(db, receiver_id).await?;
        }
    }
    Ok(db.stats().statements() - before)
}

async fn bump_serial(db: &Database, receiver_id: i64) -> Result<(), Error> {
    let mut s = db.session();
    let r = s.get::<Receiver>(receiver_id).await?;
    r.write().config_serial += 1;
    s.commit().await
}

/// The unit of work: load the group, its receivers and their planes in
/// three batched queries, change objects in memory, commit once.
async fn unit_of_work(db: &Database) -> Result<u64, Error> {
    let mut s = db.session();
    // The config serial bump, as an ordered before-flush hook: every receiver
    // with a new, changed or deleted plane gets exactly one bump per flush.
    // Hooks may run again while they add work, so the hook is idempotent: a
    // receiver whose serial already changed in this flush is skipped.
    s.hooks().before_flush(10, |s| {
        let touched: HashSet<i64> = s
            .new_objects::<Plane>()
            .iter()
            .chain(&s.dirty_objects::<Plane>())
            .chain(&s.deleted_objects::<Plane>())
            .map(|p| p.read().receiver_id)
            .collect();
        for id in touched {
            // The command loaded every receiver it touches: no query here.
            let Some(r) = s.cached::<Receiver>(&id) else {
                continue;
            };
            if !s.history(&r).iter().any(|c| c.column == "config_serial") {
                r.write().config_serial += 1;
            }
        }
        Ok(())
    });
    let before = s.stats().statements();
    let edge = s
        .query::<Group>()
        .filter(Group::NAME.eq("edge"))
        .load(Group::RECEIVERS.then(Receiver::PLANES))
        .one()
        .await?;
    let receivers = edge.read().receivers.to_vec()?;
    for r in &receivers {
        let gateway = r.read().gateway();
        let planes = r.read().planes.iter()?;
        for (kind, p) in planes {
            let legacy = p.read().is_legacy();
            if legacy {
                // Orphan removal: the flush deletes the plane.
                r.write().planes.remove(&kind)?;
            } else {
                p.write().reroute(gateway);
            }
        }
        let present = r.read().planes.keys()?;
        for kind in logic::missing_kinds(present.iter().map(String::as_str)) {
            // Get or create by key: never a second plane of one kind.
            r.write().planes.insert(kind.into(), plane("deny=none"))?;
        }
    }
    s.commit().await?;
    Ok(s.stats().statements() - before)
}

async fn check(db: &Database, gateway: &str) -> Result<(usize, i64), Error> {
    let mut s = db.session();
    let planes = s.query::<Plane>().all().await?;
    let routed = planes
        .iter()
        .filter(|p| p.read().config.starts_with(&format!("via={gateway}")))
        .count();
    let legacy = planes.iter().filter(|p| p.read().kind == "legacy").count();
    assert!(legacy <= RECEIVERS / 3 + 1);
    let serials: i64 = s
        .query::<Receiver>()
        .all()
        .await?
        .iter()
        .map(|r| r.read().config_serial)
        .sum();
    Ok((routed, serials))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let db = Database::connect(&url).await?;
    println!(
        "receivers example on {} with {RECEIVERS} receivers",
        db.dialect().name()
    );

    seed(&db).await?;
    let started = Instant::now();
    let naive_statements = naive(&db).await?;
    let naive_time = started.elapsed();
    let (routed_naive, serials_naive) = check(&db, "10.9.9.9").await?;

    seed(&db).await?;
    let started = Instant::now();
    let uow_statements = unit_of_work(&db).await?;
    let uow_time = started.elapsed();
    let (routed_uow, serials_uow) = check(&db, "10.9.9.9").await?;

    assert_eq!(
        routed_naive, routed_uow,
        "both ways re-route the same planes"
    );
    println!(
        "naive (load/save per object):  {naive_statements:>5} statements, {naive_time:>10.2?}  ({routed_naive} planes routed, serial sum {serials_naive})"
    );
    println!(
        "unit of work (one commit):     {uow_statements:>5} statements, {uow_time:>10.2?}  ({routed_uow} planes routed, serial sum {serials_uow})"
    );
    println!(
        "the unit of work issued {:.0}x fewer statements",
        naive_statements as f64 / uow_statements.max(1) as f64
    );
    Ok(())
}
