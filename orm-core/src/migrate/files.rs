//! Migrations as files, and as Rust: `migrations/<version>_<name>/up.sql`
//! and `down.sql`, where the version is a UTC timestamp
//! (`20261202143000`), so that versions sort in the order they were
//! written. A file is plain SQL, readable and editable; comment lines that
//! start with `-- orm:` tell the migrator how to run it:
//!
//! * `-- orm:dialect postgres` (written by `generate`): the backend it was
//!   written for; running it on another is an error naming both;
//! * `-- orm:no-transaction`: run statement by statement outside a
//!   transaction (PostgreSQL's `CREATE INDEX CONCURRENTLY` needs it);
//! * `-- orm:foreign-keys off` (SQLite): foreign-key enforcement off while
//!   the migration runs (a table rebuild drops and renames a table others
//!   refer to), `PRAGMA foreign_key_check` before its commit.
//!
//! A migration's checksum is the SHA-256 of its `up.sql` as stored; the
//! applied table keeps it, and a file changed after it was applied is an
//! error. (A Rust migration's checksum covers its version and name only:
//! its code cannot be hashed.)
//!
//! Layer 4 (migrations): it uses only what is below it (see `crate::layers`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::migrate::MigrationConn;

/// The applied-migrations table.
pub const APPLIED_TABLE: &str = "orm_migrations";
/// SQLite's lock row (the other backends lock without a table).
pub const LOCK_TABLE: &str = "orm_migrations_lock";

/// The future a Rust migration step returns.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// A migration written in Rust (data changes): a function of the
/// migration's connection, inside the migration's transaction where the
/// backend has one.
pub type RustStep = for<'a> fn(&'a mut MigrationConn<'_>) -> StepFuture<'a>;

/// What a migration runs (`up`, and `down` when it can be reverted).
#[derive(Clone)]
#[allow(missing_docs)] // the fields, described above
pub enum Body {
    /// SQL files (or text): `up`, and `down` when it can be reverted.
    Sql { up: String, down: Option<String> },
    /// Rust functions: `up`, and `down` when it can be reverted.
    Rust {
        up: RustStep,
        down: Option<RustStep>,
    },
}

/// One migration.
#[derive(Clone)]
pub struct Migration {
    /// `<timestamp>_<name>`: sorts in the order migrations were written.
    pub version: String,
    /// The name part of the version.
    pub name: String,
    /// What it runs.
    pub body: Body,
    /// SHA-256 of `up.sql` (of the version for a Rust migration), kept in the applied table.
    pub checksum: String,
}

impl std::fmt::Debug for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migration")
            .field("version", &self.version)
            .field("name", &self.name)
            .field("checksum", &self.checksum)
            .finish()
    }
}

pub(crate) fn sha256(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Migration {
    /// A SQL migration (its `down` may be absent: it cannot be reverted).
    pub fn sql(
        version: impl Into<String>,
        name: impl Into<String>,
        up: impl Into<String>,
        down: Option<String>,
    ) -> Migration {
        let up = up.into();
        Migration {
            version: version.into(),
            name: name.into(),
            checksum: sha256(&up),
            body: Body::Sql { up, down },
        }
    }

    /// A Rust migration.
    ///
    /// ```
    /// use orm_core::migrate::{Migration, MigrationConn, StepFuture};
    ///
    /// fn backfill<'a>(conn: &'a mut MigrationConn<'_>) -> StepFuture<'a> {
    ///     Box::pin(async move {
    ///         conn.execute("UPDATE users SET visits = 0 WHERE visits IS NULL", vec![]).await?;
    ///         Ok(())
    ///     })
    /// }
    ///
    /// let m = Migration::rust("20261202150000", "backfill_visits", backfill, None);
    /// assert_eq!(m.version, "20261202150000_backfill_visits");
    /// ```
    pub fn rust(timestamp: &str, name: &str, up: RustStep, down: Option<RustStep>) -> Migration {
        let version = format!("{timestamp}_{name}");
        Migration {
            checksum: sha256(&format!("rust:{version}")),
            version,
            name: name.to_string(),
            body: Body::Rust { up, down },
        }
    }

    /// The `-- orm:dialect ..` a SQL migration names, if any.
    pub fn dialect(&self) -> Option<&str> {
        match &self.body {
            Body::Sql { up, .. } => directive(up, "dialect"),
            Body::Rust { .. } => None,
        }
    }

    /// Whether SQLite's foreign keys are off while it runs (`-- orm:foreign-keys off`).
    pub fn foreign_keys_off(&self) -> bool {
        match &self.body {
            Body::Sql { up, down } => {
                let off = |text: &str| {
                    directive(text, "foreign-keys").and_then(|v| v.split_whitespace().next())
                        == Some("off")
                };
                off(up) || down.as_deref().is_some_and(off)
            }
            Body::Rust { .. } => false,
        }
    }

    /// Whether it must run outside a transaction (`-- orm:no-transaction`).
    pub fn outside_transaction(&self) -> bool {
        match &self.body {
            Body::Sql { up, .. } => directive(up, "no-transaction").is_some(),
            Body::Rust { .. } => false,
        }
    }
}

/// The value of `-- orm:<key> [value]` in a file ("" when it has none).
fn directive<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("-- orm:")?;
        let rest = rest.strip_prefix(key)?;
        (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim())
    })
}

