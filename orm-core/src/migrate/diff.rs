//! The difference between two schemas as a list of typed changes, in the
//! order they can be applied: foreign keys and indexes that go are dropped
//! first, then tables are created (referenced tables first), columns
//! renamed, added and altered, indexes and foreign keys added, columns
//! dropped, and tables dropped last (referencing tables first).
//!
//! A rename is never guessed: a column the entities no longer have and a
//! column they have and the table does not are a drop and an add, unless
//! the new column says `#[column(renamed_from = "old")]` ([`Rename`]).
//!
//! Each change says whether it can lose data or fail on existing rows
//! ([`Change::risk`]); a plan with any such change is refused unless the
//! caller allows it (`GenerateOptions::allow_destructive`).
//!
//! Layer 4 (migrations): it uses only what is below it (see `crate::layers`).

use std::fmt;

use crate::migrate::schema::{
    ColumnSchema, EnumSchema, ForeignKeySchema, IndexSchema, Schema, TableSchema,
};
use crate::model::meta::EntityMeta;

/// A column rename the entities declare: `table.from` becomes `table.to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// The table.
    pub table: String,
    /// The old column name.
    pub from: String,
    /// The new column name.
    pub to: String,
}

impl Rename {
    /// The renames `#[column(renamed_from = "..")]` declares on `entities`.
    pub fn of_entities(entities: &[&'static EntityMeta]) -> Vec<Rename> {
        entities
            .iter()
            .flat_map(|m| {
                m.columns.iter().filter_map(|c| {
                    c.renamed_from.map(|from| Rename {
                        table: m.table.to_string(),
                        from: from.to_string(),
                        to: c.name.to_string(),
                    })
                })
            })
            .collect()
    }

    /// The same rename backwards (for a down migration).
    pub fn reversed(&self) -> Rename {
        Rename {
            table: self.table.clone(),
            from: self.to.clone(),
            to: self.from.clone(),
        }
    }
}

/// One schema change. `table` is the table it is on; the other fields are
/// the column, index or foreign key it adds, drops or changes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the fields, described above
pub enum Change {
    /// A new table, with its indexes and foreign keys.
    CreateTable(TableSchema),
    /// A table that goes, with its rows.
    DropTable(TableSchema),
    /// A new column.
    AddColumn { table: String, column: ColumnSchema },
    /// A column that goes, with its values.
    DropColumn { table: String, column: ColumnSchema },
    /// A column renamed (declared with `renamed_from`).
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    /// Type, nullability or default changed.
    /// Type, nullability or default changed: the column as it was and as it becomes.
    AlterColumn {
        table: String,
        from: ColumnSchema,
        to: ColumnSchema,
    },
    /// A new index or unique constraint.
    AddIndex { table: String, index: IndexSchema },
    /// An index or unique constraint that goes.
    DropIndex { table: String, index: IndexSchema },
    /// A new foreign key.
    AddForeignKey { table: String, fk: ForeignKeySchema },
    /// A foreign key that goes.
    DropForeignKey { table: String, fk: ForeignKeySchema },
    /// A new PostgreSQL enum type, before the tables that use it.
    CreateEnum(EnumSchema),
    /// Labels added to an enum type, the old ones kept in their order
    /// (`ALTER TYPE .. ADD VALUE .. BEFORE/AFTER`).
    AddEnumLabels { from: EnumSchema, to: EnumSchema },
    /// An enum type whose labels were removed or reordered, which
    /// PostgreSQL cannot alter: the old type renamed away (`<name>__old`),
    /// the new one created, the kept `columns` (table, column, default)
    /// converted through text (a default set aside meanwhile); the old
    /// type is dropped last ([`Change::DropEnum`]), after the columns the
    /// migration drops, which keep it until then. A kept row holding a
    /// removed label makes it fail.
    ReplaceEnum {
        from: EnumSchema,
        to: EnumSchema,
        columns: Vec<(String, String, Option<String>)>,
    },
    /// An enum type no table uses any more, after those tables changed.
    DropEnum(EnumSchema),
}

impl Change {
    /// The table the change is on.
    pub fn table(&self) -> &str {
        match self {
            Change::CreateTable(t) | Change::DropTable(t) => &t.name,
            Change::AddColumn { table, .. }
            | Change::DropColumn { table, .. }
            | Change::RenameColumn { table, .. }
            | Change::AlterColumn { table, .. }
            | Change::AddIndex { table, .. }
            | Change::DropIndex { table, .. }
            | Change::AddForeignKey { table, .. }
            | Change::DropForeignKey { table, .. } => table,
            // A type, not a table: its name (no table shares a change with it).
            Change::CreateEnum(e) | Change::DropEnum(e) => &e.name,
            Change::AddEnumLabels { to, .. } | Change::ReplaceEnum { to, .. } => &to.name,
        }
    }

