//! Cancellation at every await point: each public operation is dropped after
//! its 1st, 2nd, ... n-th poll (as a timeout, a lost `select!` branch or a
//! client that went away would drop it) until it completes, on a pool of one
//! connection, and after each drop an observer (a second pool) checks what a
//! user of SQLAlchemy or Hibernate expects of a transaction that was
//! interrupted:
//!
//! * the database holds all of the unit of work or none of it, and the
//!   session agrees (its objects are persistent exactly when their rows are
//!   stored), once `settle()` has finished what the dropped call left;
//! * retrying the way the session's docs say (acknowledge a failure with
//!   `rollback()`, commit again) stores the work exactly once;
//! * the pool's one connection is healthy: a later commit on it is stored
//!   and seen by the observer (a connection returned inside a transaction
//!   would swallow it), and `Database::close` does not hang (checked by the
//!   harness).
//!
//! Each test prints how many cancellation points it found
//! (`cargo test --test cancellation -- --nocapture`).

use orm_core::cache::Region;
use orm_core::prelude::*;
use tests::cancel::{Run, every_poll, poll_at_most};
use tests::observed_tests;

#[entity(table = "cx_accounts")]
#[derive(Debug, Default)]
pub struct Account {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 40)]
    pub name: String,
    pub balance: i64,
    #[version]
    pub version: i64,
    #[has_many(Entry, by = "account_id", keyed_by = "label")]
    pub entries: Keyed<String, Entry>,
    #[many_to_many(Tag, via = "cx_account_tags")]
    pub tags: Many<Tag>,
}

#[entity(table = "cx_entries")]
#[derive(Debug, Default)]
pub struct Entry {
    #[key(auto)]
    pub id: i64,
    #[column(references = Account)]
    pub account_id: i64,
    #[column(len = 40)]
    pub label: String,
    pub amount: i64,
}

#[entity(table = "cx_tags")]
#[derive(Debug, Default)]
pub struct Tag {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 40)]
    pub name: String,
}

type Checked<T = ()> = Result<T, String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Most polls any operation here may need before it counts as hung.
const LIMIT: usize = 2_000;

async fn schema(db: &Database) -> Checked {
    db.create_all(&[Account::schema(), Entry::schema(), Tag::schema()])
        .await
        .map_err(text)
}

/// Empties every table, through the observer.
async fn clear(observer: &Database) -> Checked {
    for table in ["cx_account_tags", "cx_entries", "cx_accounts", "cx_tags"] {
        observer
            .execute_sql(format!("DELETE FROM {table}"), vec![])
            .await
            .map_err(text)?;
    }
    Ok(())
}

/// (id, name, balance, version) of every stored account, by id.
async fn stored(observer: &Database) -> Checked<Vec<(i64, String, i64, i64)>> {
    let rows = observer
        .fetch_sql(
            "SELECT id, name, balance, version FROM cx_accounts ORDER BY id",
            vec![],
        )
        .await
        .map_err(text)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.get::<i64>("id").map_err(text)?,
                r.get::<String>("name").map_err(text)?,
                r.get::<i64>("balance").map_err(text)?,
                r.get::<i64>("version").map_err(text)?,
            ))
        })
        .collect()
}

async fn count(observer: &Database, table: &str) -> Checked<i64> {
    let rows = observer
        .fetch_sql(format!("SELECT COUNT(*) AS n FROM {table}"), vec![])
        .await
        .map_err(text)?;
    rows[0].get::<i64>("n").map_err(text)
}

/// The pool's connection is healthy: a commit on it is stored and seen by
/// the observer (a connection handed back inside a transaction, or in the
/// middle of a reply, would swallow or garble it).
async fn probe(db: &Database, observer: &Database, n: usize) -> Checked {
    let name = format!("probe-{n}");
    let mut s = db.session();
    s.add(Tag {
        id: 0,
        name: name.clone(),
    });
    s.commit().await.map_err(|e| format!("probe commit: {e}"))?;
    let seen = observer
        .fetch_sql("SELECT name FROM cx_tags", vec![])
        .await
        .map_err(text)?
        .iter()
        .any(|r| r.get::<String>("name").ok().as_deref() == Some(name.as_str()));
    ensure!(seen, "a commit on the pool's connection was not stored");
    observer
        .execute_sql(format!("DELETE FROM cx_tags WHERE name = '{name}'"), vec![])
        .await
        .map_err(text)?;
    Ok(())
}

