//! The `orm` command line on every backend: `check` fails on drift and
//! passes after `up`; `generate` writes a migration; the entity-less binary
//! applies, lists, prints and reverts it, and refuses `check` clearly.

use std::path::PathBuf;
use std::process::Command;

use orm_core::EntityMeta;
use orm_core::prelude::*;
use tests::{Backend, TestDb};

#[entity(table = "cli_notes")]
pub struct Note {
    #[key(auto)]
    pub id: i64,
    #[column(len = 80)]
    pub text: String,
    #[column(default = "0")]
    pub stars: i32,
}

fn entities() -> Vec<&'static EntityMeta> {
    vec![Note::schema()]
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cli(url: &str, dir: &Dir, args: &[&str]) -> u8 {
    let mut all = vec![
        "orm",
        "--database-url",
        url,
        "--dir",
        dir.0.to_str().expect("utf-8 path"),
    ];
    all.extend_from_slice(args);
    // A runtime of its own: the CLI blocks on one.
    let entities = entities();
    let all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || orm_cli::run_from(all, &entities))
        .join()
        .expect("cli thread")
}

fn binary(url: &str, dir: &Dir, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orm"))
        .env("DATABASE_URL", url)
        .arg("--dir")
        .arg(&dir.0)
        .args(args)
        .output()
        .expect("run orm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn workflow(backend: Backend) {
    let test = TestDb::new(backend).await;
    let dir = Dir(std::env::temp_dir().join(format!("orm-cli-{}-{backend:?}", std::process::id())));
    let url = test.url.clone();

    assert_eq!(
        cli(&url, &dir, &["migrate", "check"]),
        1,
        "an empty database differs"
    );
    assert_eq!(cli(&url, &dir, &["migrate", "generate", "notes"]), 0);
    let written: Vec<_> = std::fs::read_dir(&dir.0).expect("migrations").collect();
    assert_eq!(written.len(), 1);

    let (code, out, _) = binary(&url, &dir, &["migrate", "sql"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("CREATE TABLE") && out.contains("cli_notes"),
        "{out}"
    );

    let (code, out, err) = binary(&url, &dir, &["migrate", "up"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 migration(s) applied"), "{out}");
    assert!(
        err.contains("applying") && err.contains("done in"),
        "progress on the terminal: {err}"
    );

    assert_eq!(
        cli(&url, &dir, &["migrate", "check"]),
        0,
        "up made them agree"
    );
    let (code, out, _) = binary(&url, &dir, &["migrate", "status"]);
    assert_eq!(code, 0);
    assert!(out.contains("_notes  applied"), "{out}");

    let (code, _, err) = binary(&url, &dir, &["migrate", "check"]);
    assert_eq!(code, 2);
    assert!(err.contains("no entities compiled in"), "{err}");

    let (code, out, err) = binary(&url, &dir, &["migrate", "down"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 migration(s) reverted"), "{out}");
    assert_eq!(
        cli(&url, &dir, &["migrate", "check"]),
        1,
        "reverted: they differ again"
    );

    let (code, _, err) = binary("", &dir, &["migrate", "up"]);
    assert_eq!(code, 2);
    assert!(err.contains("DATABASE_URL"), "{err}");
    test.cleanup().await;
}

#[tokio::test]
async fn the_workflow_on_sqlite() {
    workflow(Backend::SqliteFile).await;
}

#[tokio::test]
async fn the_workflow_on_postgres() {
    workflow(Backend::Postgres).await;
}

#[tokio::test]
async fn the_workflow_on_mysql() {
    workflow(Backend::MySql).await;
}
