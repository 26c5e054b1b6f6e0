//! Batched loading: one relationship for a whole batch of owners in one
//! query with an IN list of their keys (split at the backend's bind limit
//! by the template layer), never one query per owner; a [`Path`] loads
//! level after level, one query per level.
//!
//! Loaded children go through the identity map (a child already in the
//! session is that object, its pending changes kept). A collection that is
//! already loaded keeps its membership (pending adds and removes win); its
//! children still feed the next level. Each loaded has-many child also gets
//! its belongs-to reference to the owner, when it declares one, for free.
//!
//! Layer 3 (the session): it uses only what is below it (see `crate::layers`).

use crate::model::fields::ObjectState;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use crate::error::{Error, Result};
use crate::model::column::Node;
use crate::model::entity::Entity;
use crate::model::fields::Obj;
use crate::model::relation::{Path, RelationKind, RelationMeta};
use crate::object::erased::obj;
use crate::relation::keys::ValueKey;
use crate::row::RowSet;
use crate::session::{Handle, Session};
use crate::sql::builder::Param;
use crate::value::Value;

/// Loads one relationship for a batch of owners; returns the children of
/// every owner when `next` asks for them (the next level). The target
/// type's [`TypeOps`](super::type_ops::TypeOps) carry `loader::<Target>`.
pub(crate) type LoadFn = for<'a> fn(
    &'a mut Session,
    &'static RelationMeta,
    Vec<Obj>,
    bool,
) -> Pin<Box<dyn Future<Output = Result<Vec<Obj>>> + Send + 'a>>;

/// The [`LoadFn`] of relationships whose target is `C`.
pub(crate) fn loader<'a, C: Entity>(
    session: &'a mut Session,
    rel: &'static RelationMeta,
    owners: Vec<Obj>,
    next: bool,
) -> Pin<Box<dyn Future<Output = Result<Vec<Obj>>> + Send + 'a>> {
    Box::pin(load::<C>(session, rel, owners, next))
}

/// The position of `rel` in its owner's relations.
fn index_of(rel: &'static RelationMeta) -> usize {
    rel.owner_meta()
        .relations
        .iter()
        .position(|r| std::ptr::eq(r, rel))
        .unwrap_or(usize::MAX)
}

fn single_key(
    meta: &'static crate::model::meta::EntityMeta,
    rel: &RelationMeta,
) -> Result<&'static str> {
    let mut keys = meta.key_columns();
    match (keys.next(), keys.next()) {
        (Some((_, c)), None) => Ok(c.name),
        _ => Err(Error::Schema {
            entity: meta.name,
            relation: Some(rel.describe()),
            message: format!(
                "relationships need a single-column primary key on {}",
                meta.name
            ),
        }),
    }
}

async fn load<C: Entity>(
    session: &mut Session,
    rel: &'static RelationMeta,
    owners: Vec<Obj>,
    next: bool,
) -> Result<Vec<Obj>> {
    let index = index_of(rel);
    // Owners whose field must be filled: unloaded, with the value to match
    // (a belongs-to's foreign key, else the owner's key).
    let fk = match rel.kind {
        RelationKind::BelongsTo => Some(rel.fk_column()?),
        _ => {
            single_key(rel.owner_meta(), rel)?;
            None
        }
    };
    let mut need: Vec<(Obj, Value)> = Vec::new();
    for o in &owners {
        if o.relation_loaded(index) {
            continue;
        }
        let value = match fk {
            Some(fk) => Some(o.column_value(fk)),
            None => o.key_value(),
        };
        if let Some(v) = value {
            need.push((o.clone(), v));
        }
    }
    if !need.is_empty() {
        let mut seen = HashSet::new();
        let values: Vec<Value> = need
            .iter()
            .map(|(_, v)| v)
            .filter(|v| !v.is_null() && seen.insert(ValueKey::one((*v).clone())))
            .cloned()
            .collect();
        match rel.kind {
            RelationKind::HasMany => {
                let fk = rel.fk_column()?;
                let column = C::meta().columns[fk].name;
                let children = fetch_in::<C>(session, column, values).await?;
                let mut groups: HashMap<ValueKey, Vec<Handle<C>>> = HashMap::new();
                for c in children {
                    let v = c.read().column_value(fk);
                    groups.entry(ValueKey::one(v)).or_default().push(c);
                }
                let inverse = rel.inverse().map(|(i, _)| i);
                for (o, v) in &need {
                    let children = groups.remove(&ValueKey::one(v.clone())).unwrap_or_default();
                    if let Some(inv) = inverse
                        && !children.is_empty()
                    {
                        // The children's reference to this owner, for free.
                        let parent = o.handle_any();
                        for c in &children {
                            if let Some(f) = c.write_untracked().relation_mut(inv) {
                                f.set_parent(&*parent);
                            }
                        }
                    }
                    o.load_relation(index, Box::new(children));
                }
            }
            RelationKind::BelongsTo => {
                let column = single_key(C::meta(), rel)?;
                let key_col = C::meta().key_columns().next().map(|(i, _)| i).unwrap_or(0);
                let parents = fetch_in::<C>(session, column, values).await?;
                let by_key: HashMap<ValueKey, Handle<C>> = parents
                    .into_iter()
                    .map(|p| {
                        let k = p.read().column_value(key_col);
                        (ValueKey::one(k), p)
                    })
                    .collect();
                for (o, v) in &need {
                    let parent: Vec<Handle<C>> = by_key
                        .get(&ValueKey::one(v.clone()))
                        .cloned()
                        .into_iter()
                        .collect();
                    o.load_relation(index, Box::new(parent));
                }
            }
            RelationKind::ManyToMany => {
                let mut groups = fetch_via::<C>(session, rel, values).await?;
                for (o, v) in &need {
                    let children = groups.remove(&ValueKey::one(v.clone())).unwrap_or_default();
                    o.load_relation(index, Box::new(children));
                }
            }
        }
    }
    if !next {
        return Ok(Vec::new());
    }
    // The next level: every owner's children, each once.
    let mut seen = HashSet::new();
    let mut next = Vec::new();
    for o in &owners {
        for c in o.relation_children(index) {
            if seen.insert(c.addr()) {
                next.push(c);
            }
        }
    }
    Ok(next)
}

