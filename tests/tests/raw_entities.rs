//! Raw SQL mapped to entities by column name, as `from_statement(text(..))`
//! in SQLAlchemy: columns in any order, extra columns ignored, rows through
//! the identity map, a missing column named in the error.

use orm_core::prelude::*;
use orm_core::{Dialect, Handle};
use tests::{backend_tests, numbered};

#[entity(table = "rw_towns")]
#[derive(Debug)]
pub struct Town {
    #[key(auto)]
    pub id: i64,
    #[column(len = 40)]
    pub name: String,
    pub people: i64,
    pub mayor: Option<String>,
}

backend_tests! {
    async fn raw_sql_maps_to_entities_by_column_name(db) {
        db.create_all(&[Town::schema()]).await?;
        let mut s = db.session();
        let oslo = s.add(Town { id: 0, name: "Oslo".into(), people: 700_000, mayor: Some("A".into()) });
        s.add(Town { id: 0, name: "Bergen".into(), people: 290_000, mayor: None });
        s.add(Town { id: 0, name: "Moss".into(), people: 50_000, mayor: None });
        s.commit().await?;

        let mut s = db.session();
        let before = s.stats().snapshot().statements;
        let sql = numbered(db.dialect(), "SELECT mayor, people, name, id, people * 2 AS doubled FROM rw_towns WHERE people > ? ORDER BY people DESC");
        let big = s.query_sql::<Town>(sql, vec![100_000i64.into()]).await?;
        assert_eq!(s.stats().snapshot().statements - before, 1);
        let names: Vec<String> = big.iter().map(|h| h.read().name.clone()).collect();
        assert_eq!(names, ["Oslo", "Bergen"], "the query's own order");
        assert_eq!(big[0].read().mayor.as_deref(), Some("A"));
        assert_eq!(big[1].read().people, 290_000);
        // One key, one object: the typed query returns the same handles.
        let again = s.query::<Town>().filter(Town::NAME.eq("Oslo")).one().await?;
        assert!(Handle::ptr_eq(&again, &big[0]));
        // An unflushed change survives a raw re-load.
        big[0].write().people = 1;
        let _ = s.query_sql::<Town>("SELECT * FROM rw_towns", vec![]).await?;
        assert_eq!(big[0].read().people, 1, "autoflushed, then read back");
        drop(oslo);

        // A missing column is an error naming entity and column.
        let err = s.query_sql::<Town>("SELECT id, name FROM rw_towns", vec![]).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Town.people"), "{text}");
        // Upper-case names from the server still match.
        if db.dialect() != Dialect::Postgres {
            let rows = s.query_sql::<Town>("SELECT ID, NAME, PEOPLE, MAYOR FROM rw_towns", vec![]).await?;
            assert_eq!(rows.len(), 3);
        }
        s.commit().await?;
        Ok(())
    }
}
