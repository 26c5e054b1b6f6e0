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

mod keyed;
pub(crate) mod keys;
mod many;
mod members;
mod reference;

#[doc(hidden)]
pub use crate::object::erased as object;

use std::any::Any;
use std::marker::PhantomData;

pub use crate::session::loading::{LoadFn, loader};
pub use keyed::CollectionKey;
pub use keyed::{Keyed, ValueView};
pub use many::Many;
pub use reference::Ref;

use crate::error::{Error, Result};
use crate::model::entity::Entity;
use crate::model::meta::EntityMeta;
use crate::object::erased::Link;

/// The kind of a relationship field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// Many-to-one through a foreign-key column of the owner.
    BelongsTo,
    /// One-to-many through a foreign-key column of the target.
    HasMany,
    /// Many-to-many through an association table.
    ManyToMany,
}

/// What deleting the owner of a has-many collection does to its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDeleteChildren {
    /// The children are deleted too (the default: the parent owns them).
    Delete,
    /// The flush fails with [`Error::Restricted`] while children exist.
    Refuse,
    /// The children's foreign key is set to NULL (it must be nullable).
    Detach,
}

/// What removing a child from a has-many collection does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphans {
    /// A child in no collection any more is deleted (the default).
    Delete,
    /// Its foreign key is set to NULL (it must be nullable).
    Detach,
}

/// The association table of a many-to-many relationship.
#[derive(Debug)]
pub struct Via {
    pub table: &'static str,
    /// The column holding the owner's key.
    pub owner_column: &'static str,
    /// The column holding the target's key.
    pub target_column: &'static str,
}

/// One relationship field, as declared.
#[derive(Debug)]
pub struct RelationMeta {
    /// The field's name.
    pub name: &'static str,
    pub kind: RelationKind,
    /// The owner entity (the struct with the field).
    pub owner: fn() -> &'static EntityMeta,
    /// The entity the field refers to.
    pub target: fn() -> &'static EntityMeta,
    /// The foreign-key field: the owner's for belongs-to, the target's for
    /// has-many; empty for many-to-many.
    pub by: &'static str,
    /// For keyed collections, the target's field the children are keyed by.
    pub keyed_by: Option<&'static str>,
    pub on_delete: OnDeleteChildren,
    pub orphans: Orphans,
    /// For many-to-many, the association table.
    pub via: Option<Via>,
    /// Loads this relationship for a batch of owners (monomorphized for the target).
    pub load: LoadFn,
}

impl RelationMeta {
    pub(crate) fn owner_meta(&self) -> &'static EntityMeta {
        (self.owner)()
    }

    pub(crate) fn target_meta(&self) -> &'static EntityMeta {
        (self.target)()
    }

    /// `Receiver.planes`, for messages.
    pub fn describe(&self) -> String {
        format!("{}.{}", self.owner_meta().name, self.name)
    }

    /// The position of the foreign-key column: in the owner for belongs-to,
    /// in the target for has-many.
    pub(crate) fn fk_column(&self) -> Result<usize> {
        let meta = match self.kind {
            RelationKind::BelongsTo => self.owner_meta(),
            _ => self.target_meta(),
        };
        meta.field_column(self.by).ok_or_else(|| {
            Error::Config(format!(
                "{}: {} has no column field {:?}",
                self.describe(),
                meta.name,
                self.by
            ))
        })
    }

    /// The position of the keyed-by column in the target.
    pub(crate) fn keyed_column(&self) -> Option<usize> {
        self.keyed_by
            .and_then(|f| self.target_meta().field_column(f))
    }

    /// The relationship of the target that is this one seen from the other
    /// side: the belongs-to over the same foreign key for a has-many (and
    /// back), the many-to-many over the same table.
    pub(crate) fn inverse(&self) -> Option<(usize, &'static RelationMeta)> {
        let owner = self.owner_meta();
        self.target_meta()
            .relations
            .iter()
            .enumerate()
            .find(|(_, r)| {
                r.target_meta().same(owner)
                    && match (self.kind, r.kind) {
                        (RelationKind::HasMany, RelationKind::BelongsTo)
                        | (RelationKind::BelongsTo, RelationKind::HasMany) => r.by == self.by,
                        (RelationKind::ManyToMany, RelationKind::ManyToMany) => {
                            match (&self.via, &r.via) {
                                (Some(a), Some(b)) => {
                                    a.table == b.table && a.owner_column == b.target_column
                                }
                                _ => false,
                            }
                        }
                        _ => false,
                    }
            })
    }
}

