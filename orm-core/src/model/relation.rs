//! Relationships as declared: [`RelationMeta`] (plain data in the owner's
//! [`EntityMeta`]), the typed constants the derive emits per relationship
//! field ([`Relation`]) and chains of them ([`Path`]) that name what to load.
//!
//! Layer 1 (model): no session, no handle. The session's operations on a
//! relationship's target type reach it through [`RelationMeta::target_ops`],
//! which this layer sees only as an opaque value.

use std::any::Any;
use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::model::entity::Entity;
use crate::model::meta::EntityMeta;

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
    /// The table's name (created by `create_all`, written only by the flush).
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
    /// Belongs-to, has-many (plain or keyed) or many-to-many.
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
    /// What deleting the owner does to its children (`on_delete = ..`).
    pub on_delete: OnDeleteChildren,
    /// What happens to a child taken out of the collection (`orphans = ..`).
    pub orphans: Orphans,
    /// For many-to-many, the association table.
    pub via: Option<Via>,
    /// The session's operations on the target type (monomorphized by the
    /// derive, opaque here: the session downcasts it; see
    /// `session::type_ops`).
    pub target_ops: fn() -> &'static (dyn Any + Send + Sync),
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
        meta.field_column(self.by).ok_or_else(|| Error::Schema {
            entity: self.owner_meta().name,
            relation: Some(self.describe()),
            message: format!("{} has no column field {:?}", meta.name, self.by),
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
