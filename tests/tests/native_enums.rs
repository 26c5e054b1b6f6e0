//! Enums as database enum types, as a user of SQLAlchemy's
//! `Enum(Priority, name="priority", native_enum=True)` expects: on
//! PostgreSQL a native type (`CREATE TYPE priority AS ENUM (..)`, created
//! by `create_all` before the tables, dropped by `drop_all`), values bound
//! as that type so the server's own enum operators and ordering apply; on
//! MySQL an inline `ENUM(..)` column; on SQLite `TEXT` with a `CHECK` of
//! the labels. Everywhere: fields round-trip (NULL too), filters compare,
//! lists, batched updates, upserts, typed selects, GROUP BY and the result
//! cache work, and a label outside the type is refused by the database.

use orm_core::cache::Region;
use orm_core::prelude::*;
use orm_core::{Agg, Case, DbErrorKind, Dialect, SqlType, TemplateMode, Value};
use tests::backend_tests;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ColumnValue)]
#[column_value(native_enum = "ne_priority")]
pub enum Priority {
    // Declared out of alphabetical order: PostgreSQL and MySQL sort by
    // declaration, SQLite (text) by label.
    Low,
    #[column_value(rename = "it's so-so")]
    Medium,
    High,
}

#[entity(table = "ne_tickets")]
#[derive(Debug, Clone)]
pub struct Ticket {
    #[key(auto)]
    pub id: i64,
    #[column(len = 20, unique)]
    pub code: String,
    pub priority: Priority,
    pub escalated: Option<Priority>,
}

/// One slot per owner and priority (a conflict target with an enum in it).
#[entity(table = "ne_slots", unique(owner, kind))]
#[derive(Debug, Clone)]
pub struct Slot {
    #[key(auto)]
    pub id: i64,
    pub owner: i64,
    pub kind: Priority,
    pub n: i64,
}

fn ticket(code: &str, priority: Priority, escalated: Option<Priority>) -> Ticket {
    Ticket {
        id: 0,
        code: code.into(),
        priority,
        escalated,
    }
}

async fn codes(s: &mut Session, filter: orm_core::Filter<Ticket>) -> orm_core::Result<Vec<String>> {
    let found = s
        .query::<Ticket>()
        .filter(filter)
        .order_by(Ticket::CODE.asc())
        .all()
        .await?;
    Ok(found.iter().map(|t| t.read().code.clone()).collect())
}