/// `SELECT * FROM c WHERE column IN (values)`, through the template cache
/// (split at the bind limit), without autoflush (a flush loads too).
async fn fetch_in<C: Entity>(
    session: &mut Session,
    column: &'static str,
    values: Vec<Value>,
) -> Result<Vec<Handle<C>>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    session
        .select_where::<C>(Node::In(column, values, false))
        .await
}

/// The targets of a many-to-many relationship for a batch of owner keys,
/// grouped by owner key: one join per chunk of keys.
async fn fetch_via<C: Entity>(
    session: &mut Session,
    rel: &'static RelationMeta,
    values: Vec<Value>,
) -> Result<HashMap<ValueKey, Vec<Handle<C>>>> {
    let via = rel.via.as_ref().ok_or_else(|| Error::Internal {
        entity: Some(rel.owner_meta().name),
        message: format!("{}: no association table", rel.describe()),
    })?;
    let meta = C::meta();
    let key = single_key(meta, rel)?;
    let dialect = session.dialect();
    let q = |name: &str| crate::sql::render::quote(dialect, name);
    let columns: Vec<String> = meta
        .columns
        .iter()
        .map(|c| format!("t.{}", q(c.name)))
        .collect();
    let select = format!(
        "SELECT {}, v.{} FROM {} t INNER JOIN {} v ON t.{} = v.{} WHERE v.{} IN (",
        columns.join(", "),
        q(via.owner_column),
        q(meta.table),
        q(via.table),
        q(key),
        q(via.target_column),
        q(via.owner_column),
    );
    // One template per relationship: both sides share the table's name.
    let site: &'static str = via.table;
    let salt = std::ptr::from_ref(rel) as usize as u64;
    // Lists are padded to a power of two: a chunk of the largest power of
    // two within the bind limit never pads past it.
    let limit = session.database().bind_limit().max(1);
    let chunk = 1usize << (usize::BITS - 1 - limit.leading_zeros());
    let mut groups: HashMap<ValueKey, Vec<Handle<C>>> = HashMap::new();
    for part in values.chunks(chunk) {
        let params = vec![Param::List(part.to_vec())];
        let set = session
            .fetch_built_set(site, salt, params, |p| format!("{select}{})", p.list(0)))
            .await?;
        let width = meta.columns.len();
        let mut owner_keys = Vec::with_capacity(set.rows.len());
        let mut rows = Vec::with_capacity(set.rows.len());
        for mut row in set.rows {
            if row.len() <= width {
                return Err(Error::Internal {
                    entity: Some(rel.owner_meta().name),
                    message: format!(
                        "{}: the association query returned {} columns",
                        rel.describe(),
                        row.len()
                    ),
                });
            }
            owner_keys.push(row.pop().unwrap_or(Value::I64(0)));
            row.truncate(width);
            rows.push(row);
        }
        let handles = session.materialize::<C>(RowSet {
            columns: set.columns,
            rows,
        })?;
        for (owner, h) in owner_keys.into_iter().zip(handles) {
            groups.entry(ValueKey::one(owner)).or_default().push(h);
        }
    }
    Ok(groups)
}

