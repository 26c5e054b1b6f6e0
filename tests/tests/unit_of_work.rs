//! The unit of work: change tracking, ordered flush, versioning, row
//! switches, savepoints, merge/refresh/expire, and failure that loses
//! nothing, on every backend. Statements are asserted, not only end states.

use orm_core::prelude::*;
use orm_core::{DbErrorKind, Dialect, Value};
use tests::backend_tests;

#[entity(table = "countries")]
#[derive(Debug, Clone, PartialEq)]
pub struct Country {
    #[key]
    pub code: String,
    pub name: String,
}

#[entity(table = "cities")]
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    #[key]
    pub id: i64,
    #[column(references = Country, len = 8)]
    pub country: String,
    pub name: String,
}

#[entity(table = "streets")]
#[derive(Debug, Clone, PartialEq)]
pub struct Street {
    #[key]
    pub id: i64,
    #[column(references = City)]
    pub city_id: i64,
    pub name: String,
}

#[entity(table = "accounts")]
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 64)]
    pub email: String,
    pub balance: i64,
    pub note: Option<String>,
    #[version]
    pub version: i64,
}

#[entity(table = "nodes")]
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    #[key]
    pub id: i64,
    #[column(references = Self)]
    pub parent: Option<i64>,
    pub label: String,
}

/// Tags compared as a set: reordering them is not a change.
#[entity(table = "tagged", is_modified = Tagged::tags_differ)]
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged {
    #[key]
    pub id: i64,
    pub tags: String,
    #[version]
    pub version: i64,
}

impl Tagged {
    fn tag_set(&self) -> std::collections::BTreeSet<&str> {
        self.tags.split(',').filter(|t| !t.is_empty()).collect()
    }

    fn tags_differ(&self, loaded: &Tagged) -> bool {
        self.tag_set() != loaded.tag_set()
    }
}

fn account(email: &str, balance: i64) -> Account {
    Account {
        id: 0,
        email: email.into(),
        balance,
        note: None,
        version: 0,
    }
}

async fn accounts(db: &Database, n: usize) -> orm_core::Result<Vec<i64>> {
    db.create_all(&[Account::schema()]).await?;
    let mut s = db.session();
    let hs = s.add_all((0..n).map(|i| account(&format!("a{i}@x"), 100)));
    s.commit().await?;
    Ok(hs.iter().map(|h| h.read().id).collect())
}

async fn balance_in_db(db: &Database, id: i64) -> orm_core::Result<(i64, i64)> {
    let rows = db
        .session()
        .query::<Account>()
        .filter(Account::ID.eq(id))
        .rows()
        .await?;
    Ok((rows[0].get("balance")?, rows[0].get("version")?))
}

