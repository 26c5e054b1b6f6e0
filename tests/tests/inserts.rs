//! Inserts: pending objects are written by flush/commit in multi-row INSERTs
//! inside a transaction, generated keys come back on every backend, and a
//! failed flush leaves the session as it was.

use orm_core::prelude::*;
use orm_core::{ConnectOptions, DbErrorKind, Dialect};
use tests::{Backend, backend_tests};

#[entity(table = "users")]
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 100)]
    pub email: String,
    pub nick: Option<String>,
}

#[entity(table = "posts")]
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    #[key(auto)]
    pub id: i64,
    #[column(references = User, index)]
    pub author_id: i64,
    pub title: String,
}

/// A composite, user-assigned key.
#[entity(table = "memberships")]
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    #[key]
    pub team: String,
    #[key]
    pub user_id: i64,
    pub role: String,
}

fn user(i: usize) -> User {
    User {
        id: 0,
        email: format!("u{i}@example.com"),
        nick: i.is_multiple_of(2).then(|| format!("nick{i}")),
    }
}

async fn schema(db: &Database) -> orm_core::Result<()> {
    db.create_all(&[User::schema(), Post::schema(), Membership::schema()])
        .await
}

async fn count_users(db: &Database) -> orm_core::Result<i64> {
    db.session().query::<User>().count().await
}