/// Three new accounts, two entries through a keyed collection and one tag
/// through a many-to-many collection: three tables and an association table.
fn new_graph(s: &mut Session) -> Checked<Vec<Handle<Account>>> {
    let accounts = s.add_all((1..=3).map(|i| Account {
        name: format!("acct-{i}"),
        balance: i * 100,
        ..Default::default()
    }));
    let tag = s.add(Tag {
        id: 0,
        name: "vip".into(),
    });
    let mut first = accounts[0].write();
    for label in ["opening", "fee"] {
        first
            .entries
            .insert(
                label.to_string(),
                Entry {
                    amount: 10,
                    ..Default::default()
                },
            )
            .map_err(text)?;
    }
    first.tags.add(&tag).map_err(text)?;
    drop(first);
    Ok(accounts)
}

/// The observer sees exactly the accounts the session holds as persistent,
/// all or none; with none, every object is new again without a key.
async fn agrees(accounts: &[Handle<Account>], observer: &Database) -> Checked<bool> {
    let rows = stored(observer).await?;
    let persistent: Vec<(i64, String)> = accounts
        .iter()
        .filter(|h| h.state() == ObjectState::Persistent)
        .map(|h| (h.read().id, h.read().name.clone()))
        .collect();
    let stored: Vec<(i64, String)> = rows.into_iter().map(|(id, n, ..)| (id, n)).collect();
    ensure!(
        persistent == stored,
        "the session holds {persistent:?} as stored, the database {stored:?}"
    );
    ensure!(
        persistent.is_empty() || persistent.len() == accounts.len(),
        "half a unit of work was stored: {persistent:?}"
    );
    if persistent.is_empty() {
        for h in accounts {
            ensure!(
                h.state() == ObjectState::New && h.read().id == 0,
                "not stored, but {:?} with id {}",
                h.state(),
                h.read().id
            );
        }
        ensure!(
            count(observer, "cx_entries").await? == 0
                && count(observer, "cx_account_tags").await? == 0,
            "children stored without their parents"
        );
    }
    Ok(!persistent.is_empty())
}

/// The session's docs: after a failure `rollback()` acknowledges it and
/// keeps the work; then a commit stores everything, exactly once.
async fn retry_commit(s: &mut Session) -> Checked {
    if s.has_failed() {
        s.rollback().await.map_err(text)?;
    }
    s.commit()
        .await
        .map_err(|e| format!("commit after recovery: {e}"))
}

async fn graph_stored_once(accounts: &[Handle<Account>], observer: &Database) -> Checked {
    let rows = stored(observer).await?;
    ensure!(rows.len() == 3, "{} accounts stored, not 3", rows.len());
    for (h, (id, name, balance, version)) in accounts.iter().zip(&rows) {
        let v = h.read();
        ensure!(
            (v.id, &v.name, v.balance, v.version) == (*id, name, *balance, *version),
            "session {:?} / database {:?}",
            (v.id, &v.name, v.balance, v.version),
            (id, name, balance, version)
        );
        ensure!(*version == 1, "version {version} after one insert");
    }
    ensure!(
        count(observer, "cx_entries").await? == 2,
        "entries not stored once"
    );
    ensure!(
        count(observer, "cx_account_tags").await? == 1,
        "association row not stored once"
    );
    Ok(())
}

fn report(what: &str, db: &Database, points: usize) {
    let backend = tests::cancel::current_backend()
        .map_or_else(|| db.dialect().name().to_string(), |b| format!("{b:?}"));
    println!("cancellation: {what} on {backend}: {points} cancellation points");
}

/// Committed accounts loaded into a fresh session, for scenarios that change them.
async fn committed_accounts(db: &Database, observer: &Database) -> Checked<Session> {
    clear(observer).await?;
    let mut s = db.session();
    new_graph(&mut s)?;
    s.commit().await.map_err(text)?;
    Ok(db.session())
}