impl Session {
    /// Loads a relationship (or a [`Path`] of them, level by level) for a
    /// batch of objects: one query per level whatever the number of objects
    /// (more only past the backend's bind limit), children through the
    /// identity map. Collections already loaded keep their pending changes.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// # #[entity(table = "authors")] pub struct Author { #[key(auto)] pub id: i64,
    /// #   #[has_many(Book, by = "author_id")] pub books: Many<Book> }
    /// # #[entity(table = "books")] pub struct Book { #[key(auto)] pub id: i64,
    /// #   #[column(references = Author)] pub author_id: i64 }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Author::schema(), Book::schema()]).await?;
    /// let mut s = db.session();
    /// let authors = s.query::<Author>().all().await?;
    /// let before = s.stats().statements();
    /// s.load(&authors, Author::BOOKS).await?;          // one query for all authors
    /// assert_eq!(s.stats().statements() - before, if authors.is_empty() { 0 } else { 1 });
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn load<P: Entity, L>(
        &mut self,
        objects: &[Handle<P>],
        path: impl Into<Path<P, L>>,
    ) -> Result<()> {
        self.autoflush().await?;
        let path = path.into();
        self.load_steps(objects.iter().map(obj).collect(), &path.steps)
            .await
    }

    pub(crate) async fn load_steps(
        &mut self,
        mut level: Vec<Obj>,
        steps: &[&'static RelationMeta],
    ) -> Result<()> {
        for (i, rel) in steps.iter().enumerate() {
            if level.is_empty() {
                break;
            }
            level = (super::type_ops::of(rel).load)(self, rel, level, i + 1 < steps.len()).await?;
        }
        Ok(())
    }
}

impl Session {
    /// The objects of `T` whose rows match `node`, through the template
    /// cache (a long `IN` list split at the bind limit) and the identity
    /// map; no autoflush (a flush loads too).
    pub(crate) async fn select_where<T: Entity>(&mut self, node: Node) -> Result<Vec<Handle<T>>> {
        self.check_usable()?;
        node.check_for(T::meta().name, self.dialect())?;
        let spec = crate::sql::render::SelectSpec {
            meta: T::meta(),
            filter: None,
            order: &[],
            limit: None,
            offset: None,
        };
        let mut filter = Some(node);
        let statements = crate::sql::templated::statements_moving(
            self.engine().template_env(),
            crate::sql::templated::Kind::Rows,
            &spec,
            filter.as_mut(),
            true,
        )?;
        let set = crate::runner::Prepared::unordered(statements)
            .run(self)
            .await?;
        self.materialize(set)
    }
}

impl Session {
    /// Turns a result into handles through the identity map: a row whose key
    /// is mapped yields the mapped object, unchanged, unless it was expired.
    /// Builds plain values of `T` from rows, with the `after_load` hooks
    /// run, outside the identity map (what a stream yields).
    pub(crate) fn detached_loader<T: Entity>(
        &self,
    ) -> impl Fn(Vec<Value>) -> Result<T> + Send + Sync + 'static {
        let after_load = self.after_load_hooks::<T>();
        move |values| {
            let mut value = T::from_row(values)?;
            super::hooks::run_after_load(&after_load, &mut value)?;
            Ok(value)
        }
    }

    pub(crate) fn materialize<T: Entity>(&mut self, set: RowSet) -> Result<Vec<Handle<T>>> {
        let after_load = self.after_load_hooks::<T>();
        let run_after_load = |value: &mut T| super::hooks::run_after_load(&after_load, value);
        let tracked = self.tracked::<T>();
        let journal = tracked.journal.clone();
        let map = &mut tracked.map;
        // Room for every row up front: a large load would otherwise rehash
        // the identity map several times on the way (seen in profiles of
        // 10,000-row loads).
        map.reserve(set.rows.len());
        let mut out = Vec::with_capacity(set.rows.len());
        for values in set.rows {
            let key = T::key_from_row(&values)?;
            let handle = match map.get(&key) {
                Some(h) => {
                    if h.tracking().expired {
                        let mut fresh = T::from_row(values)?;
                        run_after_load(&mut fresh)?;
                        h.replace(fresh);
                        let mut t = h.tracking();
                        t.expired = false;
                        t.snapshot = None;
                    }
                    h.clone()
                }
                None => {
                    let mut value = T::from_row(values)?;
                    run_after_load(&mut value)?;
                    let h = Handle::with_state_in(value, ObjectState::Persistent, Some(&journal));
                    map.insert(key, h.clone());
                    h
                }
            };
            out.push(handle);
        }
        Ok(out)
    }
}
