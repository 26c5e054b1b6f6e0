//! Versioning: a `#[version]` column is 1 on insert, goes up by one with
//! each flush that really changes the row, and is checked by the UPDATE and
//! DELETE that write it; a statement that matched fewer rows than it named
//! is stale data, named here after one more read.
//!
//! Layer 3 (the session).

use super::ordering::{Kind, Step};
use crate::error::{Error, describe_key};
use crate::model::meta::EntityMeta;
use crate::runner::Runner;
use crate::value::{Value, same};

pub(super) fn version_one(current: &Value) -> Value {
    match current {
        Value::I32(_) => Value::I32(1),
        Value::I16(_) => Value::I16(1),
        _ => Value::I64(1),
    }
}

pub(super) fn bumped(current: &Value) -> Value {
    match *current {
        Value::I32(v) => Value::I32(v.wrapping_add(1)),
        Value::I16(v) => Value::I16(v.wrapping_add(1)),
        Value::I64(v) => Value::I64(v.wrapping_add(1)),
        ref other => other.clone(),
    }
}

/// Names the first row of `step` that no longer matched, reading the rows
/// as they are now. The statement changed the rows it did match: inside
/// its transaction they would look moved too, so the caller rolls that back
/// (or back to its savepoint) before calling this.
pub(crate) async fn stale_error<R: Runner>(
    runner: &mut R,
    dialect: crate::sql::dialect::Dialect,
    meta: &'static EntityMeta,
    step: &Step,
) -> Error {
    let operation = match step.kind {
        Kind::Delete => "DELETE",
        _ => "UPDATE",
    };
    let keys: Vec<Vec<Value>> = step.checks.iter().map(|(k, _)| k.clone()).collect();
    let stmt = crate::sql::dml::select_versions(dialect, meta, &keys);
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
