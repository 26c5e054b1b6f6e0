//! Bulk UPDATE and DELETE by filter, as a SQLAlchemy user of
//! `update(User).where(..)` with `synchronize_session` expects: rows
//! changed in one statement, the objects the session holds agree with them
//! afterwards (fetched, or expired), pending changes flushed first, the
//! version bumped so other sessions cannot overwrite the change.

use orm_core::prelude::*;
use orm_core::{Assign, Error, Handle, Synchronize};
use tests::backend_tests;

#[entity(table = "bk_users")]
#[derive(Debug)]
pub struct User {
    #[key(auto)]
    pub id: i64,
    #[column(len = 40)]
    pub name: String,
    pub age: i32,
    pub note: Option<String>,
    #[version]
    pub version: i64,
}

async fn seeded(db: &Database) -> Result<()> {
    db.create_all(&[User::schema()]).await?;
    let mut s = db.session();
    for (name, age) in [("ann", 20), ("bob", 30), ("cy", 40), ("di", 50)] {
        s.add(User {
            id: 0,
            name: name.into(),
            age,
            note: None,
            version: 0,
        });
    }
    s.commit().await
}

fn statements(s: &Session) -> u64 {
    s.stats().snapshot().statements
}

async fn ages(db: &Database) -> Result<Vec<(String, i32, Option<String>, i64)>> {
    let mut s = db.session();
    let all = s.query::<User>().order_by(User::ID.asc()).all().await?;
    Ok(all
        .iter()
        .map(|h| {
            let u = h.read();
            (u.name.clone(), u.age, u.note.clone(), u.version)
        })
        .collect())
}

backend_tests! {
    async fn a_bulk_update_changes_the_rows_and_the_objects_the_session_holds(db) {
        seeded(&db).await?;
        let mut s = db.session();
        let loaded = s.query::<User>().order_by(User::ID.asc()).all().await?;
        let before = statements(&s);
        let n = s.query::<User>().filter(User::AGE.gt(25)).update([User::NOTE.set(Some("senior".to_string())), User::AGE.set(60)]).await?;
        assert_eq!(n, 3);
        // The matched rows read (locked), then one UPDATE.
        assert_eq!(statements(&s) - before, 2);
        let ann = loaded[0].read();
        assert_eq!((ann.age, ann.note.clone(), ann.version), (20, None, 1), "not matched: untouched");
        drop(ann);
        for h in &loaded[1..] {
            let u = h.read();
            assert_eq!((u.age, u.note.as_deref(), u.version), (60, Some("senior"), 2), "{u:?}");
            drop(u);
            assert!(!s.is_dirty(h), "the new values are the database's, not pending changes");
        }
        s.commit().await?;
        assert_eq!(
            ages(&db).await?,
            [("ann".into(), 20, None, 1), ("bob".into(), 60, Some("senior".into()), 2), ("cy".into(), 60, Some("senior".into()), 2), ("di".into(), 60, Some("senior".into()), 2)]
        );
        Ok(())
    }

    async fn with_nothing_in_the_session_a_bulk_update_is_one_statement(db) {
        seeded(&db).await?;
        let mut s = db.session();
        let before = statements(&s);
        assert_eq!(s.query::<User>().filter(User::NAME.eq("bob")).update([User::AGE.set(31)]).await?, 1);
        assert_eq!(statements(&s) - before, 1);
        // Nothing matched: zero rows, no error.
        assert_eq!(s.query::<User>().filter(User::NAME.eq("nobody")).update([User::AGE.set(1)]).await?, 0);
        s.commit().await?;
        assert_eq!(ages(&db).await?[1].1, 31);
        Ok(())
    }

    async fn pending_changes_are_flushed_before_the_bulk_statement(db) {
        seeded(&db).await?;
        let mut s = db.session();
        let ann = s.query::<User>().filter(User::NAME.eq("ann")).one().await?;
        ann.write().age = 99; // not flushed yet
        s.add(User { id: 0, name: "ed".into(), age: 99, note: None, version: 0 });
        let n = s.query::<User>().filter(User::AGE.eq(99)).update([User::NOTE.set(Some("x".to_string()))]).await?;
        assert_eq!(n, 2, "the bulk statement saw both pending changes");
        assert_eq!(ann.read().note.as_deref(), Some("x"));
        assert_eq!(ann.read().age, 99);
        s.commit().await?;
        assert_eq!(db.session().query::<User>().filter(User::NOTE.eq("x")).count().await?, 2);
        Ok(())
    }

    async fn expire_marks_the_objects_for_reload_instead(db) {
        seeded(&db).await?;
        let mut s = db.session();
        let bob = s.query::<User>().filter(User::NAME.eq("bob")).one().await?;
        let before = statements(&s);
        let n = s.query::<User>().filter(User::NAME.eq("bob")).update_with([User::AGE.set(33)], Synchronize::Expire).await?;
        assert_eq!(n, 1);
        assert_eq!(statements(&s) - before, 1, "no read");
        assert_eq!(bob.read().age, 30, "still the old value in memory");
        let again = s.query::<User>().filter(User::NAME.eq("bob")).one().await?;
        assert!(Handle::ptr_eq(&again, &bob));
        assert_eq!(bob.read().age, 33, "the next load replaced it");
        s.commit().await?;
        Ok(())
    }

    async fn a_bulk_delete_takes_the_objects_out_of_the_session(db) {
        seeded(&db).await?;
        let mut s = db.session();
        let loaded = s.query::<User>().order_by(User::ID.asc()).all().await?;
        let n = s.query::<User>().filter(User::AGE.lt(35)).delete().await?;
        assert_eq!(n, 2);
        assert!(!s.contains(&loaded[0]) && !s.contains(&loaded[1]));
        assert!(s.contains(&loaded[2]) && s.contains(&loaded[3]));
        assert_eq!(s.identity_count::<User>(), 2);
        // A get of a deleted key queries and finds nothing.
        assert!(s.find::<User>(loaded[0].read().id).await?.is_none());
        s.commit().await?;
        assert_eq!(ages(&db).await?.len(), 2);
        // Without a filter: every row.
        let mut s = db.session();
        assert_eq!(s.query::<User>().delete_with(Synchronize::Expire).await?, 2);
        s.commit().await?;
        assert!(ages(&db).await?.is_empty());
        Ok(())
    }

    async fn the_bumped_version_stops_a_session_that_read_before(db) {
        seeded(&db).await?;
        let mut stale = db.session();
        let old = stale.query::<User>().filter(User::NAME.eq("cy")).one().await?;
        let mut s = db.session();
        s.query::<User>().filter(User::NAME.eq("cy")).update([User::AGE.set(41)]).await?;
        s.commit().await?;
        old.write().age = 45;
        let err = stale.commit().await.unwrap_err();
        assert!(matches!(err, Error::StaleData { .. }), "{err}");
        Ok(())
    }

    async fn bulk_statements_refuse_what_they_cannot_do(db) {
        seeded(&db).await?;
        let mut s = db.session();
        let err = s.query::<User>().update(Vec::<Assign<User>>::new()).await.unwrap_err();
        assert!(matches!(err, Error::Usage { .. }), "{err}");
        let err = s.query::<User>().limit(1).update([User::AGE.set(1)]).await.unwrap_err();
        assert!(err.to_string().contains("filter only"), "{err}");
        let err = s.query::<User>().update([User::ID.set(7)]).await.unwrap_err();
        assert!(err.to_string().contains("key column"), "{err}");
        assert_eq!(s.query::<User>().filter(User::AGE.eq(1)).count().await?, 0, "nothing changed");
        Ok(())
    }
}

