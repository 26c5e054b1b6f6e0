//! The SQL layer: statements as text and parameters, built from metadata
//! and filters, with no knowledge of sessions, queries or objects.
//!
//! * [`render`]: SELECT statements and their filters (sea-query);
//! * [`templated`]: the same through the template cache (shapes, lists);
//! * [`builder`]: hand-written SQL by the shape of its parameters;
//! * [`dml`]: the INSERT, UPDATE and DELETE statements of a flush;
//! * [`ddl`]: CREATE / DROP for entity metadata;
//! * [`dialect`]: what each dialect writes differently, in one table each.
//!
//! Layer 1 (the SQL layer): it uses only what is below it (see `crate::layers`).

pub(crate) mod builder;
pub(crate) mod ddl;
pub mod dialect;
pub(crate) mod dml;
pub(crate) mod render;
pub(crate) mod templated;

pub use render::Statement;
