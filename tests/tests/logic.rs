//! Business logic apart from the schema: logic traits are written against
//! fields traits, unit-tested on plain structs with no database, and then run
//! unchanged on entities loaded from every backend. One logic trait
//! (`Audited`) is shared by two entities through a `#[fields]` trait.

use std::net::IpAddr;

use orm_core::prelude::*;

/// Logic only: no session, no SQL, no entity type, only fields traits.
mod logic {
    use std::net::IpAddr;

    use super::schema::ReceiverFields;

    /// Receiver rules, written against the generated `ReceiverFields`.
    pub trait ReceiverLogic: ReceiverFields {
        /// `name@address`.
        fn label(&self) -> String {
            format!("{}@{}", self.name(), self.address())
        }

        fn is_loopback(&self) -> bool {
            self.address().is_loopback()
        }

        /// Renames, normalising the name (trimmed, lower case).
        fn rename(&mut self, name: &str) {
            self.set_name(name.trim().to_lowercase());
        }

        /// Moves to a new address, keeping the old one as the backup.
        fn move_to(&mut self, address: IpAddr) {
            let old = *self.address();
            self.set_backup(Some(old));
            self.set_address(address);
        }
    }

    /// The fields every audited entity has; `#[entity(fields(AuditFields))]`
    /// implements it with no hand-written code.
    #[orm_core::fields]
    pub trait AuditFields {
        fn updated_by(&self) -> &String;
        fn set_updated_by(&mut self, value: String);
        fn revision(&self) -> &i64;
        fn set_revision(&mut self, value: i64);
    }

    /// Shared by `Receiver` and `Plane`.
    pub trait Audited: AuditFields {
        fn touch(&mut self, who: &str) {
            self.set_updated_by(who.to_string());
            let next = self.revision() + 1;
            self.set_revision(next);
        }

        fn audit_line(&self) -> String {
            format!("r{} by {}", self.revision(), self.updated_by())
        }
    }
}

/// Declarations only.
mod schema {
    use std::net::IpAddr;

    use orm_core::prelude::*;

    use crate::logic::{AuditFields, Audited, ReceiverLogic};

    #[entity(
        table = "receivers",
        logic(ReceiverLogic, Audited),
        fields(AuditFields),
        after_load = Receiver::derive_label
    )]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Receiver {
        #[key(auto)]
        pub id: i64,
        #[column(unique, len = 100)]
        pub name: String,
        #[column(with = AsText)]
        pub address: IpAddr,
        #[column(with = AsText)]
        pub backup: Option<IpAddr>,
        pub updated_by: String,
        pub revision: i64,
        #[version]
        pub version: i64,
        /// Derived on load from the logic, not stored.
        #[transient]
        pub display: String,
    }

    impl Receiver {
        fn derive_label(&mut self) {
            self.display = self.label();
        }
    }

    /// The second audited entity, naming the shared traits by path.
    #[entity(logic(crate::logic::Audited), fields(crate::logic::AuditFields))]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Plane {
        #[key(auto)]
        pub id: i64,
        #[column(references = Receiver, on_delete = "cascade")]
        pub receiver_id: i64,
        pub name: String,
        pub updated_by: String,
        pub revision: i64,
    }
}

use logic::{AuditFields, Audited, ReceiverLogic};
use schema::{Plane, Receiver, ReceiverFields};

/// A plain struct standing in for a receiver: no ORM involved.
#[derive(Debug, Default)]
struct FakeReceiver {
    name: String,
    address: Option<IpAddr>,
    backup: Option<IpAddr>,
    display: String,
    audit: (String, i64),
}

impl ReceiverFields for FakeReceiver {
    fn id(&self) -> &i64 {
        &0
    }
    fn name(&self) -> &String {
        &self.name
    }
    fn set_name(&mut self, value: String) {
        self.name = value;
    }
    fn address(&self) -> &IpAddr {
        self.address.as_ref().expect("set by the test")
    }
    fn set_address(&mut self, value: IpAddr) {
        self.address = Some(value);
    }
    fn backup(&self) -> &Option<IpAddr> {
        &self.backup
    }
    fn set_backup(&mut self, value: Option<IpAddr>) {
        self.backup = value;
    }
    fn updated_by(&self) -> &String {
        &self.audit.0
    }
    fn set_updated_by(&mut self, value: String) {
        self.audit.0 = value;
    }
    fn revision(&self) -> &i64 {
        &self.audit.1
    }
    fn set_revision(&mut self, value: i64) {
        self.audit.1 = value;
    }
    fn version(&self) -> &i64 {
        &1
    }
    fn display(&self) -> &String {
        &self.display
    }
    fn set_display(&mut self, value: String) {
        self.display = value;
    }
}

impl ReceiverLogic for FakeReceiver {}

impl AuditFields for FakeReceiver {
    fn updated_by(&self) -> &String {
        &self.audit.0
    }
    fn set_updated_by(&mut self, value: String) {
        self.audit.0 = value;
    }
    fn revision(&self) -> &i64 {
        &self.audit.1
    }
    fn set_revision(&mut self, value: i64) {
        self.audit.1 = value;
    }
}

impl Audited for FakeReceiver {}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("a valid address")
}

