//! Identity map: one key, one handle per session; re-loads neither query
//! needlessly nor overwrite unflushed changes.

use orm_core::prelude::*;
use tests::backend_tests;

#[entity(table = "people")]
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    #[key(auto)]
    pub id: i64,
    #[column(unique)]
    pub name: String,
    pub age: i32,
}

async fn seed(db: &Database) -> orm_core::Result<Vec<i64>> {
    db.create_all(&[Person::schema()]).await?;
    let mut s = db.session();
    let hs = s.add_all(
        ["ada", "bob", "cy"]
            .iter()
            .enumerate()
            .map(|(i, n)| Person {
                id: 0,
                name: n.to_string(),
                age: 30 + i as i32,
            }),
    );
    s.commit().await?;
    Ok(hs.iter().map(|h| h.read().id).collect())
}

backend_tests! {
    async fn get_twice_is_one_handle_and_one_query(db) {
        let ids = seed(&db).await?;
        let mut s = db.session();
        let before = s.stats().statements();
        let a = s.get::<Person>(ids[0]).await?;
        let b = s.get::<Person>(ids[0]).await?;
        assert!(Handle::ptr_eq(&a, &b));
        assert_eq!(s.stats().statements() - before, 1, "the second get is served by the identity map");
        assert_eq!(a.read().name, "ada");
        Ok(())
    }

    async fn query_returns_the_mapped_handle(db) {
        let ids = seed(&db).await?;
        let mut s = db.session();
        let bob = s.get::<Person>(ids[1]).await?;
        let all = s.query::<Person>().order_by(Person::NAME.asc()).all().await?;
        assert_eq!(all.len(), 3);
        assert!(Handle::ptr_eq(&all[1], &bob));
        assert_eq!(s.identity_count::<Person>(), 3);
        Ok(())
    }

    async fn unflushed_change_survives_a_requery(db) {
        let ids = seed(&db).await?;
        let mut s = db.session();
        let cy = s.get::<Person>(ids[2]).await?;
        cy.write().age = 99;
        let again = s.query::<Person>().filter(Person::NAME.eq("cy")).one().await?;
        assert!(Handle::ptr_eq(&cy, &again));
        assert_eq!(again.read().age, 99, "the row from the database must not overwrite the pending change");
        // Autoflush wrote the change inside the session's transaction before
        // the query; another session does not see it until commit.
        let rows = s.query::<Person>().filter(Person::NAME.eq("cy")).rows().await?;
        assert_eq!(rows[0].get::<i32>("age")?, 99);
        if db.dialect() != orm_core::Dialect::Sqlite {
            // (In-memory SQLite has one connection, held by `s`'s transaction.)
            let outside = db.session().query::<Person>().filter(Person::NAME.eq("cy")).rows().await?;
            assert_eq!(outside[0].get::<i32>("age")?, 32);
        }
        s.rollback().await?;
        // With autoflush off, a re-query neither writes nor overwrites.
        let mut quiet = db.session();
        quiet.set_autoflush(false);
        let bob = quiet.query::<Person>().filter(Person::NAME.eq("bob")).one().await?;
        bob.write().age = 77;
        let again = quiet.query::<Person>().filter(Person::NAME.eq("bob")).one().await?;
        assert_eq!(again.read().age, 77);
        let rows = quiet.query::<Person>().filter(Person::NAME.eq("bob")).rows().await?;
        assert_eq!(rows[0].get::<i32>("age")?, 31);
        Ok(())
    }

    async fn sessions_have_separate_maps(db) {
        let ids = seed(&db).await?;
        let mut s1 = db.session();
        let mut s2 = db.session();
        let a = s1.get::<Person>(ids[0]).await?;
        let b = s2.get::<Person>(ids[0]).await?;
        assert!(!Handle::ptr_eq(&a, &b));
        assert_eq!(*a.read(), *b.read());
        Ok(())
    }

    async fn inserted_objects_join_the_map(db) {
        db.create_all(&[Person::schema()]).await?;
        let mut s = db.session();
        let dee = s.add(Person { id: 0, name: "dee".into(), age: 41 });
        assert!(!s.contains(&dee), "a new object has no key yet");
        s.flush().await?;
        assert!(s.contains(&dee));
        let before = s.stats().statements();
        let id = dee.read().id;
        let same = s.get::<Person>(id).await?;
        assert!(Handle::ptr_eq(&dee, &same));
        assert_eq!(s.stats().statements(), before);
        s.commit().await?;
        Ok(())
    }

    async fn missing_key_is_not_found(db) {
        seed(&db).await?;
        let mut s = db.session();
        assert!(s.find::<Person>(424_242).await?.is_none());
        match s.get::<Person>(424_242).await {
            Err(Error::NotFound { entity, key }) => {
                assert_eq!(entity, "Person");
                assert_eq!(key, "424242");
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        Ok(())
    }
}