    /// Why the change can lose data or fail on the rows a table holds, if
    /// it can: a dropped table or column, a type changed to one that may
    /// not hold every value (anything but a widening), NOT NULL on an
    /// existing column without a default to fill its NULLs, a new NOT NULL
    /// column without a default. (A new unique index is not one: rows that
    /// break it make the migration fail, and on PostgreSQL and SQLite roll
    /// back, without losing anything.)
    pub fn risk(&self) -> Option<String> {
        match self {
            Change::DropTable(t) => Some(format!("drops table {} and its rows", t.name)),
            Change::ReplaceEnum { from, to, .. } => {
                let gone: Vec<&String> = from
                    .labels
                    .iter()
                    .filter(|l| !to.labels.contains(l))
                    .collect();
                (!gone.is_empty()).then(|| {
                    format!(
                        "removes labels {gone:?} from enum type {}: fails on rows holding one",
                        to.name
                    )
                })
            }
            Change::DropColumn { table, column } => Some(format!(
                "drops column {table}.{} and its values",
                column.name
            )),
            Change::AlterColumn { table, from, to } => {
                if from.sql_type != to.sql_type && !widens(&from.sql_type, &to.sql_type) {
                    Some(format!(
                        "changes {table}.{} from {} to {}, which may not hold every value",
                        to.name, from.sql_type, to.sql_type
                    ))
                } else if from.nullable && !to.nullable && to.default.is_none() {
                    Some(format!(
                        "makes {table}.{} NOT NULL without a default to fill the NULLs it may hold",
                        to.name
                    ))
                } else {
                    None
                }
            }
            Change::AddColumn { table, column }
                if !column.nullable && column.default.is_none() && !column.auto_increment =>
            {
                Some(format!(
                    "adds NOT NULL column {table}.{} without a default: fails on a table with rows \
                     (give it #[column(default = \"..\")])",
                    column.name
                ))
            }
            _ => None,
        }
    }
}

/// Whether every value of type `from` fits in type `to`.
fn widens(from: &str, to: &str) -> bool {
    let rank = |t: &str| match t {
        "smallint" => Some(1),
        "int" | "integer" => Some(2),
        "bigint" => Some(3),
        _ => None,
    };
    if let (Some(a), Some(b)) = (rank(from), rank(to)) {
        return a <= b;
    }
    let len = |t: &str, base: &str| -> Option<u64> {
        t.strip_prefix(base)?
            .strip_prefix('(')?
            .strip_suffix(')')?
            .parse()
            .ok()
    };
    for base in ["varchar", "varbinary"] {
        if let (Some(a), Some(b)) = (len(from, base), len(to, base)) {
            return a <= b;
        }
    }
    // An enum (MySQL's `enum(..)`, SQLite's `text check (..)`) that only
    // gains labels.
    if let (Some(a), Some(b)) = (enum_labels(from), enum_labels(to)) {
        return is_subsequence(&a, &b);
    }
    (from.starts_with("varchar") && matches!(to, "text" | "longtext"))
        || (from.starts_with("varbinary") && to == "longblob")
        || (from == "real" && to == "double precision")
        || (from == "float" && to == "double")
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateTable(t) => write!(f, "create table {}", t.name),
            Change::DropTable(t) => write!(f, "drop table {}", t.name),
            Change::AddColumn { table, column } => {
                write!(f, "add column {table}.{} {}", column.name, column.sql_type)
            }
            Change::DropColumn { table, column } => {
                write!(f, "drop column {table}.{}", column.name)
            }
            Change::RenameColumn { table, from, to } => {
                write!(f, "rename column {table}.{from} to {to}")
            }
            Change::AlterColumn { table, from, to } => {
                write!(f, "alter column {table}.{}:", to.name)?;
                if from.sql_type != to.sql_type {
                    write!(f, " type {} -> {}", from.sql_type, to.sql_type)?;
                }
                if from.nullable != to.nullable {
                    write!(f, " {}", if to.nullable { "NULL" } else { "NOT NULL" })?;
                }
                if from.default != to.default {
                    write!(f, " default {:?} -> {:?}", from.default, to.default)?;
                }
                Ok(())
            }
            Change::AddIndex { table, index } => write!(
                f,
                "add {}index {table} ({})",
                if index.unique { "unique " } else { "" },
                index.columns.join(", ")
            ),
            Change::DropIndex { table, index } => write!(
                f,
                "drop {}index {} on {table} ({})",
                if index.unique { "unique " } else { "" },
                index.name,
                index.columns.join(", ")
            ),
            Change::AddForeignKey { table, fk } => write!(
                f,
                "add foreign key {table} ({}) -> {} ({}) on delete {}",
                fk.columns.join(", "),
                fk.ref_table,
                fk.ref_columns.join(", "),
                fk.on_delete.sql()
            ),
            Change::DropForeignKey { table, fk } => write!(
                f,
                "drop foreign key {} on {table} ({})",
                fk.name,
                fk.columns.join(", ")
            ),
            Change::CreateEnum(e) => {
                write!(f, "create enum type {} ({})", e.name, e.labels.join(", "))
            }
            Change::AddEnumLabels { from, to } => {
                let new: Vec<&str> = to
                    .labels
                    .iter()
                    .filter(|l| !from.labels.contains(l))
                    .map(String::as_str)
                    .collect();
                write!(f, "add labels to enum type {}: {}", to.name, new.join(", "))
            }
            Change::ReplaceEnum { from, to, .. } => write!(
                f,
                "replace enum type {}: ({}) -> ({})",
                to.name,
                from.labels.join(", "),
                to.labels.join(", ")
            ),
            Change::DropEnum(e) => write!(f, "drop enum type {}", e.name),
        }
    }
}

