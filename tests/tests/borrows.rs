//! A second borrow of a guarded object is an error or a panic naming the
//! entity and the key, never a deadlock: a write guard held
//! across `s.commit().await`, `s.flush().await`, a query that puts a row
//! into the same object, and a keyed collection's read, each on a
//! current-thread runtime (what `#[tokio::test]` runs), on every backend;
//! and the ordinary uses still work.
//!
//! Before the fix every one of these waited for ever (a `tokio::time::timeout`
//! cannot fire while the thread is blocked in a lock), so each scenario also
//! runs under a watchdog thread that aborts the test binary with a message
//! if it is still running after a while: a regression fails, it does not
//! hang the suite.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use orm_core::prelude::*;
use tests::backend_tests;

#[entity(table = "bor_notes")]
#[derive(Debug, Default, Clone)]
pub struct Note {
    #[key(auto)]
    pub id: i64,
    pub text: String,
    #[version]
    pub version: i64,
}

#[entity(table = "bor_boards")]
#[derive(Debug, Default)]
pub struct Board {
    #[key(auto)]
    pub id: i64,
    pub name: String,
    #[has_many(Pin, by = "board_id", keyed_by = "slot")]
    pub pins: Keyed<String, Pin>,
}

#[entity(table = "bor_pins")]
#[derive(Debug, Default)]
pub struct Pin {
    #[key(auto)]
    pub id: i64,
    #[column(references = Board)]
    pub board_id: i64,
    #[column(len = 64)]
    pub slot: String,
    pub text: String,
}

async fn setup(db: &Database) -> orm_core::Result<()> {
    db.create_all(&[Note::schema(), Board::schema(), Pin::schema()])
        .await
}

/// Aborts the process if still alive after `secs` (a hang in a lock).
struct Watchdog(Arc<AtomicBool>);

fn watchdog(what: &'static str, secs: u64) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if flag.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{what}: still blocked after {secs} s, a deadlock; aborting");
        std::process::abort();
    });
    Watchdog(done)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Bounded on both counts: the future's own awaits (tokio's timeout) and a
