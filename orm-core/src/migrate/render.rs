//! A list of [`Change`]s as each backend's SQL, one [`Step`] per
//! statement, each with what it locks.
//!
//! The decisions, per backend:
//!
//! * **PostgreSQL** runs a migration in one transaction. A new column with
//!   a constant default is a catalogue change (PostgreSQL 11+), so it is
//!   added NOT NULL with its default directly. Making a column NOT NULL
//!   fills its NULLs from the default first (an UPDATE). A foreign key is
//!   added `NOT VALID` and validated in a second statement, which does not
//!   block writes. With `concurrent_indexes`, indexes are built `CREATE
//!   INDEX CONCURRENTLY`, which cannot run in a transaction: the migration
//!   is then marked `-- orm:no-transaction` and runs statement by
//!   statement, each recorded.
//! * **MySQL / MariaDB** commit implicitly around every DDL statement, so a
//!   migration is never one transaction: the migrator records each
//!   statement as it completes. New columns say `ALGORITHM=INSTANT` and new
//!   indexes `ALGORITHM=INPLACE, LOCK=NONE`, so that a statement that would
//!   copy or lock the table fails at once instead of doing so quietly.
//!   InnoDB keeps an index of its own for a foreign key that has none; a
//!   dropped key drops it too (`DROP INDEX IF EXISTS`), and an index a key
//!   depends on is dropped only after the key has one of its own (`CREATE
//!   INDEX IF NOT EXISTS`). Those two forms are MariaDB's (10.1.4+); MySQL
//!   8 has neither, and is not tested here.
//! * **SQLite** has transactional DDL but an ALTER TABLE that can only
//!   add, drop and rename columns. Anything else on an existing table (a
//!   type, nullability or default, a foreign key, a unique constraint, a
//!   column in an index or key) rebuilds the table as SQLite's documentation
//!   describes: create the new shape under a temporary name, copy the rows,
//!   drop the old table, rename, recreate the indexes. The migrator turns
//!   foreign-key enforcement off around such a migration and runs
//!   `PRAGMA foreign_key_check` before committing.
//!
//! Layer 4 (migrations): it uses only what is below it (see `crate::layers`).

use crate::migrate::diff::Change;
use crate::migrate::schema::{
    ColumnSchema, EnumSchema, ForeignKeySchema, IndexSchema, Schema, TableSchema,
};
use crate::sql::dialect::{Dialect, sql_string_list};

/// A label as a PostgreSQL string literal.
fn literal(label: &str) -> String {
    sql_string_list(&[label], false)
}

/// How plans are written.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// PostgreSQL: build indexes with `CREATE INDEX CONCURRENTLY` (outside a
    /// transaction; writes go on while the index builds).
    pub concurrent_indexes: bool,
}

/// One statement of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The change it belongs to, in words.
    pub change: String,
    /// The statement (no trailing `;`).
    pub sql: String,
    /// What it locks, and for how long.
    pub locks: &'static str,
    /// It cannot run inside a transaction.
    pub outside_transaction: bool,
}

/// The statements that apply `changes` (the diff from `from` to `to`).
pub fn render(
    dialect: Dialect,
    changes: &[Change],
    from: &Schema,
    to: &Schema,
    options: RenderOptions,
) -> Vec<Step> {
    let r = Renderer {
        dialect,
        options,
        to,
        from,
    };
    let rebuilt: Vec<String> = if dialect == Dialect::Sqlite {
        changes
            .iter()
            .filter(|c| needs_rebuild(c, from))
            .map(|c| c.table().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    for change in changes {
        let table = change.table();
        if rebuilt.iter().any(|t| t == table)
            && !matches!(change, Change::CreateTable(_) | Change::DropTable(_))
        {
            if !done.contains(&table) {
                done.push(table);
                let (Some(old), Some(new)) = (from.table(table), to.table(table)) else {
                    continue;
                };
                let renames: Vec<(&str, &str)> = changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::RenameColumn { table: t, from, to } if t == table => {
                            Some((from.as_str(), to.as_str()))
                        }
                        _ => None,
                    })
                    .collect();
                let what: Vec<String> = changes
                    .iter()
                    .filter(|c| c.table() == table)
                    .map(|c| c.to_string())
                    .collect();
                out.extend(r.rebuild(old, new, &renames, &what.join("; ")));
            }
            continue;
        }
        out.extend(r.change(change));
    }
    out
}

