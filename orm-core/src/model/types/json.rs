//! [`AsJson`]: any `serde` type as a JSON column.
//!
//! Layer 1 (the model): it uses only what is below it (see `crate::layers`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Converter;
use crate::value::{DecodeFailure, SqlType, Value};

/// Stores any `Serialize + DeserializeOwned` type as JSON: `jsonb` on
/// PostgreSQL, `JSON` on MySQL/MariaDB, `TEXT` on SQLite.
///
/// ```
/// use orm_core::{AsJson, Converter, Value};
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Limits { max: u32 }
///
/// let v = AsJson::to_value(&Limits { max: 3 });
/// assert_eq!(v, Value::Json(Box::new(serde_json::json!({"max": 3}))));
/// assert_eq!(AsJson::from_value(v), Ok(Limits { max: 3 }));
///
/// let bad = <AsJson as Converter<Limits>>::from_value(Value::Text("{\"min\": 1}".into())).unwrap_err();
/// assert!(bad.found.starts_with("text \"{\\\"min\\\": 1}\" (missing field `max`"), "{}", bad.found);
/// ```
///
/// A decode failure keeps serde's reason (`missing field ..`) after the stored
/// value. Encoding panics only for a type whose `Serialize` fails (a map with
/// non-string keys), see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct AsJson;

impl<T: Serialize + DeserializeOwned> Converter<T> for AsJson {
    const SQL_TYPE: SqlType = SqlType::Json;

    fn to_value(value: &T) -> Value {
        match serde_json::to_value(value) {
            Ok(json) => Value::Json(Box::new(json)),
            Err(e) => panic!(
                "AsJson cannot store a `{}`: its Serialize implementation failed ({e}); \
                 JSON needs string map keys",
                std::any::type_name::<T>()
            ),
        }
    }

    fn from_value(value: Value) -> Result<T, DecodeFailure> {
        let decoded = match &value {
            Value::Json(json) => T::deserialize(json.as_ref()),
            // SQLite (and MariaDB, whose JSON is LONGTEXT) return text.
            Value::Text(s) => serde_json::from_str(s),
            _ => return Err(DecodeFailure::new(std::any::type_name::<T>(), &value)),
        };
        decoded.map_err(|e| {
            let mut failure = DecodeFailure::new(std::any::type_name::<T>(), &value);
            failure.found = format!("{} ({e})", failure.found);
            failure
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn maps_and_vectors_round_trip() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), vec![1, 2]);
        let v = AsJson::to_value(&m);
        assert_eq!(AsJson::from_value(v), Ok(m.clone()));
        let text = Value::Text(r#"{"a":[1,2]}"#.into());
        assert_eq!(AsJson::from_value(text), Ok(m));
    }

    #[test]
    fn wrong_shapes_are_failures() {
        let err =
            <AsJson as Converter<Vec<i32>>>::from_value(Value::Text("{}".into())).unwrap_err();
        assert!(
            err.found.starts_with("text \"{}\" (invalid type"),
            "{}",
            err.found
        );
        let err = <AsJson as Converter<Vec<i32>>>::from_value(Value::I64(1)).unwrap_err();
        assert_eq!(err.found, "i64 1");
    }
}

/// A typed JSON column: `Json<T>` stores any `Serialize + DeserializeOwned`
/// value as JSON (as [`AsJson`] does for a plain field), with no
/// `#[column(with = ..)]` attribute; `.0` is the value.
///
/// ```
/// use orm_core::{ColumnValue, Json, Value};
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Limits { max: u32 }
///
/// let v = Json(Limits { max: 3 }).to_value();
/// assert_eq!(v, Value::Json(Box::new(serde_json::json!({"max": 3}))));
/// assert_eq!(Json::<Limits>::from_value(v), Ok(Json(Limits { max: 3 })));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize + DeserializeOwned> crate::value::ColumnValue for Json<T> {
    const SQL_TYPE: SqlType = SqlType::Json;

    fn to_value(&self) -> Value {
        <AsJson as Converter<T>>::to_value(&self.0)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        <AsJson as Converter<T>>::from_value(value).map(Json)
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}
