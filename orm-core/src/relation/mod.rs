//! Relationships: belongs-to, has-many (plain or keyed) and many-to-many,
//! declared on entity fields and kept by the session.
//!
//! ```
//! # use orm_core::prelude::*;
//! #[entity(table = "receivers")]
//! pub struct Receiver {
//!     #[key(auto)]
//!     pub id: i64,
//!     pub name: String,
//!     #[has_many(Plane, by = "receiver_id", keyed_by = "name")]
//!     pub planes: Keyed<String, Plane>,
//! }
//!
//! #[entity(table = "planes")]
//! pub struct Plane {
//!     #[key(auto)]
//!     pub id: i64,
//!     #[column(references = Receiver)]
//!     pub receiver_id: i64,
//!     pub name: String,
//!     pub config: String,
//!     #[belongs_to(Receiver, by = "receiver_id")]
//!     pub receiver: Ref<Receiver>,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.create_all(&[Receiver::schema(), Plane::schema()]).await?;
//! let mut s = db.session();
//! let r = s.add(Receiver { id: 0, name: "r1".into(), planes: Keyed::new() });
//! let plane = Plane { id: 0, receiver_id: 0, name: String::new(), config: "x".into(), receiver: Ref::new() };
//! r.write().planes.insert("routing".into(), plane)?;   // get or create by key
//! s.commit().await?;                                   // the receiver, then its plane with the new key
//!
//! let mut s = db.session();
//! let all = s.query::<Receiver>().load(Receiver::PLANES).all().await?; // 2 queries, whatever the count
//! let routing = all[0].read().planes.get("routing")?.expect("loaded");
//! assert_eq!(routing.read().config, "x");
//! # Ok::<(), orm_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## The pieces
//!
//! * [`RelationMeta`]: what `#[belongs_to]`, `#[has_many]` and
//!   `#[many_to_many]` declare, in the owner's [`EntityMeta`]; [`Relation`]
//!   is the typed constant the derive emits per relationship field
//!   (`Receiver::PLANES`), used to load and to name a relationship.
//! * The field types: [`Ref<T>`] (belongs-to), [`Many<T>`] (has-many and
//!   many-to-many), [`Keyed<K, T>`] (has-many indexed by a child attribute,
//!   with a [`ValueView`] of one child column). They hold handles, never
//!   copies: a child reached through two collections is one object.
//! * `object`: the type-erased face of a handle (key, state, relation
//!   fields) that lets the session walk relationships of any entity.
//! * `sync`: what a flush does with relationships (cascades, foreign keys,
//!   association rows, orphans) before the unit of work writes rows.
//! * `load`: batched loading, one query per relationship per level.
//! * `assoc`: the association-table statements.
//!
//! ## States of a collection
//!
//! A relationship field is *unloaded* (built from a row: the session does
//! not know the children) or *loaded*. Reading or changing an unloaded
//! relationship is [`Error::NotLoaded`], never a hidden query: load it with
//! [`Session::load`](crate::Session::load) or `query.load(..)`. The
//! relationships of a new object are loaded and empty (it has no rows yet).
//! A loaded collection remembers its membership as of the load or the last
//! flush (its *base*) and the children that joined and left since; a flush
//! writes the difference and the base moves on, and a rollback puts the
//! base (and, for a discarded transaction, the membership) back.
//!
//! ## One child per key, and orphans
//!
//! A keyed collection holds one child per key, always: putting a child
//! under a taken key replaces the child there, and a replaced child is an
//! orphan like a removed one, for new and loaded owners alike; the rules,
//! and why two children given one key by a direct write are an error
//! rather than a replacement, are on [`Keyed`] (`keyed.rs`). An orphan
//! follows its relationship's [`Orphans`] rule at the next flush; a new
//! child replaced or removed before any flush is never inserted (except a
//! child the program added to the session itself, under `detach`).
//!
//! [`EntityMeta`]: crate::EntityMeta
//! [`Error::NotLoaded`]: crate::Error::NotLoaded
//!
//! Layer 2 (relationship collections): it uses only what is below it (see `crate::layers`).

mod keyed;
pub(crate) mod keys;
mod many;
mod members;
mod reference;

#[doc(hidden)]
pub use crate::object::erased as object;

pub use crate::model::fields::RelationField;
pub use crate::model::relation::{
    OnDeleteChildren, Orphans, Path, Relation, RelationKind, RelationMeta, Via,
};
pub use keyed::CollectionKey;
pub use keyed::{Keyed, ValueView};
pub use many::Many;
pub use reference::Ref;

use crate::error::Error;
use crate::model::entity::Entity;
use crate::model::fields::Link;

/// Type-checks a relationship field against its declared target (used by
/// generated code: `#[has_many(Plane)] planes: Many<Group>` does not compile).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this relationship field does not hold `{T}`",
    label = "expected `Many<{T}>`, `Keyed<_, {T}>` or `Ref<{T}>`",
    note = "the field's type must name the entity the attribute declares"
)]
pub trait Holds<T> {}

impl<T: Entity> Holds<T> for Many<T> {}
impl<K, T: Entity> Holds<T> for Keyed<K, T> {}
impl<T: Entity> Holds<T> for Ref<T> {}

fn not_loaded(link: Option<&Link>) -> Error {
    match link {
        Some(l) => Error::NotLoaded {
            relation: l.meta.describe(),
            key: l.owner_key_description(),
        },
        None => Error::NotLoaded {
            relation: "relationship".into(),
            key: "(unbound)".into(),
        },
    }
}