/// Whether SQLite needs the table rebuilt for this change.
fn needs_rebuild(change: &Change, from: &Schema) -> bool {
    match change {
        Change::AlterColumn { .. }
        | Change::AddForeignKey { .. }
        | Change::DropForeignKey { .. } => true,
        Change::DropIndex { index, .. } => index.constraint,
        Change::AddColumn { column, .. } => !column.nullable && column.default.is_none(),
        Change::DropColumn { table, column } => from.table(table).is_some_and(|t| {
            t.primary_key.contains(&column.name)
                || t.indexes.iter().any(|i| i.columns.contains(&column.name))
                || t.foreign_keys
                    .iter()
                    .any(|f| f.columns.contains(&column.name))
        }),
        _ => false,
    }
}

struct Renderer<'s> {
    dialect: Dialect,
    options: RenderOptions,
    /// The schema being moved to (for what a change must keep).
    to: &'s Schema,
    /// The schema moved from (its enum types).
    from: &'s Schema,
}

/// Whether `index` starts with the foreign key's columns (so InnoDB can
/// use it to check the key).
fn covers(index: &IndexSchema, fk: &ForeignKeySchema) -> bool {
    index.columns.len() >= fk.columns.len() && index.columns[..fk.columns.len()] == fk.columns[..]
}

