//! Objects as the session tracks them: [`Handle`](handle::Handle), their
//! states, and the type-erased face the relationship code walks.
//!
//! * [`handle`]: shared references, per-object state, borrow guards;
//! * [`erased`]: a handle of any entity type, and a field's link to its owner.
//!
//! Layer 2 (objects): it uses only what is below it (see `crate::layers`).

#[doc(hidden)]
pub mod erased;
pub(crate) mod handle;
