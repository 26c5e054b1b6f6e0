//! W7: the configuration service's re-route command (`examples/receivers`) on the bench's own tables
//! (`bench_receivers`, `bench_groups`, `bench_planes`,
//! `bench_receiver_groups`): the seed (rebuilt untimed before every
//! operation, the command changes the data), the command's logic as plain
//! functions every peer calls, the effects a correct run has, and the
//! untimed check of the database after each operation.
//!
//! The command: load the "edge" group's receivers and their planes; point
//! every routing plane at the receiver's gateway; delete legacy planes; add
//! a filter plane where one is missing; bump the config serial of every
//! receiver with a changed plane; one commit.

use std::net::{IpAddr, Ipv4Addr};

use orm_core::prelude::*;
use orm_core::{Keyed, Many};

use super::Ctx;
use crate::schema::{Group, Plane, Receiver};

/// The group the command re-routes (three quarters of the receivers).
pub const EDGE: &str = "edge";
pub const OLD_ROUTING: &str = "via=10.0.0.1;mtu=1500";
/// What a re-routed plane holds (every seeded address is private).
pub const NEW_ROUTING: &str = "via=10.9.9.9;mtu=1500";
pub const NEW_FILTER: &str = "deny=none";

/// The seed's shape, as in the example: receiver `i` is in "edge" unless
/// `i % 4 == 0`, has a routing plane, a legacy plane if `i % 3 == 0`, a
/// filter plane if `i % 2 == 0`.
fn is_edge(i: usize) -> bool {
    !i.is_multiple_of(4)
}

fn address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250 + 1) as u8))
}

/// Receivers on a private network take the internal gateway.
pub fn gateway(address: &IpAddr) -> &'static str {
    let private = match address {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    if private { "10.9.9.9" } else { "192.0.2.1" }
}

pub fn is_legacy(kind: &str) -> bool {
    kind == "legacy"
}

/// A routing plane's config pointed at `gateway`, other settings kept;
/// `None` for other planes or when nothing changes.
pub fn reroute(kind: &str, config: &str, gateway: &str) -> Option<String> {
    if kind != "routing" {
        return None;
    }
    let mut settings: Vec<&str> = config.split(';').filter(|s| !s.is_empty() && !s.starts_with("via=")).collect();
    let via = format!("via={gateway}");
    settings.insert(0, &via);
    let new = settings.join(";");
    (new != config).then_some(new)
}

/// The planes a receiver must have after the command.
pub fn missing_kinds<'a>(present: impl Iterator<Item = &'a str>) -> Vec<&'static str> {
    let present: Vec<&str> = present.collect();
    ["routing", "filter"].into_iter().filter(|k| !present.contains(k)).collect()
}

/// What a correct run of the command does to a seed of `n` receivers.
#[derive(Debug, Clone, Copy)]
pub struct Effects {
    pub edge: usize,
    /// Planes re-routed + deleted + inserted: the count every peer returns.
    pub changes: usize,
    /// All planes after the command.
    pub planes_after: usize,
}

pub fn effects(n: usize) -> Effects {
    let (mut edge, mut changes, mut planes) = (0, 0, 0);
    for i in 0..n {
        let (legacy, filter) = (i.is_multiple_of(3), i.is_multiple_of(2));
        let before = 1 + usize::from(legacy) + usize::from(filter);
        if is_edge(i) {
            edge += 1;
            // routing re-routed, legacy deleted, a missing filter added.
            changes += 1 + usize::from(legacy) + usize::from(!filter);
            planes += 2;
        } else {
            planes += before;
        }
    }
    Effects { edge, changes, planes_after: planes }
}

/// A new plane; a keyed insert sets its kind (and its receiver).
pub fn plane(config: &str) -> Plane {
    Plane { config: config.into(), ..Default::default() }
}

