//! The `time` crate's dates and times as column types: `OffsetDateTime`
//! (an instant, stored as UTC like chrono's `DateTime<Utc>`),
//! `PrimitiveDateTime`, `Date` and `Time`.
//!
//! The decision: they convert to and from the chrono values the backends
//! already bind and decode (`Value::TimestampTz` ..), at nanosecond
//! precision, so every driver stores a `time` value exactly as it stores the
//! chrono one (columns written by one read by the other) and no driver needs
//! a feature of its own. An `OffsetDateTime` with another offset is stored as
//! the same instant in UTC and read back with offset zero.
//!
//! Layer 1 (the model): it uses only what is below it (see `crate::layers`).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::value::{ColumnValue, DecodeFailure, SqlType, Value};

fn to_naive_date(d: Date) -> NaiveDate {
    // Every `time::Date` (years -9999..=9999) is a chrono date.
    NaiveDate::from_ymd_opt(d.year(), u32::from(u8::from(d.month())), u32::from(d.day()))
        .unwrap_or(NaiveDate::MIN)
}

fn from_naive_date(d: NaiveDate) -> Option<Date> {
    let month = Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
    Date::from_calendar_date(d.year(), month, u8::try_from(d.day()).ok()?).ok()
}

fn to_naive_time(t: Time) -> NaiveTime {
    NaiveTime::from_hms_nano_opt(
        u32::from(t.hour()),
        u32::from(t.minute()),
        u32::from(t.second()),
        t.nanosecond(),
    )
    .unwrap_or(NaiveTime::MIN)
}

fn from_naive_time(t: NaiveTime) -> Option<Time> {
    // chrono's leap second (nanoseconds past 10^9) has no `time` form.
    Time::from_hms_nano(
        u8::try_from(t.hour()).ok()?,
        u8::try_from(t.minute()).ok()?,
        u8::try_from(t.second()).ok()?,
        t.nanosecond(),
    )
    .ok()
}

fn to_naive(dt: PrimitiveDateTime) -> NaiveDateTime {
    to_naive_date(dt.date()).and_time(to_naive_time(dt.time()))
}

fn from_naive(dt: NaiveDateTime) -> Option<PrimitiveDateTime> {
    Some(PrimitiveDateTime::new(
        from_naive_date(dt.date())?,
        from_naive_time(dt.time())?,
    ))
}

/// The chrono value a column of the `time` type decodes from first (the
/// chrono impl knows every backend's representation of it).
macro_rules! via_chrono {
    ($t:ty, $chrono:ty, $sql:expr, $name:literal, $to:expr, $from:expr) => {
        impl ColumnValue for $t {
            const SQL_TYPE: SqlType = $sql;

            fn to_value(&self) -> Value {
                let chrono: $chrono = $to(*self);
                chrono.to_value()
            }

            fn from_value(value: Value) -> Result<Self, DecodeFailure> {
                let failure = DecodeFailure::new($name, &value);
                let chrono = <$chrono>::from_value(value).map_err(|_| failure.clone())?;
                $from(chrono).ok_or(failure)
            }
        }

        impl crate::model::column::Scalar for $t {}
    };
}

via_chrono!(
    OffsetDateTime,
    DateTime<Utc>,
    SqlType::TimestampTz,
    "time::OffsetDateTime",
    |t: OffsetDateTime| {
        let utc = t.to_offset(time::UtcOffset::UTC);
        to_naive(PrimitiveDateTime::new(utc.date(), utc.time())).and_utc()
    },
    |c: DateTime<Utc>| from_naive(c.naive_utc()).map(PrimitiveDateTime::assume_utc)
);
via_chrono!(
    PrimitiveDateTime,
    NaiveDateTime,
    SqlType::Timestamp,
    "time::PrimitiveDateTime",
    to_naive,
    from_naive
);
via_chrono!(
    Date,
    NaiveDate,
    SqlType::Date,
    "time::Date",
    to_naive_date,
    from_naive_date
);
via_chrono!(
    Time,
    NaiveTime,
    SqlType::Time,
    "time::Time",
    to_naive_time,
    from_naive_time
);

macro_rules! date_like {
    ($($t:ty => $zoned:expr),*) => {$(
        impl super::DateLike for $t {
            type Part = i64;
            const ZONED: bool = $zoned;
        }
        impl super::DateLike for Option<$t> {
            type Part = Option<i64>;
            const ZONED: bool = $zoned;
        }
    )*};
}

date_like!(OffsetDateTime => true, PrimitiveDateTime => false, Date => false);

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: Month, d: u8) -> Date {
        Date::from_calendar_date(y, m, d).unwrap()
    }

    #[test]
    fn every_kind_round_trips_through_its_chrono_value() {
        let t = Time::from_hms_nano(23, 59, 58, 123_456_789).unwrap();
        let at = PrimitiveDateTime::new(day(2024, Month::February, 29), t)
            .assume_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        let back = OffsetDateTime::from_value(at.to_value()).unwrap();
        assert_eq!(back, at, "the same instant");
        assert_eq!(back.offset(), time::UtcOffset::UTC, "read back in UTC");
        let naive = PrimitiveDateTime::new(
            day(1999, Month::December, 31),
            Time::from_hms_nano(0, 0, 0, 1).unwrap(),
        );
        assert_eq!(PrimitiveDateTime::from_value(naive.to_value()), Ok(naive));
        let ides = day(-44, Month::March, 15);
        assert_eq!(Date::from_value(ides.to_value()), Ok(ides));
        let late = Time::from_hms_nano(23, 59, 59, 999_999_999).unwrap();
        assert_eq!(Time::from_value(late.to_value()), Ok(late));
        // What SQLite stores: text.
        assert_eq!(
            Date::from_value(Value::Text("2024-01-15".into())),
            Ok(day(2024, Month::January, 15))
        );
        assert!(Date::from_value(Value::Text("not a day".into())).is_err());
    }
}