backend_tests! {
    async fn native_enums_round_trip_filter_and_sort_by_declaration(db) {
        db.create_all(&[Ticket::schema()]).await?;
        // Twice is fine: the type and the table exist.
        db.create_all(&[Ticket::schema()]).await?;
        db.templates().set_mode(TemplateMode::Paranoid);
        let mut s = db.session();
        s.add(ticket("a", Priority::Low, None));
        s.add(ticket("b", Priority::High, Some(Priority::Medium)));
        s.add(ticket("c", Priority::Medium, Some(Priority::High)));
        s.add(ticket("d", Priority::Low, Some(Priority::Low)));
        s.commit().await?;

        let mut fresh = db.session();
        let all = fresh.query::<Ticket>().order_by(Ticket::CODE.asc()).all().await?;
        let got: Vec<(Priority, Option<Priority>)> = all.iter().map(|t| (t.read().priority, t.read().escalated)).collect();
        assert_eq!(
            got,
            [
                (Priority::Low, None),
                (Priority::High, Some(Priority::Medium)),
                (Priority::Medium, Some(Priority::High)),
                (Priority::Low, Some(Priority::Low)),
            ]
        );
        assert_eq!(codes(&mut fresh, Ticket::PRIORITY.eq(Priority::Low)).await?, ["a", "d"]);
        assert_eq!(codes(&mut fresh, Ticket::PRIORITY.ne(Priority::Low)).await?, ["b", "c"]);
        assert_eq!(codes(&mut fresh, Ticket::ESCALATED.is_null()).await?, ["a"]);
        assert_eq!(codes(&mut fresh, Ticket::ESCALATED.eq(Priority::Medium)).await?, ["b"]);
        assert_eq!(codes(&mut fresh, Ticket::PRIORITY.is_in([Priority::High, Priority::Medium])).await?, ["b", "c"]);
        // A long list (one array or JSON parameter where the backend takes one).
        let long: Vec<Priority> = (0..600).map(|i| if i % 2 == 0 { Priority::High } else { Priority::Medium }).collect();
        assert_eq!(codes(&mut fresh, Ticket::PRIORITY.is_in(long.clone())).await?, ["b", "c"]);
        assert_eq!(codes(&mut fresh, Ticket::PRIORITY.not_in(long)).await?, ["a", "d"]);

        // The database's own order: declaration order on the servers'
        // enum types, the label's text on SQLite.
        let sorted = fresh.query::<Ticket>().order_by(Ticket::PRIORITY.asc()).order_by(Ticket::CODE.asc()).all().await?;
        let sorted: Vec<String> = sorted.iter().map(|t| t.read().code.clone()).collect();
        match db.dialect() {
            Dialect::Sqlite => assert_eq!(sorted, ["b", "a", "d", "c"], "High < Low < it's so-so as text"),
            _ => assert_eq!(sorted, ["a", "d", "c", "b"], "Low < it's so-so < High as declared"),
        }

        // Typed selects and GROUP BY read the enum back.
        let per: Vec<(Priority, i64)> = fresh
            .query::<Ticket>()
            .select((Ticket::PRIORITY, Agg::count()))
            .group_by(Ticket::PRIORITY)
            .all()
            .await?;
        let mut per = per;
        per.sort_by_key(|(p, _)| format!("{p:?}"));
        assert_eq!(per, [(Priority::High, 1), (Priority::Low, 2), (Priority::Medium, 1)]);
        let escalated: Vec<(String, Option<Priority>)> = fresh
            .query::<Ticket>()
            .order_by(Ticket::CODE.asc())
            .select((Ticket::CODE, Ticket::ESCALATED))
            .all()
            .await?;
        assert_eq!(escalated[0], ("a".to_string(), None));
        assert_eq!(escalated[2], ("c".to_string(), Some(Priority::High)));
        // In a CASE, whose values are written in as literals.
        let weights: Vec<(i64, Option<Priority>)> = fresh
            .query::<Ticket>()
            .order_by(Ticket::CODE.asc())
            .select((
                Case::new().when(Ticket::PRIORITY.eq(Priority::High), 2).when(Ticket::ESCALATED.eq(Priority::Medium), 1).otherwise(0),
                Case::new().when(Ticket::ESCALATED.ne(Priority::Low), Ticket::ESCALATED).otherwise(Ticket::ESCALATED),
            ))
            .all()
            .await?;
        assert_eq!(weights, [(0, None), (2, Some(Priority::Medium)), (0, Some(Priority::High)), (0, Some(Priority::Low))]);

        // Every row changed, to values and to NULL: one batched UPDATE.
        for t in &all {
            let mut w = t.write();
            w.priority = Priority::Medium;
            w.escalated = if w.code == "a" { Some(Priority::High) } else { None };
        }
        let before = fresh.stats().statements();
        fresh.commit().await?;
        assert!(fresh.stats().statements() - before <= 3, "one batched UPDATE (+ BEGIN/COMMIT)");
        let mut third = db.session();
        assert_eq!(codes(&mut third, Ticket::PRIORITY.eq(Priority::Medium)).await?, ["a", "b", "c", "d"]);
        assert_eq!(codes(&mut third, Ticket::ESCALATED.is_null()).await?, ["b", "c", "d"]);

        // Bulk UPDATE by filter, and an upsert, with enum values.
        let changed = third
            .query::<Ticket>()
            .filter(Ticket::CODE.is_in(["c", "d"]))
            .update([Ticket::PRIORITY.set(Priority::High)])
            .await?;
        assert_eq!(changed, 2);
        third
            .upsert([ticket("a", Priority::Low, Some(Priority::Medium)), ticket("e", Priority::Medium, None)])
            .on(Ticket::CODE)
            .run()
            .await?;
        third.commit().await?;
        let mut fourth = db.session();
        assert_eq!(codes(&mut fourth, Ticket::PRIORITY.eq(Priority::High)).await?, ["c", "d"]);
        assert_eq!(codes(&mut fourth, Ticket::ESCALATED.eq(Priority::Medium)).await?, ["a"]);
        assert_eq!(codes(&mut fourth, Ticket::PRIORITY.eq(Priority::Medium)).await?, ["b", "e"]);
        fourth.commit().await?;

        // The result cache keeps them (its rows hold the labels).
        db.cache().add(Region::memory("ne"))?;
        for round in 0..2 {
            let mut s = db.session();
            let before = db.stats().statements();
            let cached = s.query::<Ticket>().filter(Ticket::PRIORITY.eq(Priority::High)).order_by(Ticket::CODE.asc()).cached("ne").all().await?;
            let got: Vec<(String, Option<Priority>)> = cached.iter().map(|t| (t.read().code.clone(), t.read().escalated)).collect();
            assert_eq!(got, [("c".to_string(), None), ("d".to_string(), None)]);
            if round == 1 {
                assert_eq!(db.stats().statements(), before, "the second read is the cache's");
            }
            s.commit().await?;
        }
        Ok(())
    }

    async fn the_database_enforces_the_enum_type(db) {
        db.create_all(&[Ticket::schema()]).await?;
        let mut s = db.session();
        s.add(ticket("a", Priority::Low, None));
        s.commit().await?;
        // A label outside the type, written past the ORM, is refused by
        // the database itself (PostgreSQL's type, MySQL's strict ENUM,
        // SQLite's CHECK).
        let sql = match db.dialect() {
            Dialect::Postgres => "INSERT INTO ne_tickets (code, priority) VALUES ($1, $2::ne_priority)",
            _ => "INSERT INTO ne_tickets (code, priority) VALUES (?, ?)",
        };
        let err = db
            .execute_sql(sql, vec![Value::Text("x".into()), Value::Text("Urgent".into())])
            .await
            .unwrap_err();
        let kind = err.db_kind();
        assert!(
            matches!(kind, Some(DbErrorKind::InvalidValue | DbErrorKind::CheckViolation)),
            "{err}"
        );
        assert_eq!(db.session().query::<Ticket>().count().await?, 1, "nothing was written");

        match db.dialect() {
            Dialect::Postgres => {
                let labels = db
                    .fetch_sql(
                        "SELECT e.enumlabel::text AS label FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid \
                         WHERE t.typname = 'ne_priority' AND t.typnamespace = current_schema()::regnamespace ORDER BY e.enumsortorder",
                        vec![],
                    )
                    .await?;
                let labels: Vec<String> = labels.iter().map(|r| r.get("label")).collect::<Result<_, _>>()?;
                assert_eq!(labels, ["Low", "it's so-so", "High"]);
                let ty = db
                    .fetch_sql(
                        "SELECT udt_name::text AS t FROM information_schema.columns WHERE table_schema = current_schema() \
                         AND table_name = 'ne_tickets' AND column_name = 'priority'",
                        vec![],
                    )
                    .await?;
                assert_eq!(ty[0].get::<String>("t")?, "ne_priority");
                // The server's own enum comparison: by declaration order
                // (as text, 'Low' < 'High' is false).
                let below = db.fetch_sql("SELECT count(*) AS n FROM ne_tickets WHERE priority < 'High'", vec![]).await?;
                assert_eq!(below[0].get::<i64>("n")?, 1);
                // drop_all drops the type with the table.
                db.drop_all(&[Ticket::schema()]).await?;
                let left = db
                    .fetch_sql(
                        "SELECT count(*) AS n FROM pg_type WHERE typname = 'ne_priority' AND typnamespace = current_schema()::regnamespace",
                        vec![],
                    )
                    .await?;
                assert_eq!(left[0].get::<i64>("n")?, 0);
                // Made again (a new type, a new OID): a connection that
                // bound the old one fails once with SchemaChanged, a
                // transient error, and is closed; a retry works.
                db.create_all(&[Ticket::schema()]).await?;
                let stale = std::cell::Cell::new(0);
                for round in 0..8 {
                    db.retry(10, async |s: &mut Session| {
                        s.add(ticket(&format!("r{round}"), Priority::High, Some(Priority::Low)));
                        let result = s.flush().await;
                        if let Err(e) = &result {
                            assert_eq!(e.db_kind(), Some(DbErrorKind::SchemaChanged), "{e}");
                            stale.set(stale.get() + 1);
                        }
                        result
                    })
                    .await?;
                    let count = db
                        .retry(10, async |s: &mut Session| {
                            let n = s.query::<Ticket>().filter(Ticket::PRIORITY.eq(Priority::High)).count().await;
                            if n.is_err() {
                                stale.set(stale.get() + 1);
                            }
                            n
                        })
                        .await?;
                    assert_eq!(count, round + 1);
                }
                // The connection that bound the old type is reused first.
                assert!((1..=4).contains(&stale.get()), "each pooled connection goes stale once at most: {}", stale.get());
            }
            Dialect::MySql => {
                let ty = db
                    .fetch_sql(
                        "SELECT COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                         AND TABLE_NAME = 'ne_tickets' AND COLUMN_NAME = 'priority'",
                        vec![],
                    )
                    .await?;
                assert_eq!(ty[0].get::<String>("t")?, "enum('Low','it''s so-so','High')");
            }
            _ => {}
        }
        Ok(())
    }

    async fn one_type_name_with_two_label_lists_is_refused(db) {
        #[derive(Debug, Clone, Copy, PartialEq, ColumnValue)]
        #[column_value(native_enum = "ne_priority")]
        pub enum Other {
            Low,
            Urgent,
        }
        #[entity(table = "ne_other")]
        pub struct Flag {
            #[key(auto)]
            pub id: i64,
            pub level: Other,
        }
        let err = db.create_all(&[Ticket::schema(), Flag::schema()]).await.unwrap_err();
        match &err {
            Error::Schema { entity, message, .. } => {
                assert_eq!(*entity, "Flag");
                assert!(message.contains("ne_priority") && message.contains("Urgent"), "{message}");
            }
            other => panic!("expected a schema error, got {other:?}"),
        }
        assert!(db.fetch_sql("SELECT * FROM ne_tickets", vec![]).await.is_err(), "nothing was created");
        Ok(())
    }

    async fn the_sql_type_names_the_enum_type(db) {
        let SqlType::Enum(ty) = <Priority as orm_core::ColumnValue>::SQL_TYPE else {
            panic!("a native enum's SQL type");
        };
        assert_eq!(ty.name, "ne_priority");
        // What create_all runs: PostgreSQL creates the type first.
        let sql = db.create_all_sql(&[Ticket::schema()])?;
        match db.dialect() {
            Dialect::Postgres => {
                assert!(sql[0].contains("CREATE TYPE \"ne_priority\" AS ENUM ('Low', 'it''s so-so', 'High')"), "{sql:?}");
                assert!(sql[1].contains("\"priority\" \"ne_priority\" NOT NULL"), "{sql:?}");
            }
            Dialect::MySql => assert!(sql[0].contains("`priority` ENUM('Low','it''s so-so','High') NOT NULL"), "{sql:?}"),
            _ => assert!(sql[0].contains("CHECK (\"priority\" IN ('Low', 'it''s so-so', 'High'))"), "{sql:?}"),
        }
        Ok(())
    }
}

