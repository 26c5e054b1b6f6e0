//! Plain rows: the hot read path that bypasses the identity map.
//!
//! [`FromRow`] reads a row into a struct by column name; its derive,
//! `#[derive(FromRow)]`, reads each field from the column of its name
//! (`#[from_row(rename = "..")]` for another), so a typed select whose
//! items carry labels (`Order::TOTAL.sum().label("total")`) or a raw SQL
//! query lands in a named struct instead of a tuple.
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

    /// A row over column names shared with other rows.
    pub(crate) fn shared(columns: Arc<[Box<str>]>, values: Vec<Value>) -> Row {
        Row { columns, values }
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

/// A struct read from one row by column name: what
/// `#[derive(FromRow)]` implements, reading each field from the column of
/// its name (or `#[from_row(rename = "column")]`). Typed selects
/// ([`crate::Select::all_as`], [`crate::JoinSelect::all_as`]) and raw SQL
/// ([`crate::SqlQuery::all_as`]) return such structs.
///
/// ```
/// # use orm_core::{FromRow, Row, Value};
/// #[derive(FromRow, Debug, PartialEq)]
/// struct Total {
///     shop: String,
///     #[from_row(rename = "sum_total")]
///     total: Option<i64>,
/// }
/// let row = Row::new(
///     vec!["shop".into(), "sum_total".into()],
///     vec![Value::Text("a".into()), Value::I64(40)],
/// );
/// assert_eq!(Total::from_row(&row)?, Total { shop: "a".into(), total: Some(40) });
/// // A column the row lacks is an error naming the struct and the column.
/// let short = Row::new(vec!["shop".into()], vec![Value::Text("a".into())]);
/// assert!(Total::from_row(&short).unwrap_err().to_string().contains("`Total` reads a column named \"sum_total\""));
/// # Ok::<(), orm_core::Error>(())
/// ```
pub trait FromRow: Sized {
    /// Reads one row.
    fn from_row(row: &Row) -> Result<Self>;
}

impl Row {
    /// Decodes column `column` for field reads of struct `target`
    /// (`#[derive(FromRow)]`): errors name the struct.
    #[doc(hidden)]
    pub fn read_for<T: ColumnValue>(
        &self,
        target: &'static str,
        column: &'static str,
    ) -> Result<T> {
        // Exactly, then ignoring ASCII case (servers fold unquoted names in
        // raw SQL differently); a name found twice is refused either way.
        let find = |same: &dyn Fn(&str) -> bool| {
            let mut named = self.columns.iter().enumerate().filter(|(_, c)| same(c));
            let found = named.next().map(|(i, _)| i);
            (found, found.is_some() && named.next().is_some())
        };
        let (mut found, mut twice) = find(&|c| c == column);
        if found.is_none() {
            (found, twice) = find(&|c| c.eq_ignore_ascii_case(column));
        }
        if twice {
            return Err(Error::AmbiguousColumn { target, column });
        }
        let Some(index) = found else {
            return Err(Error::MissingColumn {
                target,
                column,
                found: self.columns.iter().map(|c| c.to_string()).collect(),
            });
        };
        T::from_value(self.values[index].clone()).map_err(|f| Error::Decode {
            entity: target,
            column: column.to_string(),
            expected: f.expected,
            found: f.found,
        })
    }
}