/// The changes that turn `from` into `to`, in applicable order.
pub fn diff(from: &Schema, to: &Schema, renames: &[Rename]) -> Vec<Change> {
    let mut drop_fks = Vec::new();
    let mut drop_indexes = Vec::new();
    let mut creates = Vec::new();
    let mut columns = Vec::new();
    let mut add_indexes = Vec::new();
    let mut add_fks = Vec::new();
    let mut drop_columns = Vec::new();
    let mut drops = Vec::new();

    for t in &to.tables {
        let Some(old) = from.table(&t.name) else {
            creates.push(t.clone());
            continue;
        };
        // Column names as the old table spells them, after renames.
        let renamed: Vec<&Rename> = renames
            .iter()
            .filter(|r| {
                r.table == t.name
                    && old.column(&r.from).is_some()
                    && old.column(&r.to).is_none()
                    && t.column(&r.to).is_some()
            })
            .collect();
        let old_name = |new: &str| -> String {
            renamed
                .iter()
                .find(|r| r.to == new)
                .map_or(new.to_string(), |r| r.from.clone())
        };
        let new_name = |old_col: &str| -> String {
            renamed
                .iter()
                .find(|r| r.from == old_col)
                .map_or(old_col.to_string(), |r| r.to.clone())
        };
        for r in &renamed {
            columns.push(Change::RenameColumn {
                table: t.name.clone(),
                from: r.from.clone(),
                to: r.to.clone(),
            });
        }
        for c in &t.columns {
            match old.column(&old_name(&c.name)) {
                None => columns.push(Change::AddColumn {
                    table: t.name.clone(),
                    column: c.clone(),
                }),
                Some(o) => {
                    let o = ColumnSchema {
                        name: c.name.clone(),
                        ..o.clone()
                    };
                    if o.sql_type != c.sql_type
                        || o.nullable != c.nullable
                        || o.default != c.default
                    {
                        columns.push(Change::AlterColumn {
                            table: t.name.clone(),
                            from: o,
                            to: c.clone(),
                        });
                    }
                }
            }
        }
        for o in &old.columns {
            if t.column(&new_name(&o.name)).is_none() {
                drop_columns.push(Change::DropColumn {
                    table: t.name.clone(),
                    column: o.clone(),
                });
            }
        }
        // Indexes and foreign keys of the old table, in new column names.
        let rename_all =
            |cols: &[String]| -> Vec<String> { cols.iter().map(|c| new_name(c)).collect() };
        for i in &old.indexes {
            let moved = IndexSchema {
                columns: rename_all(&i.columns),
                ..i.clone()
            };
            if !t.indexes.iter().any(|n| n.same(&moved)) {
                drop_indexes.push(Change::DropIndex {
                    table: t.name.clone(),
                    index: i.clone(),
                });
            }
        }
        for i in &t.indexes {
            let exists = old.indexes.iter().any(|o| {
                i.same(&IndexSchema {
                    columns: rename_all(&o.columns),
                    ..o.clone()
                })
            });
            if !exists {
                add_indexes.push(Change::AddIndex {
                    table: t.name.clone(),
                    index: i.clone(),
                });
            }
        }
        for f in &old.foreign_keys {
            let moved = ForeignKeySchema {
                columns: rename_all(&f.columns),
                ..f.clone()
            };
            if !t.foreign_keys.iter().any(|n| n.same(&moved)) {
                drop_fks.push(Change::DropForeignKey {
                    table: t.name.clone(),
                    fk: f.clone(),
                });
            }
        }
        for f in &t.foreign_keys {
            let exists = old.foreign_keys.iter().any(|o| {
                f.same(&ForeignKeySchema {
                    columns: rename_all(&o.columns),
                    ..o.clone()
                })
            });
            if !exists {
                add_fks.push(Change::AddForeignKey {
                    table: t.name.clone(),
                    fk: f.clone(),
                });
            }
        }
    }
    for old in &from.tables {
        if to.table(&old.name).is_none() {
            // Foreign keys from kept tables into a dropped one are in
            // `drop_fks` already (the kept table's entity lost them).
            drops.push(old.clone());
        }
    }

    // Enum types: created before the tables and columns that use them,
    // changed before the columns are, dropped after the tables are.
    let mut enums_first = Vec::new();
    let mut enums_last = Vec::new();
    for e in &to.enums {
        match from.enum_type(&e.name) {
            None => enums_first.push(Change::CreateEnum(e.clone())),
            Some(old) if old.labels == e.labels => {}
            Some(old) if is_subsequence(&old.labels, &e.labels) => {
                enums_first.push(Change::AddEnumLabels {
                    from: old.clone(),
                    to: e.clone(),
                });
            }
            Some(old) => {
                enums_first.push(Change::ReplaceEnum {
                    from: old.clone(),
                    to: e.clone(),
                    // The kept columns, with the default they end with
                    // (one of the new type's labels).
                    columns: from
                        .enum_columns(&e.name)
                        .into_iter()
                        .filter_map(|(t, c, _)| {
                            let kept = to.table(&t)?.column(&c)?;
                            (kept.sql_type == e.name).then(|| (t, c, kept.default.clone()))
                        })
                        .collect(),
                });
                enums_last.push(Change::DropEnum(EnumSchema {
                    name: format!("{}__old", e.name),
                    labels: old.labels.clone(),
                }));
            }
        }
    }
    for old in &from.enums {
        if to.enum_type(&old.name).is_none() {
            enums_last.push(Change::DropEnum(old.clone()));
        }
    }

    let mut out = Vec::new();
    out.extend(enums_first);
    out.extend(drop_fks);
    out.extend(drop_indexes);
    out.extend(
        dependency_order(creates)
            .into_iter()
            .map(Change::CreateTable),
    );
    out.extend(columns);
    out.extend(add_indexes);
    out.extend(add_fks);
    out.extend(drop_columns);
    let mut drops = dependency_order(drops);
    drops.reverse();
    out.extend(drops.into_iter().map(Change::DropTable));
    out.extend(enums_last);
    out
}