/// thread blocked in a lock (the watchdog).
async fn bounded<F: std::future::Future>(what: &'static str, f: F) -> F::Output {
    let _dog = watchdog(what, 20);
    tokio::time::timeout(Duration::from_secs(15), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out"))
}

/// The text of a caught panic.
fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

async fn stored_note(db: &Database) -> orm_core::Result<i64> {
    let mut s = db.session();
    let n = s.add(Note {
        text: "a".into(),
        ..Default::default()
    });
    s.commit().await?;
    Ok(n.key())
}

fn assert_borrowed<T: std::fmt::Debug>(r: orm_core::Result<T>, entity: &str, key: &str) {
    match r {
        Err(Error::Borrowed { entity: e, key: k }) => {
            assert_eq!(e, entity);
            assert_eq!(k, key);
        }
        other => panic!("expected Borrowed {{ {entity} {key} }}, got {other:?}"),
    }
}

backend_tests! {
    /// A write guard held across `commit().await` and `flush().await`:
    /// `Error::Borrowed` naming the object at once, nothing sent, the
    /// session untouched; after the guard is dropped the same commit works.
    async fn a_guard_across_commit_or_flush_is_an_error(db) {
        setup(&db).await?;
        let id = stored_note(&db).await?;
        let mut s = db.session();
        let n = s.get::<Note>(id).await?;
        let before = s.stats().statements();
        {
            let mut g = n.write();
            g.text = "b".into();
            assert_borrowed(bounded("commit", s.commit()).await, "Note", &id.to_string());
            assert_borrowed(bounded("flush", s.flush()).await, "Note", &id.to_string());
            assert_eq!(s.stats().statements(), before, "nothing was sent");
            assert!(!s.has_failed(), "nothing started: the session is as it was");
        }
        s.commit().await?;
        let rows = db.fetch_sql("SELECT text, version FROM bor_notes", vec![]).await?;
        assert_eq!(rows[0].get_at::<String>(0)?, "b");
        assert_eq!(rows[0].get_at::<i64>(1)?, 2);

        // A new object says it has no key yet.
        let fresh = s.add(Note { text: "new".into(), ..Default::default() });
        {
            let _g = fresh.write();
            assert_borrowed(bounded("commit of a new object", s.commit()).await, "Note", "(new, no key yet)");
        }
        s.commit().await?;
        Ok(())
    }

    /// A query that reaches the guarded object: through autoflush it is the
    /// same error; without autoflush, a row loaded into the (expired)
    /// object is a panic naming it, not a hang.
    async fn a_guard_across_a_query_of_the_same_key(db) {
        setup(&db).await?;
        let id = stored_note(&db).await?;
        let mut s = db.session();
        let n = s.get::<Note>(id).await?;
        {
            let _g = n.write();
            assert_borrowed(bounded("query", s.query::<Note>().all()).await, "Note", &id.to_string());
        }
        s.set_autoflush(false);
        s.expire(&n);
        let g = n.write();
        let caught = bounded("materialize", AssertUnwindSafe(s.query::<Note>().all()).catch_unwind()).await;
        drop(g);
        let text = message(caught.expect_err("a panic, not a hang"));
        assert!(text.contains(&format!("Note {id}")), "{text}");
        assert!(text.contains("this thread holds its write guard"), "{text}");
        Ok(())
    }

    /// A keyed collection reading a child whose write guard this thread
    /// holds: `Error::Borrowed` naming the child; the flush says the same
    /// for a child the collection created (not yet in the session).
    async fn a_guard_on_a_child_during_a_keyed_read(db) {
        setup(&db).await?;
        let mut s = db.session();
        let b = s.add(Board { name: "b".into(), ..Default::default() });
        let p = b.write().pins.insert("x".into(), Pin { text: "1".into(), ..Default::default() })?;
        s.commit().await?;
        let pid = p.key().to_string();
        {
            let _g = p.write();
            assert_borrowed(b.read().pins.get("x"), "Pin", &pid);
            assert_borrowed(b.read().pins.keys(), "Pin", &pid);
            assert_borrowed(bounded("flush", s.flush()).await, "Pin", &pid);
        }
        assert!(Handle::ptr_eq(&b.read().pins.get("x")?.expect("x"), &p));

        let made = b.write().pins.insert("y".into(), Pin::default())?;
        {
            let _g = made.write();
            assert_borrowed(bounded("flush with a created child", s.flush()).await, "Pin", "(new, no key yet)");
        }
        s.rollback().await?; // acknowledges the failed flush, keeps the work
        s.commit().await?;
        let n = db.fetch_sql("SELECT slot FROM bor_pins ORDER BY slot", vec![]).await?;
        assert_eq!(n.len(), 2);
        Ok(())
    }

    /// Another task of the same current-thread runtime holds the guard
    /// across an await: the second borrow panics in the task that tries it
    /// (a `JoinError` that is a panic), instead of blocking the thread and
    /// with it the task that would release the guard.
    async fn another_task_on_this_thread(db) {
        setup(&db).await?;
        let id = stored_note(&db).await?;
        let mut s = db.session();
        let n = s.get::<Note>(id).await?;
        let local = tokio::task::LocalSet::new();
        let (holder, reader) = bounded("tasks", local.run_until(async {
            let held = n.clone();
            let holder = tokio::task::spawn_local(async move {
                let mut g = held.write();
                tokio::time::sleep(Duration::from_millis(50)).await;
                g.text = "held".into();
            });
            tokio::task::yield_now().await;
            let read = n.clone();
            let reader = tokio::task::spawn_local(async move { read.read().text.clone() });
            (holder.await, reader.await)
        }))
        .await;
        holder.expect("the holder finishes");
        let err = reader.expect_err("the reader panics");
        assert!(err.is_panic());
        let text = message(err.into_panic());
        assert!(text.contains(&format!("Note {id}")) && text.contains("cannot read it"), "{text}");
        assert_eq!(n.read().text, "held");
        Ok(())
    }

    /// The ordinary uses: reads while other reads are held, a write once
    /// the reads are gone, reads after a write, two objects written at
    /// once, and a guard on another thread waited for, not refused.
    async fn ordinary_borrows_still_work(db) {
        setup(&db).await?;
        let id = stored_note(&db).await?;
        let mut s = db.session();
        let n = s.get::<Note>(id).await?;
        let other = s.add(Note { text: "o".into(), ..Default::default() });
        {
            let a = n.read();
            let b = n.read();
            assert_eq!(a.text, b.text);
        }
        n.write().text = "w".into();
        assert_eq!(n.read().text, "w");
        {
            let mut x = n.write();
            let mut y = other.write();
            std::mem::swap(&mut x.text, &mut y.text);
        }
        assert_eq!(other.read().text, "w");
        let t = n.read().text.clone();
        n.write().text = t + "!";
        s.commit().await?;
        assert_eq!(n.read().text, "o!");

        // A write guard on another thread for 100 ms: this thread's read waits.
        let held = n.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut g = held.write();
            tx.send(()).expect("main thread waits");
            std::thread::sleep(Duration::from_millis(100));
            g.text = "from the thread".into();
        });
        rx.recv()?;
        assert_eq!(n.read().text, "from the thread");
        thread.join().expect("no panic");
        Ok(())
    }
}