backend_tests! {
    async fn comparisons_long_lists_pages_and_upserts_follow_the_database_order(db) {
        db.create_all(&[Ticket::schema(), Slot::schema()]).await?;
        db.templates().set_mode(TemplateMode::Paranoid);
        let mut s = db.session();
        s.add(ticket("a", Priority::Low, None));
        s.add(ticket("b", Priority::Medium, None));
        s.add(ticket("c", Priority::High, None));
        s.commit().await?;
        let sqlite = db.dialect() == Dialect::Sqlite;
        // `>` as the database orders the column: by declaration on the
        // servers (MySQL compares the label's index), by text on SQLite
        // ("High" < "Low" < "it's so-so").
        let above = codes(&mut s, Ticket::PRIORITY.gt(Priority::Low)).await?;
        assert_eq!(above, if sqlite { vec!["b"] } else { vec!["b", "c"] });
        let below = codes(&mut s, Ticket::PRIORITY.le(Priority::Medium)).await?;
        assert_eq!(below, if sqlite { vec!["a", "b", "c"] } else { vec!["a", "b"] });

        // A list past every bind limit, repeating its values: each row
        // once, and ORDER BY kept across the split statements.
        let long: Vec<Priority> = (0..70_000).map(|i| if i % 2 == 0 { Priority::High } else { Priority::Medium }).collect();
        assert_eq!(s.query::<Ticket>().filter(Ticket::PRIORITY.is_in(long.clone())).count().await?, 2);
        let sorted = s.query::<Ticket>().filter(Ticket::PRIORITY.is_in(long.clone())).order_by(Ticket::PRIORITY.desc()).all().await?;
        let sorted: Vec<String> = sorted.iter().map(|t| t.read().code.clone()).collect();
        assert_eq!(sorted, if sqlite { ["b", "c"] } else { ["c", "b"] }, "the database's order");
        assert_eq!(codes(&mut s, Ticket::PRIORITY.not_in(long)).await?, ["a"]);
        // Split by another list (codes), ordered by the enum: the merged
        // rows are sorted as the database sorts the column.
        let many: Vec<String> = ["a", "b", "c"].into_iter().map(String::from).chain((0..70_000).map(|i| format!("x{i}"))).collect();
        let before = s.stats().statements();
        let sorted = s.query::<Ticket>().filter(Ticket::CODE.is_in(many)).order_by(Ticket::PRIORITY.desc()).all().await?;
        let statements = s.stats().statements() - before;
        let sorted: Vec<String> = sorted.iter().map(|t| t.read().code.clone()).collect();
        assert_eq!(sorted, if sqlite { ["b", "a", "c"] } else { ["c", "b", "a"] }, "the database's order ({statements} statements)");

        // Upserts matched on an enum column come back as their own rows.
        let first = s
            .upsert([
                Slot { id: 0, owner: 1, kind: Priority::Low, n: 1 },
                Slot { id: 0, owner: 1, kind: Priority::High, n: 2 },
            ])
            .on(Slot::OWNER)
            .on(Slot::KIND)
            .run()
            .await?;
        let got: Vec<(Priority, i64)> = first.iter().map(|h| (h.read().kind, h.read().n)).collect();
        assert_eq!(got, [(Priority::Low, 1), (Priority::High, 2)]);
        let again = s
            .upsert([
                Slot { id: 0, owner: 1, kind: Priority::High, n: 20 },
                Slot { id: 0, owner: 1, kind: Priority::Medium, n: 30 },
            ])
            .on(Slot::OWNER)
            .on(Slot::KIND)
            .run()
            .await?;
        let got: Vec<(Priority, i64)> = again.iter().map(|h| (h.read().kind, h.read().n)).collect();
        assert_eq!(got, [(Priority::High, 20), (Priority::Medium, 30)]);
        s.commit().await?;

        // Keyset pages by the enum column: every row once, in order.
        let mut s = db.session();
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let page = s.query::<Slot>().filter(Slot::OWNER.eq(1)).page_after(Slot::KIND, after, 1).await?;
            seen.extend(page.items.iter().map(|h| h.read().kind));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let expected = if sqlite {
            vec![Priority::High, Priority::Low, Priority::Medium]
        } else {
            vec![Priority::Low, Priority::Medium, Priority::High]
        };
        assert_eq!(seen, expected);
        Ok(())
    }
}
