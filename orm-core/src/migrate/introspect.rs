//! Reads the live schema of the connection's database (SQLite: the main
//! database; PostgreSQL: `current_schema()`; MySQL: `DATABASE()`) into a
//! [`Schema`], from each backend's own catalogue: `pragma_*` table
//! functions, `pg_catalog`, `information_schema`.
//!
//! Two things the catalogues report that the entities never declare are
//! left out, so that a table made by `create_all` compares equal to its
//! entity: the migrations' own table, and on MySQL the index InnoDB creates
//! by itself for a foreign key that has none (named after the constraint).
//!
//! Layer 4 (migrations): it uses only what is below it (see `crate::layers`).

use std::sync::Arc;

use crate::backend::Conn;
use crate::error::Result;
use crate::migrate::schema::{
    ColumnSchema, EnumSchema, FkAction, ForeignKeySchema, IndexSchema, Schema, TableSchema,
    canonical_default, canonical_type,
};
use crate::row::Row;
use crate::sql::dialect::Dialect;
use crate::value::Value;

/// Tables introspection never reports (the migrator's own).
pub(crate) fn is_internal(table: &str) -> bool {
    table == super::files::APPLIED_TABLE || table == super::files::LOCK_TABLE
}

async fn rows(conn: &mut Conn, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
    let text: Arc<str> = Arc::from(sql);
    let set = conn
        .fetch(&text, &params)
        .await
        .map_err(|e| e.for_statement(sql))?;
    Ok(set.into_rows())
}

