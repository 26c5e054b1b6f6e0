//! Upsert: INSERT .. ON CONFLICT DO UPDATE / DO NOTHING (PostgreSQL,
//! SQLite) and INSERT .. ON DUPLICATE KEY UPDATE (MySQL) for entities,
//! single and batched, that keeps the identity map true.
//!
//! The decisions:
//!
//! * **Run now, in the session's transaction** (opened if none is), after
//!   an autoflush, like a bulk statement: an upsert's outcome (inserted or
//!   updated, and the row's values) is the database's to decide, so it is
//!   not deferred to a flush.
//! * **The rows come back from the database.** After the statement the
//!   rows are read by their conflict-target values (one SELECT per batch):
//!   generated keys, the values an update kept, and the versions, for
//!   every backend alike (MySQL has no RETURNING for an INSERT .. ON
//!   DUPLICATE KEY UPDATE). Objects of those keys already in the session
//!   are expired first, so they take the stored values; the result is the
//!   session's one handle per key.
//! * **The target** is the key unless `on(..)` names a unique column set.
//!   MySQL cannot name one: its upsert fires on any unique key (stated).
//! * Generated (`#[key(auto)]`) columns are left to the database; the
//!   `#[version]` column is 1 on insert and bumped by an update.
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use crate::error::{Error, Result};
use crate::model::column::Column;
use crate::model::entity::Entity;
use crate::session::{Handle, Session};
use crate::sql::render;
use crate::sql::templated::{self, Parts};
use crate::value::Value;
use orm_cache::template::ShapeKey;

/// An upsert being set up: [`Session::upsert`].
pub struct Upsert<'s, T: Entity> {
    session: &'s mut Session,
    rows: Vec<T>,
    target: Vec<&'static str>,
    update: Option<Vec<&'static str>>,
    nothing: bool,
}

impl Session {
    /// Inserts `rows`, or where a row with the same conflict target exists
    /// (the key, or the columns given with [`Upsert::on`]) updates it;
    /// returns the session's handle of each stored row, with the values
    /// the database holds.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Sensor {
    ///     #[key(auto)] pub id: i64,
    ///     #[column(unique, len = 20)] pub code: String,
    ///     pub reading: i64,
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Sensor::schema()]).await?;
    /// let mut s = db.session();
    /// let first = s.upsert([Sensor { id: 0, code: "t1".into(), reading: 5 }]).on(Sensor::CODE).run().await?;
    /// let again = s.upsert([Sensor { id: 0, code: "t1".into(), reading: 7 }]).on(Sensor::CODE).run().await?;
    /// assert!(Handle::ptr_eq(&first[0], &again[0]));   // one row, one object
    /// assert_eq!(again[0].read().reading, 7);
    /// s.commit().await?;
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn upsert<T: Entity>(&mut self, rows: impl IntoIterator<Item = T>) -> Upsert<'_, T> {
        Upsert {
            session: self,
            rows: rows.into_iter().collect(),
            target: Vec::new(),
            update: None,
            nothing: false,
        }
    }
}

