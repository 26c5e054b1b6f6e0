//! Keyset pagination: pages by the last value seen of a unique, ordered
//! column (`WHERE id > ? ORDER BY id LIMIT n`), never by OFFSET, so a page
//! costs the same however deep it is and rows inserted meanwhile neither
//! repeat nor go missing.
//!
//! Layer 4 (queries): it uses only what is below it (see `crate::layers`).

use crate::error::{Error, Result};
use crate::model::column::{Column, Comparable, Operand};
use crate::model::entity::Entity;
use crate::query::Query;
use crate::session::Handle;
use crate::value::ColumnValue;

/// One page: its objects, and the value to pass for the next page (`None`
/// after the last one).
#[derive(Debug)]
pub struct Page<T: Entity, K> {
    /// The page's objects, through the identity map.
    pub items: Vec<Handle<T>>,
    /// The last item's value of the column: pass it for the next page.
    pub next: Option<K>,
}

impl<T: Entity> Query<'_, T> {
    /// The `size` objects after `after` in ascending order of `column` (the
    /// first page for `None`), with the query's filter. `column` must be
    /// unique (the key is the usual choice), or rows sharing a value at a
    /// page's edge are skipped.
    ///
    /// ```
    /// # use orm_core::prelude::*;
    /// #[entity]
    /// pub struct Event { #[key(auto)] pub id: i64, pub kind: String }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_all(&[Event::schema()]).await?;
    /// let mut s = db.session();
    /// s.add_all((0..5).map(|_| Event { id: 0, kind: "x".into() }));
    /// s.flush().await?;
    /// let mut after = None;
    /// let mut seen = 0;
    /// loop {
    ///     let page = s.query::<Event>().page_after(Event::ID, after, 2).await?;
    ///     seen += page.items.len();
    ///     match page.next { Some(n) => after = Some(n), None => break }
    /// }
    /// assert_eq!(seen, 5);
    /// # Ok::<(), orm_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn page_after<K>(
        self,
        column: Column<T, K>,
        after: Option<K>,
        size: u64,
    ) -> Result<Page<T, K>>
    where
        K: Comparable<Base = K> + ColumnValue + Operand<K>,
    {
        self.page(column, after, size, false).await
    }

    /// [`Query::page_after`] in descending order (the next page holds
    /// smaller values).
    pub async fn page_before<K>(
        self,
        column: Column<T, K>,
        before: Option<K>,
        size: u64,
    ) -> Result<Page<T, K>>
    where
        K: Comparable<Base = K> + ColumnValue + Operand<K>,
    {
        self.page(column, before, size, true).await
    }

    async fn page<K>(
        mut self,
        column: Column<T, K>,
        from: Option<K>,
        size: u64,
        desc: bool,
    ) -> Result<Page<T, K>>
    where
        K: Comparable<Base = K> + ColumnValue + Operand<K>,
    {
        if !self.order.is_empty() || self.limit.is_some() || self.offset.is_some() {
            return Err(Error::Usage {
                entity: Some(T::meta().name),
                relation: None,
                message: "a keyset page sets its own order and limit: no order_by, limit or offset"
                    .into(),
            });
        }
        if let Some(v) = from {
            self = self.filter(if desc { column.lt(v) } else { column.gt(v) });
        }
        let query = self
            .order_by(if desc { column.desc() } else { column.asc() })
            .limit(size.max(1));
        let items = query.all().await?;
        let next = if (items.len() as u64) < size.max(1) {
            None
        } else {
            let last = items.last().expect("a full page has a last item");
            let value = last.read().column_value(column.index());
            Some(K::from_value(value.clone()).map_err(|f| Error::Decode {
                entity: T::meta().name,
                column: column.name().to_string(),
                expected: f.expected,
                found: f.found,
            })?)
        };
        Ok(Page { items, next })
    }
}