#[entity(table = "bk_tags")]
#[derive(Debug)]
pub struct Tag {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 20)]
    pub label: String,
}

backend_tests! {
    async fn a_failed_bulk_statement_fails_the_transaction_and_loses_nothing(db) {
        db.create_all(&[Tag::schema()]).await?;
        let mut s = db.session();
        s.add(Tag { id: 0, label: "a".into() });
        s.add(Tag { id: 0, label: "b".into() });
        s.commit().await?;
        let mut s = db.session();
        let a = s.query::<Tag>().filter(Tag::LABEL.eq("a")).one().await?;
        s.add(Tag { id: 0, label: "c".into() }); // pending, autoflushed by the bulk call
        let err = s.query::<Tag>().update([Tag::LABEL.set("b")]).await.unwrap_err();
        assert_eq!(err.db_kind(), Some(orm_core::DbErrorKind::UniqueViolation), "{err}");
        assert!(s.has_failed());
        assert_eq!(a.read().label, "a", "the object was not changed");
        s.rollback().await?;
        s.commit().await?; // the pending tag, kept
        let mut check = db.session();
        assert_eq!(check.query::<Tag>().count().await?, 3);
        assert_eq!(check.query::<Tag>().filter(Tag::LABEL.eq("b")).count().await?, 1);
        Ok(())
    }
}

tests::observed_tests! {
    /// `update` dropped at every await point: the change is either not
    /// there (the session's next call rolled its transaction back) or
    /// there once, with the session's objects agreeing after commit.
    async fn bulk_update_cancelled_at_every_await_point(db, observer, proxy) {
        use tests::cancel::{Run, every_poll, poll_at_most};
        seeded(&db).await?;
        let points = every_poll(300, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            async move {
                observer.execute_sql("UPDATE bk_users SET age = 20, note = NULL", vec![]).await.map_err(|e| e.to_string())?;
                let mut s = db.session();
                let bob = s.query::<User>().filter(User::NAME.eq("bob")).one().await.map_err(|e| e.to_string())?;
                let run = poll_at_most(polls, s.query::<User>().filter(User::NAME.eq("bob")).update([User::AGE.set(77)])).await;
                let completed = run.is_some();
                if let Some(r) = run {
                    assert_eq!(r.map_err(|e| e.to_string())?, 1);
                    assert_eq!(bob.read().age, 77);
                }
                if s.has_failed() {
                    s.rollback().await.map_err(|e| e.to_string())?;
                }
                s.commit().await.map_err(|e| format!("commit after a drop at poll {polls}: {e}"))?;
                let rows = observer.fetch_sql("SELECT age FROM bk_users WHERE name = 'bob'", vec![]).await.map_err(|e| e.to_string())?;
                let stored: i32 = rows[0].get("age").map_err(|e| e.to_string())?;
                if completed && stored != 77 {
                    return Err(format!("completed at poll {polls} but stored {stored}"));
                }
                if stored == 77 && bob.read().age != 77 {
                    return Err(format!("stored 77 after a drop at poll {polls}, the object says {}", bob.read().age));
                }
                Ok(if completed { Run::Completed } else { Run::Cancelled(polls) })
            }
        })
        .await?;
        println!("cancellation: bulk update on {:?}: {points} cancellation points", db.dialect());
        assert!(points >= 1, "the update was never cancelled: {points}");
        Ok(())
    }
}