/// Every migration under `dir` (a directory that does not exist holds none),
/// in version order.
pub fn read_dir(dir: &Path) -> Result<Vec<Migration>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_error(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let version = entry.file_name().to_string_lossy().into_owned();
        let Some((stamp, name)) = version.split_once('_') else {
            return Err(Error::Migration {
                version: Some(version.clone()),
                message: format!(
                    "{} is not named <timestamp>_<name> (e.g. 20261202143000_add_age)",
                    path.display()
                ),
            });
        };
        if stamp.is_empty() || !stamp.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::Migration {
                version: Some(version.clone()),
                message: format!("{} does not start with a numeric timestamp", path.display()),
            });
        }
        let up_path = path.join("up.sql");
        let up = std::fs::read_to_string(&up_path).map_err(|e| io_error(&up_path, e))?;
        let down_path = path.join("down.sql");
        let down = match std::fs::read_to_string(&down_path) {
            Ok(d) => Some(d),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&down_path, e)),
        };
        let name = name.to_string();
        out.push(Migration {
            version,
            name,
            checksum: sha256(&up),
            body: Body::Sql { up, down },
        });
    }
    out.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(out)
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Migration {
        version: None,
        message: format!("{}: {e}", path.display()),
    }
}

/// Writes a new migration directory; returns its path.
pub(crate) fn write(dir: &Path, version: &str, up: &str, down: &str) -> Result<PathBuf> {
    let path = dir.join(version);
    if path.exists() {
        return Err(Error::Migration {
            version: Some(version.to_string()),
            message: format!("{} exists already", path.display()),
        });
    }
    std::fs::create_dir_all(&path).map_err(|e| io_error(&path, e))?;
    for (file, text) in [("up.sql", up), ("down.sql", down)] {
        let p = path.join(file);
        std::fs::write(&p, text).map_err(|e| io_error(&p, e))?;
    }
    Ok(path)
}

/// The statements of a SQL file: split at `;` outside quotes, comments
/// and PostgreSQL dollar-quoted bodies; empty and comment-only pieces
/// dropped.
pub fn statements(text: &str) -> Vec<Arc<str>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut has_code = false;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' | b'`' => {
                let q = b[i];
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                has_code = true;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                // $tag$ ... $tag$
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .map(|p| i + 1 + p);
                if let Some(e) = tag_end
                    && b[e] == b'$'
                {
                    let tag = &text[i..=e];
                    if let Some(close) = text[e + 1..].find(tag) {
                        i = e + 1 + close + tag.len();
                        has_code = true;
                        continue;
                    }
                }
                has_code = true;
            }
            b';' => {
                if has_code {
                    out.push(Arc::from(text[start..i].trim()));
                }
                start = i + 1;
                has_code = false;
            }
            c if !c.is_ascii_whitespace() => has_code = true,
            _ => {}
        }
        i += 1;
    }
    if has_code {
        out.push(Arc::from(text[start..].trim()));
    }
    // A piece keeps its leading comments; the statement is what follows.
    out.into_iter()
        .map(|s: Arc<str>| {
            let code: Vec<&str> = s
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            Arc::from(code.join("\n").trim())
        })
        .filter(|s: &Arc<str>| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        let sql = "-- a comment; not a statement\nCREATE TABLE t (a TEXT DEFAULT ';');\n\
                   /* x; y */ INSERT INTO t VALUES ('it''s; fine');\n\
                   CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- trailing\n";
        let got: Vec<String> = statements(sql).iter().map(|s| s.to_string()).collect();
        assert_eq!(got.len(), 3, "{got:#?}");
        assert_eq!(got[0], "CREATE TABLE t (a TEXT DEFAULT ';')");
        assert!(
            got[1].ends_with("INSERT INTO t VALUES ('it''s; fine')"),
            "{got:?}"
        );
        assert!(got[2].contains("$$ SELECT 1; $$"), "{got:?}");
    }

    #[test]
    fn directives_are_read_from_comment_lines() {
        let m = Migration::sql(
            "1_a",
            "a",
            "-- orm:dialect postgres\n-- orm:no-transaction\nSELECT 1;",
            None,
        );
        assert_eq!(m.dialect(), Some("postgres"));
        assert!(m.outside_transaction());
        let m = Migration::sql("1_a", "a", "SELECT 1; -- orm:dialectal\n", None);
        assert_eq!(m.dialect(), None);
        assert!(!m.outside_transaction());
    }
}
