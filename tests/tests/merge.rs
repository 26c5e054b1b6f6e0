//! `Session::merge`: a detached copy reconciled with the database, as
//! SQLAlchemy's `merge()` does it (the row located, the copy's values
//! copied on, what differs written by the next flush), and stale rows that
//! never survive a failed flush and its rollback.

use orm_core::prelude::*;
use tests::backend_tests;

#[entity(table = "mg_docs")]
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    #[key(auto)]
    pub id: i64,
    #[column(len = 64)]
    pub title: String,
    pub body: String,
    #[version]
    pub version: i64,
}

#[entity(table = "mg_notes")]
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    #[key]
    pub id: i64,
    pub text: String,
}

async fn setup(db: &Database) -> Result<Doc, Error> {
    db.create_all(&[Doc::schema(), Note::schema()]).await?;
    let mut s = db.session();
    let d = s.add(Doc {
        id: 0,
        title: "draft".into(),
        body: "text".into(),
        version: 0,
    });
    s.add(Note {
        id: 1,
        text: "one".into(),
    });
    s.commit().await?;
    Ok(d.get())
}

async fn row(db: &Database, id: i64) -> Result<Option<Doc>, Error> {
    db.session()
        .find::<Doc>(id)
        .await
        .map(|h| h.map(|h| h.get()))
}

backend_tests! {
    async fn a_copy_that_carries_a_change_is_written(db) {
        let mut copy = setup(&db).await?;
        copy.title = "final".into();
        let mut s = db.session();
        let merged = s.merge(copy).await?;
        assert!(s.is_dirty(&merged), "what the copy changed is dirty");
        let history = s.history(&merged);
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].column, "title");
        assert_eq!(history[0].old, Value::Text("draft".into()));
        s.stats().log_statements(true);
        s.commit().await?;
        let log = s.stats().take_log();
        assert_eq!(log.len(), 1, "one UPDATE: {log:?}");
        assert!(log[0].starts_with("UPDATE") && log[0].contains("title") && !log[0].contains("body"),
            "only the changed column: {}", log[0]);
        let stored = row(&db, merged.key()).await?.expect("the row");
        assert_eq!((stored.title.as_str(), stored.version), ("final", 2));
        assert_eq!(merged.read().version, 2);
        Ok(())
    }

    async fn an_unchanged_copy_writes_nothing(db) {
        let copy = setup(&db).await?;
        let mut s = db.session();
        let merged = s.merge(copy).await?;
        assert!(!s.is_dirty(&merged));
        let before = s.stats().statements();
        s.commit().await?;
        assert_eq!(s.stats().statements(), before, "nothing to write");
        Ok(())
    }

    async fn the_copy_wins_over_the_sessions_object(db) {
        let copy = setup(&db).await?;
        let mut s = db.session();
        let held = s.get::<Doc>(copy.id).await?;
        held.write().body = "edited here".into();
        let mut changed = copy.clone();
        changed.title = "from the copy".into();
        let merged = s.merge(changed).await?;
        assert!(Handle::ptr_eq(&merged, &held), "one key, one object");
        assert_eq!(
            (merged.read().title.as_str(), merged.read().body.as_str()),
            ("from the copy", "text"),
            "the copy's state is copied onto the object, as SQLAlchemy does"
        );
        s.commit().await?;
        let stored = row(&db, copy.id).await?.expect("the row");
        assert_eq!((stored.title.as_str(), stored.body.as_str()), ("from the copy", "text"));
        Ok(())
    }

    async fn a_copy_older_than_the_row_is_refused(db) {
        let copy = setup(&db).await?;
        // Someone commits after the copy was made.
        let mut other = db.session();
        other.get::<Doc>(copy.id).await?.write().body = "theirs".into();
        other.commit().await?;
        let mut mine = copy.clone();
        mine.body = "mine".into();
        let mut s = db.session();
        let err = s.merge(mine).await.expect_err("a stale copy");
        match &err {
            Error::StaleData { operation, expected_version, actual_version, .. } => {
                assert_eq!((*operation, *expected_version, *actual_version), ("merge", Some(1), Some(2)));
            }
            other => panic!("expected StaleData, got {other}"),
        }
        assert!(!s.has_failed(), "a refused merge does not fail the session");
        let held = s.get::<Doc>(copy.id).await?;
        assert_eq!(held.read().body, "theirs", "the newer commit is untouched");
        assert!(!s.is_dirty(&held));
        Ok(())
    }

    async fn a_copy_of_a_vanished_row_is_an_error(db) {
        let copy = setup(&db).await?;
        db.execute_sql("DELETE FROM mg_docs", vec![]).await?;
        let mut s = db.session();
        let err = s.merge(copy.clone()).await.expect_err("the row is gone");
        assert!(matches!(err, Error::NotFound { entity: "Doc", .. }), "{err}");
        assert_eq!(s.identity_count::<Doc>(), 0);
        // Deleted in this session: refused too.
        let note = s.get::<Note>(1).await?;
        s.delete(&note)?;
        let err = s.merge(Note { id: 1, text: "back".into() }).await.expect_err("deleted here");
        assert!(matches!(err, Error::NotInSession { state: "deleted", .. }), "{err}");
        Ok(())
    }

    async fn merge_handle_takes_another_sessions_object(db) {
        let copy = setup(&db).await?;
        let mut a = db.session();
        let theirs = a.get::<Note>(1).await?;
        theirs.write().text = "changed in a".into();
        let mut b = db.session();
        let mine = b.merge_handle(&theirs).await?;
        assert!(!Handle::ptr_eq(&mine, &theirs), "each session has its own object");
        assert!(b.is_dirty(&mine));
        b.commit().await?;
        assert_eq!(db.session().get::<Note>(1).await?.read().text, "changed in a");
        let _ = copy;
        Ok(())
    }

    async fn a_row_deleted_meanwhile_does_not_survive_the_rollback(db) {
        let copy = setup(&db).await?;
        let mut s = db.session();
        let doc = s.get::<Doc>(copy.id).await?;
        db.execute_sql("DELETE FROM mg_docs", vec![]).await?;
        doc.write().title = "too late".into();
        let err = s.commit().await.expect_err("the row is gone");
        assert!(matches!(err, Error::StaleData { row_exists: false, .. }), "{err}");
        s.rollback().await?;
        s.rollback().await?;
        let before = s.stats().statements();
        let again = s.find::<Doc>(copy.id).await?;
        assert!(again.is_none(), "the identity map must not serve a row that is gone");
        assert_eq!(s.stats().statements(), before + 1, "asked the database");
        assert_eq!(s.identity_count::<Doc>(), 0, "the object left the session");
        Ok(())
    }

    async fn a_row_changed_meanwhile_is_reloaded_after_the_rollback(db) {
        let copy = setup(&db).await?;
        let mut s = db.session();
        let doc = s.get::<Doc>(copy.id).await?;
        let mut other = db.session();
        other.get::<Doc>(copy.id).await?.write().body = "theirs".into();
        other.commit().await?;
        doc.write().title = "mine".into();
        let err = s.commit().await.expect_err("stale");
        assert!(matches!(err, Error::StaleData { row_exists: true, .. }), "{err}");
        s.rollback().await?;
        s.rollback().await?;
        let again = s.get::<Doc>(copy.id).await?;
        assert!(Handle::ptr_eq(&again, &doc));
        assert_eq!(
            (again.read().body.as_str(), again.read().title.as_str(), again.read().version),
            ("theirs", "draft", 2),
            "the row as it is now, not the stale one"
        );
        Ok(())
    }
}

use orm_core::Value;
