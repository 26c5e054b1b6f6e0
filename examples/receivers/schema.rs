//! Declarations only: tables, keys, versions, relationships, and which
//! logic traits apply. No business logic here: it lives in `logic.rs`,
//! written against the generated `*Fields` traits.

use std::net::IpAddr;

use orm_core::{AsText, Keyed, Many, Ref, entity};

#[entity(table = "receivers", logic(crate::logic::ReceiverLogic))]
#[derive(Debug)]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 64)]
    pub name: String,
    /// An IP address, stored as text (`AsText`, a custom column type).
    #[column(with = AsText, len = 45)]
    pub address: IpAddr,
    /// Bumped by the before-flush hook whenever a plane of this receiver changes.
    pub config_serial: i64,
    #[version]
    pub version: i64,
    /// The configuration planes by kind: a dict-like collection, get or
    /// create by key, removing a key deletes the plane.
    #[has_many(Plane, by = "receiver_id", keyed_by = "kind")]
    pub planes: Keyed<String, Plane>,
    /// Groups through `receiver_groups`, a table this code never names
    /// again: the flush writes and deletes its rows.
    #[many_to_many(Group, via = "receiver_groups")]
    pub groups: Many<Group>,
}

#[entity(table = "groups")]
#[derive(Debug)]
pub struct Group {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 64)]
    pub name: String,
    #[many_to_many(Receiver, via = "receiver_groups")]
    pub receivers: Many<Receiver>,
}

/// One configuration plane of a receiver ("routing", "filter", ...).
#[entity(table = "planes", logic(crate::logic::PlaneLogic))]
#[derive(Debug, Default)]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    #[column(references = Receiver, index)]
    pub receiver_id: i64,
    #[column(len = 32)]
    pub kind: String,
    pub config: String,
    #[version]
    pub version: i64,
    #[belongs_to(Receiver, by = "receiver_id")]
    pub receiver: Ref<Receiver>,
}
