//! Association-table rows of many-to-many relationships: collected by the
//! flush from collection changes, written as set operations.
//!
//! A pair is recorded in one orientation (columns in name order), so when
//! both sides declare the relationship and both collections changed, the
//! row is written once. Deletes run before the flush's entity statements
//! (a deleted object's rows first: `DELETE .. WHERE owner IN (..)`), inserts
//! after every entity insert (both keys exist then).

use indexmap::IndexMap;

use super::RelationMeta;
use super::object::Obj;
use crate::backend::Dialect;
use crate::error::{Error, Result};
use crate::query::{Statement, render};
use crate::session::ObjectState;
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

    /// DELETEs: rows of deleted objects, then removed pairs.
    pub(crate) fn deletes(&self, dialect: Dialect) -> Result<Vec<Statement>> {
        let mut out = Vec::new();
        let mut by_column: IndexMap<(&'static str, &'static str), Vec<Value>> = IndexMap::new();
        for (table, column, o) in &self.owners {
            if let Some(k) = o.resolved_key() {
                by_column
                    .entry((table, column))
                    .or_default()
                    .extend(k.into_iter().take(1));
            }
        }
        for ((table, column), keys) in by_column {
            for part in keys.chunks(MAX_PAIRS) {
                let mut w = Writer::new(dialect);
                w.raw("DELETE FROM ")
                    .ident(table)
                    .raw(" WHERE ")
                    .ident(column)
                    .raw(" IN (");
                for (i, k) in part.iter().enumerate() {
                    if i > 0 {
                        w.raw(", ");
                    }
                    w.param(k.clone());
                }
                w.raw(")");
                out.push(w.finish());
            }
        }
        let removed: Vec<&Pair> = self.pairs.values().filter(|p| !p.insert).collect();
        for group in group_by_table(&removed) {
            for part in group.chunks(MAX_PAIRS) {
                let (table, (a, b)) = (part[0].table, part[0].columns);
                let mut w = Writer::new(dialect);
                w.raw("DELETE FROM ").ident(table).raw(" WHERE ");
                let mut n = 0;
                for p in part {
                    // Pairs whose side never reached the database have no row.
                    let (Some(l), Some(r)) = (p.left.resolved_key(), p.right.resolved_key()) else {
                        continue;
                    };
                    if n > 0 {
                        w.raw(" OR ");
                    }
                    w.raw("(").ident(a).raw(" = ").param(first(l)).raw(" AND ");
                    w.ident(b).raw(" = ").param(first(r)).raw(")");
                    n += 1;
                }
                if n > 0 {
                    out.push(w.finish());
                }
            }
        }
        Ok(out)
    }

    /// INSERTs of added pairs (after the entity inserts: every key is known).
    pub(crate) fn inserts(&self, dialect: Dialect, bind_limit: usize) -> Result<Vec<Statement>> {
        let added: Vec<&Pair> = self
            .pairs
            .values()
            .filter(|p| p.insert)
            .filter(|p| live(&p.left) && live(&p.right))
            .collect();
        let per = (bind_limit / 2).clamp(1, MAX_PAIRS);
        let mut out = Vec::new();
        for group in group_by_table(&added) {
            for part in group.chunks(per) {
                let (table, (a, b)) = (part[0].table, part[0].columns);
                let mut w = Writer::new(dialect);
                w.raw("INSERT INTO ")
                    .ident(table)
                    .raw(" (")
                    .ident(a)
                    .raw(", ")
                    .ident(b);
                w.raw(") VALUES ");
                for (i, p) in part.iter().enumerate() {
                    let key = |o: &Obj| {
                        o.resolved_key().map(first).ok_or_else(|| {
                            Error::Config(format!(
                                "{}: a {} in a many-to-many collection was never inserted",
                                table,
                                o.meta().name
                            ))
                        })
                    };
                    if i > 0 {
                        w.raw(", ");
                    }
                    w.raw("(")
                        .param(key(&p.left)?)
                        .raw(", ")
                        .param(key(&p.right)?)
                        .raw(")");
                }
                out.push(w.finish());
            }
        }
        Ok(out)
    }
}

fn live(o: &Obj) -> bool {
    !matches!(o.state(), ObjectState::Deleted | ObjectState::Detached)
}

fn first(key: Vec<Value>) -> Value {
    key.into_iter().next().unwrap_or(Value::I64(0))
}

fn group_by_table<'a>(pairs: &[&'a Pair]) -> Vec<Vec<&'a Pair>> {
    let mut groups: IndexMap<(&'static str, &'static str, &'static str), Vec<&'a Pair>> =
        IndexMap::new();
    for p in pairs {
        groups
            .entry((p.table, p.columns.0, p.columns.1))
            .or_default()
            .push(p);
    }
    groups.into_values().collect()
}

/// SQL text with the dialect's placeholders.
struct Writer {
    dialect: Dialect,
    sql: String,
    params: Vec<Value>,
}

impl Writer {
    fn new(dialect: Dialect) -> Writer {
        Writer {
            dialect,
            sql: String::with_capacity(128),
            params: Vec::new(),
        }
    }

    fn raw(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }

    fn ident(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(&render::quote(self.dialect, s));
        self
    }

    fn param(&mut self, v: Value) -> &mut Self {
        self.params.push(v);
        if self.dialect == Dialect::Postgres {
            self.sql.push('$');
            self.sql.push_str(&self.params.len().to_string());
        } else {
            self.sql.push('?');
        }
        self
    }

    fn finish(&mut self) -> Statement {
        Statement::new(
            std::mem::take(&mut self.sql),
            std::mem::take(&mut self.params),
        )
    }
}