backend_tests! {
    async fn batched_insert_reads_back_every_key(db) {
        schema(&db).await?;
        // Two bind-limit chunks and a remainder: `users` inserts 2 columns a row.
        let per_statement = db.bind_limit() / 2;
        let n = 2 * per_statement + 100;
        let mut s = db.session();
        let handles = s.add_all((0..n).map(user));
        assert_eq!(s.plan_rows()?.len(), 3, "{n} rows in statements as large as the bind limit allows");
        let before = s.stats().snapshot();
        s.commit().await?;
        let delta = s.stats().snapshot() - before;
        assert_eq!(delta.statements, 3, "three multi-row INSERTs, no per-row statement");
        assert_eq!(delta.rows, n as u64);
        assert_eq!(delta.transactions, 1, "one transaction around them");
        let mut ids: Vec<i64> = handles.iter().map(|h| h.read().id).collect();
        assert!(ids.iter().all(|&id| id > 0));
        // Each object got its own row's key: read rows back by key, across all chunks.
        let mut fresh = db.session();
        for h in handles.iter().step_by(n / 40) {
            let (id, email) = (h.read().id, h.read().email.clone());
            let row = fresh.query::<User>().filter(User::ID.eq(id)).rows().await?;
            assert_eq!(row[0].get::<String>("email")?, email);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert_eq!(count_users(&db).await?, n as i64);
        Ok(())
    }

    async fn a_single_statement_commit_needs_no_transaction(db) {
        schema(&db).await?;
        let mut s = db.session();
        s.add_all((0..10).map(user));
        let before = s.stats().snapshot();
        s.commit().await?;
        let delta = s.stats().snapshot() - before;
        assert_eq!((delta.statements, delta.transactions), (1, 0), "one atomic INSERT, no BEGIN/COMMIT");
        assert_eq!(count_users(&db).await?, 10);
        // A failing single statement loses nothing either.
        let dup = s.add(user(3));
        let err = s.commit().await.expect_err("duplicate email");
        assert_eq!(err.db_kind(), Some(DbErrorKind::UniqueViolation));
        assert_eq!((dup.state(), dup.read().id), (ObjectState::New, 0));
        s.rollback().await?;
        dup.write().email = "unique@example.com".into();
        s.commit().await?;
        assert_eq!(count_users(&db).await?, 11);
        // With an after_flush hook the flush keeps its transaction (the hook runs inside it).
        s.hooks().after_flush(0, |_| Ok(()));
        s.add(user(99));
        let before = s.stats().snapshot();
        s.commit().await?;
        assert_eq!((s.stats().snapshot() - before).transactions, 1);
        Ok(())
    }

    async fn parents_are_inserted_before_children(db) {
        schema(&db).await?;
        let mut s = db.session();
        s.add(Membership { team: "core".into(), user_id: 1, role: "lead".into() });
        let author = s.add(user(1));
        s.flush().await?;
        // Added after the parent was flushed: its foreign key is known now.
        let author_id = author.read().id;
        s.add(Post { id: 0, author_id, title: "hello".into() });
        s.add(Post { id: 0, author_id, title: "again".into() });
        let plan = s.plan_rows()?;
        assert_eq!(plan.len(), 1, "two posts, one statement");
        assert!(plan[0].sql().contains("posts"));
        s.commit().await?;
        let mut check = db.session();
        let posts = check.query::<Post>().filter(Post::AUTHOR_ID.eq(author_id)).count().await?;
        assert_eq!(posts, 2);
        let m = check.get::<Membership>(("core".to_string(), 1_i64)).await?;
        assert_eq!(m.read().role, "lead");
        Ok(())
    }

    async fn dependency_order_within_one_flush(db) {
        schema(&db).await?;
        // Posts are added first but reference an existing user; the flush
        // still orders users before posts.
        let mut s = db.session();
        s.add(user(1));
        s.commit().await?;
        let uid = s.query::<User>().one().await?.read().id;
        s.add(Post { id: 0, author_id: uid, title: "p".into() });
        s.add(user(2));
        let plan = s.plan_rows()?;
        assert!(plan[0].sql().contains("users"), "{}", plan[0].sql());
        assert!(plan[1].sql().contains("posts"), "{}", plan[1].sql());
        s.commit().await?;
        assert_eq!(count_users(&db).await?, 2);
        Ok(())
    }

    async fn unique_violation_leaves_the_session_as_before(db) {
        schema(&db).await?;
        let mut s = db.session();
        s.add(user(1));
        s.commit().await?;
        let ok = s.add(user(2));
        let dup = s.add(user(1));
        let err = s.flush().await.expect_err("duplicate email");
        assert_eq!(err.db_kind(), Some(DbErrorKind::UniqueViolation), "{err}");
        assert!(err.to_string().contains("User"), "the error names the entity: {err}");
        assert_eq!(s.pending_count(), 2, "both objects are still pending");
        assert_eq!(ok.read().id, 0, "no half-assigned key");
        assert!(!s.in_transaction());
        assert_eq!(count_users(&db).await?, 1, "the batch was rolled back");
        // The session refuses work until rollback() acknowledges the failure...
        assert!(matches!(s.flush().await, Err(Error::SessionFailed { .. })));
        assert!(matches!(s.query::<User>().count().await, Err(Error::SessionFailed { .. })));
        s.rollback().await?;
        // ...which keeps the pending work: fix the cause and flush again.
        assert_eq!(s.pending_count(), 2);
        dup.write().email = "fixed@example.com".into();
        s.commit().await?;
        assert!(ok.read().id > 0 && dup.read().id > 0);
        assert_eq!(count_users(&db).await?, 3);
        Ok(())
    }

    async fn a_failure_undoes_earlier_flushes_of_the_transaction(db) {
        schema(&db).await?;
        let mut s = db.session();
        let first = s.add(user(1));
        s.flush().await?;
        assert!(first.read().id > 0);
        assert!(s.contains(&first));
        s.add(user(1)); // violates the unique email of the flushed row
        assert!(s.flush().await.is_err());
        // The rolled-back transaction took `first` with it: it is new again.
        assert_eq!(first.read().id, 0);
        assert!(!s.contains(&first));
        assert_eq!(s.pending_count(), 2);
        assert_eq!(count_users(&db).await?, 0);
        s.rollback().await?;
        s.expunge(&first);
        s.commit().await?;
        assert_eq!(count_users(&db).await?, 1, "the second object alone");
        Ok(())
    }

    async fn duplicate_assigned_keys_are_refused_before_sql(db) {
        schema(&db).await?;
        let mut s = db.session();
        s.add(Membership { team: "a".into(), user_id: 1, role: "x".into() });
        s.add(Membership { team: "a".into(), user_id: 1, role: "y".into() });
        let before = s.stats().statements();
        match s.flush().await {
            Err(Error::DuplicateKey { entity: "Membership", key }) => assert_eq!(key, r#"("a", 1)"#),
            other => panic!("expected DuplicateKey, got {other:?}"),
        }
        assert_eq!(s.stats().statements(), before);
        Ok(())
    }

    async fn foreign_key_violation_is_typed(db) {
        schema(&db).await?;
        let mut s = db.session();
        s.add(Post { id: 0, author_id: 987_654, title: "orphan".into() });
        let err = s.commit().await.expect_err("no such author");
        assert_eq!(err.db_kind(), Some(DbErrorKind::ForeignKeyViolation), "{err}");
        assert_eq!(s.pending_count(), 1);
        Ok(())
    }

    async fn rollback_discards_pending_and_flushed(db) {
        schema(&db).await?;
        let mut s = db.session();
        let a = s.add(user(1));
        s.flush().await?;
        s.add(user(2));
        s.rollback().await?;
        assert_eq!(s.pending_count(), 0);
        assert!(!s.contains(&a));
        assert_eq!(count_users(&db).await?, 0);
        Ok(())
    }

    async fn autoflush_makes_queries_see_pending_objects(db) {
        schema(&db).await?;
        let mut s = db.session();
        s.add(user(1));
        assert_eq!(s.query::<User>().count().await?, 1);
        assert!(s.in_transaction(), "the autoflush opened the session's transaction");
        s.rollback().await?;
        s.set_autoflush(false);
        s.add(user(2));
        assert_eq!(s.query::<User>().count().await?, 0);
        Ok(())
    }
}

/// MySQL servers have no `INSERT ... RETURNING`; force that path on MariaDB
/// and check keys come from `LAST_INSERT_ID()` correctly.
#[tokio::test]
async fn mysql_keys_without_returning() {
    let options = ConnectOptions {
        insert_returning: Some(false),
        ..ConnectOptions::default()
    };
    tests::run_with(Backend::MySql, options, |db| async move {
        assert!(!db.uses_insert_returning());
        schema(&db).await?;
        let mut s = db.session();
        let handles = s.add_all((0..1_500).map(user));
        s.commit().await?;
        let mut check = db.session();
        for h in handles.iter().step_by(149) {
            let found = check.get::<User>(h.key()).await?;
            assert_eq!(found.read().email, h.read().email);
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn returning_cannot_be_disabled_where_it_is_the_only_way() {
    let options = ConnectOptions {
        insert_returning: Some(false),
        ..ConnectOptions::default()
    };
    match orm_core::Database::connect_with("sqlite::memory:", options).await {
        Err(Error::Config(msg)) => assert!(msg.contains("RETURNING"), "{msg}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    let _ = Dialect::Sqlite;
}