/// The checks shared by the plain struct and the entities: the same logic,
/// generic over any implementor.
fn exercise_receiver_logic<R: ReceiverLogic>(r: &mut R) {
    r.rename("  Gateway-1 ");
    assert_eq!(r.name(), "gateway-1");
    r.set_address(ip("127.0.0.1"));
    assert!(r.is_loopback());
    r.move_to(ip("2001:db8::7"));
    assert_eq!(*r.address(), ip("2001:db8::7"));
    assert_eq!(*r.backup(), Some(ip("127.0.0.1")));
    assert!(!r.is_loopback());
    assert_eq!(r.label(), "gateway-1@2001:db8::7");
}

fn exercise_audit_logic<A: Audited>(a: &mut A, revision: i64) {
    a.touch("ann");
    assert_eq!(a.updated_by(), "ann");
    assert_eq!(*a.revision(), revision + 1);
    assert_eq!(a.audit_line(), format!("r{} by ann", revision + 1));
}

#[test]
fn logic_runs_on_a_plain_struct_without_a_database() {
    let mut fake = FakeReceiver::default();
    exercise_receiver_logic(&mut fake);
    exercise_audit_logic(&mut fake, 0);
    exercise_audit_logic(&mut fake, 1);
}

#[test]
fn the_fields_trait_reads_and_writes_entity_fields() {
    let mut r = receiver("edge", "10.0.0.1");
    r.set_name("core".into());
    r.set_backup(Some(ip("::1")));
    r.set_display("derived".into());
    assert_eq!(
        (r.name.as_str(), r.backup, r.display.as_str()),
        ("core", Some(ip("::1")), "derived")
    );
    assert_eq!(
        (*ReceiverFields::id(&r), *r.version()),
        (0, 0),
        "keys and versions are read-only"
    );
    assert!(
        Receiver::schema().column("display").is_none(),
        "transient fields are not columns"
    );
    assert_eq!(r.to_row().len(), Receiver::schema().columns.len());
}

fn receiver(name: &str, address: &str) -> Receiver {
    Receiver {
        id: 0,
        name: name.into(),
        address: ip(address),
        backup: None,
        updated_by: "setup".into(),
        revision: 0,
        version: 0,
        display: String::new(),
    }
}

tests::backend_tests! {
    /// The logic checked on the plain struct above, unchanged, on entities
    /// loaded from the database; its changes are written by the unit of work.
    async fn logic_runs_on_loaded_entities(db) {
        db.create_all(&[Receiver::schema(), Plane::schema()]).await?;
        let mut s = db.session();
        s.add(receiver("Edge", "10.0.0.1"));
        s.commit().await?;

        let mut s = db.session();
        let r = s.query::<Receiver>().one().await?;
        assert_eq!(r.read().display, "Edge@10.0.0.1", "after_load derived the label");
        exercise_receiver_logic(&mut *r.write());
        exercise_audit_logic(&mut *r.write(), 0);
        assert!(s.is_dirty(&r));
        s.commit().await?;

        let mut s = db.session();
        let r = s.query::<Receiver>().one().await?;
        let r = r.read();
        assert_eq!(r.name, "gateway-1");
        assert_eq!((r.address, r.backup), (ip("2001:db8::7"), Some(ip("127.0.0.1"))));
        assert_eq!(r.audit_line(), "r1 by ann");
        assert_eq!(r.version, 2, "one update");
        assert_eq!(r.display, "gateway-1@2001:db8::7");
        Ok(())
    }

    /// One logic trait, two entities: `Audited` on `Receiver` and `Plane`.
    async fn a_shared_logic_trait_on_two_entities(db) {
        db.create_all(&[Receiver::schema(), Plane::schema()]).await?;
        let mut s = db.session();
        let r = s.add(receiver("edge", "::1"));
        s.flush().await?;
        let receiver_id = r.read().id;
        s.add(Plane {
            id: 0,
            receiver_id,
            name: "routing".into(),
            updated_by: "setup".into(),
            revision: 4,
        });
        s.commit().await?;

        let mut s = db.session();
        let r = s.get::<Receiver>(receiver_id).await?;
        let p = s.query::<Plane>().filter(Plane::RECEIVER_ID.eq(receiver_id)).one().await?;
        exercise_audit_logic(&mut *r.write(), 0);
        exercise_audit_logic(&mut *p.write(), 4);
        s.commit().await?;

        let mut s = db.session();
        let r = s.get::<Receiver>(receiver_id).await?;
        let p = s.query::<Plane>().one().await?;
        assert_eq!(r.read().audit_line(), "r1 by ann");
        assert_eq!(p.read().audit_line(), "r5 by ann");
        let touched = s
            .query::<Plane>()
            .filter(Plane::UPDATED_BY.eq("ann").and(Plane::REVISION.eq(5)))
            .count()
            .await?;
        assert_eq!(touched, 1);
        Ok(())
    }

    /// A change to a transient field is not a change of the row.
    async fn transient_fields_are_not_tracked(db) {
        db.create_all(&[Receiver::schema(), Plane::schema()]).await?;
        let mut s = db.session();
        s.add(receiver("edge", "10.1.2.3"));
        s.commit().await?;
        let r = s.query::<Receiver>().one().await?;
        r.write().display = "scratch".into();
        assert!(!s.is_dirty(&r));
        s.commit().await?;
        assert_eq!(r.read().version, 1);
        Ok(())
    }
}
