//! The `orm` command line: schema migrations from a terminal or CI.
//!
//! ```text
//! orm migrate generate NAME [--allow-destructive] [--concurrent-indexes]
//! orm migrate up [--to VERSION]
//! orm migrate down [--to VERSION | --steps N]     (one step by default; --to 0: all)
//! orm migrate status
//! orm migrate check                                (exit 1 when entities and database differ)
//! orm migrate sql                                  (what `up` would run)
//! orm migrate repair VERSION                       (forget a failed MySQL migration's record)
//! ```
//!
//! The database is `--database-url` or `DATABASE_URL`; migrations live in
//! `--dir` (default `migrations`); `--only-tables app_*` or `--ignore-tables
//! legacy_*` keep other programs' tables out of `check` and `generate`.
//!
//! Entities are Rust types, so the commands that compare with them
//! (`generate`, `check`) need a binary that has them compiled in, the way
//! sea-orm-migration has its migration crate: the application adds
//! `src/bin/orm.rs` with
//!
//! ```no_run
//! # mod app { pub fn entities() -> Vec<&'static orm_core::EntityMeta> { vec![] } }
//! fn main() -> std::process::ExitCode {
//!     orm_cli::main(&app::entities())
//! }
//! ```
//!
//! and runs `cargo run --bin orm -- migrate generate add_age`. The `orm`
//! binary of this crate has no entities: it applies, reverts, lists and
//! prints migrations, and says so when asked for the other two.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use orm_core::migrate::{Direction, GenerateOptions, Migrator, Progress, RenderOptions, State};
use orm_core::{Database, EntityMeta};

#[derive(Parser, Debug)]
#[command(name = "orm", about = "Schema migrations for orm entities")]
struct Cli {
    /// The database URL (sqlite://file.db, postgres://.., mysql://..).
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// The migrations directory.
    #[arg(long, default_value = "migrations", global = true)]
    dir: PathBuf,
    /// Manage only these tables (comma-separated; `*` matches any run of characters).
    #[arg(long, value_delimiter = ',', global = true)]
    only_tables: Vec<String>,
    /// Leave these tables alone (comma-separated patterns).
    #[arg(long, value_delimiter = ',', global = true)]
    ignore_tables: Vec<String>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand, Debug)]
enum Top {
    /// Generate, apply, revert and inspect schema migrations.
    Migrate {
        #[command(subcommand)]
        command: Command,
    },
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a migration from the difference between the database and the entities.
    Generate {
        /// The migration's name (letters, digits, `_`).
        name: String,
        /// Allow changes that can lose data or fail on existing rows.
        #[arg(long)]
        allow_destructive: bool,
        /// PostgreSQL: build indexes CONCURRENTLY (outside a transaction).
        #[arg(long)]
        concurrent_indexes: bool,
    },
    /// Apply pending migrations (up to and including --to).
    Up {
        #[arg(long)]
        to: Option<String>,
    },
    /// Revert applied migrations: the newest (--steps N of them), or all after --to (0: all).
    Down {
        #[arg(long, conflicts_with = "steps")]
        to: Option<String>,
        #[arg(long)]
        steps: Option<usize>,
    },
    /// List migrations and where each stands.
    Status,
    /// Exit 1 when the entities and the database differ (for CI).
    Check,
    /// Print the SQL `up` would run.
    Sql,
    /// Forget a failed or unfinished migration's record (after fixing the schema by hand).
    Repair { version: String },
}

