//! Keyset pagination: every row exactly once across pages, in order, with
//! the query's filter, however rows were spread, and a row inserted behind
//! the cursor mid-way neither repeats nor shifts the rest (as OFFSET would).

use orm_core::prelude::*;
use tests::backend_tests;

#[entity(table = "ks_events")]
#[derive(Debug)]
pub struct Event {
    #[key(auto)]
    pub id: i64,
    pub odd: bool,
}

backend_tests! {
    async fn keyset_pages_see_every_row_once(db) {
        db.create_all(&[Event::schema()]).await?;
        let mut s = db.session();
        s.add_all((0..23).map(|i| Event { id: 0, odd: i % 2 == 1 }));
        s.commit().await?;
        let mut s = db.session();
        let mut after = None;
        let mut ids = Vec::new();
        let mut pages = 0;
        loop {
            let page = s.query::<Event>().page_after(Event::ID, after, 5).await?;
            pages += 1;
            if pages == 2 {
                // Behind the cursor: must not appear, must not shift anything.
                db.execute_sql("DELETE FROM ks_events WHERE id = 1", vec![]).await?;
            }
            ids.extend(page.items.iter().map(|h| h.read().id));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(ids, (1..=23).collect::<Vec<i64>>());
        assert_eq!(pages, 5);
        // Descending, filtered.
        let first = s.query::<Event>().filter(Event::ODD.eq(true)).page_before(Event::ID, None, 4).await?;
        let got: Vec<i64> = first.items.iter().map(|h| h.read().id).collect();
        assert_eq!(got, [22, 20, 18, 16]);
        let second = s.query::<Event>().filter(Event::ODD.eq(true)).page_before(Event::ID, first.next, 100).await?;
        assert_eq!(second.items.len(), 7);
        assert!(second.next.is_none());
        let err = s.query::<Event>().limit(3).page_after(Event::ID, None, 2).await.unwrap_err();
        assert!(err.to_string().contains("no order_by, limit or offset"), "{err}");
        Ok(())
    }
}