/// The labels of an enum column's type (`enum('a','b')`, `text check
/// ("c" in ('a', 'b'))`), as written.
fn enum_labels(t: &str) -> Option<Vec<String>> {
    let list = t.strip_prefix("enum(").or_else(|| {
        t.strip_prefix("text check (")
            .and_then(|r| r.split_once(" in (").map(|(_, l)| l))
    })?;
    let mut out = Vec::new();
    let mut chars = list.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '\'' {
            continue;
        }
        let mut label = String::new();
        loop {
            match chars.next()? {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                c => label.push(c),
            }
        }
        out.push(label);
    }
    Some(out)
}

/// Whether `old` appears in `new` in the same order (labels only added).
fn is_subsequence(old: &[String], new: &[String]) -> bool {
    let mut rest = new.iter();
    old.iter().all(|o| rest.any(|n| n == o))
}

/// Referenced tables before the tables that reference them (among these
/// tables; self-references and cycles keep input order).
fn dependency_order(mut left: Vec<TableSchema>) -> Vec<TableSchema> {
    let mut out: Vec<TableSchema> = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready = left
            .iter()
            .position(|t| {
                t.foreign_keys
                    .iter()
                    .all(|f| f.ref_table == t.name || !left.iter().any(|l| l.name == f.ref_table))
            })
            .unwrap_or(0);
        out.push(left.remove(ready));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(ty: &str, nullable: bool, default: Option<&str>) -> ColumnSchema {
        ColumnSchema {
            name: "c".into(),
            sql_type: ty.into(),
            nullable,
            default: default.map(str::to_string),
            auto_increment: false,
            ddl_type: ty.into(),
        }
    }

    fn alter(from: ColumnSchema, to: ColumnSchema) -> Change {
        Change::AlterColumn {
            table: "t".into(),
            from,
            to,
        }
    }

    #[test]
    fn widening_is_safe_and_narrowing_is_destructive() {
        for (a, b) in [
            ("integer", "bigint"),
            ("varchar(10)", "varchar(20)"),
            ("varchar(10)", "text"),
            ("real", "double precision"),
        ] {
            assert_eq!(
                alter(column(a, false, None), column(b, false, None)).risk(),
                None,
                "{a} -> {b}"
            );
        }
        for (a, b) in [
            ("bigint", "integer"),
            ("varchar(20)", "varchar(10)"),
            ("text", "varchar(10)"),
            ("text", "integer"),
        ] {
            let risk = alter(column(a, false, None), column(b, false, None))
                .risk()
                .expect("a risk");
            assert!(risk.contains("may not hold every value"), "{risk}");
        }
    }

    #[test]
    fn not_null_needs_a_default_to_be_safe() {
        let risk = alter(
            column("integer", true, None),
            column("integer", false, None),
        )
        .risk();
        assert!(risk.expect("a risk").contains("NOT NULL without a default"));
        assert_eq!(
            alter(
                column("integer", true, None),
                column("integer", false, Some("0"))
            )
            .risk(),
            None
        );
        let add = |default: Option<&str>| Change::AddColumn {
            table: "t".into(),
            column: column("integer", false, default),
        };
        assert!(add(None).risk().is_some());
        assert!(add(Some("0")).risk().is_none());
    }
}
