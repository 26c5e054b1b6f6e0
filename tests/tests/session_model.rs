//! A model-based property test of the session: random sequences of add,
//! change, rename, delete, flush, commit and rollback (failing flushes come
//! from duplicate names on a unique column) run against a real session and
//! against a plain in-memory model. After every commit the table equals the
//! model's committed state; after every failure the session equals the
//! model's state before the failed operation; after a rollback of a session
//! that had not failed, the session equals the committed state.

use std::collections::BTreeMap;

use orm_core::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tests::{Backend, TestDb};

#[entity(table = "items")]
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    #[key]
    pub id: i64,
    #[column(unique, len = 16)]
    pub name: String,
    pub value: i64,
    #[version]
    pub version: i64,
}

#[derive(Debug, Clone)]
enum Op {
    Add(i64, &'static str, i64),
    Change(i64, i64),
    Rename(i64, &'static str),
    Delete(i64),
    Flush,
    Commit,
    Rollback,
}

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

fn op() -> impl Strategy<Value = Op> {
    let id = 0i64..6;
    let name = prop::sample::select(&NAMES[..]);
    prop_oneof![
        3 => (id.clone(), name.clone(), 0i64..100).prop_map(|(i, n, v)| Op::Add(i, n, v)),
        3 => (id.clone(), 0i64..100).prop_map(|(i, v)| Op::Change(i, v)),
        1 => (id.clone(), name).prop_map(|(i, n)| Op::Rename(i, n)),
        2 => id.prop_map(Op::Delete),
        2 => Just(Op::Flush),
        2 => Just(Op::Commit),
        1 => Just(Op::Rollback),
    ]
}

type State = BTreeMap<i64, (String, i64)>;

/// How often each outcome happened, so the test proves it exercised them.
#[derive(Default)]
struct Tally {
    commits: std::sync::atomic::AtomicUsize,
    failures: std::sync::atomic::AtomicUsize,
    rollbacks: std::sync::atomic::AtomicUsize,
}

fn bump(c: &std::sync::atomic::AtomicUsize) {
    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

struct Harness<'t> {
    tally: &'t Tally,
    session: Session,
    /// Every handle ever created for an id (a row switch adds a second one).
    handles: BTreeMap<i64, Vec<Handle<Item>>>,
    /// What a commit would make the table: the session's intended state.
    intended: State,
    /// What the table holds.
    committed: State,
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

impl Harness<'_> {
    /// The live handle of `id` (new or persistent), if any.
    fn live(&self, id: i64) -> Option<&Handle<Item>> {
        self.handles.get(&id).and_then(|hs| {
            hs.iter()
                .find(|h| matches!(h.state(), ObjectState::New | ObjectState::Persistent))
        })
    }

    /// The session's objects as the model sees them.
    fn observed(&self) -> Result<State, TestCaseError> {
        let mut out = State::new();
        for (id, hs) in &self.handles {
            let live: Vec<_> = hs
                .iter()
                .filter(|h| matches!(h.state(), ObjectState::New | ObjectState::Persistent))
                .collect();
            if live.len() > 1 {
                return Err(fail(format!("{} live objects for id {id}", live.len())));
            }
            if let Some(h) = live.first() {
                let v = h.read();
                out.insert(*id, (v.name.clone(), v.value));
            }
        }
        Ok(out)
    }

    fn check_session(&self, expected: &State, when: &str) -> Result<(), TestCaseError> {
        let observed = self.observed()?;
        if &observed != expected {
            return Err(fail(format!(
                "{when}: session {observed:?} != model {expected:?}"
            )));
        }
        Ok(())
    }

    async fn check_table(&self, db: &Database) -> Result<(), TestCaseError> {
        let rows = db
            .session()
            .query::<Item>()
            .rows()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut table = State::new();
        for r in rows {
            let id: i64 = r.get("id").map_err(|e| fail(e.to_string()))?;
            table.insert(
                id,
                (
                    r.get("name").map_err(|e| fail(e.to_string()))?,
                    r.get("value").map_err(|e| fail(e.to_string()))?,
                ),
            );
        }
        if table != self.committed {
            return Err(fail(format!(
                "table {table:?} != committed model {:?}",
                self.committed
            )));
        }
        Ok(())
    }

    /// A flush or commit failed: the session must equal the model before it,
    /// then rollback() acknowledges and keeps the pending work.
    async fn failed(&mut self, before: &State, error: Error) -> Result<(), TestCaseError> {
        if !matches!(
            error.db_kind(),
            Some(orm_core::DbErrorKind::UniqueViolation)
        ) {
            return Err(fail(format!("unexpected failure: {error}")));
        }
        bump(&self.tally.failures);
        self.check_session(before, "after a failure")?;
        if !self.session.has_failed() {
            return Err(fail("the session must refuse work until rollback()".into()));
        }
        self.session
            .rollback()
            .await
            .map_err(|e| fail(e.to_string()))?;
        self.check_session(before, "after acknowledging a failure")
    }

    async fn apply(&mut self, db: &Database, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Add(id, name, value) => {
                if self.intended.contains_key(&id) {
                    return Ok(());
                }
                let h = self.session.add(Item {
                    id,
                    name: name.into(),
                    value,
                    version: 0,
                });
                self.handles.entry(id).or_default().push(h);
                self.intended.insert(id, (name.into(), value));
            }
            Op::Change(id, value) => {
                if let Some(h) = self.live(id).cloned() {
                    h.write().value = value;
                    self.intended.get_mut(&id).expect("live means intended").1 = value;
                }
            }
            Op::Rename(id, name) => {
                if let Some(h) = self.live(id).cloned() {
                    h.write().name = name.into();
                    self.intended.get_mut(&id).expect("live means intended").0 = name.into();
                }
            }
            Op::Delete(id) => {
                if let Some(h) = self.live(id).cloned() {
                    self.session.delete(&h).map_err(|e| fail(e.to_string()))?;
                    self.intended.remove(&id);
                }
            }
            Op::Flush => {
                let before = self.intended.clone();
                if let Err(e) = self.session.flush().await {
                    self.failed(&before, e).await?;
                }
                self.check_session(&self.intended, "after flush")?;
            }
            Op::Commit => {
                let before = self.intended.clone();
                match self.session.commit().await {
                    Ok(()) => {
                        bump(&self.tally.commits);
                        self.committed = self.intended.clone();
                        self.check_table(db).await?;
                    }
                    Err(e) => self.failed(&before, e).await?,
                }
                self.check_session(&self.intended, "after commit")?;
            }
            Op::Rollback => {
                bump(&self.tally.rollbacks);
                self.session
                    .rollback()
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                self.intended = self.committed.clone();
                self.check_session(&self.committed, "after rollback")?;
            }
        }
        Ok(())
    }
}

fn property(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t = rt.block_on(TestDb::new(backend));
    rt.block_on(t.db.create_all(&[Item::schema()]))
        .expect("schema");
    // ORM_MODEL_CASES raises the case count for a longer local hunt.
    let cases = std::env::var("ORM_MODEL_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let db = t.db.clone();
    let tally = Tally::default();
    let result = runner.run(&prop::collection::vec(op(), 1..30), |ops| {
        rt.block_on(async {
            db.execute_sql("DELETE FROM items", vec![])
                .await
                .map_err(|e| fail(e.to_string()))?;
            let mut session = db.session();
            session.set_autoflush(false);
            let mut h = Harness {
                tally: &tally,
                session,
                handles: BTreeMap::new(),
                intended: State::new(),
                committed: State::new(),
            };
            for op in ops {
                h.apply(&db, op).await?;
            }
            let _ = h.session.rollback().await;
            let _ = h.session.rollback().await;
            Ok(())
        })
    });
    rt.block_on(t.cleanup());
    if let Err(e) = result {
        panic!("{backend:?}: {e}");
    }
    let load = |c: &std::sync::atomic::AtomicUsize| c.load(std::sync::atomic::Ordering::Relaxed);
    let (commits, failures, rollbacks) = (
        load(&tally.commits),
        load(&tally.failures),
        load(&tally.rollbacks),
    );
    eprintln!(
        "{backend:?}: {commits} commits, {failures} failed flushes or commits, {rollbacks} rollbacks"
    );
    assert!(
        commits > 0 && failures > 0 && rollbacks > 0,
        "every path was exercised"
    );
}

#[test]
fn the_session_follows_the_model_on_sqlite() {
    property(Backend::Sqlite, 96);
}

#[test]
fn the_session_follows_the_model_on_postgres() {
    property(Backend::Postgres, 24);
}

#[test]
fn the_session_follows_the_model_on_mysql() {
    property(Backend::MySql, 24);
}