/// Empties the tables and seeds `n` receivers in one ORM commit (groups,
/// receivers, planes, association rows), on the seeding database
/// (`Ctx::admin`, not a peer's connection). Untimed.
pub async fn seed(db: &orm_core::Database, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    for sql in [
        "DELETE FROM bench_receiver_groups",
        "DELETE FROM bench_planes",
        "DELETE FROM bench_receivers",
        "DELETE FROM bench_groups",
    ] {
        db.execute_sql(sql, vec![]).await?;
    }
    let mut s = db.session();
    let groups = s.add_all([EDGE, "core"].map(|n| Group { id: 0, name: n.into(), receivers: Many::new() }));
    for i in 0..n {
        let r = s.add(Receiver {
            id: 0,
            name: format!("rx-{i:04}"),
            address: address(i),
            config_serial: 0,
            version: 0,
            planes: Keyed::new(),
            groups: Many::new(),
        });
        let mut r = r.write();
        r.groups.add(&groups[usize::from(!is_edge(i))])?;
        r.planes.insert("routing".into(), plane(OLD_ROUTING))?;
        if i.is_multiple_of(3) {
            r.planes.insert("legacy".into(), plane("old"))?;
        }
        if i.is_multiple_of(2) {
            r.planes.insert("filter".into(), plane(NEW_FILTER))?;
        }
    }
    s.commit().await?;
    Ok(())
}

/// The database after one command, checked untimed: every edge receiver
/// has its routing plane re-routed (version 2), a filter plane, no legacy
/// plane and a bumped serial; nothing else changed.
pub async fn check(ctx: &Ctx, n: usize) -> Result<(), String> {
    let want = effects(n);
    let edge_planes = |cond: &str| {
        format!(
            "SELECT COUNT(*) FROM bench_planes p \
             JOIN bench_receiver_groups rg ON rg.receiver_id = p.receiver_id \
             JOIN bench_groups g ON g.id = rg.group_id WHERE g.name = '{EDGE}' AND {cond}"
        )
    };
    let checks = [
        ("planes", "SELECT COUNT(*) FROM bench_planes".to_string(), want.planes_after),
        (
            "re-routed edge routing planes",
            edge_planes(&format!("p.kind = 'routing' AND p.config = '{NEW_ROUTING}' AND p.version = 2")),
            want.edge,
        ),
        ("edge filter planes", edge_planes("p.kind = 'filter'"), want.edge),
        ("edge legacy planes", edge_planes("p.kind = 'legacy'"), 0),
        (
            "receivers with a bumped serial",
            "SELECT COUNT(*) FROM bench_receivers WHERE config_serial > 0".into(),
            want.edge,
        ),
        (
            "edge receivers with a bumped serial",
            format!(
                "SELECT COUNT(*) FROM bench_receivers r \
                 JOIN bench_receiver_groups rg ON rg.receiver_id = r.id \
                 JOIN bench_groups g ON g.id = rg.group_id WHERE g.name = '{EDGE}' AND r.config_serial > 0"
            ),
            want.edge,
        ),
    ];
    for (what, sql, expected) in checks {
        let got = ctx.raw.scalar_i64(&sql).await.map_err(|e| format!("{what}: {e}"))? as usize;
        if got != expected {
            return Err(format!("{what}: {got}, expected {expected}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reroute_replaces_only_the_gateway() {
        assert_eq!(reroute("routing", OLD_ROUTING, "10.9.9.9").as_deref(), Some(NEW_ROUTING));
        assert_eq!(reroute("routing", NEW_ROUTING, "10.9.9.9"), None);
        assert_eq!(reroute("filter", "x", "10.9.9.9"), None);
        assert_eq!(gateway(&address(3)), "10.9.9.9");
    }

    #[test]
    fn effects_of_200() {
        let e = effects(200);
        assert_eq!(e.edge, 150);
        // 150 re-routed, 50 legacy planes of edge receivers deleted, 100 filters added (odd i are all edge).
        assert_eq!(e.changes, 150 + 50 + 100);
    }
}
