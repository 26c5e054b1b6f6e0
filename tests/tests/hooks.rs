//! Hooks: deterministic order (priority, then registration, across database
//! and session), before_flush adding work to the same flush, entity events,
//! bounded rounds, and hook errors that abort cleanly.

use std::sync::{Arc, Mutex};

use orm_core::prelude::*;
use tests::backend_tests;

#[entity(table = "docs")]
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    #[key(auto)]
    pub id: i64,
    pub title: String,
    pub words: i32,
    #[version]
    pub version: i64,
}

#[entity(table = "audit")]
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    #[key(auto)]
    pub id: i64,
    pub message: String,
}

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(log: &Log, s: impl Into<String>) {
    log.lock().expect("not poisoned").push(s.into());
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().expect("not poisoned").clone()
}

fn doc(title: &str) -> Doc {
    Doc {
        id: 0,
        title: title.into(),
        words: 0,
        version: 0,
    }
}

async fn schema(db: &Database) -> orm_core::Result<()> {
    db.create_all(&[Doc::schema(), Audit::schema()]).await
}

backend_tests! {
    async fn hooks_run_by_priority_then_registration(db) {
        schema(&db).await?;
        let l = log();
        let (a, b, c, d, e) = (l.clone(), l.clone(), l.clone(), l.clone(), l.clone());
        db.hooks().before_flush(5, move |_| { push(&a, "db p5 first"); Ok(()) });
        let mut s = db.session();
        s.hooks().before_flush(5, move |_| { push(&b, "session p5"); Ok(()) });
        db.hooks().before_flush(5, move |_| { push(&c, "db p5 second"); Ok(()) });
        s.hooks().before_flush(-1, move |_| { push(&d, "session p-1"); Ok(()) });
        s.hooks().before_flush(100, move |_| { push(&e, "session p100"); Ok(()) });
        s.add(doc("x"));
        s.flush().await?;
        assert_eq!(entries(&l), ["session p-1", "db p5 first", "session p5", "db p5 second", "session p100"]);
        s.commit().await?;
        Ok(())
    }

    async fn lifecycle_events_in_order(db) {
        schema(&db).await?;
        let l = log();
        let mut s = db.session();
        let h = s.hooks();
        let x = l.clone();
        h.before_commit(0, move |_| { push(&x, "before_commit"); Ok(()) });
        let x = l.clone();
        h.before_flush(0, move |_| { push(&x, "before_flush"); Ok(()) });
        let x = l.clone();
        h.before_insert::<Doc>(0, move |d| { push(&x, format!("before_insert {}", d.title)); Ok(()) });
        let x = l.clone();
        h.after_insert::<Doc>(0, move |d| { push(&x, format!("after_insert {} v{}", d.title, d.version)); Ok(()) });
        let x = l.clone();
        h.before_update::<Doc>(0, move |d| { push(&x, format!("before_update {}", d.title)); Ok(()) });
        let x = l.clone();
        h.after_update::<Doc>(0, move |d| { push(&x, format!("after_update v{}", d.version)); Ok(()) });
        let x = l.clone();
        h.before_delete::<Doc>(0, move |d| { push(&x, format!("before_delete {}", d.title)); Ok(()) });
        let x = l.clone();
        h.after_delete::<Doc>(0, move |_| { push(&x, "after_delete"); Ok(()) });
        let x = l.clone();
        h.after_flush(0, move |_| { push(&x, "after_flush"); Ok(()) });
        let x = l.clone();
        h.after_commit(0, move |_| { push(&x, "after_commit"); Ok(()) });
        let x = l.clone();
        h.after_rollback(0, move |_| { push(&x, "after_rollback"); Ok(()) });
        let d = s.add(doc("a"));
        s.commit().await?;
        d.write().title = "b".into();
        s.commit().await?;
        s.delete(&d)?;
        s.commit().await?;
        s.rollback().await?;
        assert_eq!(
            entries(&l),
            [
                "before_commit", "before_flush", "before_insert a", "after_insert a v1", "after_flush", "after_commit",
                "before_commit", "before_flush", "before_update b", "after_update v2", "after_flush", "after_commit",
                "before_commit", "before_flush", "before_delete b", "after_delete", "after_flush", "after_commit",
                "after_rollback",
            ]
        );
        Ok(())
    }

    async fn before_flush_work_is_written_by_the_same_flush(db) {
        schema(&db).await?;
        let mut s = db.session();
        // An audit row for every new document, added by the hook itself.
        s.hooks().before_flush(0, |s| {
            let titles: Vec<String> = s
                .new_objects::<Doc>()
                .iter()
                .map(|d| d.read().title.clone())
                .collect();
            let audited = s.new_objects::<Audit>().len();
            for t in titles.iter().skip(audited) {
                s.add(Audit { id: 0, message: format!("created {t}") });
            }
            Ok(())
        });
        // before_update can change the row it is about to write.
        s.hooks().before_update::<Doc>(0, |d| {
            d.words = d.title.split_whitespace().count() as i32;
            Ok(())
        });
        s.add(doc("one"));
        s.add(doc("two"));
        let before = s.stats().statements();
        s.commit().await?;
        assert_eq!(s.stats().statements() - before, 2, "docs and audits, one INSERT each");
        assert_eq!(s.query::<Audit>().count().await?, 2);
        let d = s.query::<Doc>().filter(Doc::TITLE.eq("one")).one().await?;
        d.write().title = "one two three".into();
        s.commit().await?;
        assert_eq!(d.read().words, 3);
        assert_eq!(db.session().get::<Doc>(d.key()).await?.read().words, 3);
        Ok(())
    }

    async fn a_commit_without_flush_runs_before_flush_before_versions(db) {
        // The trap of a counter bumped from hooks: a before_flush hook that
        // changes objects must run before the dirty set is read, or the
        // version bump misses them.
        schema(&db).await?;
        let mut s = db.session();
        let d = s.add(doc("t"));
        s.commit().await?;
        let target = d.clone();
        s.hooks().before_flush(0, move |_| {
            let mut w = target.write();
            if w.words == 0 {
                w.words = 42;
            }
            Ok(())
        });
        s.commit().await?; // no earlier flush, nothing dirty before the hook
        assert_eq!((d.read().words, d.read().version), (42, 2));
        Ok(())
    }

    async fn before_flush_rounds_are_bounded(db) {
        schema(&db).await?;
        let mut s = db.session();
        s.hooks().before_flush(0, |s| {
            s.add(Audit { id: 0, message: "again".into() });
            Ok(())
        });
        s.add(doc("x"));
        match s.flush().await {
            Err(Error::Hook { event: "before_flush", message }) => assert!(message.contains("rounds"), "{message}"),
            other => panic!("expected a bounded-rounds error, got {other:?}"),
        }
        Ok(())
    }

    async fn a_hook_error_aborts_the_flush_cleanly(db) {
        schema(&db).await?;
        let mut s = db.session();
        let keep = s.add(doc("keep"));
        s.commit().await?;
        s.hooks().before_insert::<Doc>(0, |d| {
            if d.title == "bad" {
                return Err(Error::Config("no bad titles".into()));
            }
            Ok(())
        });
        keep.write().words = 9;
        let bad = s.add(doc("bad"));
        let err = s.commit().await.expect_err("the hook refuses");
        assert!(matches!(&err, Error::Hook { event: "before_insert", message } if message.contains("no bad titles")), "{err:?}");
        assert_eq!(bad.state(), ObjectState::New);
        assert!(s.is_dirty(&keep));
        assert_eq!(keep.read().version, 1);
        assert_eq!(db.session().query::<Doc>().count().await?, 1);
        s.rollback().await?;
        bad.write().title = "good".into();
        s.commit().await?;
        assert_eq!(db.session().query::<Doc>().count().await?, 2);
        assert_eq!(keep.read().version, 2);
        Ok(())
    }

    async fn after_load_initialises_objects(db) {
        schema(&db).await?;
        let mut s = db.session();
        s.add(doc("Hello World"));
        s.commit().await?;
        db.hooks().after_load::<Doc>(0, |d| {
            d.title = d.title.to_uppercase();
            Ok(())
        });
        let mut fresh = db.session();
        let d = fresh.query::<Doc>().one().await?;
        assert_eq!(d.read().title, "HELLO WORLD");
        assert!(!fresh.is_dirty(&d), "after_load shapes the loaded state; it is not a change");
        Ok(())
    }
}