/// A cell as text whatever the driver decoded it as (`None` for NULL).
pub(super) fn text(row: &Row, i: usize) -> Option<String> {
    match row.values().get(i)? {
        Value::Null(_) => None,
        Value::Text(s) => Some(s.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.into()),
        Value::I16(n) => Some(n.to_string()),
        Value::I32(n) => Some(n.to_string()),
        Value::I64(n) => Some(n.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn string(row: &Row, i: usize) -> String {
    text(row, i).unwrap_or_default()
}

fn truthy(row: &Row, i: usize) -> bool {
    matches!(
        text(row, i)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("1" | "t" | "true" | "yes")
    )
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The schema the connection's database holds now.
pub(crate) async fn schema(conn: &mut Conn, dialect: Dialect) -> Result<Schema> {
    let mut tables = Vec::new();
    match dialect {
        Dialect::Sqlite => {
            let list = rows(
                conn,
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
                vec![],
            )
            .await?;
            for t in list {
                let name = string(&t, 0);
                if !is_internal(&name) {
                    let sql = string(&t, 1);
                    tables.push(sqlite_table(conn, name, &sql).await?);
                }
            }
        }
        Dialect::Postgres => {
            let list = rows(
                conn,
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
                vec![],
            )
            .await?;
            for t in list {
                let name = string(&t, 0);
                if !is_internal(&name) {
                    tables.push(postgres_table(conn, name).await?);
                }
            }
        }
        Dialect::MySql => {
            let list = rows(
                conn,
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
                vec![],
            )
            .await?;
            for t in list {
                let name = string(&t, 0);
                if !is_internal(&name) {
                    tables.push(mysql_table(conn, name).await?);
                }
            }
        }
    }
    let mut enums = Vec::new();
    if dialect == Dialect::Postgres {
        let list = rows(
            conn,
            "SELECT t.typname::text, e.enumlabel::text FROM pg_type t \
             JOIN pg_enum e ON e.enumtypid = t.oid \
             WHERE t.typnamespace = current_schema()::regnamespace \
             ORDER BY t.typname, e.enumsortorder",
            vec![],
        )
        .await?;
        for r in list {
            let (name, label) = (string(&r, 0), string(&r, 1));
            match enums.last_mut() {
                Some(EnumSchema { name: last, labels }) if *last == name => labels.push(label),
                _ => enums.push(EnumSchema {
                    name,
                    labels: vec![label],
                }),
            }
        }
    }
    let mut schema = Schema { tables, enums };
    schema.normalize();
    Ok(schema)
}

async fn sqlite_table(conn: &mut Conn, name: String, sql: &str) -> Result<TableSchema> {
    let d = Dialect::Sqlite;
    let p = || vec![Value::Text(name.clone())];
    let autoincrement = sql.to_ascii_uppercase().contains("AUTOINCREMENT");
    let cols = rows(
        conn,
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid",
        p(),
    )
    .await?;
    let mut keyed: Vec<(i64, String)> = Vec::new();
    let mut columns = Vec::new();
    for c in &cols {
        let pk: i64 = string(c, 4).parse().unwrap_or(0);
        let cname = string(c, 0);
        if pk > 0 {
            keyed.push((pk, cname.clone()));
        }
        // An enum's labels are a CHECK the ORM writes as part of the type.
        let ddl_type = match enum_check(sql, &cname) {
            Some(check) => format!("{} {check}", string(c, 1)),
            None => string(c, 1),
        };
        columns.push(ColumnSchema {
            name: cname,
            sql_type: canonical_type(d, &ddl_type),
            ddl_type,
            nullable: !truthy(c, 2) && pk == 0,
            default: text(c, 3).and_then(|x| canonical_default(d, &x)),
            auto_increment: false,
        });
    }
    keyed.sort();
    let primary_key: Vec<String> = keyed.into_iter().map(|(_, n)| n).collect();
    if autoincrement && primary_key.len() == 1 {
        for c in &mut columns {
            c.auto_increment = c.name == primary_key[0];
        }
    }
    let mut indexes = Vec::new();
    for i in rows(
        conn,
        "SELECT name, \"unique\", origin FROM pragma_index_list(?)",
        p(),
    )
    .await?
    {
        let origin = string(&i, 2);
        if origin == "pk" {
            continue;
        }
        let iname = string(&i, 0);
        let cols = rows(
            conn,
            "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
            vec![Value::Text(iname.clone())],
        )
        .await?;
        indexes.push(IndexSchema {
            columns: cols.iter().map(|r| string(r, 0)).collect(),
            unique: truthy(&i, 1),
            constraint: origin == "u",
            name: iname,
        });
    }
    let fk_rows = rows(
        conn,
        "SELECT id, \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        p(),
    )
    .await?;
    let mut foreign_keys = grouped_fks(&fk_rows);
    // SQLite keeps no name a statement can use: name keys by their columns.
    for fk in &mut foreign_keys {
        fk.name = format!("fk_{name}_{}", fk.columns.join("_"));
    }
    Ok(TableSchema {
        name,
        columns,
        primary_key,
        indexes,
        foreign_keys,
    })
}

/// The `CHECK ("col" IN (..))` of an enum column in a SQLite table's
/// CREATE statement, as the ORM writes it (its parentheses balanced, the
/// labels' quotes skipped).
fn enum_check(sql: &str, column: &str) -> Option<String> {
    let head = format!("CHECK ({} IN (", Dialect::Sqlite.spec().quote(column));
    let start = sql.find(&head)?;
    let mut depth = 0;
    let mut quoted = false;
    for (i, ch) in sql[start..].char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(sql[start..=start + i].to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// Foreign keys from rows of (constraint, column, referenced table,
/// referenced column, ON DELETE rule), one row per column, the rows of one
/// constraint consecutive and in column order.
fn grouped_fks(rows: &[Row]) -> Vec<ForeignKeySchema> {
    let mut out: Vec<ForeignKeySchema> = Vec::new();
    for r in rows {
        let name = string(r, 0);
        if out.last().is_none_or(|f| f.name != name) {
            out.push(ForeignKeySchema {
                name,
                columns: vec![],
                ref_table: string(r, 2),
                ref_columns: vec![],
                on_delete: FkAction::parse(&string(r, 4)),
            });
        }
        let fk = out.last_mut().expect("pushed above");
        fk.columns.push(string(r, 1));
        fk.ref_columns.push(string(r, 3));
    }
    out
}

/// The table's oid in the current schema, as a subquery on `$1`.
const PG_OID: &str = "(SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                      WHERE n.nspname = current_schema() AND c.relname = $1)";

async fn postgres_table(conn: &mut Conn, name: String) -> Result<TableSchema> {
    let d = Dialect::Postgres;
    let p = || vec![Value::Text(name.clone())];
    let cols = rows(
        conn,
        &format!(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
             pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text \
             FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
             WHERE a.attrelid = {PG_OID} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        ),
        p(),
    )
    .await?;
    let columns = cols
        .iter()
        .map(|c| {
            let default = text(c, 3);
            let identity = !string(c, 4).is_empty();
            ColumnSchema {
                name: string(c, 0),
                sql_type: canonical_type(d, &string(c, 1)),
                ddl_type: string(c, 1),
                nullable: !truthy(c, 2),
                auto_increment: identity
                    || default
                        .as_deref()
                        .is_some_and(|x| x.starts_with("nextval(")),
                default: default.and_then(|x| canonical_default(d, &x)),
            }
        })
        .collect();
    let names = |key: &str, rel: &str| {
        format!(
            "array_to_string(ARRAY(SELECT a.attname::text FROM unnest({key}) WITH ORDINALITY k(n, o) \
             JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.n ORDER BY k.o), ',')"
        )
    };
    let pk = rows(
        conn,
        &format!(
            "SELECT {} FROM pg_index i WHERE i.indrelid = {PG_OID} AND i.indisprimary",
            names("i.indkey::int2[]", "i.indrelid")
        ),
        p(),
    )
    .await?;
    let primary_key = pk
        .first()
        .map(|r| split_list(&string(r, 0)))
        .unwrap_or_default();
    let idx = rows(
        conn,
        &format!(
            "SELECT ic.relname::text, i.indisunique, \
             EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid \
                     AND con.conrelid = i.indrelid AND con.contype = 'u'), {} \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = {PG_OID} AND NOT i.indisprimary",
            names("i.indkey::int2[]", "i.indrelid")
        ),
        p(),
    )
    .await?;
    let indexes = idx
        .iter()
        .map(|r| IndexSchema {
            name: string(r, 0),
            unique: truthy(r, 1),
            constraint: truthy(r, 2),
            columns: split_list(&string(r, 3)),
        })
        .collect();
    let fks = rows(
        conn,
        &format!(
            "SELECT con.conname::text, {}, rc.relname::text, {}, con.confdeltype::text \
             FROM pg_constraint con JOIN pg_class rc ON rc.oid = con.confrelid \
             WHERE con.conrelid = {PG_OID} AND con.contype = 'f'",
            names("con.conkey", "con.conrelid"),
            names("con.confkey", "con.confrelid")
        ),
        p(),
    )
    .await?;
    let foreign_keys = fks
        .iter()
        .map(|r| ForeignKeySchema {
            name: string(r, 0),
            columns: split_list(&string(r, 1)),
            ref_table: string(r, 2),
            ref_columns: split_list(&string(r, 3)),
            // PostgreSQL's letters: a(no action), r, c, n, d.
            on_delete: FkAction::parse(&string(r, 4)),
        })
        .collect();
    Ok(TableSchema {
        name,
        columns,
        primary_key,
        indexes,
        foreign_keys,
    })
}

async fn mysql_table(conn: &mut Conn, name: String) -> Result<TableSchema> {
    let d = Dialect::MySql;
    let p = || vec![Value::Text(name.clone())];
    let cols = rows(
        conn,
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        p(),
    )
    .await?;
    let columns = cols
        .iter()
        .map(|c| ColumnSchema {
            name: string(c, 0),
            sql_type: canonical_type(d, &string(c, 1)),
            ddl_type: string(c, 1),
            nullable: string(c, 2).eq_ignore_ascii_case("yes"),
            default: text(c, 3).and_then(|x| canonical_default(d, &x)),
            auto_increment: string(c, 4).to_ascii_lowercase().contains("auto_increment"),
        })
        .collect();
    let fks = rows(
        conn,
        "SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.DELETE_RULE \
         FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
         ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         AND r.TABLE_NAME = k.TABLE_NAME \
         WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        p(),
    )
    .await?;
    let foreign_keys = grouped_fks(&fks);
    let stats = rows(
        conn,
        "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        p(),
    )
    .await?;
    let mut primary_key = Vec::new();
    let mut indexes: Vec<IndexSchema> = Vec::new();
    for r in &stats {
        let iname = string(r, 0);
        if iname == "PRIMARY" {
            primary_key.push(string(r, 2));
            continue;
        }
        if indexes.last().is_none_or(|i| i.name != iname) {
            indexes.push(IndexSchema {
                unique: !truthy(r, 1),
                name: iname,
                columns: vec![],
                constraint: false,
            });
        }
        indexes
            .last_mut()
            .expect("pushed above")
            .columns
            .push(string(r, 2));
    }
    // InnoDB's own index for a foreign key that had none.
    indexes.retain(|i| {
        i.unique
            || !foreign_keys
                .iter()
                .any(|f| f.name == i.name && f.columns == i.columns)
    });
    Ok(TableSchema {
        name,
        columns,
        primary_key,
        indexes,
        foreign_keys,
    })
}
