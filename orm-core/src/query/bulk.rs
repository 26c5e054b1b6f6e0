//! Bulk UPDATE and DELETE by filter (SQLAlchemy's `update(..).where(..)`
//! with `synchronize_session`), keeping the identity map true.
//!
//! The decisions:
//!
//! * **Pending work first.** The session autoflushes, so the statement sees
//!   every change the program made, and no later flush writes an object's
//!   old values over the bulk change.
//! * **In the session's transaction.** The statement and the look-up that
//!   synchronizes the map run in one transaction, opened if none is open;
//!   the caller commits. A failed statement fails the transaction as a
//!   failed flush does (`rollback()` acknowledges it, pending work kept); a
//!   call dropped while a statement runs leaves the transaction in doubt,
//!   and the session's next call rolls it back. The map is synchronized
//!   after the statement without an await, so no drop comes in between.
//! * **[`Synchronize::Fetch`] (the default)**: when the identity map holds
//!   objects of the entity, the rows the filter matches are read first
//!   (locked `FOR UPDATE` on the servers, so the UPDATE changes exactly
//!   those); after the statement the matched objects in the map take the
//!   new values (the read rows with the assignments applied, the version
//!   bumped) or, for a DELETE, leave the session. With no object of the
//!   entity in the map nothing is read: one statement. Objects not in the
//!   map are not loaded.
//! * **[`Synchronize::Expire`]**: no read; every object of the entity in
//!   the map is expired, so the next load of each replaces its values.
//! * SQLAlchemy's `evaluate` (the filter run in memory) is not offered: the
//!   backends disagree on text comparison (`LIKE` case, collations), so an
//!   evaluation could be wrong where a fetch cannot.
//! * A bulk UPDATE bumps the `#[version]` column, so other sessions holding
//!   an object it changed get `StaleData` instead of overwriting it.
//!   A bulk DELETE does not cascade in memory: loaded collections that hold
//!   a deleted object keep it until reloaded (the database's own ON DELETE
//!   rules apply to the rows).
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use crate::error::{Error, Result};
use crate::model::column::Assign;
use crate::model::entity::Entity;
use crate::query::Query;
use crate::sql::dialect::Dialect;
use crate::sql::render;
use crate::sql::templated::{self, Parts};
use orm_cache::template::ShapeKey;

/// How a bulk UPDATE or DELETE keeps the identity map true.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronize {
    /// Read the matched rows first; update or drop those objects in the map.
    #[default]
    Fetch,
    /// Expire every object of the entity in the map (no read).
    Expire,
}

