//! Business logic, written against the fields traits `#[entity]`
//! generates: no session, no SQL. It is unit-tested below on plain structs
//! and runs unchanged on the entities (`#[entity(logic(..))]` in `schema.rs`).

use crate::schema::{PlaneFields, ReceiverFields};

/// What the re-route command does to a configuration plane.
pub trait PlaneLogic: PlaneFields {
    /// Legacy planes are removed by the command.
    fn is_legacy(&self) -> bool {
        self.kind() == "legacy"
    }

    /// Points a routing plane at `gateway`, keeping its other settings.
    /// Returns whether anything changed.
    fn reroute(&mut self, gateway: &str) -> bool {
        if self.kind() != "routing" {
            return false;
        }
        let mut settings: Vec<String> = self
            .config()
            .split(';')
            .filter(|s| !s.is_empty() && !s.starts_with("via="))
            .map(str::to_string)
            .collect();
        settings.insert(0, format!("via={gateway}"));
        let new = settings.join(";");
        let changed = &new != self.config();
        if changed {
            self.set_config(new);
        }
        changed
    }
}

/// What the command needs to know about a receiver.
pub trait ReceiverLogic: ReceiverFields {
    /// Receivers on a private network take the internal gateway.
    fn gateway(&self) -> &'static str {
        let private = match self.address() {
            std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_loopback(),
            std::net::IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        };
        if private { "10.9.9.9" } else { "192.0.2.1" }
    }
}

/// The planes a receiver must have after the command.
pub fn missing_kinds<'a>(present: impl Iterator<Item = &'a str>) -> Vec<&'static str> {
    let present: Vec<&str> = present.collect();
    ["routing", "filter"]
        .into_iter()
        .filter(|k| !present.contains(k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Receiver;
    use orm_core::Ref;

    /// A plain struct, no database: the logic runs on it as on the entity.
    struct Plain(String, String, Ref<Receiver>);

    impl PlaneFields for Plain {
        fn id(&self) -> &i64 {
            &0
        }
        fn receiver_id(&self) -> &i64 {
            &0
        }
        fn set_receiver_id(&mut self, _: i64) {}
        fn kind(&self) -> &String {
            &self.0
        }
        fn set_kind(&mut self, kind: String) {
            self.0 = kind;
        }
        fn config(&self) -> &String {
            &self.1
        }
        fn set_config(&mut self, config: String) {
            self.1 = config;
        }
        fn version(&self) -> &i64 {
            &1
        }
        fn receiver(&self) -> &Ref<Receiver> {
            &self.2
        }
        fn receiver_mut(&mut self) -> &mut Ref<Receiver> {
            &mut self.2
        }
    }

    impl PlaneLogic for Plain {}

    #[test]
    fn reroute_replaces_only_the_gateway() {
        let mut p = Plain("routing".into(), "via=10.0.0.1;mtu=1500".into(), Ref::new());
        assert!(p.reroute("10.0.0.9"));
        assert_eq!(p.1, "via=10.0.0.9;mtu=1500");
        assert!(!p.reroute("10.0.0.9"), "the same gateway is no change");
        assert!(!Plain("filter".into(), String::new(), Ref::new()).reroute("x"));
    }
}
