//! Savepoints as SQLAlchemy's `Session.begin_nested()` has them: a failure
//! inside the block (a constraint violation, stale data, a hook error, or
//! the block's own error) rolls back to the savepoint only: the database
//! and the session's objects go back to their state at the savepoint, the
//! rest of the block is refused, `nested` returns the error, and the outer
//! transaction goes on and commits. Blocks nest; each failure rolls back
//! its own level. Every outcome is checked from a fresh session.

use std::sync::{Arc, Mutex};

use orm_core::prelude::*;
use orm_core::{DbErrorKind, Dialect};
use tests::backend_tests;

#[entity(table = "sp_users")]
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 40)]
    pub name: String,
    pub score: i64,
    #[version]
    pub version: i64,
}

fn user(name: &str) -> User {
    User {
        id: 0,
        name: name.into(),
        score: 0,
        version: 0,
    }
}

/// The names stored, sorted, seen from a fresh session.
async fn stored(db: &Database) -> Result<Vec<String>, Error> {
    let mut names: Vec<String> = db
        .session()
        .query::<User>()
        .all()
        .await?
        .iter()
        .map(|h| h.read().name.clone())
        .collect();
    names.sort();
    Ok(names)
}

/// Carries handles out of a nested closure.
#[derive(Default, Clone)]
struct Slot(Arc<Mutex<Vec<Handle<User>>>>);

impl Slot {
    fn put(&self, h: &Handle<User>) {
        self.0.lock().unwrap().push(h.clone());
    }

    fn all(&self) -> Vec<Handle<User>> {
        self.0.lock().unwrap().clone()
    }
}

