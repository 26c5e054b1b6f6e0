//! Upsert, as a user of PostgreSQL's ON CONFLICT or MySQL's ON DUPLICATE
//! KEY UPDATE through SQLAlchemy expects it: new rows inserted with their
//! generated keys, existing ones updated (or left alone), batches of any
//! size, and the session's objects agreeing with the stored rows after.

use orm_core::prelude::*;
use orm_core::{Error, Handle};
use tests::backend_tests;

#[entity(table = "up_sensors")]
#[derive(Debug)]
pub struct Sensor {
    #[key(auto)]
    pub id: i64,
    #[column(unique, len = 20)]
    pub code: String,
    pub reading: i64,
    #[column(len = 20)]
    pub label: String,
    #[version]
    pub version: i64,
}

#[entity(table = "up_settings")]
#[derive(Debug)]
pub struct Setting {
    #[key]
    #[column(len = 30)]
    pub name: String,
    pub value: i64,
}

fn sensor(code: &str, reading: i64, label: &str) -> Sensor {
    Sensor {
        id: 0,
        code: code.into(),
        reading,
        label: label.into(),
        version: 0,
    }
}

async fn stored(db: &Database) -> Result<Vec<(String, i64, String, i64)>> {
    let mut s = db.session();
    let all = s
        .query::<Sensor>()
        .order_by(Sensor::CODE.asc())
        .all()
        .await?;
    Ok(all
        .iter()
        .map(|h| {
            let r = h.read();
            (r.code.clone(), r.reading, r.label.clone(), r.version)
        })
        .collect())
}

backend_tests! {
    async fn upsert_inserts_new_rows_and_updates_existing_ones(db) {
        db.create_all(&[Sensor::schema()]).await?;
        let mut s = db.session();
        let first = s.upsert([sensor("a", 1, "x"), sensor("b", 2, "x")]).on(Sensor::CODE).run().await?;
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|h| h.read().id > 0 && h.read().version == 1), "keys and versions from the database");
        let before = s.stats().snapshot().statements;
        let second = s
            .upsert([sensor("b", 20, "y"), sensor("c", 3, "y"), sensor("a", 10, "y")])
            .on(Sensor::CODE)
            .run()
            .await?;
        assert_eq!(s.stats().snapshot().statements - before, 2, "one INSERT, one SELECT");
        let codes: Vec<String> = second.iter().map(|h| h.read().code.clone()).collect();
        assert_eq!(codes, ["b", "c", "a"], "in the order given");
        assert!(Handle::ptr_eq(&second[0], &first[1]) && Handle::ptr_eq(&second[2], &first[0]), "one key, one object");
        assert_eq!((first[0].read().reading, first[0].read().version), (10, 2), "the object took the stored values");
        assert!(!s.is_dirty(&first[0]));
        s.commit().await?;
        assert_eq!(
            stored(&db).await?,
            [("a".into(), 10, "y".into(), 2), ("b".into(), 20, "y".into(), 2), ("c".into(), 3, "y".into(), 1)]
        );
        Ok(())
    }

    async fn do_nothing_and_chosen_columns_leave_the_rest_alone(db) {
        db.create_all(&[Sensor::schema()]).await?;
        let mut s = db.session();
        s.upsert([sensor("a", 1, "keep")]).on(Sensor::CODE).run().await?;
        s.commit().await?;
        let mut s = db.session();
        let got = s.upsert([sensor("a", 99, "new"), sensor("b", 2, "new")]).on(Sensor::CODE).do_nothing().run().await?;
        assert_eq!((got[0].read().reading, got[0].read().label.as_str()), (1, "keep"), "get-or-create: the stored row");
        assert_eq!(got[1].read().reading, 2);
        let only = s.upsert([sensor("a", 5, "ignored")]).on(Sensor::CODE).update(Sensor::READING).run().await?;
        assert_eq!((only[0].read().reading, only[0].read().label.as_str()), (5, "keep"));
        s.commit().await?;
        assert_eq!(stored(&db).await?, [("a".into(), 5, "keep".into(), 2), ("b".into(), 2, "new".into(), 1)]);
        Ok(())
    }

    async fn upsert_on_an_assigned_key_in_batches_past_the_bind_limit(db) {
        db.create_all(&[Setting::schema()]).await?;
        let mut s = db.session();
        let rows: Vec<Setting> = (0..1_200).map(|i| Setting { name: format!("k{i:04}"), value: i }).collect();
        let got = s.upsert(rows).run().await?;
        assert_eq!(got.len(), 1_200);
        let again: Vec<Setting> = (600..1_800).map(|i| Setting { name: format!("k{i:04}"), value: -i }).collect();
        let got = s.upsert(again).run().await?;
        assert_eq!(got[0].read().value, -600);
        s.commit().await?;
        let mut s = db.session();
        assert_eq!(s.query::<Setting>().count().await?, 1_800);
        assert_eq!(s.query::<Setting>().filter(Setting::VALUE.lt(0)).count().await?, 1_200);
        Ok(())
    }

    async fn a_generated_key_cannot_be_the_conflict_target(db) {
        db.create_all(&[Sensor::schema()]).await?;
        let mut s = db.session();
        let err = s.upsert([sensor("a", 1, "x")]).run().await.unwrap_err();
        assert!(matches!(err, Error::Usage { .. }) && err.to_string().contains("on(..)"), "{err}");
        assert_eq!(s.query::<Sensor>().count().await?, 0);
        Ok(())
    }
}

tests::observed_tests! {
    /// An upsert dropped at every await point: the row is there once with
    /// the new reading or (the session's next call rolled back) as before.
    async fn upsert_cancelled_at_every_await_point(db, observer, proxy) {
        use tests::cancel::{Run, every_poll, poll_at_most};
        db.create_all(&[Sensor::schema()]).await?;
        let points = every_poll(300, |polls| {
            let (db, observer) = (db.clone(), observer.clone());
            async move {
                observer.execute_sql("DELETE FROM up_sensors", vec![]).await.map_err(|e| e.to_string())?;
                let mut s = db.session();
                s.upsert([sensor("a", 1, "x")]).on(Sensor::CODE).run().await.map_err(|e| e.to_string())?;
                s.commit().await.map_err(|e| e.to_string())?;
                let run = poll_at_most(polls, s.upsert([sensor("a", 2, "x"), sensor("b", 1, "x")]).on(Sensor::CODE).run()).await;
                let completed = run.is_some();
                if let Some(r) = run {
                    r.map_err(|e| e.to_string())?;
                }
                if s.has_failed() {
                    s.rollback().await.map_err(|e| e.to_string())?;
                }
                s.commit().await.map_err(|e| format!("commit after a drop at poll {polls}: {e}"))?;
                let got = stored(&observer).await.map_err(|e| e.to_string())?;
                let before = vec![("a".to_string(), 1, "x".to_string(), 1)];
                let after = vec![("a".to_string(), 2, "x".to_string(), 2), ("b".to_string(), 1, "x".to_string(), 1)];
                if got != after && (completed || got != before) {
                    return Err(format!("after a drop at poll {polls}: {got:?}"));
                }
                Ok(if completed { Run::Completed } else { Run::Cancelled(polls) })
            }
        })
        .await?;
        println!("cancellation: upsert on {:?}: {points} cancellation points", db.dialect());
        Ok(())
    }
}
