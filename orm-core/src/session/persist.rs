//! Running a flush plan: each [`Step`] on the session's transaction,
//! generated keys collected per entity type, row counts checked.
//!
//! An UPDATE or DELETE that matched fewer rows than it named is stale data:
//! the transaction is rolled back (the rows the statement did match would
//! look moved inside it), then one more SELECT finds the first such row and
//! the error names its entity, key and versions. (MySQL reports *matched* rows here because sqlx sets
//! `CLIENT_FOUND_ROWS`, so an UPDATE that writes identical values still
//! counts its row.)

use super::Session;
use super::flush_plan::{self, Kind, Step};
use super::tracker::same;
use crate::error::{Error, Result, describe_key};
use crate::meta::EntityMeta;
use crate::query::Statement;
use crate::value::Value;

impl Session {
    /// Runs `steps`; returns the generated keys of each type (by type index).
    pub(super) async fn run_steps(
        &mut self,
        steps: &[Step],
        metas: &[&'static EntityMeta],
    ) -> Result<Vec<Option<Vec<Value>>>> {
        let mut keys: Vec<Option<Vec<Value>>> = metas
            .iter()
            .map(|m| m.auto_key().map(|_| Vec::new()))
            .collect();
        let mut step_size = None;
        for step in steps {
            let meta = metas[step.type_index];
            match step.kind {
                Kind::Insert if step.returning => {
                    let set = self
                        .fetch(&step.stmt)
                        .await
                        .map_err(|e| e.for_entity(meta.name))?;
                    if let Some(out) = &mut keys[step.type_index] {
                        out.extend(set.rows.into_iter().filter_map(|mut r| r.pop()));
                    }
                }
                Kind::Insert => {
                    let done = self
                        .execute(&step.stmt)
                        .await
                        .map_err(|e| e.for_entity(meta.name))?;
                    if let (Some(out), Some(first)) =
                        (&mut keys[step.type_index], done.last_insert_id)
                    {
                        let increment = match step_size {
                            Some(s) => s,
                            None => *step_size.insert(self.auto_increment_step().await?),
                        };
                        out.extend(
                            (0..step.rows as i64).map(|i| Value::I64(first + i * increment)),
                        );
                    }
                }
                Kind::Fixup | Kind::Update | Kind::Delete => {
                    let done = self
                        .execute(&step.stmt)
                        .await
                        .map_err(|e| e.for_entity(meta.name))?;
                    if done.rows_affected != step.rows as u64 {
                        return Err(self.stale(meta, step).await);
                    }
                }
            }
        }
        for (i, meta) in metas.iter().enumerate() {
            let expected: usize = steps
                .iter()
                .filter(|s| s.type_index == i && s.kind == Kind::Insert)
                .map(|s| s.rows)
                .sum();
            if let Some(k) = &keys[i]
                && k.len() != expected
            {
                return Err(Error::Config(format!(
                    "{}: expected {expected} generated keys, the database returned {}",
                    meta.name,
                    k.len()
                )));
            }
        }
        Ok(keys)
    }

    /// MySQL's `auto_increment_increment` (1 unless replication says otherwise).
    async fn auto_increment_step(&mut self) -> Result<i64> {
        let stmt = Statement::new("SELECT @@auto_increment_increment", vec![]);
        let set = self.fetch(&stmt).await?;
        Ok(set
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64)
            .unwrap_or(1))
    }

    /// Names the first row of `step` that no longer matched.
    async fn stale(&mut self, meta: &'static EntityMeta, step: &Step) -> Error {
        let operation = match step.kind {
            Kind::Delete => "DELETE",
            _ => "UPDATE",
        };
        let keys: Vec<Vec<Value>> = step.checks.iter().map(|(k, _)| k.clone()).collect();
        // The statement changed the rows it did match: inside the
        // transaction they would look moved too. The flush fails anyway, so
        // roll back first and read the rows as they are.
        if let Some(tx) = self.tx.take() {
            let _ = tx.rollback().await;
            self.record_transaction();
        }
        let stmt = flush_plan::select_versions(self.dialect(), meta, &keys);
        let found = match self.fetch(&stmt).await {
            Ok(set) => set.rows,
            Err(e) => return e.for_entity(meta.name),
        };
        let width = meta.key_columns().count();
        for (key, expected) in &step.checks {
            let row = found
                .iter()
                .find(|r| r.len() >= width && r[..width].iter().zip(key).all(|(a, b)| same(a, b)));
            let actual = row.and_then(|r| r.get(width)).and_then(Value::as_i64);
            let version_differs =
                expected.as_ref().and_then(Value::as_i64) != actual && expected.is_some();
            if row.is_none() || version_differs {
                return Error::StaleData {
                    entity: meta.name,
                    key: describe_key(key),
                    operation,
                    expected_version: expected.as_ref().and_then(Value::as_i64),
                    actual_version: actual,
                    row_exists: row.is_some(),
                };
            }
        }
        let (key, expected) = &step.checks[0];
        Error::StaleData {
            entity: meta.name,
            key: describe_key(key),
            operation,
            expected_version: expected.as_ref().and_then(Value::as_i64),
            actual_version: None,
            row_exists: true,
        }
    }
}