/// Runs the command line in `std::env::args` with `entities` compiled in,
/// on a runtime of its own. The exit code is 0 on success, 1 when `check`
/// found drift, 2 on an error (printed).
pub fn main(entities: &[&'static EntityMeta]) -> ExitCode {
    ExitCode::from(run_from(std::env::args_os(), entities))
}

/// [`main`] with explicit arguments (the first is the program name);
/// returns the exit code.
pub fn run_from<I, T>(args: I, entities: &[&'static EntityMeta]) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start a runtime: {e}");
            return 2;
        }
    };
    match runtime.block_on(run(cli, entities)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run(cli: Cli, entities: &[&'static EntityMeta]) -> orm_core::Result<u8> {
    let Some(url) = cli.database_url.filter(|u| !u.trim().is_empty()) else {
        return Err(orm_core::Error::Config(
            "no database: set DATABASE_URL or pass --database-url".into(),
        ));
    };
    let Top::Migrate { command } = cli.command;
    let needs_entities = matches!(command, Command::Generate { .. } | Command::Check);
    if needs_entities && entities.is_empty() {
        return Err(orm_core::Error::Config(
            "this `orm` binary has no entities compiled in: `generate` and `check` compare with them; \
             add src/bin/orm.rs calling orm_cli::main(&[..your entities..]) to the application"
                .into(),
        ));
    }
    let db = Database::connect(&url).await?;
    let migrator: Migrator = db
        .migrator(&cli.dir)?
        .entities(entities)
        .only_tables(
            &cli.only_tables
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .ignore_tables(
            &cli.ignore_tables
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .on_progress(|p| match p {
            Progress::Started {
                version,
                direction,
                statements,
            } => eprintln!(
                "{} {version} ({statements} statements) ...",
                if *direction == Direction::Up {
                    "applying"
                } else {
                    "reverting"
                }
            ),
            Progress::Finished {
                version, elapsed, ..
            } => eprintln!("  {version} done in {}", ms(*elapsed)),
        });
    let code = match command {
        Command::Generate {
            name,
            allow_destructive,
            concurrent_indexes,
        } => {
            let options = GenerateOptions {
                allow_destructive,
                render: RenderOptions { concurrent_indexes },
            };
            match migrator.generate(&name, options).await? {
                None => println!("the database matches the entities: nothing to generate"),
                Some(made) => {
                    println!("wrote {}", made.path.display());
                    for c in &made.changes {
                        println!("  {c}");
                    }
                }
            }
            0
        }
        Command::Up { to } => {
            let done = migrator.up_to(to.as_deref()).await?;
            println!("{} migration(s) applied", done.len());
            0
        }
        Command::Down { to, steps } => {
            let done = match to {
                Some(t) if t == "0" => migrator.down_to(None).await?,
                Some(t) => migrator.down_to(Some(&t)).await?,
                None => migrator.down(steps.unwrap_or(1)).await?,
            };
            println!("{} migration(s) reverted", done.len());
            0
        }
        Command::Status => {
            for s in migrator.status().await? {
                let state = match s.state {
                    State::Pending => "pending".to_string(),
                    State::Applied {
                        applied_at,
                        duration_ms,
                    } => format!("applied {applied_at} ({duration_ms} ms)"),
                    State::Failed {
                        statements_run,
                        error,
                    } => format!("FAILED after {statements_run} statement(s): {error}"),
                    State::Running { statements_run } => {
                        format!("RUNNING or stopped after {statements_run} statement(s)")
                    }
                    State::Changed => "CHANGED since it was applied (checksum differs)".into(),
                    State::Missing => "applied, but its file is MISSING".into(),
                };
                println!("{}  {state}", s.version);
            }
            0
        }
        Command::Check => {
            let drift = migrator.check().await?;
            if drift.is_empty() {
                println!("the database matches the entities");
                0
            } else {
                println!("the database differs from the entities:");
                for c in &drift {
                    println!("  {c}");
                }
                1
            }
        }
        Command::Sql => {
            print!("{}", migrator.pending_sql().await?);
            0
        }
        Command::Repair { version } => {
            if migrator.repair(&version).await? {
                println!("forgot the record of {version}: `migrate up` runs it again");
            } else {
                println!("{version} has no failed or unfinished record");
            }
            0
        }
    };
    db.close().await;
    Ok(code)
}