impl<T: Entity> Upsert<'_, T> {
    /// Adds a column to the conflict target (a unique constraint's columns,
    /// in any order); without any, the primary key. Ignored by MySQL, whose
    /// upsert fires on any unique key.
    pub fn on<C>(mut self, column: Column<T, C>) -> Self {
        self.target.push(column.name());
        self
    }

    /// Updates only these columns of an existing row (repeatable); without
    /// any, every column but the key, the target and generated ones.
    pub fn update<C>(mut self, column: Column<T, C>) -> Self {
        self.update.get_or_insert_with(Vec::new).push(column.name());
        self
    }

    /// Leaves an existing row as it is (`DO NOTHING`); the result still
    /// holds its handle, with the stored values (get-or-create).
    pub fn do_nothing(mut self) -> Self {
        self.nothing = true;
        self
    }

    /// Runs it: one INSERT and one SELECT per batch (as many rows as the
    /// bind limit allows).
    pub async fn run(self) -> Result<Vec<Handle<T>>> {
        let meta = T::meta();
        let usage = |message: String| Error::Usage {
            entity: Some(meta.name),
            relation: None,
            message,
        };
        let target: Vec<&'static str> = if self.target.is_empty() {
            meta.key_columns().map(|(_, c)| c.name).collect()
        } else {
            self.target.clone()
        };
        let auto = meta.auto_key();
        if let Some(a) = auto
            && target.contains(&meta.columns[a].name)
        {
            return Err(usage(format!(
                "the conflict target of an upsert cannot be the generated key {}: name a unique column with on(..)",
                meta.columns[a].name
            )));
        }
        let version = meta.version_column();
        let columns: Vec<usize> = (0..meta.columns.len())
            .filter(|&i| Some(i) != auto)
            .collect();
        let update: Option<Vec<&'static str>> = if self.nothing {
            None
        } else {
            Some(match &self.update {
                Some(cols) => cols.clone(),
                None => columns
                    .iter()
                    .map(|&i| &meta.columns[i])
                    .filter(|c| !c.primary_key && !c.version && !target.contains(&c.name))
                    .map(|c| c.name)
                    .collect(),
            })
        };
        let session = self.session;
        session.check_usable()?;
        let dialect = session.dialect();
        let mut rows: Vec<Vec<Value>> = self.rows.iter().map(|r| r.to_row()).collect();
        for row in &mut rows {
            if let Some(v) = version {
                row[v] = match row[v] {
                    Value::I32(_) => Value::I32(1),
                    _ => Value::I64(1),
                };
            }
            crate::sql::dml::check_values(dialect, meta, row.iter().enumerate())?;
        }
        session.autoflush().await?;
        session.ensure_transaction().await?;
        let target_at: Vec<usize> = target
            .iter()
            .map(|t| {
                meta.columns
                    .iter()
                    .position(|c| c.name == *t)
                    .expect("a column of the entity")
            })
            .collect();
        let per_batch = (session.engine().bind_limit() / columns.len().max(1)).clamp(1, 500);
        let mut out = Vec::with_capacity(rows.len());
        let writing = session.writing();
        // Both statements of a batch come from the template cache, keyed by
        // their structure and row count (as the flush's INSERTs are).
        let engine = session.engine().clone();
        let env = engine.template_env();
        let bump = update.as_ref().and(version.map(|v| meta.columns[v].name));
        for batch in rows.chunks(per_batch) {
            let mut shape = ShapeKey::new();
            shape.tag(42).name(meta.table).number(batch.len() as u64);
            for &c in &columns {
                shape.number(c as u64);
            }
            for t in &target {
                shape.name(t);
            }
            match &update {
                Some(cols) => {
                    shape.tag(1).number(cols.len() as u64);
                    for c in cols {
                        shape.name(c);
                    }
                }
                None => drop(shape.tag(0)),
            }
            shape.tag(u8::from(bump.is_some()));
            let parts = Parts {
                filters: Vec::new(),
                subs: Vec::new(),
                values: batch
                    .iter()
                    .flat_map(|row| columns.iter().map(move |&i| &row[i]))
                    .collect(),
                limit: None,
                offset: None,
            };
            let write = |p: &Parts<'_>| {
                let mut cells = p.values.iter();
                let rows: Vec<Vec<Value>> = batch
                    .iter()
                    .map(|_| {
                        let mut row =
                            vec![Value::Null(crate::value::SqlType::Text); meta.columns.len()];
                        for &i in &columns {
                            row[i] = (*cells.next().expect("a cell per column")).clone();
                        }
                        row
                    })
                    .collect();
                render::upsert(
                    dialect,
                    meta,
                    &columns,
                    &rows,
                    &target,
                    update.as_deref(),
                    bump,
                )
            };
            let stmt = templated::typed(env, shape, &parts, &write, meta.name, true)?;
            if let Err(e) = session.execute(&stmt).await {
                session.fail_statement(&e).await;
                return Err(e);
            }
            let tuples: Vec<Vec<Value>> = batch
                .iter()
                .map(|row| target_at.iter().map(|&i| row[i].clone()).collect())
                .collect();
            let mut shape = ShapeKey::new();
            shape.tag(43).name(meta.table).number(tuples.len() as u64);
            for t in &target {
                shape.name(t);
            }
            let parts = Parts {
                filters: Vec::new(),
                subs: Vec::new(),
                values: tuples.iter().flatten().collect(),
                limit: None,
                offset: None,
            };
            let select = |p: &Parts<'_>| {
                let cells: Vec<Value> = p.values.iter().map(|v| (*v).clone()).collect();
                let tuples: Vec<Vec<Value>> =
                    cells.chunks(target.len()).map(<[Value]>::to_vec).collect();
                render::select_tuples(dialect, meta, &target, &tuples)
            };
            let read = templated::typed(env, shape, &parts, &select, meta.name, true)?;
            let set = match session.fetch(&read).await {
                Ok(set) => set,
                Err(e) => {
                    session.fail_statement(&e).await;
                    return Err(e);
                }
            };
            for row in &set.rows {
                let key = T::key_from_row(row)?;
                if let Some(h) = session.cached::<T>(&key) {
                    session.expire(&h);
                }
            }
            // In the order the rows were given.
            let found = session.materialize::<T>(set)?;
            for t in &tuples {
                if let Some(h) = found.iter().find(|h| {
                    let row = h.loaded_row();
                    target_at
                        .iter()
                        .zip(t)
                        .all(|(&i, v)| crate::value::compare(&row[i], v, false).is_eq())
                }) {
                    out.push(h.clone());
                }
            }
        }
        writing.disarm();
        Ok(out)
    }
}
