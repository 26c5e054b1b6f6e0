//! Declarations only: tables, keys, versions, and which logic traits
//! apply. No business logic here: it lives in `logic.rs`, written against
//! the generated `*Fields` traits.

use std::net::IpAddr;

use orm_core::{AsText, entity};

#[entity(table = "receivers", logic(crate::logic::ReceiverLogic))]
#[derive(Debug, Clone)]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 64)]
    pub name: String,
    /// An IP address, stored as text (story 1's type decorator).
    #[column(with = AsText, len = 45)]
    pub address: IpAddr,
    /// Bumped by the before-flush hook whenever a plane of this receiver changes.
    pub config_serial: i64,
    #[version]
    pub version: i64,
}

#[entity(table = "groups")]
#[derive(Debug, Clone)]
pub struct Group {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 64)]
    pub name: String,
}

/// The association between receivers and groups (the relationships issue
/// will hide it behind `Many<Group>`).
#[entity(table = "receiver_groups")]
#[derive(Debug, Clone)]
pub struct Membership {
    #[key]
    #[column(references = Receiver, on_delete = "cascade")]
    pub receiver_id: i64,
    #[key]
    #[column(references = Group, on_delete = "cascade")]
    pub group_id: i64,
}

/// One configuration plane of a receiver ("routing", "filter", ...).
#[entity(table = "planes", logic(crate::logic::PlaneLogic))]
#[derive(Debug, Clone)]
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
}
