//! A facade over the ORM, as an application's or a framework's own crate
//! might be: it re-exports orm-core (its dependency `engine`) under its own
//! name, macros included, and code that declares entities through it says
//! `#[entity(crate = facade)]` (and `#[fields(crate = facade)]`,
//! `#[column_value(crate = facade)]`).
//!
//! Its tests (`tests/through_facade.rs`) are such code, in a package where
//! `orm_core` cannot be named: any path the macros emitted through
//! `::orm_core` instead of `crate = ..` would not compile there.

pub use engine::*;
