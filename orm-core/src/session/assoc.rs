//! Association-table rows of many-to-many relationships: collected by the
//! flush from collection changes, written as set operations.
//!
//! A pair is recorded in one orientation (columns in name order), so when
//! both sides declare the relationship and both collections changed, the
//! row is written once. Deletes run before the flush's entity statements
//! (a deleted object's rows first: `DELETE .. WHERE owner IN (..)`), inserts
//! after every entity insert (both keys exist then). They are written with
//! the flush's writer, so they go through the template cache like every
//! other flush statement.
//!
//! Layer 3 (the session): it uses only what is below it (see `crate::layers`).

use indexmap::IndexMap;

use orm_cache::template::ShapeKey;

use crate::error::{Error, Result};
use crate::model::fields::Obj;
use crate::model::fields::ObjectState;
use crate::model::relation::RelationMeta;
use crate::sql::Statement;
use crate::sql::dml::Writer;
use crate::value::Value;

/// Most pairs in one statement.
const MAX_PAIRS: usize = 1000;

struct Pair {
    table: &'static str,
    columns: (&'static str, &'static str),
    left: Obj,
    right: Obj,
    insert: bool,
}

#[derive(Default)]
pub(crate) struct AssocChanges {
    pairs: IndexMap<(&'static str, usize, usize), Pair>,
    /// Rows of deleted objects: (table, column, object).
    owners: Vec<(&'static str, &'static str, Obj)>,
}

impl AssocChanges {
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty() && self.owners.is_empty()
    }

    pub(crate) fn has_inserts(&self) -> bool {
        self.pairs.values().any(|p| p.insert)
    }

    /// Records that `owner` gained (`insert`) or lost `target` in `rel`.
    pub(crate) fn pair(
        &mut self,
        rel: &'static RelationMeta,
        owner: &Obj,
        target: &Obj,
        insert: bool,
    ) {
        let Some(via) = &rel.via else { return };
        let (left, right, columns) = if via.owner_column <= via.target_column {
            (owner, target, (via.owner_column, via.target_column))
        } else {
            (target, owner, (via.target_column, via.owner_column))
        };
        self.pairs.insert(
            (via.table, left.addr(), right.addr()),
            Pair {
                table: via.table,
                columns,
                left: left.clone(),
                right: right.clone(),
                insert,
            },
        );
    }

    /// Records that `owner` is deleted: every row naming it goes.
    pub(crate) fn owner_deleted(&mut self, rel: &'static RelationMeta, owner: &Obj) {
        if let Some(via) = &rel.via
            && !self.owners.iter().any(|(t, c, o)| {
                *t == via.table && *c == via.owner_column && o.addr() == owner.addr()
            })
        {
            self.owners
                .push((via.table, via.owner_column, owner.clone()));
        }
    }

    /// The tables these changes write.
    pub(crate) fn tables(&self) -> Vec<&'static str> {
        let mut t: Vec<&'static str> = self.pairs.values().map(|p| p.table).collect();
        t.extend(self.owners.iter().map(|(t, _, _)| *t));
        t.sort_unstable();
        t.dedup();
        t
    }

    /// DELETEs: rows of deleted objects, then removed pairs (a pair whose
    /// side never reached the database has no row).
    pub(crate) fn deletes(&self, w: Writer<'_>) -> Result<Vec<Statement>> {
        let mut out = Vec::new();
        let mut by_column: IndexMap<(&'static str, &'static str), Vec<Value>> = IndexMap::new();
        for (table, column, o) in &self.owners {
            if let Some(k) = o.key_value() {
                by_column.entry((*table, *column)).or_default().push(k);
            }
        }
        for ((table, column), keys) in by_column {
            for part in keys.chunks(MAX_PAIRS) {
                out.push(
                    w.statement(shape(110, w, table, column, column, part.len()), |sql| {
                        sql.raw("DELETE FROM ")
                            .ident(table)
                            .raw(" WHERE ")
                            .ident(column)
                            .raw(" IN (");
                        for (i, k) in part.iter().enumerate() {
                            if i > 0 {
                                sql.raw(", ");
                            }
                            sql.param(k.clone());
                        }
                        sql.raw(")");
                    })?,
                );
            }
        }
        let removed = grouped(self.pairs.values().filter(|p| !p.insert), |o| {
            Ok(o.key_value())
        })?;
        for ((table, (a, b)), rows) in removed {
            for part in rows.chunks(MAX_PAIRS) {
                out.push(w.statement(shape(111, w, table, a, b, part.len()), |sql| {
                    sql.raw("DELETE FROM ").ident(table).raw(" WHERE ");
                    for (i, (l, r)) in part.iter().enumerate() {
                        if i > 0 {
                            sql.raw(" OR ");
                        }
                        sql.raw("(")
                            .ident(a)
                            .raw(" = ")
                            .param(l.clone())
                            .raw(" AND ");
                        sql.ident(b).raw(" = ").param(r.clone()).raw(")");
                    }
                })?);
            }
        }
        Ok(out)
    }

    /// INSERTs of added pairs (after the entity inserts: every key is known).
    pub(crate) fn inserts(&self, w: Writer<'_>, bind_limit: usize) -> Result<Vec<Statement>> {
        let live = |o: &Obj| !matches!(o.state(), ObjectState::Deleted | ObjectState::Detached);
        let added = grouped(
            self.pairs
                .values()
                .filter(|p| p.insert && live(&p.left) && live(&p.right)),
            |o| {
                o.key_value().map(Some).ok_or_else(|| Error::Usage {
                    entity: Some(o.meta().name),
                    relation: None,
                    message: format!(
                        "a {} in a many-to-many collection was never inserted",
                        o.meta().name
                    ),
                })
            },
        )?;
        let per = (bind_limit / 2).clamp(1, MAX_PAIRS);
        let mut out = Vec::new();
        for ((table, (a, b)), rows) in added {
            for part in rows.chunks(per) {
                out.push(w.statement(shape(112, w, table, a, b, part.len()), |sql| {
                    sql.raw("INSERT INTO ")
                        .ident(table)
                        .raw(" (")
                        .ident(a)
                        .raw(", ")
                        .ident(b);
                    sql.raw(") VALUES ");
                    for (i, (l, r)) in part.iter().enumerate() {
                        if i > 0 {
                            sql.raw(", ");
                        }
                        sql.raw("(")
                            .param(l.clone())
                            .raw(", ")
                            .param(r.clone())
                            .raw(")");
                    }
                })?);
            }
        }
        Ok(out)
    }
}

/// Pairs grouped by (table, columns), as key values; `key` gives a side's
/// key, `None` to leave the pair out.
type Groups = IndexMap<(&'static str, (&'static str, &'static str)), Vec<(Value, Value)>>;

fn grouped<'p>(
    pairs: impl Iterator<Item = &'p Pair>,
    key: impl Fn(&Obj) -> Result<Option<Value>>,
) -> Result<Groups> {
    let mut groups = Groups::new();
    for p in pairs {
        if let (Some(l), Some(r)) = (key(&p.left)?, key(&p.right)?) {
            groups.entry((p.table, p.columns)).or_default().push((l, r));
        }
    }
    Ok(groups)
}

/// The template key of an association statement: kind, table, columns, rows.
fn shape(
    kind: u8,
    w: Writer<'_>,
    table: &'static str,
    a: &'static str,
    b: &'static str,
    rows: usize,
) -> ShapeKey {
    let mut k = ShapeKey::new();
    k.tag(kind)
        .tag(w.dialect as u8)
        .name(table)
        .name(a)
        .name(b)
        .number(rows as u64);
    k
}
