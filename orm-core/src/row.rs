//! Plain rows: the hot read path that bypasses the identity map.
//!
//! A [`RowSet`] is what the backend seam returns for every query: column
//! names (shared by all rows) and each row's [`Value`]s. Entity loading
//! consumes the values by move; plain-row users read them by name or by
//! position through [`Row`].
//!
//! Layer 0 (values, rows and errors): it uses nothing of the ORM (see `crate::layers`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::value::{ColumnValue, Value};

/// The rows of one result, as the backend decoded them.
#[derive(Debug, Clone, Default)]
pub struct RowSet {
    pub(crate) columns: Arc<[Box<str>]>,
    pub(crate) rows: Vec<Vec<Value>>,
}

impl RowSet {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Splits into [`Row`]s that share the column names.
    pub fn into_rows(self) -> Vec<Row> {
        let columns = self.columns;
        self.rows
            .into_iter()
            .map(|values| Row {
                columns: columns.clone(),
                values,
            })
            .collect()
    }
}

/// One row, readable by column name or by position.
///
/// ```
/// # use orm_core::{Row, Value};
/// let row = Row::new(vec!["id".into(), "name".into()], vec![Value::I64(7), Value::Text("ada".into())]);
/// assert_eq!(row.get::<i64>("id").unwrap(), 7);
/// assert_eq!(row.get_at::<String>(1).unwrap(), "ada");
/// assert!(row.get::<i64>("nope").is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[Box<str>]>,
    values: Vec<Value>,
}

impl Row {
    /// Builds a row by hand (tests, caches).
    pub fn new(columns: Vec<Box<str>>, values: Vec<Value>) -> Row {
        Row {
            columns: columns.into(),
            values,
        }
    }

    /// The column names, in select order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| &**c)
    }

    /// The raw values, in select order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values, moved out.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no column.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The position of a column by name (case-sensitive, first match).
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.columns
            .iter()
            .position(|c| &**c == name)
            .ok_or_else(|| Error::NoSuchColumn(name.to_string()))
    }

    /// Decodes the column called `name`.
    pub fn get<T: ColumnValue>(&self, name: &str) -> Result<T> {
        self.get_at(self.index_of(name)?)
    }

    /// Decodes the column at `index` (0-based).
    pub fn get_at<T: ColumnValue>(&self, index: usize) -> Result<T> {
        let value = self.values.get(index).ok_or(Error::ColumnIndex {
            index,
            len: self.values.len(),
        })?;
        T::from_value(value.clone()).map_err(|f| Error::Decode {
            entity: "row",
            column: self
                .columns
                .get(index)
                .map(|c| c.to_string())
                .unwrap_or_else(|| index.to_string()),
            expected: f.expected,
            found: f.found,
        })
    }
}
