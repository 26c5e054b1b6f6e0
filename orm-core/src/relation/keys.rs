//! Grouping rows by key values: [`ValueKey`] hashes a [`Value`] so that
//! the values a foreign key and a primary key hold compare equal across
//! integer widths (an `i32` key column read back as `i64` on one backend
//! and as `i32` on another is still one key).
//!
//! Layer 2 (relationship collections): it uses only what is below it (see `crate::layers`).

use std::hash::{Hash, Hasher};

use crate::value::Value;

/// A hashable, comparable single-column key (relationships join on one
/// column): no allocation beyond the value's own.
#[derive(Debug, Clone)]
pub(crate) struct ValueKey(pub(crate) Value);

impl ValueKey {
    pub(crate) fn one(v: Value) -> ValueKey {
        ValueKey(v)
    }
}

fn integer(v: &Value) -> Option<i64> {
    match *v {
        Value::I16(x) => Some(x.into()),
        Value::I32(x) => Some(x.into()),
        Value::I64(x) => Some(x),
        _ => None,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

impl PartialEq for ValueKey {
    fn eq(&self, other: &Self) -> bool {
        same(&self.0, &other.0)
    }
}

impl Eq for ValueKey {}

impl Hash for ValueKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        {
            let v = &self.0;
            match v {
                Value::I16(_) | Value::I32(_) | Value::I64(_) => {
                    0u8.hash(state);
                    integer(v).hash(state);
                }
                Value::Text(s) => {
                    1u8.hash(state);
                    s.hash(state);
                }
                Value::Uuid(u) => {
                    2u8.hash(state);
                    u.hash(state);
                }
                Value::Bytes(b) => {
                    3u8.hash(state);
                    b.hash(state);
                }
                // Equal decimals hash alike whatever their scale (12.5, 12.50).
                Value::Decimal(d) => {
                    5u8.hash(state);
                    d.hash(state);
                }
                other => {
                    4u8.hash(state);
                    other.describe().hash(state);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn integer_widths_are_one_key() {
        let mut set = HashSet::new();
        set.insert(ValueKey::one(Value::I32(7)));
        assert!(set.contains(&ValueKey::one(Value::I64(7))));
        assert!(!set.contains(&ValueKey::one(Value::I64(8))));
        assert!(!set.contains(&ValueKey::one(Value::Text("7".into()))));
    }
}
