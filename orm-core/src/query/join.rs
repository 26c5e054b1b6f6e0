//! Joins between entities along a declared relationship, into pairs of
//! entities through the identity map: `(User, Option<Post>)` for a LEFT
//! JOIN, `(Post, User)` for an INNER JOIN.
//!
//! The ON clause comes from the relationship (`User::POSTS`, a has-many:
//! `posts.user_id = users.id`; `Post::AUTHOR`, a belongs-to: `users.id =
//! posts.author_id`), so joining entities that are not related does not
//! compile: a `Relation<User, Post>` names both. Many-to-many is refused
//! (load it with `load(..)`).
//!
//! The query's own filter, order, limit and offset select the *root*
//! entities, in a derived table the join then extends (`SELECT .. FROM
//! (SELECT .. FROM users WHERE .. LIMIT 10) AS r LEFT JOIN posts AS j ON
//! ..`): a limit counts users, not user-post pairs, and the filter's
//! unqualified column names cannot clash with the joined table's. With an
//! `order_by`, rows come in that order, then by the root's key, then the
//! joined key; without one, in the database's order (as SQL without ORDER
//! BY: a sort of every pair costs ~1 ms per 5,000 pairs on PostgreSQL).
//! Both sides go through the identity map: a user with three posts is one
//! handle in three pairs. Loaded collections are not filled (that is
//! `load(..)`); the root query comes from the template cache (its filter,
//! order and page are an entity query's), the join around it is written
//! per call.
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use crate::error::{Error, Result};
use crate::model::entity::Entity;
use crate::model::relation::{Relation, RelationKind};
use crate::query::Query;
use crate::row::RowSet;
use crate::session::Handle;
use crate::sql::render;
use crate::value::Value;