/// Two borrows in one scope of one thread.
#[test]
#[should_panic(expected = "cannot read it: this thread holds its write guard")]
fn read_while_writing_panics() {
    let mut s = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(Database::connect("sqlite::memory:"))
        .expect("sqlite")
        .session();
    let n = s.add(Note::default());
    let _g = n.write();
    let _ = n.read().text.len();
}

#[test]
#[should_panic(
    expected = "Note (new, no key yet): cannot write it: this thread holds its write guard"
)]
fn write_while_writing_panics() {
    let mut s = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(Database::connect("sqlite::memory:"))
        .expect("sqlite")
        .session();
    let n = s.add(Note::default());
    let _g = n.write();
    n.write().text = "again".into();
}

/// `h.write().x = h.read().y`: the right side's read guard lives to the
/// end of the statement, so the write would wait for this thread's own
/// read; a panic at once that says how to write it.
#[test]
#[should_panic(expected = "cannot write it: this thread holds a read guard of it")]
fn write_while_reading_panics() {
    let mut s = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(Database::connect("sqlite::memory:"))
        .expect("sqlite")
        .session();
    let n = s.add(Note::default());
    n.write().text = n.read().text.clone() + "!";
}

/// A write guard another thread keeps: a read here waits for it, up to the
/// bound, then panics naming the object instead of hanging. (Its own test
/// binary would not be needed: the bound is process-wide, and the other
/// scenarios here wait only for guards released within 100 ms.)
#[test]
fn a_guard_kept_by_another_thread_is_waited_for_then_reported() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut s = rt
        .block_on(Database::connect("sqlite::memory:"))
        .expect("sqlite")
        .session();
    let n = s.add(Note::default());
    orm_core::set_borrow_wait(Duration::from_millis(300));
    let held = n.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let _g = held.write();
        tx.send(()).expect("main thread waits");
        let _ = release_rx.recv_timeout(Duration::from_secs(20));
    });
    rx.recv().expect("the thread writes");
    let _dog = watchdog("waiting for another thread's guard", 20);
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| n.read().text.len()));
    orm_core::set_borrow_wait(orm_core::BORROW_WAIT);
    release_tx.send(()).expect("the thread waits");
    thread.join().expect("no panic there");
    let text = message(caught.expect_err("a panic, not a hang"));
    assert!(
        text.contains("Note (new, no key yet): cannot read it: a guard held by another thread"),
        "{text}"
    );
    assert_eq!(n.read().text, "", "usable once released");
}
