//! Business logic, written against small traits: no session, no SQL.
//! It is unit-tested below on plain structs and runs unchanged on entities.

/// What the re-route command needs from a configuration plane.
pub trait PlaneLogic {
    fn kind(&self) -> &str;
    fn config(&self) -> &str;
    fn set_config(&mut self, config: String);

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
        let changed = new != self.config();
        if changed {
            self.set_config(new);
        }
        changed
    }
}

impl PlaneLogic for crate::schema::Plane {
    fn kind(&self) -> &str {
        &self.kind
    }

    fn config(&self) -> &str {
        &self.config
    }

    fn set_config(&mut self, config: String) {
        self.config = config;
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

    struct Plain(String, String);

    impl PlaneLogic for Plain {
        fn kind(&self) -> &str {
            &self.0
        }
        fn config(&self) -> &str {
            &self.1
        }
        fn set_config(&mut self, config: String) {
            self.1 = config;
        }
    }

    #[test]
    fn reroute_replaces_only_the_gateway() {
        let mut p = Plain("routing".into(), "via=10.0.0.1;mtu=1500".into());
        assert!(p.reroute("10.0.0.9"));
        assert_eq!(p.1, "via=10.0.0.9;mtu=1500");
        assert!(!p.reroute("10.0.0.9"), "the same gateway is no change");
        assert!(!Plain("filter".into(), String::new()).reroute("x"));
    }
}