impl Renderer<'_> {
    fn q(&self, name: &str) -> String {
        let quote = self.dialect.spec().quote;
        let doubled: String = name
            .chars()
            .flat_map(|c| if c == quote { vec![c, c] } else { vec![c] })
            .collect();
        format!("{quote}{doubled}{quote}")
    }

    fn list(&self, names: &[String]) -> String {
        names
            .iter()
            .map(|n| self.q(n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn step(&self, change: &Change, sql: String, locks: &'static str) -> Step {
        Step {
            change: change.to_string(),
            sql,
            locks,
            outside_transaction: false,
        }
    }

    /// `"name" type [NOT NULL] [DEFAULT ..]`, with the key generation
    /// clause (`inline_key`: SQLite's `PRIMARY KEY AUTOINCREMENT`).
    fn column_def(&self, c: &ColumnSchema, inline_key: bool) -> String {
        let mut def = format!("{} {}", self.q(&c.name), c.ddl_type);
        if c.auto_increment {
            match self.dialect {
                Dialect::Postgres => def.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
                Dialect::MySql => def.push_str(" NOT NULL AUTO_INCREMENT"),
                Dialect::Sqlite if inline_key => def.push_str(" PRIMARY KEY AUTOINCREMENT"),
                Dialect::Sqlite => {}
            }
        }
        // MySQL's AUTO_INCREMENT clause above says NOT NULL already.
        let said = c.auto_increment && self.dialect == Dialect::MySql;
        if !(c.nullable || said) {
            def.push_str(" NOT NULL");
        }
        if let Some(d) = &c.default {
            def.push_str(&format!(" DEFAULT {d}"));
        }
        def
    }

    fn fk_clause(&self, fk: &ForeignKeySchema) -> String {
        format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
            self.q(&fk.name),
            self.list(&fk.columns),
            self.q(&fk.ref_table),
            self.list(&fk.ref_columns),
            fk.on_delete.sql()
        )
    }

    fn create_table_sql(&self, t: &TableSchema, name: &str) -> String {
        let inline_key = self.dialect == Dialect::Sqlite
            && t.primary_key.len() == 1
            && t.column(&t.primary_key[0])
                .is_some_and(|c| c.auto_increment);
        let mut parts: Vec<String> = t
            .columns
            .iter()
            .map(|c| self.column_def(c, inline_key))
            .collect();
        if !t.primary_key.is_empty() && !inline_key {
            parts.push(format!("PRIMARY KEY ({})", self.list(&t.primary_key)));
        }
        for fk in &t.foreign_keys {
            parts.push(self.fk_clause(fk));
        }
        let mut sql = format!(
            "CREATE TABLE {} (\n    {}\n)",
            self.q(name),
            parts.join(",\n    ")
        );
        if let Some((charset, collation)) = self.dialect.spec().inline_indexes {
            sql.push_str(&format!(
                " ENGINE=InnoDB DEFAULT CHARSET={charset} COLLATE={collation}"
            ));
        }
        sql
    }

    fn create_index_sql(&self, table: &str, i: &IndexSchema) -> (String, bool) {
        let unique = if i.unique { "UNIQUE " } else { "" };
        let concurrent = self.dialect == Dialect::Postgres && self.options.concurrent_indexes;
        let mut sql = format!(
            "CREATE {unique}INDEX {}{} ON {} ({})",
            if concurrent { "CONCURRENTLY " } else { "" },
            self.q(&i.name),
            self.q(table),
            self.list(&i.columns)
        );
        if self.dialect == Dialect::MySql {
            sql.push_str(" ALGORITHM=INPLACE LOCK=NONE");
        }
        (sql, concurrent)
    }

    fn index_locks(&self, concurrent: bool) -> &'static str {
        match self.dialect {
            Dialect::Postgres if concurrent => {
                "no lock on reads or writes while it builds (outside a transaction)"
            }
            Dialect::Postgres => {
                "SHARE on the table while the index builds: reads go on, writes wait"
            }
            Dialect::MySql => "reads and writes go on while it builds (INPLACE, LOCK=NONE)",
            Dialect::Sqlite => "the database's write lock while it builds",
        }
    }

    fn change(&self, change: &Change) -> Vec<Step> {
        let d = self.dialect;
        match change {
            Change::CreateTable(t) => {
                let mut out = vec![self.step(change, self.create_table_sql(t, &t.name), "none (a new table)")];
                for i in &t.indexes {
                    let (sql, _) = self.create_index_sql(&t.name, i);
                    // A new table is empty: no need to build concurrently.
                    let sql = sql.replace("CREATE INDEX CONCURRENTLY", "CREATE INDEX").replace(
                        "CREATE UNIQUE INDEX CONCURRENTLY",
                        "CREATE UNIQUE INDEX",
                    );
                    out.push(self.step(change, sql, "none (a new table)"));
                }
                out
            }
            Change::DropTable(t) => vec![self.step(
                change,
                format!("DROP TABLE {}", self.q(&t.name)),
                "exclusive on the table, brief",
            )],
            Change::AddColumn { table, column } => {
                let mut sql = format!("ALTER TABLE {} ADD COLUMN {}", self.q(table), self.column_def(column, false));
                let locks = match d {
                    Dialect::Postgres => "ACCESS EXCLUSIVE, brief: a catalogue change (no rewrite for a constant default)",
                    Dialect::MySql => {
                        sql.push_str(", ALGORITHM=INSTANT");
                        "a brief metadata lock (INSTANT: no table copy)"
                    }
                    Dialect::Sqlite => "the database's write lock, brief",
                };
                vec![self.step(change, sql, locks)]
            }
            Change::DropColumn { table, column } => vec![self.step(
                change,
                format!("ALTER TABLE {} DROP COLUMN {}", self.q(table), self.q(&column.name)),
                match d {
                    Dialect::Postgres => "ACCESS EXCLUSIVE, brief (the column is hidden, not rewritten)",
                    Dialect::MySql => "a metadata lock; MariaDB drops instantly, MySQL may rebuild the table",
                    Dialect::Sqlite => "the database's write lock while the table is rewritten",
                },
            )],
            Change::RenameColumn { table, from, to } => vec![self.step(
                change,
                format!(
                    "ALTER TABLE {} RENAME COLUMN {} TO {}",
                    self.q(table),
                    self.q(from),
                    self.q(to)
                ),
                "a brief exclusive lock (a catalogue change)",
            )],
            Change::AlterColumn { table, from, to } => self.alter_column(change, table, from, to),
            Change::AddIndex { table, index } => {
                let (sql, concurrent) = self.create_index_sql(table, index);
                let mut step = self.step(change, sql, self.index_locks(concurrent));
                step.outside_transaction = concurrent;
                vec![step]
            }
            Change::DropIndex { table, index } => {
                let mut out = Vec::new();
                if d == Dialect::MySql {
                    // InnoDB refuses to drop the index a foreign key uses:
                    // give each key this index covers an index of its own
                    // first, named after the constraint as InnoDB names
                    // the one it makes itself (which may exist already:
                    // hence MariaDB's IF NOT EXISTS).
                    let keep = self.to.table(table);
                    for fk in keep.map(|t| t.foreign_keys.as_slice()).unwrap_or_default() {
                        let declared = keep.is_some_and(|t| t.indexes.iter().any(|i| covers(i, fk)));
                        if covers(index, fk) && !declared {
                            out.push(self.step(
                                change,
                                format!(
                                    "CREATE INDEX IF NOT EXISTS {} ON {} ({}) ALGORITHM=INPLACE LOCK=NONE",
                                    self.q(&fk.name),
                                    self.q(table),
                                    self.list(&fk.columns)
                                ),
                                "reads and writes go on while it builds (INPLACE, LOCK=NONE)",
                            ));
                        }
                    }
                }
                let sql = match d {
                    Dialect::Postgres if index.constraint => format!(
                        "ALTER TABLE {} DROP CONSTRAINT {}",
                        self.q(table),
                        self.q(&index.name)
                    ),
                    Dialect::Postgres | Dialect::Sqlite => format!("DROP INDEX {}", self.q(&index.name)),
                    Dialect::MySql => format!("DROP INDEX {} ON {}", self.q(&index.name), self.q(table)),
                };
                out.push(self.step(change, sql, "exclusive on the table, brief"));
                out
            }
            Change::AddForeignKey { table, fk } => match d {
                Dialect::Postgres => vec![
                    self.step(
                        change,
                        format!("ALTER TABLE {} ADD {} NOT VALID", self.q(table), self.fk_clause(fk)),
                        "SHARE ROW EXCLUSIVE on both tables, brief (existing rows not checked yet)",
                    ),
                    self.step(
                        change,
                        format!("ALTER TABLE {} VALIDATE CONSTRAINT {}", self.q(table), self.q(&fk.name)),
                        "SHARE UPDATE EXCLUSIVE while existing rows are checked: reads and writes go on",
                    ),
                ],
                _ => vec![self.step(
                    change,
                    format!("ALTER TABLE {} ADD {}", self.q(table), self.fk_clause(fk)),
                    "writes to the table wait while existing rows are checked",
                )],
            },
            Change::DropForeignKey { table, fk } => {
                let mut out = vec![self.step(
                    change,
                    match d {
                        Dialect::MySql => {
                            format!("ALTER TABLE {} DROP FOREIGN KEY {}", self.q(table), self.q(&fk.name))
                        }
                        _ => format!("ALTER TABLE {} DROP CONSTRAINT {}", self.q(table), self.q(&fk.name)),
                    },
                    "exclusive on the table, brief",
                )];
                // InnoDB's own index for the key stays behind when the key
                // goes (when there was one: MariaDB's IF EXISTS).
                if d == Dialect::MySql {
                    out.push(self.step(
                        change,
                        format!("DROP INDEX IF EXISTS {} ON {}", self.q(&fk.name), self.q(table)),
                        "exclusive on the table, brief",
                    ));
                }
                out
            }
            Change::CreateEnum(e) => vec![self.step(change, self.create_enum_sql(e, &e.name), "none (a new type)")],
            Change::AddEnumLabels { from, to } => {
                // Each new label placed after the one before it (or before
                // the first old one), in order, so that each neighbour
                // exists when it is added.
                let mut have: Vec<&String> = from.labels.iter().collect();
                let mut out = Vec::new();
                for (i, label) in to.labels.iter().enumerate() {
                    if have.contains(&label) {
                        continue;
                    }
                    let place = match i.checked_sub(1).map(|p| &to.labels[p]) {
                        Some(before) => format!("AFTER {}", literal(before)),
                        None => format!("BEFORE {}", literal(&from.labels[0])),
                    };
                    let mut step = self.step(
                        change,
                        format!("ALTER TYPE {} ADD VALUE {} {place}", self.q(&to.name), literal(label)),
                        "a brief lock on the type (no table is rewritten)",
                    );
                    // A label added in a transaction cannot be used in it
                    // (a default, a row): committed first, the migration
                    // running statement by statement.
                    step.outside_transaction = true;
                    out.push(step);
                    have.push(label);
                }
                out
            }
            Change::ReplaceEnum { to, columns, .. } => {
                let old = format!("{}__old", to.name);
                let mut out = vec![
                    self.step(change, format!("ALTER TYPE {} RENAME TO {}", self.q(&to.name), self.q(&old)), "a brief lock on the type"),
                    self.step(change, self.create_enum_sql(to, &to.name), "none (a new type)"),
                ];
                for (table, column, default) in columns {
                    let (t, c) = (self.q(table), self.q(column));
                    // A default of the old type cannot be cast: set aside.
                    if default.is_some() {
                        out.push(self.step(change, format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"), "ACCESS EXCLUSIVE, brief"));
                    }
                    out.push(self.step(
                        change,
                        format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {} USING {c}::text::{}", self.q(&to.name), self.q(&to.name)),
                        "ACCESS EXCLUSIVE while the table is rewritten",
                    ));
                    if let Some(d) = default {
                        out.push(self.step(change, format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {d}"), "ACCESS EXCLUSIVE, brief"));
                    }
                }
                out
            }
            Change::DropEnum(e) => vec![self.step(change, format!("DROP TYPE {}", self.q(&e.name)), "a brief lock on the type")],
        }
    }

    fn create_enum_sql(&self, e: &EnumSchema, name: &str) -> String {
        let labels: Vec<&str> = e.labels.iter().map(String::as_str).collect();
        format!(
            "CREATE TYPE {} AS ENUM ({})",
            self.q(name),
            sql_string_list(&labels, false)
        )
    }

    fn alter_column(
        &self,
        change: &Change,
        table: &str,
        from: &ColumnSchema,
        to: &ColumnSchema,
    ) -> Vec<Step> {
        let mut out = Vec::new();
        let t = self.q(table);
        let c = self.q(&to.name);
        // NOT NULL with a default: fill the NULLs first.
        if from.nullable
            && !to.nullable
            && let Some(d) = &to.default
        {
            out.push(self.step(
                change,
                format!("UPDATE {t} SET {c} = {d} WHERE {c} IS NULL"),
                "row locks on the rows it fills",
            ));
        }
        match self.dialect {
            Dialect::Postgres => {
                // An enum has casts to and from text only (one enum type
                // to another, renamed, goes through text).
                let enums =
                    |t: &str| self.to.enum_type(t).is_some() || self.from.enum_type(t).is_some();
                let via_text = if enums(&from.sql_type) || enums(&to.sql_type) {
                    "::text"
                } else {
                    ""
                };
                // A default of an enum type cannot be cast to another
                // type: set aside while the type changes.
                let aside =
                    from.sql_type != to.sql_type && !via_text.is_empty() && from.default.is_some();
                if aside {
                    out.push(self.step(
                        change,
                        format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"),
                        "ACCESS EXCLUSIVE, brief",
                    ));
                }
                if from.sql_type != to.sql_type {
                    out.push(self.step(
                        change,
                        format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {} USING {c}{}::{}", to.ddl_type, via_text, to.ddl_type),
                        "ACCESS EXCLUSIVE while the table is rewritten (none for a varchar widening)",
                    ));
                }
                if from.default != to.default || (aside && to.default.is_some()) {
                    let sql = match &to.default {
                        Some(d) => format!("ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {d}"),
                        None => format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"),
                    };
                    out.push(self.step(
                        change,
                        sql,
                        "ACCESS EXCLUSIVE, brief (a catalogue change)",
                    ));
                }
                if from.nullable != to.nullable {
                    let sql = if to.nullable {
                        format!("ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL")
                    } else {
                        format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL")
                    };
                    out.push(self.step(
                        change,
                        sql,
                        if to.nullable {
                            "ACCESS EXCLUSIVE, brief"
                        } else {
                            "ACCESS EXCLUSIVE while every row is checked"
                        },
                    ));
                }
            }
            _ => out.push(self.step(
                change,
                format!(
                    "ALTER TABLE {t} MODIFY COLUMN {}",
                    self.column_def(to, false)
                ),
                "copies the table unless only the default changed: writes wait",
            )),
        }
        out
    }

    /// SQLite's table rebuild from `old` to `new` (`renames`: old -> new).
    fn rebuild(
        &self,
        old: &TableSchema,
        new: &TableSchema,
        renames: &[(&str, &str)],
        what: &str,
    ) -> Vec<Step> {
        let temp = format!("_orm_new_{}", new.name);
        let step = |sql: String, locks: &'static str| Step {
            change: format!("rebuild {} ({what})", new.name),
            sql,
            locks,
            outside_transaction: false,
        };
        let mut into = Vec::new();
        let mut select = Vec::new();
        for c in &new.columns {
            let source = renames
                .iter()
                .find(|(_, to)| *to == c.name)
                .map_or(c.name.as_str(), |(from, _)| from);
            let Some(o) = old.column(source) else {
                continue;
            };
            into.push(self.q(&c.name));
            let expr = self.q(&o.name);
            select.push(match (&c.default, o.nullable && !c.nullable) {
                (Some(d), true) => format!("COALESCE({expr}, {d})"),
                _ => expr,
            });
        }
        let mut out = vec![
            step(
                self.create_table_sql(new, &temp),
                "the database's write lock for the migration",
            ),
            step(
                format!(
                    "INSERT INTO {} ({}) SELECT {} FROM {}",
                    self.q(&temp),
                    into.join(", "),
                    select.join(", "),
                    self.q(&old.name)
                ),
                "the database's write lock while the rows are copied",
            ),
            step(
                format!("DROP TABLE {}", self.q(&old.name)),
                "the database's write lock",
            ),
            step(
                format!(
                    "ALTER TABLE {} RENAME TO {}",
                    self.q(&temp),
                    self.q(&new.name)
                ),
                "the database's write lock",
            ),
        ];
        for i in &new.indexes {
            out.push(step(
                self.create_index_sql(&new.name, i).0,
                "the database's write lock while it builds",
            ));
        }
        out
    }
}