impl<'s, T: Entity> Query<'s, T> {
    /// `UPDATE .. SET .. WHERE <the query's filter>`, returning the rows
    /// changed, with the identity map synchronized by [`Synchronize::Fetch`].
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Ticket { #[key(auto)] pub id: i64, pub open: bool, pub owner: String }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Ticket::schema()]).await?;
    /// let mut s = db.session();
    /// let t = s.add(Ticket { id: 0, open: true, owner: "ann".into() });
    /// s.commit().await?;
    /// let closed = s.query::<Ticket>().filter(Ticket::OWNER.eq("ann")).update([Ticket::OPEN.set(false)]).await?;
    /// assert_eq!(closed, 1);
    /// assert!(!t.read().open);            // the object in the session says so too
    /// s.commit().await?;
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn update(self, set: impl IntoIterator<Item = Assign<T>>) -> Result<u64> {
        self.update_with(set, Synchronize::Fetch).await
    }

    /// [`Query::update`] with the synchronization chosen.
    pub async fn update_with(
        self,
        set: impl IntoIterator<Item = Assign<T>>,
        sync: Synchronize,
    ) -> Result<u64> {
        let set: Vec<Assign<T>> = set.into_iter().collect();
        if set.is_empty() {
            return Err(self.bulk_usage("update(..) needs at least one Column::set(..)"));
        }
        let meta = T::meta();
        if let Some(a) = set.iter().find(|a| meta.columns[a.index].primary_key) {
            return Err(self.bulk_usage(&format!(
                "update(..) cannot set the key column {}: the identity map is keyed by it",
                a.column
            )));
        }
        let dialect = self.session.dialect();
        crate::sql::dml::check_values(dialect, meta, set.iter().map(|a| (a.index, &a.value)))?;
        let version = meta.version_column();
        let bump = version.map(|v| meta.columns[v].name);
        let mut shape = ShapeKey::new();
        shape.tag(40).name(meta.table).tag(u8::from(bump.is_some()));
        for a in &set {
            shape.name(a.column);
        }
        let values: Vec<&crate::value::Value> = set.iter().map(|a| &a.value).collect();
        self.bulk(
            sync,
            shape,
            values,
            &|dialect, parts| {
                let pairs: Vec<(&'static str, crate::value::Value)> = set
                    .iter()
                    .zip(&parts.values)
                    .map(|(a, v)| (a.column, (*v).clone()))
                    .collect();
                render::update_where(dialect, meta, &pairs, bump, parts.filters[0])
            },
            |row| {
                for a in &set {
                    row[a.index] = a.value.clone();
                }
                // The bulk UPDATE bumped the version by one.
                match version.map(|v| &mut row[v]) {
                    Some(crate::value::Value::I64(n)) => *n += 1,
                    Some(crate::value::Value::I32(n)) => *n += 1,
                    _ => {}
                }
                true
            },
        )
        .await
    }

    /// `DELETE .. WHERE <the query's filter>`, returning the rows deleted;
    /// the matched objects leave the session ([`Synchronize::Fetch`]).
    pub async fn delete(self) -> Result<u64> {
        self.delete_with(Synchronize::Fetch).await
    }

    /// [`Query::delete`] with the synchronization chosen.
    pub async fn delete_with(self, sync: Synchronize) -> Result<u64> {
        let meta = T::meta();
        let mut shape = ShapeKey::new();
        shape.tag(41).name(meta.table);
        self.bulk(
            sync,
            shape,
            Vec::new(),
            &|dialect, parts| render::delete_where(dialect, meta, parts.filters[0]),
            |_| false,
        )
        .await
    }

    fn bulk_usage(&self, message: &str) -> Error {
        Error::Usage {
            entity: Some(T::meta().name),
            relation: None,
            message: message.to_string(),
        }
    }

    /// The shared path: checks, autoflush, transaction, the optional read
    /// of the matched rows, the statement, then the map. `after` turns a
    /// matched row into its new values and says whether the object stays.
    /// The statement comes from the template cache: `shape` is its
    /// structure, `values` its SET values, `statement` renders it with given
    /// values (or a template's markers).
    async fn bulk(
        mut self,
        sync: Synchronize,
        shape: ShapeKey,
        values: Vec<&crate::value::Value>,
        statement: &dyn Fn(Dialect, &Parts<'_>) -> crate::sql::Statement,
        mut after: impl FnMut(&mut Vec<crate::value::Value>) -> bool,
    ) -> Result<u64> {
        if !self.order.is_empty()
            || self.limit.is_some()
            || self.offset.is_some()
            || !self.loads.is_empty()
            || self.lock.is_some()
        {
            return Err(self.bulk_usage(
                "a bulk update or delete takes a filter only (no order_by, limit, offset, load or lock)",
            ));
        }
        self.session.check_usable()?;
        self.check_values(self.filter_node())?;
        self.session.autoflush().await?;
        self.session.ensure_transaction().await?;
        let dialect = self.session.dialect();
        let filter = self.filter.take();
        let writing = self.session.writing();
        let engine = self.session.engine().clone();
        let env = engine.template_env();
        let matched = if sync == Synchronize::Fetch && self.session.identity_count::<T>() > 0 {
            let spec = render::SelectSpec {
                meta: T::meta(),
                filter: filter.as_ref(),
                order: &[],
                limit: None,
                offset: None,
            };
            // One statement from the template cache (a list split at the
            // bind limit cannot be locked as one read: built whole).
            let mut read = match templated::statements(
                env,
                templated::Kind::Rows,
                &spec,
                self.use_template,
            )? {
                mut one if one.len() == 1 => one.pop().expect("one statement"),
                _ => render::select(dialect, &spec),
            };
            if let Some(clause) = super::RowLock::default().clause(dialect) {
                read.sql = format!("{} {clause}", read.sql).into();
            }
            match self.session.fetch(&read).await {
                Ok(set) => Some(set),
                Err(e) => {
                    self.session.fail_statement(&e).await;
                    return Err(e);
                }
            }
        } else {
            None
        };
        let parts = Parts {
            filters: vec![filter.as_ref()],
            subs: Vec::new(),
            values,
            limit: None,
            offset: None,
        };
        let stmt = templated::typed(
            env,
            shape,
            &parts,
            &|p| statement(dialect, p),
            T::meta().name,
            self.use_template,
        )?;
        // A failed statement (a constraint, a lock timeout) fails the
        // transaction as a failed flush does; a dropped one leaves it in
        // doubt, and the session's next call rolls it back. The map is
        // synchronized below without an await: no drop can come between.
        let done = match self.session.execute(&stmt).await {
            Ok(done) => done,
            Err(e) => {
                self.session.fail_statement(&e).await;
                return Err(e);
            }
        };
        let session = self.session;
        match matched {
            None => {
                if sync == Synchronize::Expire {
                    for h in session.identity_handles::<T>() {
                        session.expire(&h);
                    }
                }
            }
            Some(mut set) => {
                let mut staying = Vec::new();
                for mut row in std::mem::take(&mut set.rows) {
                    let key = T::key_from_row(&row)?;
                    let Some(h) = session.cached::<T>(&key) else {
                        continue;
                    };
                    if after(&mut row) {
                        session.expire(&h);
                        staying.push(row);
                    } else {
                        session.expunge(&h);
                    }
                }
                if !staying.is_empty() {
                    set.rows = staying;
                    session.materialize::<T>(set)?;
                }
            }
        }
        writing.disarm();
        Ok(done.rows_affected)
    }
}