observed_tests! {
    /// A commit of new objects across three tables and an association table.
    async fn commit_of_a_new_graph(db, observer, proxy) {
        schema(&db).await?;
        let committed_when_cancelled = std::rc::Rc::new(std::cell::Cell::new(0));
        let points = every_poll(LIMIT, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            let committed = committed_when_cancelled.clone();
            async move {
                clear(&observer).await?;
                let mut s = db.session();
                let accounts = new_graph(&mut s)?;
                let run = poll_at_most(polls, s.commit()).await;
                if let Some(result) = run {
                    result.map_err(text)?;
                    graph_stored_once(&accounts, &observer).await?;
                    probe(&db, &observer, polls).await?;
                    return Ok(Run::Completed);
                }
                let settled = s.settle().await;
                let stored = agrees(&accounts, &observer).await?;
                ensure!(
                    settled.is_ok() != s.has_failed(),
                    "settle() said {settled:?}, has_failed() {}",
                    s.has_failed()
                );
                if stored {
                    committed.set(committed.get() + 1);
                }
                retry_commit(&mut s).await?;
                graph_stored_once(&accounts, &observer).await?;
                probe(&db, &observer, polls).await?;
                Ok(Run::Cancelled(polls))
            }
        })
        .await?;
        report("commit of a new graph", &db, points);
        println!(
            "  (stored by the session's next call after the drop: {})",
            committed_when_cancelled.get()
        );
        Ok(())
    }

    /// A commit that is one INSERT, sent without a transaction.
    async fn commit_of_one_object(db, observer, proxy) {
        schema(&db).await?;
        let points = every_poll(LIMIT, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            async move {
                clear(&observer).await?;
                let mut s = db.session();
                let one = s.add(Account { name: "solo".into(), ..Default::default() });
                let accounts = vec![one];
                let run = poll_at_most(polls, s.commit()).await;
                let completed = match run {
                    Some(result) => {
                        result.map_err(text)?;
                        true
                    }
                    None => {
                        let _ = s.settle().await;
                        agrees(&accounts, &observer).await?;
                        retry_commit(&mut s).await?;
                        false
                    }
                };
                let rows = stored(&observer).await?;
                ensure!(rows.len() == 1, "{} rows for one object", rows.len());
                ensure!(rows[0].0 == accounts[0].read().id, "key differs from the session's");
                probe(&db, &observer, polls).await?;
                Ok(if completed { Run::Completed } else { Run::Cancelled(polls) })
            }
        })
        .await?;
        report("commit of one object", &db, points);
        Ok(())
    }

    /// A versioned UPDATE of loaded objects and a DELETE with a cascade.
    async fn commit_of_changes(db, observer, proxy) {
        schema(&db).await?;
        let points = every_poll(LIMIT, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            async move {
                let mut s = committed_accounts(&db, &observer).await?;
                let all = s
                    .query::<Account>()
                    .load(Account::ENTRIES)
                    .order_by(Account::NAME.asc())
                    .all()
                    .await
                    .map_err(text)?;
                for a in &all[1..] {
                    a.write().balance += 1;
                }
                s.delete(&all[0]).map_err(text)?;
                let run = poll_at_most(polls, s.commit()).await;
                let completed = match run {
                    Some(result) => {
                        result.map_err(text)?;
                        true
                    }
                    None => {
                        let settled = s.settle().await;
                        let rows = stored(&observer).await?;
                        let applied = rows.len() == 2;
                        ensure!(
                            applied || (rows.len() == 3 && rows.iter().all(|r| r.3 == 1)),
                            "half a commit stored: {rows:?}"
                        );
                        ensure!(
                            applied == (settled.is_ok() && all[0].state() == ObjectState::Detached),
                            "database applied: {applied}, session: {settled:?} / {:?}",
                            all[0].state()
                        );
                        retry_commit(&mut s).await?;
                        false
                    }
                };
                let rows = stored(&observer).await?;
                ensure!(rows.len() == 2, "the delete stored {} rows", rows.len());
                for (h, (id, _, balance, version)) in all[1..].iter().zip(&rows) {
                    ensure!(h.read().id == *id, "keys differ");
                    ensure!(
                        (*balance, *version) == (h.read().balance, 2),
                        "balance {balance} version {version}: bumped once, changed once"
                    );
                    ensure!(h.read().version == 2, "the session's version is {}", h.read().version);
                }
                ensure!(count(&observer, "cx_entries").await? == 0, "entries outlived their account");
                probe(&db, &observer, polls).await?;
                Ok(if completed { Run::Completed } else { Run::Cancelled(polls) })
            }
        })
        .await?;
        report("commit of updates and a cascaded delete", &db, points);
        Ok(())
    }

    /// A flush, then (in a transaction the flush opened) a query, then a
    /// rollback: each dropped at every poll.
    async fn flush_query_and_rollback_inside_a_transaction(db, observer, proxy) {
        schema(&db).await?;
        for step in ["flush", "query", "rollback"] {
            let points = every_poll(LIMIT, |polls| {
                let (db, observer) = (db.clone(), observer.clone());
                async move {
                    clear(&observer).await?;
                    let mut s = db.session();
                    let accounts = new_graph(&mut s)?;
                    if step != "flush" {
                        s.flush().await.map_err(text)?;
                    }
                    let completed = match step {
                        "flush" => poll_at_most(polls, s.flush()).await.map(|r| r.map(drop)),
                        "query" => poll_at_most(polls, s.query::<Account>().all())
                            .await
                            .map(|r| r.map(drop)),
                        _ => poll_at_most(polls, s.rollback()).await,
                    };
                    if let Some(result) = &completed {
                        result.as_ref().map_err(text)?;
                    }
                    let _ = s.settle().await;
                    // Nothing is committed yet, whatever happened.
                    ensure!(stored(&observer).await?.is_empty(), "uncommitted work is visible");
                    if step == "rollback" {
                        // Rolled back, cancelled or not: the objects left the session.
                        for h in &accounts {
                            ensure!(h.state() == ObjectState::Detached, "{:?} after rollback", h.state());
                        }
                        ensure!(!s.in_transaction(), "still in a transaction after rollback");
                    } else {
                        retry_commit(&mut s).await?;
                        graph_stored_once(&accounts, &observer).await?;
                    }
                    probe(&db, &observer, polls).await?;
                    Ok(if completed.is_some() { Run::Completed } else { Run::Cancelled(polls) })
                }
            })
            .await?;
            report(&format!("{step} inside a transaction"), &db, points);
        }
        Ok(())
    }

    /// A nested block (flush inside a savepoint), dropped at every poll.
    async fn nested_block(db, observer, proxy) {
        schema(&db).await?;
        let points = every_poll(LIMIT, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            async move {
                clear(&observer).await?;
                let mut s = db.session();
                let outer = s.add(Account { name: "outer".into(), ..Default::default() });
                let inner: std::sync::Arc<std::sync::Mutex<Option<Handle<Account>>>> = Default::default();
                let slot = inner.clone();
                let run = poll_at_most(
                    polls,
                    s.nested(async move |s: &mut Session| {
                        let h = s.add(Account { name: "inner".into(), ..Default::default() });
                        *slot.lock().unwrap() = Some(h);
                        s.flush().await
                    }),
                )
                .await;
                if let Some(result) = &run {
                    result.as_ref().map_err(text)?;
                }
                let _ = s.settle().await;
                ensure!(stored(&observer).await?.is_empty(), "uncommitted work is visible");
                retry_commit(&mut s).await?;
                let mut expected = vec![outer];
                expected.extend(inner.lock().unwrap().clone());
                let rows = stored(&observer).await?;
                ensure!(rows.len() == expected.len(), "{rows:?} for {} objects", expected.len());
                for h in &expected {
                    ensure!(rows.iter().any(|r| r.0 == h.read().id), "{} not stored", h.read().name);
                }
                probe(&db, &observer, polls).await?;
                Ok(if run.is_some() { Run::Completed } else { Run::Cancelled(polls) })
            }
        })
        .await?;
        report("nested block", &db, points);
        Ok(())
    }

    /// Reads outside a transaction: a get, a query loading two
    /// relationships, plain rows, a count, raw SQL, a concurrent batch and
    /// cached queries. Dropped, they leave the session usable and its
    /// identity map true.
    async fn reads(db, observer, proxy) {
        schema(&db).await?;
        db.cache()
            .add(Region::memory("cx").expiry(std::time::Duration::from_secs(60)))
            .map_err(text)?;
        let redis = orm_core::cache::RedisStore::new(&tests::redis_url(), Default::default())
            .map_err(text)?;
        db.cache()
            .add(
                Region::redis("cx-redis", &redis)
                    .prefix(format!("cx-{}-{}:", std::process::id(), db.dialect().name()))
                    .expiry(std::time::Duration::from_secs(60)),
            )
            .map_err(text)?;
        committed_accounts(&db, &observer).await?;
        let ids: Vec<i64> = stored(&observer).await?.iter().map(|r| r.0).collect();
        for read in [
            "get", "find", "first", "load", "session-load", "refresh", "merge", "rows", "count", "sql",
            "db-sql", "db-sql-cached", "batch", "cached", "cached-redis",
        ] {
            let points = every_poll(LIMIT, |polls| {
                let (db, observer, ids) = (db.clone(), observer.clone(), ids.clone());
                async move {
                    let mut s = db.session();
                    let completed = run_read(&mut s, read, &ids, polls).await?;
                    s.settle().await.map_err(|e| format!("{read}: {e}"))?;
                    ensure!(!s.has_failed(), "a dropped read failed the session");
                    // The same read again, to its end: right rows, one object per key.
                    run_read(&mut s, read, &ids, usize::MAX).await?;
                    let all = s
                        .query::<Account>()
                        .load(Account::ENTRIES)
                        .load(Account::TAGS)
                        .order_by(Account::NAME.asc())
                        .all()
                        .await
                        .map_err(text)?;
                    ensure!(all.len() == 3, "{} accounts", all.len());
                    let entries = all[0].read().entries.len().map_err(text)?;
                    ensure!(entries == 2, "{entries} entries loaded, not 2");
                    let again = s.get::<Account>(all[0].key()).await.map_err(text)?;
                    ensure!(Handle::ptr_eq(&again, &all[0]), "two objects for one key");
                    probe(&db, &observer, polls).await?;
                    Ok(if completed { Run::Completed } else { Run::Cancelled(polls) })
                }
            })
            .await?;
            report(&format!("read ({read})"), &db, points);
        }
        Ok(())
    }

    /// `Database::retry` of an increment, dropped at every poll: an
    /// increment is stored at most once per run, and the version counts them.
    async fn retried_unit_of_work(db, observer, proxy) {
        schema(&db).await?;
        clear(&observer).await?;
        let mut s = db.session();
        let acct = s.add(Account { name: "counter".into(), ..Default::default() });
        s.commit().await.map_err(text)?;
        let id = acct.read().id;
        let expected = std::rc::Rc::new(std::cell::Cell::new(0i64));
        let points = every_poll(LIMIT, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            let expected = expected.clone();
            async move {
                let run = poll_at_most(
                    polls,
                    db.retry(3, async |s: &mut Session| {
                        let a = s.get::<Account>(id).await?;
                        a.write().balance += 1;
                        Ok(())
                    }),
                )
                .await;
                if let Some(result) = &run {
                    result.as_ref().map_err(text)?;
                }
                // Waits for the pool's one connection, so for a commit a
                // dropped session left to finish.
                probe(&db, &observer, polls).await?;
                let row = stored(&observer).await?;
                let (balance, version) = (row[0].2, row[0].3);
                ensure!(
                    balance == expected.get() || balance == expected.get() + 1,
                    "balance {balance}, expected {} or one more",
                    expected.get()
                );
                ensure!(version == balance + 1, "version {version} for {balance} increments");
                expected.set(balance);
                Ok(if run.is_some() { Run::Completed } else { Run::Cancelled(polls) })
            }
        })
        .await?;
        report("retried unit of work", &db, points);
        Ok(())
    }
}

