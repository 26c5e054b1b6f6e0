//! Running a flush plan: each [`Step`] on a [`Runner`] (the session's
//! transaction, or the pool for a commit that is one statement), generated
//! keys collected per entity type, row counts checked.
//!
//! An UPDATE or DELETE that matched fewer rows than it named is stale data:
//! the caller rolls the transaction back (or back to its savepoint: the
//! rows the statement did match would look moved inside it), then one more
//! SELECT finds the first such row and the error names its entity, key and
//! versions. (MySQL reports *matched* rows here because sqlx sets
//! `CLIENT_FOUND_ROWS`, so an UPDATE that writes identical values still
//! counts its row.)

use super::flush_plan::{self, Kind, Step};
use super::tracker::same;
use crate::error::{Error, Result, describe_key};
use crate::meta::EntityMeta;
use crate::query::Statement;
use crate::runner::Runner;
use crate::value::Value;

/// Generated keys of each entity type of a flush (by type index); `None`
/// for types whose keys are not generated.
pub(crate) type Keys = Vec<Option<Vec<Value>>>;

/// Why [`run_steps`] stopped.
pub(crate) enum StepError {
    Failed(Error),
    /// Step `step` matched fewer rows than it named: the caller rolls back
    /// what it must, then names the row with [`stale_error`].
    Stale {
        step: usize,
    },
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Failed(e)
    }
}

/// Runs `steps` on `runner`; returns the generated keys of each type.
pub(crate) async fn run_steps<R: Runner>(
    runner: &mut R,
    steps: &[Step],
    metas: &[&'static EntityMeta],
) -> Result<Keys, StepError> {
    let mut keys: Keys = metas
        .iter()
        .map(|m| m.auto_key().map(|_| Vec::new()))
        .collect();
    let mut step_size = None;
    for (n, step) in steps.iter().enumerate() {
        let meta = metas[step.type_index];
        match step.kind {
            Kind::Insert if step.returning => {
                let set = runner
                    .fetch(&step.stmt)
                    .await
                    .map_err(|e| e.for_entity(meta.name))?;
                if let Some(out) = &mut keys[step.type_index] {
                    out.extend(set.rows.into_iter().filter_map(|mut r| r.pop()));
                }
            }
            Kind::Insert => {
                let done = runner
                    .execute(&step.stmt)
                    .await
                    .map_err(|e| e.for_entity(meta.name))?;
                if let (Some(out), Some(first)) = (&mut keys[step.type_index], done.last_insert_id)
                {
                    let increment = match step_size {
                        Some(s) => s,
                        None => *step_size.insert(auto_increment_step(runner).await?),
                    };
                    out.extend((0..step.rows as i64).map(|i| Value::I64(first + i * increment)));
                }
            }
            Kind::Fixup | Kind::Update | Kind::Delete => {
                let done = runner
                    .execute(&step.stmt)
                    .await
                    .map_err(|e| e.for_entity(meta.name))?;
                if done.rows_affected != step.rows as u64 {
                    return Err(StepError::Stale { step: n });
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
            return Err(StepError::Failed(Error::Config(format!(
                "{}: expected {expected} generated keys, the database returned {}",
                meta.name,
                k.len()
            ))));
        }
    }
    Ok(keys)
}

/// MySQL's `auto_increment_increment` (1 unless replication says otherwise).
async fn auto_increment_step<R: Runner>(runner: &mut R) -> Result<i64> {
    let stmt = Statement::new("SELECT @@auto_increment_increment", vec![]);
    let set = runner.fetch(&stmt).await?;
    Ok(set
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_i64)
        .unwrap_or(1))
}

/// Names the first row of `step` that no longer matched, reading the rows
/// as they are now. The statement changed the rows it did match: inside
/// its transaction they would look moved too, so the caller rolls that back
/// (or back to its savepoint) before calling this.
pub(crate) async fn stale_error<R: Runner>(
    runner: &mut R,
    dialect: crate::Dialect,
    meta: &'static EntityMeta,
    step: &Step,
) -> Error {
    let operation = match step.kind {
        Kind::Delete => "DELETE",
        _ => "UPDATE",
    };
    let keys: Vec<Vec<Value>> = step.checks.iter().map(|(k, _)| k.clone()).collect();
    let stmt = flush_plan::select_versions(dialect, meta, &keys);
    let found = match runner.fetch(&stmt).await {
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