backend_tests! {
    /// A query on a clean session runs no flush (no `before_flush`, as
    /// SQLAlchemy skips a clean session's flush), and every way of making
    /// it unclean is still flushed before the next query: a first write, a
    /// second write of an object whose first write changed nothing, an
    /// added object, a deletion, a write after a rollback.
    async fn autoflush_skips_a_clean_session_only(db) {
        let ids = accounts(&db, 3).await?;
        let flushes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut s = db.session();
        let counter = flushes.clone();
        s.hooks().before_flush(0, move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        });
        let count = || flushes.load(std::sync::atomic::Ordering::SeqCst);
        // The balance row as the session's own connection reads it.
        async fn stored(s: &mut Session, id: i64) -> orm_core::Result<i64> {
            let rows = s.query::<Account>().filter(Account::ID.eq(id)).rows().await?;
            rows[0].get::<i64>("balance")
        }
        let a = s.get::<Account>(ids[0]).await?;
        let b = s.get::<Account>(ids[1]).await?;
        // A session fresh from loads: the first autoflush looks, the next do not.
        stored(&mut s, ids[0]).await?;
        let looked = count();
        for _ in 0..3 {
            stored(&mut s, ids[0]).await?;
        }
        assert_eq!(count(), looked, "a clean session runs no flush");

        // A write that changes nothing, then one that does (the snapshot was
        // taken by the first): flushed before the query, which sees it.
        a.write().balance = 100;
        assert_eq!(stored(&mut s, ids[0]).await?, 100);
        a.write().balance = 7;
        assert_eq!(stored(&mut s, ids[0]).await?, 7);
        s.rollback().await?;
        assert_eq!(balance_in_db(&db, ids[0]).await?.0, 100, "rolled back");

        // The rollback gave the object its stored values back (nothing is
        // pending); a write after it is flushed before the next query.
        assert_eq!(a.read().balance, 100);
        assert!(!s.is_dirty(&a));
        let before = count();
        a.write().balance = 7;
        assert_eq!(stored(&mut s, ids[0]).await?, 7);
        assert_eq!(count(), before + 1, "one flush for the write after the rollback");
        s.commit().await?;
        assert_eq!(balance_in_db(&db, ids[0]).await?.0, 7);

        // An added object and a deletion are flushed before the next query.
        s.add(account("new@x", 1));
        let before = count();
        assert_eq!(s.query::<Account>().all().await?.len(), 4);
        assert_eq!(count(), before + 1);
        s.delete(&b)?;
        assert_eq!(s.query::<Account>().all().await?.len(), 3);
        s.commit().await?;
        assert_eq!(s.query::<Account>().all().await?.len(), 3);
        Ok(())
    }

    async fn assigning_the_same_value_is_not_a_change(db) {
        let ids = accounts(&db, 1).await?;
        let mut s = db.session();
        let a = s.get::<Account>(ids[0]).await?;
        a.write().balance = 100;
        a.write().note = None;
        assert!(!s.is_dirty(&a));
        assert!(s.plan_rows()?.is_empty());
        let before = s.stats().statements();
        s.commit().await?;
        assert_eq!(s.stats().statements(), before, "nothing to write");
        assert_eq!(a.read().version, 1, "no version bump without a change");
        // Changed, then changed back: not dirty either.
        a.write().balance = 5;
        assert!(s.is_dirty(&a));
        a.write().balance = 100;
        assert!(!s.is_dirty(&a));
        Ok(())
    }

    async fn a_semantic_is_modified_decides_dirtiness(db) {
        db.create_all(&[Tagged::schema()]).await?;
        let mut s = db.session();
        let t = s.add(Tagged { id: 1, tags: "a,b".into(), version: 0 });
        s.commit().await?;
        t.write().tags = "b,a".into();
        assert!(!s.is_dirty(&t), "same set of tags");
        let before = s.stats().statements();
        s.commit().await?;
        assert_eq!(s.stats().statements(), before);
        assert_eq!(t.read().version, 1);
        t.write().tags = "b,a,c".into();
        assert!(s.is_dirty(&t));
        s.commit().await?;
        assert_eq!(t.read().version, 2);
        assert_eq!(db.session().get::<Tagged>(1).await?.read().tags, "b,a,c");
        Ok(())
    }

    async fn only_changed_columns_are_updated(db) {
        let ids = accounts(&db, 1).await?;
        let mut s = db.session();
        let a = s.get::<Account>(ids[0]).await?;
        a.write().note = Some("vip".into());
        let history = s.history(&a);
        assert_eq!(history.len(), 1);
        assert_eq!((history[0].column, &history[0].old), ("note", &Value::Null(orm_core::SqlType::Text)));
        assert_eq!(history[0].new, Value::Text("vip".into()));
        let plan = s.plan_rows()?;
        assert_eq!(plan.len(), 1);
        let sql = plan[0].sql().replace(['`', '"'], "");
        assert!(sql.starts_with("UPDATE accounts SET note = "), "{sql}");
        assert!(!sql.contains("balance") && !sql.contains("email"), "only the changed column: {sql}");
        assert!(sql.contains("version = ") && sql.contains("AND version = "), "bump and check: {sql}");
        s.commit().await?;
        assert_eq!(a.read().version, 2);
        assert_eq!(balance_in_db(&db, ids[0]).await?, (100, 2));
        Ok(())
    }

    async fn three_level_chain_inserts_parents_first_and_deletes_children_first(db) {
        db.create_all(&[Street::schema(), City::schema(), Country::schema()]).await?;
        let mut s = db.session();
        // Added children first on purpose.
        s.add(Street { id: 1, city_id: 10, name: "Main".into() });
        s.add(City { id: 10, country: "FR".into(), name: "Lyon".into() });
        s.add(Country { code: "FR".into(), name: "France".into() });
        let plan: Vec<String> = s.plan_rows()?.iter().map(|st| st.sql().to_string()).collect();
        assert!(plan[0].contains("countries") && plan[1].contains("cities") && plan[2].contains("streets"), "{plan:?}");
        s.commit().await?;
        let street = s.get::<Street>(1).await?;
        let city = s.get::<City>(10).await?;
        let country = s.get::<Country>("FR".to_string()).await?;
        s.delete(&country)?;
        s.delete(&street)?;
        s.delete(&city)?;
        let plan: Vec<String> = s.plan_rows()?.iter().map(|st| st.sql().to_string()).collect();
        assert!(plan[0].contains("streets") && plan[1].contains("cities") && plan[2].contains("countries"), "{plan:?}");
        s.commit().await?;
        assert_eq!(street.state(), ObjectState::Detached);
        assert_eq!(s.query::<Country>().count().await?, 0);
        Ok(())
    }

    async fn self_referencing_rows_in_one_flush(db) {
        db.create_all(&[Node::schema()]).await?;
        let mut s = db.session();
        // The child is added before its parent.
        s.add(Node { id: 2, parent: Some(1), label: "child".into() });
        s.add(Node { id: 1, parent: None, label: "root".into() });
        s.commit().await?;
        // A cycle through a nullable column: inserted with NULL, then updated.
        s.add(Node { id: 3, parent: Some(4), label: "a".into() });
        s.add(Node { id: 4, parent: Some(3), label: "b".into() });
        let plan = s.plan_rows()?;
        assert_eq!(plan.len(), 2, "one insert and one update for the cyclic key: {plan:?}");
        s.commit().await?;
        let mut check = db.session();
        assert_eq!(check.get::<Node>(3).await?.read().parent, Some(4));
        assert_eq!(check.get::<Node>(4).await?.read().parent, Some(3));
        // Deleting a parent with its child: the child goes first.
        let root = s.get::<Node>(1).await?;
        let child = s.get::<Node>(2).await?;
        s.delete(&root)?;
        s.delete(&child)?;
        s.commit().await?;
        assert_eq!(check.query::<Node>().count().await?, 2);
        Ok(())
    }

    async fn a_thousand_objects_flush_in_a_few_statements(db) {
        let ids = accounts(&db, 1000).await?;
        let mut s = db.session();
        let all = s.query::<Account>().all().await?;
        assert_eq!(all.len(), 1000);
        for a in &all {
            a.write().balance += 1;
        }
        s.stats().log_statements(true);
        let before = s.stats().statements();
        s.commit().await?;
        // One batched UPDATE (on SQLite one UPDATE repeated for each row,
        // each a rowid lookup whatever the statistics say: `update_plans.rs`).
        assert_eq!(s.stats().statements() - before, 1, "one UPDATE statement for 1,000 rows");
        assert!(all.iter().all(|a| a.read().version == 2));
        assert_eq!(balance_in_db(&db, ids[999]).await?, (101, 2));
        // And 1,000 deletes.
        for a in &all {
            s.delete(a)?;
        }
        let before = s.stats().statements();
        s.commit().await?;
        assert_eq!(s.stats().statements() - before, 1);
        assert_eq!(s.query::<Account>().count().await?, 0);
        Ok(())
    }

    async fn plan_matches_what_flush_runs(db) {
        let ids = accounts(&db, 3).await?;
        let mut s = db.session();
        let a = s.get::<Account>(ids[0]).await?;
        let b = s.get::<Account>(ids[1]).await?;
        let c = s.get::<Account>(ids[2]).await?;
        a.write().balance = 1;
        b.write().balance = 2;
        c.write().note = Some("n".into());
        s.add(account("new@x", 0));
        let planned: Vec<String> = s.plan_rows()?.iter().map(|st| st.sql().to_string()).collect();
        s.stats().log_statements(true);
        s.flush().await?;
        assert_eq!(s.stats().take_log(), planned);
        assert_eq!(planned.len(), 3, "insert, the two balance updates batched, the note update");
        s.commit().await?;
        Ok(())
    }

    async fn merge_loaded_keeps_pending_changes(db) {
        let ids = accounts(&db, 2).await?;
        let mut s = db.session();
        let a = s.get::<Account>(ids[0]).await?;
        a.write().balance = 7;
        let detached = db.session().get::<Account>(ids[0]).await?.get();
        let merged = s.merge_loaded(detached);
        assert!(Handle::ptr_eq(&merged, &a));
        assert_eq!(merged.read().balance, 7, "the pending change wins");
        // A clean object takes the merged values; an unknown one joins the map.
        let other = s.get::<Account>(ids[1]).await?;
        let mut newer = other.get();
        newer.note = Some("from cache".into());
        s.merge_loaded(newer);
        assert_eq!(other.read().note.as_deref(), Some("from cache"));
        assert!(!s.is_dirty(&other), "merged state is taken as the database's");
        let mut fresh = db.session();
        let m = fresh.merge_loaded(a.get());
        assert!(fresh.contains(&m));
        assert_eq!(m.state(), ObjectState::Persistent);
        Ok(())
    }

    async fn versions_bump_once_per_changing_flush(db) {
        let ids = accounts(&db, 1).await?;
        let mut s = db.session();
        let a = s.get::<Account>(ids[0]).await?;
        a.write().balance = 1;
        a.write().balance = 2;
        a.write().note = Some("x".into());
        s.flush().await?;
        assert_eq!(a.read().version, 2, "several changes, one flush, one bump");
        s.flush().await?;
        assert_eq!(a.read().version, 2, "an empty flush bumps nothing");
        a.write().balance = 3;
        s.commit().await?;
        assert_eq!(a.read().version, 3);
        assert_eq!(balance_in_db(&db, ids[0]).await?, (3, 3));
        Ok(())
    }

    async fn racing_sessions_lose_no_update(db) {
        let ids = accounts(&db, 1).await?;
        let mut s1 = db.session();
        let mut s2 = db.session();
        let a1 = s1.get::<Account>(ids[0]).await?;
        let a2 = s2.get::<Account>(ids[0]).await?;
        a1.write().balance += 10;
        a2.write().balance += 20;
        s1.commit().await?;
        let err = s2.commit().await.expect_err("s2 read version 1, the row has 2");
        match &err {
            Error::StaleData { entity, key, expected_version, actual_version, .. } => {
                assert_eq!((*entity, *expected_version, *actual_version), ("Account", Some(1), Some(2)));
                assert_eq!(key, &ids[0].to_string());
            }
            other => panic!("expected StaleData, got {other:?}"),
        }
        assert!(err.is_retryable());
        // s2 keeps its change and its old version; nothing was overwritten.
        assert_eq!((a2.read().balance, a2.read().version), (120, 1));
        assert_eq!(balance_in_db(&db, ids[0]).await?, (110, 2));
        s2.rollback().await?; // acknowledge
        s2.rollback().await?; // discard
        s2.refresh(&a2).await?;
        a2.write().balance += 20;
        s2.commit().await?;
        assert_eq!(balance_in_db(&db, ids[0]).await?, (130, 3));
        Ok(())
    }

    /// A batched UPDATE of versioned rows writes `version = version + 1`
    /// and checks every row's version: all bumped once, or a stale row named.
    async fn batched_versioned_updates_bump_and_check(db) {
        let ids = accounts(&db, 3).await?;
        let mut s = db.session();
        let all = s.query::<Account>().all().await?;
        for a in &all {
            a.write().balance += 1;
        }
        let plan = s.plan_rows()?;
        assert_eq!(plan.len(), 1, "one batched UPDATE");
        // The servers take one CASE statement bumping `version = version +
        // 1`; SQLite one UPDATE run for each row, setting the next version
        // and checking the loaded one (any batched form can be planned as a
        // scan there).
        let sqlite = db.dialect() == Dialect::Sqlite;
        let (sql, runs) = (plan[0].sql(), plan[0].runs());
        assert_eq!(runs, if sqlite { 3 } else { 1 }, "{sql}");
        assert!(sql.contains(if sqlite { "AND \"version\" = ?" } else { "+ 1" }), "{sql}");
        assert_eq!(sql.contains("CASE"), !sqlite, "{sql}");
        s.commit().await?;
        for (a, id) in all.iter().zip(&ids) {
            assert_eq!(a.read().version, 2);
            assert_eq!(balance_in_db(&db, *id).await?.1, 2);
        }
        // Another session moves one row on: the batch fails and names it.
        let mut other = db.session();
        let moved = other.get::<Account>(ids[1]).await?;
        moved.write().note = Some("elsewhere".into());
        other.commit().await?;
        for a in &all {
            a.write().balance += 1;
        }
        match s.commit().await {
            Err(Error::StaleData { key, expected_version, actual_version, .. }) => {
                assert_eq!(key, ids[1].to_string(), "ids {ids:?}");
                assert_eq!((expected_version, actual_version), (Some(2), Some(3)));
            }
            other => panic!("expected StaleData, got {other:?}"),
        }
        assert_eq!(balance_in_db(&db, ids[0]).await?.1, 2, "nothing half-written");
        Ok(())
    }

    async fn a_stale_delete_is_refused(db) {
        let ids = accounts(&db, 1).await?;
        let mut s1 = db.session();
        let mut s2 = db.session();
        let a1 = s1.get::<Account>(ids[0]).await?;
        let a2 = s2.get::<Account>(ids[0]).await?;
        a1.write().balance = 0;
        s1.commit().await?;
        s2.delete(&a2)?;
        assert!(matches!(s2.commit().await, Err(Error::StaleData { operation: "DELETE", .. })));
        assert_eq!(a2.state(), ObjectState::Deleted, "the delete is still pending");
        Ok(())
    }

    async fn failure_mid_flush_restores_everything(db) {
        let ids = accounts(&db, 3).await?;
        let mut s = db.session();
        let a = s.get::<Account>(ids[0]).await?;
        let b = s.get::<Account>(ids[1]).await?;
        let gone = s.get::<Account>(ids[2]).await?;
        // An earlier flush of the same transaction.
        a.write().balance = 1;
        s.flush().await?;
        assert_eq!(a.read().version, 2);
        // Then: an update, a delete, and a batch of inserts whose 3rd row collides.
        b.write().balance = 2;
        s.delete(&gone)?;
        let new: Vec<_> = s.add_all([account("n1@x", 0), account("n2@x", 0), account("a0@x", 0), account("n4@x", 0)]);
        let err = s.commit().await.expect_err("a0@x exists");
        assert_eq!(err.db_kind(), Some(DbErrorKind::UniqueViolation), "{err}");
        // Everything as before the transaction's first flush:
        assert!(new.iter().all(|h| h.read().id == 0 && h.state() == ObjectState::New), "no half-assigned key");
        assert_eq!((a.read().balance, a.read().version), (1, 1), "a is dirty again, its version not bumped");
        assert!(s.is_dirty(&a) && s.is_dirty(&b));
        assert_eq!(gone.state(), ObjectState::Deleted);
        assert_eq!(balance_in_db(&db, ids[0]).await?, (100, 1), "the earlier flush was rolled back too");
        assert!(matches!(s.get::<Account>(ids[0]).await, Err(Error::SessionFailed { .. })));
        s.rollback().await?;
        new[2].write().email = "n3@x".into();
        s.commit().await?;
        assert_eq!(balance_in_db(&db, ids[0]).await?, (1, 2));
        assert_eq!(balance_in_db(&db, ids[1]).await?, (2, 2));
        assert_eq!(db.session().query::<Account>().count().await?, 6);
        Ok(())
    }

    async fn delete_and_re_add_of_one_key_is_an_update(db) {
        db.create_all(&[Country::schema()]).await?;
        let mut s = db.session();
        s.add(Country { code: "DE".into(), name: "Germany".into() });
        s.commit().await?;
        let old = s.get::<Country>("DE".to_string()).await?;
        s.delete(&old)?;
        let new = s.add(Country { code: "DE".into(), name: "Deutschland".into() });
        let plan = s.plan_rows()?;
        assert_eq!(plan.len(), 1);
        assert!(plan[0].sql().starts_with("UPDATE"), "a row switch, not DELETE + INSERT: {}", plan[0].sql());
        s.commit().await?;
        assert_eq!(old.state(), ObjectState::Detached);
        assert_eq!(new.state(), ObjectState::Persistent);
        let again = s.get::<Country>("DE".to_string()).await?;
        assert!(Handle::ptr_eq(&again, &new));
        assert_eq!(db.session().get::<Country>("DE".to_string()).await?.read().name, "Deutschland");
        Ok(())
    }

    async fn a_savepoint_rolls_back_alone(db) {
        let ids = accounts(&db, 2).await?;
        let mut s = db.session();
        let a = s.get::<Account>(ids[0]).await?;
        let b = s.get::<Account>(ids[1]).await?;
        a.write().balance = 1;
        let inner_add = std::sync::Arc::new(parking_lot_free::Slot::default());
        let slot = inner_add.clone();
        let result: orm_core::Result<()> = s
            .nested(async |s: &mut Session| {
                b.write().balance = 2;
                let h = s.add(account("inner@x", 0));
                slot.put(h);
                s.flush().await?;
                Err(Error::Config("give up".into()))
            })
            .await;
        assert!(matches!(result, Err(Error::Config(_))));
        assert_eq!(b.read().balance, 100, "changes inside the savepoint are undone");
        assert!(!s.is_dirty(&b));
        let inner = inner_add.take();
        assert_eq!(inner.state(), ObjectState::Detached);
        assert_eq!(a.read().balance, 1, "changes before the savepoint stay");
        let ok = s
            .nested(async |s: &mut Session| {
                s.add(account("kept@x", 0));
                Ok(5)
            })
            .await?;
        assert_eq!(ok, 5);
        s.commit().await?;
        assert_eq!(balance_in_db(&db, ids[0]).await?, (1, 2));
        assert_eq!(balance_in_db(&db, ids[1]).await?, (100, 1));
        let emails: Vec<String> = db.session().query::<Account>().all().await?.iter().map(|h| h.read().email.clone()).collect();
        assert!(emails.contains(&"kept@x".to_string()) && !emails.contains(&"inner@x".to_string()), "{emails:?}");
        Ok(())
    }

    async fn rollback_discards_changes(db) {
        let ids = accounts(&db, 2).await?;
        let mut s = db.session();
        let a = s.get::<Account>(ids[0]).await?;
        let b = s.get::<Account>(ids[1]).await?;
        a.write().balance = 5;
        s.flush().await?;
        b.write().note = Some("x".into());
        s.delete(&a)?;
        let n = s.add(account("n@x", 1));
        s.rollback().await?;
        assert_eq!((a.read().balance, a.read().version, a.state()), (100, 1, ObjectState::Persistent));
        assert_eq!(b.read().note, None);
        assert_eq!(n.state(), ObjectState::Detached);
        assert!(s.plan_rows()?.is_empty());
        Ok(())
    }

    async fn refresh_expire_and_expunge(db) {
        let ids = accounts(&db, 1).await?;
        let mut s = db.session();
        let a = s.get::<Account>(ids[0]).await?;
        db.execute_sql(
            match db.dialect() {
                Dialect::Postgres => "UPDATE accounts SET balance = 55 WHERE id = $1",
                _ => "UPDATE accounts SET balance = 55 WHERE id = ?",
            },
            vec![Value::I64(ids[0])],
        )
        .await?;
        assert_eq!(s.get::<Account>(ids[0]).await?.read().balance, 100, "the identity map holds the loaded state");
        s.expire(&a);
        let again = s.get::<Account>(ids[0]).await?;
        assert!(Handle::ptr_eq(&a, &again));
        assert_eq!(a.read().balance, 55, "an expired object is reloaded");
        a.write().balance = 1;
        s.refresh(&a).await?;
        assert_eq!(a.read().balance, 55, "refresh discards the unflushed change");
        assert!(!s.is_dirty(&a));
        s.expunge(&a);
        assert_eq!(a.state(), ObjectState::Detached);
        let other = s.get::<Account>(ids[0]).await?;
        assert!(!Handle::ptr_eq(&a, &other));
        Ok(())
    }

    async fn mysql_counts_matched_rows_for_identical_writes(db) {
        // An unversioned entity: the row already holds the value we write.
        db.create_all(&[Country::schema()]).await?;
        let mut s = db.session();
        s.add(Country { code: "IT".into(), name: "Italia".into() });
        s.commit().await?;
        let c = s.get::<Country>("IT".to_string()).await?;
        let sql = match db.dialect() {
            Dialect::Postgres => "UPDATE countries SET name = 'Italy'",
            Dialect::MySql => "UPDATE countries SET name = 'Italy'",
            Dialect::Sqlite => "UPDATE countries SET name = 'Italy'",
        };
        db.execute_sql(sql, vec![]).await?;
        c.write().name = "Italy".into();
        s.commit().await.expect("a matched row that did not change is not stale");
        Ok(())
    }
}

/// A tiny cell to carry a handle out of a nested closure in the test above.
mod parking_lot_free {
    use std::sync::Mutex;

    use orm_core::Handle;

    use super::Account;

    #[derive(Default)]
    pub struct Slot(Mutex<Option<Handle<Account>>>);

    impl Slot {
        pub fn put(&self, h: Handle<Account>) {
            *self.0.lock().expect("not poisoned") = Some(h);
        }

        pub fn take(&self) -> Handle<Account> {
            self.0
                .lock()
                .expect("not poisoned")
                .take()
                .expect("set by the closure")
        }
    }
}