/// One read of the `reads` scenario, dropped after `polls` polls; whether it completed.
async fn run_read(s: &mut Session, read: &str, ids: &[i64], polls: usize) -> Checked<bool> {
    let done = match read {
        "get" => poll_at_most(polls, s.get::<Account>(ids[1]))
            .await
            .map(|r| r.map(drop)),
        "load" => poll_at_most(
            polls,
            s.query::<Account>()
                .filter(Account::ID.is_in(ids))
                .load(Account::ENTRIES)
                .load(Account::TAGS)
                .all(),
        )
        .await
        .map(|r| r.map(drop)),
        "find" => poll_at_most(polls, s.find::<Account>(ids[2]))
            .await
            .map(|r| r.map(drop)),
        "first" => poll_at_most(
            polls,
            s.query::<Account>().order_by(Account::NAME.desc()).first(),
        )
        .await
        .map(|r| r.map(drop)),
        "session-load" => {
            let all = s.query::<Account>().all().await.map_err(text)?;
            poll_at_most(polls, s.load(&all, Account::ENTRIES))
                .await
                .map(|r| r.map(drop))
        }
        "refresh" => {
            let a = s.get::<Account>(ids[0]).await.map_err(text)?;
            a.write().balance = -1;
            let done = poll_at_most(polls, s.refresh(&a)).await;
            if done.is_none() {
                // A dropped refresh keeps the change or discards it; it
                // never leaves the object half loaded.
                let b = a.read().balance;
                ensure!(b == -1 || b == 100, "balance {b} after a dropped refresh");
                s.refresh(&a).await.map_err(text)?;
            }
            ensure!(
                a.read().balance == 100 && !s.is_dirty(&a),
                "refreshed from the row"
            );
            done
        }
        "merge" => {
            let copy = db_copy(&s.database(), ids[1]).await?;
            poll_at_most(polls, s.merge(copy))
                .await
                .map(|r| r.map(drop))
        }
        "db-sql" => {
            let db = s.database().clone();
            poll_at_most(
                polls,
                db.fetch_sql("SELECT COUNT(*) FROM cx_entries", vec![]),
            )
            .await
            .map(|r| r.map(drop))
        }
        "db-sql-cached" => {
            let db = s.database().clone();
            poll_at_most(
                polls,
                db.sql("SELECT COUNT(*) AS n FROM cx_accounts", vec![])
                    .cached("cx-redis")
                    .reads(["cx_accounts"])
                    .rows(),
            )
            .await
            .map(|r| r.map(drop))
        }
        "rows" => poll_at_most(polls, s.query::<Entry>().rows())
            .await
            .map(|r| r.map(drop)),
        "count" => poll_at_most(polls, s.query::<Account>().count())
            .await
            .map(|r| r.map(drop)),
        "sql" => poll_at_most(
            polls,
            s.fetch_sql("SELECT COUNT(*) FROM cx_entries", vec![]),
        )
        .await
        .map(|r| r.map(drop)),
        "batch" => {
            let batch = vec![
                s.query::<Account>().batched().map_err(text)?,
                s.query::<Entry>().batched().map_err(text)?,
            ];
            poll_at_most(polls, s.concurrently(2, batch))
                .await
                .map(|r| r.map(drop))
        }
        "cached" => poll_at_most(polls, s.query::<Account>().cached("cx").all())
            .await
            .map(|r| r.map(drop)),
        _ => poll_at_most(polls, s.query::<Account>().cached("cx-redis").all())
            .await
            .map(|r| r.map(drop)),
    };
    match done {
        Some(result) => result.map(|()| true).map_err(|e| format!("{read}: {e}")),
        None => Ok(false),
    }
}

/// A detached copy of an account (for `merge`).
async fn db_copy(db: &Database, id: i64) -> Checked<Account> {
    let h = db.session().get::<Account>(id).await.map_err(text)?;
    let v = h.read();
    Ok(Account {
        id: v.id,
        name: v.name.clone(),
        balance: v.balance,
        version: v.version,
        ..Default::default()
    })
}
