//! IP addresses and networks as column types, as a PostgreSQL user expects
//! of `inet`: `std::net::IpAddr` and `IpNetwork` fields round-trip (v4 and
//! v6, a network's prefix kept), filter by equality and by a long list, and
//! on PostgreSQL the column is native `inet`, so the server's own network
//! operators work on it; MySQL and SQLite store the text form.

use std::net::IpAddr;

use orm_core::prelude::*;
use orm_core::types::Cidr;
use orm_core::{Dialect, IpNetwork};
use tests::backend_tests;

#[entity(table = "nt_hosts")]
pub struct Host {
    #[key(auto)]
    pub id: i64,
    pub addr: IpAddr,
    pub subnet: Option<IpNetwork>,
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

fn net(s: &str) -> IpNetwork {
    s.parse().expect("a network")
}

backend_tests! {
    async fn addresses_and_networks_round_trip_and_filter(db) {
        db.create_all(&[Host::schema()]).await?;
        let mut s = db.session();
        for (addr, subnet) in [
            ("10.0.0.7", Some("10.0.0.0/24")),
            ("2001:db8::1", Some("2001:db8::/32")),
            ("192.168.1.20", None),
        ] {
            s.add(Host { id: 0, addr: ip(addr), subnet: subnet.map(net) });
        }
        s.commit().await?;

        let mut fresh = db.session();
        let all = fresh.query::<Host>().order_by(Host::ID.asc()).all().await?;
        let got: Vec<(IpAddr, Option<IpNetwork>)> = all.iter().map(|h| (h.read().addr, h.read().subnet)).collect();
        assert_eq!(
            got,
            [
                (ip("10.0.0.7"), Some(net("10.0.0.0/24"))),
                (ip("2001:db8::1"), Some(net("2001:db8::/32"))),
                (ip("192.168.1.20"), None),
            ]
        );
        let one = fresh.query::<Host>().filter(Host::ADDR.eq(ip("2001:db8::1"))).one().await?;
        assert_eq!(one.read().subnet.map(|n| n.prefix()), Some(32));
        let listed = fresh
            .query::<Host>()
            .filter(Host::ADDR.is_in((0..=255u8).map(|n| IpAddr::from([10, 0, 0, n]))))
            .count()
            .await?;
        assert_eq!(listed, 1, "a long list of addresses");
        one.write().addr = ip("2001:db8::2");
        fresh.commit().await?;
        assert_eq!(db.session().query::<Host>().filter(Host::ADDR.eq(ip("2001:db8::2"))).count().await?, 1);

        // Every row changed: one batched UPDATE of inet values.
        let mut third = db.session();
        for h in third.query::<Host>().all().await? {
            h.write().subnet = Some(net("172.16.0.0/12"));
        }
        third.commit().await?;
        assert_eq!(db.session().query::<Host>().filter(Host::SUBNET.eq(net("172.16.0.0/12"))).count().await?, 3);

        if db.dialect() == Dialect::Postgres {
            // Native inet: the server's containment operator works on it.
            let inside = db
                .session()
                .query_sql::<Host>("SELECT * FROM nt_hosts WHERE addr << '10.0.0.0/8'::inet", vec![])
                .await?;
            assert_eq!(inside.len(), 1);
        }
        Ok(())
    }
}

/// Networks of a routing table, as PostgreSQL's `cidr` keeps them.
#[entity(table = "nt_routes")]
pub struct Route {
    #[key(auto)]
    pub id: i64,
    pub dest: Cidr,
    pub via: Option<Cidr>,
}

fn cidr(s: &str) -> Cidr {
    s.parse().expect("a network")
}

backend_tests! {
    async fn cidr_networks_round_trip_filter_and_are_native_on_postgres(db) {
        db.create_all(&[Route::schema()]).await?;
        // A network with host bits set is refused when it is made, before
        // any session sees it (PostgreSQL's cidr would refuse it at the flush).
        assert!("10.0.0.1/8".parse::<Cidr>().is_err());
        let mut s = db.session();
        for (dest, via) in [("10.0.0.0/8", None), ("2001:db8::/32", Some("10.1.0.0/16")), ("192.168.1.0/24", None)] {
            s.add(Route { id: 0, dest: cidr(dest), via: via.map(cidr) });
        }
        s.commit().await?;
        let mut fresh = db.session();
        let got: Vec<(Cidr, Option<Cidr>)> = fresh
            .query::<Route>()
            .order_by(Route::ID.asc())
            .all()
            .await?
            .iter()
            .map(|r| (r.read().dest, r.read().via))
            .collect();
        assert_eq!(
            got,
            [
                (cidr("10.0.0.0/8"), None),
                (cidr("2001:db8::/32"), Some(cidr("10.1.0.0/16"))),
                (cidr("192.168.1.0/24"), None),
            ]
        );
        let r = fresh.query::<Route>().filter(Route::DEST.eq(cidr("192.168.1.0/24"))).one().await?;
        assert_eq!(fresh.query::<Route>().filter(Route::VIA.is_null()).count().await?, 2);
        // A change and a batched UPDATE of every row.
        r.write().dest = cidr("192.168.0.0/16");
        fresh.commit().await?;
        for h in fresh.query::<Route>().all().await? {
            h.write().via = Some(cidr("0.0.0.0/0"));
        }
        fresh.commit().await?;
        let mut third = db.session();
        assert_eq!(third.query::<Route>().filter(Route::VIA.eq(cidr("0.0.0.0/0"))).count().await?, 3);
        assert_eq!(third.query::<Route>().filter(Route::DEST.eq(cidr("192.168.0.0/16"))).count().await?, 1);
        if db.dialect() == Dialect::Postgres {
            let t = db
                .fetch_sql("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'nt_routes'::regclass AND attname = 'dest'".to_string(), vec![])
                .await?;
            assert_eq!(t[0].get::<String>("t")?, "cidr");
            // The server's network operators: which route holds 10.2.3.4?
            let holding = third
                .query_sql::<Route>("SELECT * FROM nt_routes WHERE dest >> '10.2.3.4'::inet", vec![])
                .await?;
            assert_eq!(holding.len(), 1);
            assert_eq!(holding[0].read().dest, cidr("10.0.0.0/8"));
        }
        Ok(())
    }
}