impl<T: Entity> Query<'_, T> {
    /// `LEFT JOIN` along `relation`: each root entity with each related
    /// one, or with `None` when it has none.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Band { #[key(auto)] pub id: i64, pub name: String,
    ///     #[has_many(Album, by = "band_id")] pub albums: Many<Album> }
    /// #[entity]
    /// pub struct Album { #[key(auto)] pub id: i64, #[column(references = Band)] pub band_id: i64, pub title: String }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Band::schema(), Album::schema()]).await?;
    /// let mut s = db.session();
    /// let b = s.add(Band { id: 0, name: "Can".into(), albums: Many::new() });
    /// s.add(Band { id: 0, name: "Neu!".into(), albums: Many::new() });
    /// s.flush().await?;
    /// s.add(Album { id: 0, band_id: b.read().id, title: "Tago Mago".into() });
    /// let pairs = s.query::<Band>().order_by(Band::NAME.asc()).left_join(Band::ALBUMS).await?;
    /// assert_eq!(pairs.len(), 2);
    /// assert_eq!(pairs[0].1.as_ref().map(|a| a.read().title.clone()).as_deref(), Some("Tago Mago"));
    /// assert!(pairs[1].1.is_none());
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn left_join<P: Entity>(
        self,
        relation: Relation<T, P>,
    ) -> Result<Vec<(Handle<T>, Option<Handle<P>>)>> {
        self.join(relation, true).await
    }

    /// `INNER JOIN` along `relation`: only root entities with a related one.
    pub async fn inner_join<P: Entity>(
        self,
        relation: Relation<T, P>,
    ) -> Result<Vec<(Handle<T>, Handle<P>)>> {
        Ok(self
            .join(relation, false)
            .await?
            .into_iter()
            .filter_map(|(t, p)| p.map(|p| (t, p)))
            .collect())
    }

    async fn join<P: Entity>(
        self,
        relation: Relation<T, P>,
        left: bool,
    ) -> Result<Vec<(Handle<T>, Option<Handle<P>>)>> {
        let rel = relation.meta();
        let (meta, target) = (T::meta(), P::meta());
        let usage = |message: String| Error::Usage {
            entity: Some(meta.name),
            relation: Some(rel.describe()),
            message,
        };
        if !self.loads.is_empty() || self.lock.is_some() {
            return Err(usage("a join takes no load(..) or lock".into()));
        }
        let single_key = |m: &'static crate::model::meta::EntityMeta| {
            let mut keys = m.key_columns();
            match (keys.next(), keys.next()) {
                (Some((_, k)), None) => Ok(k.name),
                _ => Err(usage(format!(
                    "{} needs a single-column key to be joined",
                    m.name
                ))),
            }
        };
        let fk = rel.fk_column()?;
        let (root_col, joined_col) = match rel.kind {
            RelationKind::HasMany => (single_key(meta)?, target.columns[fk].name),
            RelationKind::BelongsTo => (meta.columns[fk].name, single_key(target)?),
            RelationKind::ManyToMany => {
                return Err(usage(
                    "a many-to-many relationship is not joined: load it with load(..)".into(),
                ));
            }
        };
        let session = &mut *self.session;
        session.check_usable()?;
        self.check_values(self.filter_node())?;
        let dialect = self.session.dialect();
        let q = |s: &str| render::quote(dialect, s);
        // The root query from the template cache (one statement; a list
        // split at the bind limit cannot be wrapped: built whole instead).
        let inner = match self.statements(crate::sql::templated::Kind::Rows, self.filter_node())? {
            mut one if one.len() == 1 => one.pop().expect("one statement"),
            _ => render::select(dialect, &self.spec(self.filter_node())),
        };
        let mut cols: Vec<String> = meta
            .columns
            .iter()
            .map(|c| format!("r.{}", q(c.name)))
            .collect();
        cols.extend(target.columns.iter().map(|c| format!("j.{}", q(c.name))));
        let mut order: Vec<String> = self
            .order
            .iter()
            .map(|(c, d)| {
                format!(
                    "r.{} {}",
                    q(c),
                    if *d == crate::model::column::Direction::Desc {
                        "DESC"
                    } else {
                        "ASC"
                    }
                )
            })
            .collect();
        // With an order of its own the pairs follow it, each root's pairs
        // together by key; without one they come in the database's order
        // (a sort of every pair is not free: +1 ms for 5,000 pairs on
        // PostgreSQL, W2).
        if !order.is_empty() {
            order.push(format!("r.{}", q(single_key(meta).unwrap_or(root_col))));
            if let Ok(k) = single_key(target) {
                order.push(format!("j.{}", q(k)));
            }
        }
        let mut sql = format!(
            "SELECT {} FROM ({}) r {} JOIN {} j ON j.{} = r.{}",
            cols.join(", "),
            inner.sql(),
            if left { "LEFT" } else { "INNER" },
            q(target.table),
            q(joined_col),
            q(root_col),
        );
        if !order.is_empty() {
            sql.push_str(" ORDER BY ");
            sql.push_str(&order.join(", "));
        }
        let stmt = crate::sql::Statement::new(sql, inner.params.clone());
        let session = self.session;
        session.autoflush().await?;
        let set = session.fetch(&stmt).await?;
        let n = meta.columns.len();
        let target_key = target.key_columns().next().map_or(0, |(i, _)| i);
        let root_key: Vec<usize> = meta.key_columns().map(|(i, _)| i).collect();
        // The rows of one root are adjacent (ordered by its key after the
        // query's order): each root is materialized once, not once per
        // joined row (a user with ten posts was ten identity-map merges);
        // a root whose rows are not adjacent is merged again, harmlessly.
        let mut roots: Vec<Vec<Value>> = Vec::new();
        let mut joined = Vec::new();
        // Per row: the index of its root, and whether it has a joined row.
        let mut pairs: Vec<(usize, bool)> = Vec::with_capacity(set.rows.len());
        for mut row in set.rows {
            let rest = row.split_off(n);
            let present = !matches!(rest[target_key], Value::Null(_));
            if present {
                joined.push(rest);
            }
            let same = |last: &Vec<Value>| root_key.iter().all(|&k| last[k] == row[k]);
            if !roots.last().is_some_and(same) {
                roots.push(row);
            }
            pairs.push((roots.len() - 1, present));
        }
        let roots = session.materialize::<T>(RowSet {
            columns: meta.columns.iter().map(|c| Box::from(c.name)).collect(),
            rows: roots,
        })?;
        let mut others = session
            .materialize::<P>(RowSet {
                columns: target.columns.iter().map(|c| Box::from(c.name)).collect(),
                rows: joined,
            })?
            .into_iter();
        Ok(pairs
            .into_iter()
            .map(|(root, present)| {
                let joined = if present { others.next() } else { None };
                (roots[root].clone(), joined)
            })
            .collect())
    }
}