backend_tests! {
    async fn a_unique_violation_rolls_back_the_savepoint_only(db) {
        db.create_all(&[User::schema()]).await?;
        let mut s = db.session();
        let ann = s.add(user("ann"));
        s.flush().await?;
        ann.write().score = 1; // pending when the block starts: flushed by it
        let inside = Slot::default();
        let slot = inside.clone();
        let ann_in = ann.clone();
        let result = s
            .nested(async move |s: &mut Session| {
                ann_in.write().score = 2;
                slot.put(&s.add(user("bob")));
                slot.put(&s.add(user("ann"))); // collides with the outer ann
                s.flush().await
            })
            .await;
        let err = result.expect_err("the duplicate fails the block");
        assert_eq!(err.db_kind(), Some(DbErrorKind::UniqueViolation), "{err}");
        assert!(!s.has_failed(), "the outer transaction goes on");
        assert!(s.in_transaction());
        for h in inside.all() {
            assert_eq!(h.state(), ObjectState::Detached, "objects added inside left with the savepoint");
        }
        assert_eq!(
            (ann.read().score, ann.state(), s.is_dirty(&ann)),
            (1, ObjectState::Persistent, false),
            "ann is as at the savepoint: score 1, flushed"
        );
        s.add(user("cid"));
        s.commit().await?;
        assert_eq!(stored(&db).await?, ["ann", "cid"]);
        let again = db.session().query::<User>().filter(User::NAME.eq("ann")).one().await?;
        assert_eq!((again.read().score, again.read().version), (1, 2));
        Ok(())
    }

    async fn stale_data_inside_rolls_back_the_savepoint_only(db) {
        db.create_all(&[User::schema()]).await?;
        let mut setup = db.session();
        setup.add_all([user("ann"), user("bob")]);
        setup.commit().await?;
        let mut s = db.session();
        let ann = s.query::<User>().filter(User::NAME.eq("ann")).one().await?;
        let bob = s.query::<User>().filter(User::NAME.eq("bob")).one().await?;
        ann.write().score = 10;
        s.flush().await?;
        // Bob's row changes behind the identity map's back (as another
        // transaction's commit would; in-memory SQLite has one connection,
        // so through this transaction's own).
        s.execute_sql(
            "UPDATE sp_users SET score = 99, version = version + 1 WHERE name = 'bob'",
            vec![],
        )
        .await?;
        let bob_in = bob.clone();
        let result = s
            .nested(async move |s: &mut Session| {
                bob_in.write().score = 1;
                s.flush().await
            })
            .await;
        assert!(matches!(result, Err(Error::StaleData { operation: "UPDATE", .. })), "{result:?}");
        assert!(!s.has_failed());
        s.commit().await?;
        let fresh = db.session().query::<User>().all().await?;
        let scores: Vec<(String, i64)> = fresh.iter().map(|h| (h.read().name.clone(), h.read().score)).collect();
        assert!(scores.contains(&("ann".into(), 10)), "the outer work is stored: {scores:?}");
        assert!(scores.contains(&("bob".into(), 99)), "the other change is kept: {scores:?}");
        // The stale object is reloaded, not served from the identity map.
        let again = s.get::<User>(bob.key()).await?;
        assert_eq!(again.read().score, 99);
        Ok(())
    }

    async fn a_hook_error_inside_rolls_back_the_savepoint_only(db) {
        db.create_all(&[User::schema()]).await?;
        let mut s = db.session();
        s.hooks().before_flush(0, |s| {
            if s.new_objects::<User>().iter().any(|h| h.read().name == "forbidden") {
                return Err(Error::Config("no forbidden users".into()));
            }
            Ok(())
        });
        s.add(user("ann"));
        let result = s
            .nested(async |s: &mut Session| {
                s.add(user("forbidden"));
                s.flush().await
            })
            .await;
        assert!(matches!(result, Err(Error::Hook { event: "before_flush", .. })), "{result:?}");
        assert!(!s.has_failed());
        s.commit().await?;
        assert_eq!(stored(&db).await?, ["ann"]);
        Ok(())
    }

    async fn the_rest_of_a_failed_block_is_refused(db) {
        db.create_all(&[User::schema()]).await?;
        let mut s = db.session();
        s.add(user("ann"));
        s.flush().await?;
        let result: orm_core::Result<&str> = s
            .nested(async |s: &mut Session| {
                s.add(user("ann"));
                let failed = s.flush().await.expect_err("a duplicate");
                assert_eq!(failed.db_kind(), Some(DbErrorKind::UniqueViolation));
                // As in SQLAlchemy, the rolled-back block is inactive.
                let refused = s.query::<User>().count().await.expect_err("refused");
                assert!(matches!(refused, Error::SessionFailed { .. }), "{refused}");
                Ok("swallowed") // the block hides the failure...
            })
            .await;
        // ...but nested still reports it.
        let err = result.expect_err("the block failed");
        assert_eq!(err.db_kind(), Some(DbErrorKind::UniqueViolation), "{err}");
        assert_eq!(s.query::<User>().count().await?, 1, "usable again after the block");
        s.commit().await?;
        assert_eq!(stored(&db).await?, ["ann"]);
        Ok(())
    }

    async fn blocks_nest_and_each_failure_rolls_back_its_level(db) {
        db.create_all(&[User::schema()]).await?;
        let mut s = db.session();
        s.add(user("outer"));
        let seen = Slot::default();
        let slot = seen.clone();
        s.nested(async move |s: &mut Session| {
            slot.put(&s.add(user("level1")));
            // Level 2 fails at its own flush; level 1 catches it and goes on.
            let level2 = s
                .nested(async |s: &mut Session| {
                    s.add(user("level2"));
                    s.add(user("outer")); // duplicate
                    s.flush().await
                })
                .await;
            assert!(level2.is_err());
            // Level 2 succeeds, level 3 fails, and level 2 passes the error on.
            let level2b: orm_core::Result<()> = s
                .nested(async |s: &mut Session| {
                    s.add(user("level2b"));
                    s.flush().await?;
                    s.nested(async |s: &mut Session| {
                        s.add(user("level3"));
                        s.add(user("level1")); // duplicate
                        s.flush().await
                    })
                    .await?;
                    Ok(())
                })
                .await;
            assert!(level2b.is_err(), "the level-3 failure came up through level 2");
            s.add(user("level1-after"));
            s.flush().await
        })
        .await?;
        assert!(seen.all().iter().all(|h| h.state() == ObjectState::Persistent));
        s.commit().await?;
        assert_eq!(stored(&db).await?, ["level1", "level1-after", "outer"]);
        Ok(())
    }

    async fn a_block_that_returns_an_error_rolls_back_without_a_database_failure(db) {
        db.create_all(&[User::schema()]).await?;
        let mut s = db.session();
        let ann = s.add(user("ann"));
        s.flush().await?;
        let ann_in = ann.clone();
        let result: orm_core::Result<()> = s
            .nested(async move |s: &mut Session| {
                ann_in.write().score = 5;
                s.add(user("bob"));
                s.flush().await?;
                Err(Error::Config("the caller changed its mind".into()))
            })
            .await;
        assert!(matches!(result, Err(Error::Config(_))));
        assert_eq!(ann.read().score, 0);
        assert!(!s.is_dirty(&ann));
        s.commit().await?;
        assert_eq!(stored(&db).await?, ["ann"]);
        let a = db.session().query::<User>().one().await?;
        assert_eq!((a.read().score, a.read().version), (0, 1));
        Ok(())
    }

    async fn a_raw_statement_failure_inside_is_rolled_back_by_the_block(db) {
        // PostgreSQL aborts the whole transaction after a failed statement;
        // rolling back to the savepoint is what makes it usable again.
        db.create_all(&[User::schema()]).await?;
        let mut s = db.session();
        s.add(user("ann"));
        let insert = match db.dialect() {
            Dialect::Postgres => "INSERT INTO sp_users (name, score, version) VALUES ('ann', 0, 1)",
            _ => "INSERT INTO sp_users (name, score, version) VALUES ('ann', 0, 1)",
        };
        let result = s
            .nested(async |s: &mut Session| s.execute_sql(insert, vec![]).await)
            .await;
        assert_eq!(result.expect_err("duplicate").db_kind(), Some(DbErrorKind::UniqueViolation));
        s.add(user("bob"));
        s.commit().await?;
        assert_eq!(stored(&db).await?, ["ann", "bob"]);
        Ok(())
    }
}

backend_tests! {
    async fn transactions_are_counted_once_each(db) {
        db.create_all(&[User::schema()]).await?;
        let mut s = db.session();
        s.add_all([user("a"), user("b")]);
        s.add(user("c"));
        s.flush().await?;
        s.nested(async |s: &mut Session| {
            s.add(user("d"));
            s.flush().await
        })
        .await?;
        s.commit().await?;
        assert_eq!(s.stats().transactions(), 1, "one BEGIN..COMMIT, savepoint included");
        s.add(user("e"));
        s.commit().await?;
        assert_eq!(s.stats().transactions(), 1, "a commit that is one INSERT needs no transaction");
        s.add(user("f"));
        s.flush().await?;
        s.rollback().await?;
        assert_eq!(s.stats().transactions(), 2, "a rolled-back transaction counts too");
        assert_eq!(stored(&db).await?, ["a", "b", "c", "d", "e"]);
        Ok(())
    }
}