/// A typed relationship of `P` to `C`: the constant `#[entity]` emits per
/// relationship field (`Receiver::PLANES: Relation<Receiver, Plane>`).
pub struct Relation<P, C> {
    index: usize,
    _marker: PhantomData<fn() -> (P, C)>,
}

impl<P, C> Clone for Relation<P, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P, C> Copy for Relation<P, C> {}

impl<P, C> Relation<P, C> {
    #[doc(hidden)]
    pub const fn new(index: usize) -> Self {
        Relation {
            index,
            _marker: PhantomData,
        }
    }
}

impl<P: Entity, C: Entity> Relation<P, C> {
    /// The relationship's metadata.
    pub fn meta(&self) -> &'static RelationMeta {
        &P::meta().relations[self.index]
    }

    /// The field's position among `P`'s relationships.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Loads `next` for the children this relationship loads:
    /// `Receiver::PLANES.then(Plane::PARTS)`.
    pub fn then<D: Entity>(self, next: Relation<C, D>) -> Path<P, D> {
        Path {
            steps: vec![self.meta(), next.meta()],
            _marker: PhantomData,
        }
    }
}

/// A chain of relationships loaded level by level, from `P` to `L`.
pub struct Path<P, L> {
    pub(crate) steps: Vec<&'static RelationMeta>,
    _marker: PhantomData<fn() -> (P, L)>,
}

impl<P, L> Path<P, L> {
    /// One more level.
    pub fn then<D: Entity>(mut self, next: Relation<L, D>) -> Path<P, D>
    where
        L: Entity,
    {
        self.steps.push(next.meta());
        Path {
            steps: self.steps,
            _marker: PhantomData,
        }
    }
}

impl<P: Entity, C: Entity> From<Relation<P, C>> for Path<P, C> {
    fn from(r: Relation<P, C>) -> Self {
        Path {
            steps: vec![r.meta()],
            _marker: PhantomData,
        }
    }
}

/// What every relationship field type implements; the session reaches
/// fields through it without knowing their types. Implemented by [`Ref`],
/// [`Many`] and [`Keyed`] only.
#[doc(hidden)]
pub trait RelationField: Send + Sync + 'static {
    /// An unloaded field, as built from a row.
    fn unloaded() -> Self
    where
        Self: Sized;

    /// Whether the field's children are known.
    fn is_loaded(&self) -> bool;

    #[doc(hidden)]
    fn as_any_mut(&mut self) -> &mut dyn Any;

    /// Learns the owner; a new owner's unloaded field becomes loaded and
    /// empty (a new object has no rows).
    #[doc(hidden)]
    fn bind(&mut self, link: Link, new_owner: bool);

    /// Exchanges state with another field of the same type (a refreshed
    /// object keeps its relationships).
    #[doc(hidden)]
    fn swap_with(&mut self, other: &mut dyn Any);

    /// Membership changed since the load or the last flush.
    #[doc(hidden)]
    fn changed(&self) -> bool;

    /// The current children (the parent, for a reference); none while unloaded.
    #[doc(hidden)]
    fn children(&self) -> Vec<object::Obj>;

    #[doc(hidden)]
    fn diff(&self) -> (Vec<object::Obj>, Vec<object::Obj>);

    /// Makes the current membership the base; returns the old base to undo it.
    #[doc(hidden)]
    fn commit(&mut self) -> Box<dyn Any + Send + Sync>;

    #[doc(hidden)]
    fn uncommit(&mut self, base: Box<dyn Any + Send + Sync>);

    /// Puts the base back as the membership (a discarded transaction).
    #[doc(hidden)]
    fn discard(&mut self);

    /// Sets the loaded children (from `load`): a `Vec<Handle<T>>`. A field
    /// already loaded keeps its own (pending changes win).
    #[doc(hidden)]
    fn set_loaded(&mut self, children: Box<dyn Any>);

    /// Fills an unloaded belongs-to reference with its parent, a
    /// `Handle<T>` (from a has-many load); nothing for collections.
    #[doc(hidden)]
    fn set_parent(&mut self, _parent: &dyn Any) {}

    /// Adds a child from the other side of the relationship (no cascade).
    #[doc(hidden)]
    fn attach(&mut self, child: &object::Obj);

    /// Removes a child from the other side of the relationship.
    #[doc(hidden)]
    fn detach(&mut self, child: &object::Obj);

    /// What a flush checks before it writes anything: a keyed collection
    /// holds one child per key ([`Error::KeyConflict`]). With `all` false,
    /// only a collection that gained children since its base is checked
    /// (see `sync::check_keyed` for why that is enough).
    #[doc(hidden)]
    fn validate(&self, _all: bool) -> Result<()> {
        Ok(())
    }
}

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
