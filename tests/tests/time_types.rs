//! The `time` crate's types and typed JSON as column types, as a team on
//! `time` rather than chrono expects: `OffsetDateTime`, `PrimitiveDateTime`,
//! `Date`, `Time` and `Json<T>` fields round-trip, filter and take date parts
//! on every backend, and a row written through chrono fields reads back
//! through `time` fields of the same table (one storage format).

use orm_core::Json;
use orm_core::prelude::*;
use serde::{Deserialize, Serialize};
use tests::backend_tests;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub max: u32,
    pub tags: Vec<String>,
}

#[entity(table = "tt_events")]
pub struct Event {
    #[key(auto)]
    pub id: i64,
    pub at: OffsetDateTime,
    pub local: PrimitiveDateTime,
    pub day: Date,
    pub starts: Time,
    pub ends: Option<Time>,
    pub limits: Json<Limits>,
}

/// The same table through chrono fields.
#[entity(table = "tt_events")]
pub struct ChronoEvent {
    #[key(auto)]
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub local: chrono::NaiveDateTime,
    pub day: chrono::NaiveDate,
    pub starts: chrono::NaiveTime,
    pub ends: Option<chrono::NaiveTime>,
    pub limits: serde_json::Value,
}

fn day(y: i32, m: Month, d: u8) -> Date {
    Date::from_calendar_date(y, m, d).expect("a date")
}

fn event(at: OffsetDateTime, max: u32) -> Event {
    let starts = Time::from_hms_micro(9, 15, 30, 250_000).expect("a time");
    Event {
        id: 0,
        at,
        local: PrimitiveDateTime::new(at.date(), starts),
        day: at.date(),
        starts,
        ends: None,
        limits: Json(Limits {
            max,
            tags: vec!["a".into(), "b's".into()],
        }),
    }
}

backend_tests! {
    async fn time_values_round_trip_filter_and_take_parts(db) {
        db.create_all(&[Event::schema()]).await?;
        let mut s = db.session();
        // 23:30 at +02:00 is 21:30 UTC; microseconds (MySQL keeps six digits).
        let plus_two = UtcOffset::from_hms(2, 0, 0).expect("an offset");
        let first = PrimitiveDateTime::new(day(2024, Month::February, 29), Time::from_hms_micro(23, 30, 0, 123_456).expect("a time")).assume_offset(plus_two);
        let second = PrimitiveDateTime::new(day(2025, Month::January, 1), Time::MIDNIGHT).assume_utc();
        s.add(event(first, 3));
        s.add(event(second, 5));
        s.commit().await?;

        let mut fresh = db.session();
        let all = fresh.query::<Event>().order_by(Event::AT.asc()).all().await?;
        assert_eq!(all.len(), 2);
        let e = all[0].read();
        assert_eq!(e.at, first, "the same instant");
        assert_eq!(e.at.offset(), UtcOffset::UTC, "read back in UTC");
        assert_eq!(e.day, day(2024, Month::February, 29));
        assert_eq!(e.starts, Time::from_hms_micro(9, 15, 30, 250_000).expect("a time"));
        assert_eq!(e.ends, None);
        assert_eq!(e.limits.max, 3);
        assert_eq!(e.limits.tags, ["a", "b's"]);
        drop(e);
        // Filters bind them; date parts read the UTC instant.
        let later = fresh.query::<Event>().filter(Event::AT.gt(first)).count().await?;
        assert_eq!(later, 1);
        let on_day = fresh.query::<Event>().filter(Event::DAY.eq(day(2025, Month::January, 1))).count().await?;
        assert_eq!(on_day, 1);
        let parts: Vec<(i64, i64, i64)> = fresh
            .query::<Event>()
            .order_by(Event::AT.asc())
            .select((Event::AT.year(), Event::AT.hour(), Event::DAY.month()))
            .all()
            .await?;
        assert_eq!(parts, [(2024, 21, 2), (2025, 0, 1)]);
        // A change to a typed JSON field is seen and written.
        all[1].write().limits.max = 8;
        all[1].write().ends = Some(Time::from_hms(17, 0, 0).expect("a time"));
        fresh.commit().await?;
        let mut third = db.session();
        let back = third.query::<Event>().filter(Event::ENDS.is_not_null()).one().await?;
        assert_eq!(back.read().limits.max, 8);

        // The chrono fields of the same table read the same values.
        let chrono_view = third.query::<ChronoEvent>().order_by(ChronoEvent::AT.asc()).all().await?;
        let c = chrono_view[0].read();
        assert_eq!(c.at.timestamp_micros(), (first.unix_timestamp_nanos() / 1_000) as i64);
        assert_eq!(c.day.to_string(), "2024-02-29");
        assert_eq!(c.limits["tags"][1], "b's");
        Ok(())
    }
}
