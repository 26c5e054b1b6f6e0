//! Every supported column type round-trips through insert and load on every
//! backend (a property test over random and edge values), and values a
//! backend cannot store faithfully are typed errors, never silent changes.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use orm_core::prelude::*;
use orm_core::{DbErrorKind, Dialect};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tests::{Backend, TestDb};
use uuid::Uuid;

#[entity(table = "samples")]
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    #[key]
    pub id: i64,
    pub small: i16,
    pub int: i32,
    pub big: i64,
    pub real: f32,
    pub double: f64,
    pub flag: bool,
    pub text: String,
    pub bytes: Vec<u8>,
    pub at: NaiveDateTime,
    pub at_utc: DateTime<Utc>,
    pub day: NaiveDate,
    pub time: NaiveTime,
    pub uid: Uuid,
    pub doc: serde_json::Value,
    pub o_small: Option<i16>,
    pub o_int: Option<i32>,
    pub o_big: Option<i64>,
    pub o_real: Option<f32>,
    pub o_double: Option<f64>,
    pub o_flag: Option<bool>,
    pub o_text: Option<String>,
    pub o_bytes: Option<Vec<u8>>,
    pub o_at: Option<NaiveDateTime>,
    pub o_at_utc: Option<DateTime<Utc>>,
    pub o_day: Option<NaiveDate>,
    pub o_time: Option<NaiveTime>,
    pub o_uid: Option<Uuid>,
    pub o_doc: Option<serde_json::Value>,
}

static NEXT_ID: AtomicI64 = AtomicI64::new(1);

fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(-0.0),
    ]
}

fn finite_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO,
        Just(f32::MAX),
        Just(f32::MIN),
    ]
}

/// Text without NUL (PostgreSQL refuses NUL; checked separately).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\x00]{0,40}",
        Just(String::new()),
        Just("it's \"quoted\" \\ `back` 😀 ünïcödé".to_string()),
        Just("'; DROP TABLE samples; --".to_string()),
        Just("trailing spaces   ".to_string()),
    ]
}

/// Microsecond precision in years 1000..=9999 (MySQL DATETIME's range).
fn datetime() -> impl Strategy<Value = NaiveDateTime> {
    let lo = NaiveDate::from_ymd_opt(1000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let hi = NaiveDate::from_ymd_opt(9999, 12, 31)
        .unwrap()
        .and_hms_micro_opt(23, 59, 59, 999_999)
        .unwrap();
    let (lo, hi) = (
        lo.and_utc().timestamp_micros(),
        hi.and_utc().timestamp_micros(),
    );
    prop_oneof![lo..=hi, Just(lo), Just(hi), Just(0)].prop_map(|us| {
        DateTime::from_timestamp_micros(us)
            .expect("in range")
            .naive_utc()
    })
}

fn time() -> impl Strategy<Value = NaiveTime> {
    (0u32..86_400, 0u32..1_000_000).prop_map(|(s, us)| {
        NaiveTime::from_num_seconds_from_midnight_opt(s, us * 1_000).expect("valid")
    })
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        // Decimals with few digits: exact through every backend's JSON.
        (-1_000_000i64..1_000_000).prop_map(|n| serde_json::Value::from(n as f64 / 100.0)),
        "[a-zA-Z0-9 éü😀'\"]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn sample() -> impl Strategy<Value = Sample> {
    let ints = (
        any::<i16>(),
        any::<i32>(),
        any::<i64>(),
        finite_f32(),
        finite_f64(),
        any::<bool>(),
    );
    let rest = (
        text(),
        prop::collection::vec(any::<u8>(), 0..64),
        datetime(),
        datetime(),
        datetime().prop_map(|d| d.date()),
        time(),
        any::<u128>().prop_map(Uuid::from_u128),
        json(),
    );
    let opts1 = (
        any::<Option<i16>>(),
        any::<Option<i32>>(),
        any::<Option<i64>>(),
        prop::option::of(finite_f32()),
        prop::option::of(finite_f64()),
        any::<Option<bool>>(),
        prop::option::of(text()),
    );
    let opts2 = (
        prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
        prop::option::of(datetime()),
        prop::option::of(datetime()),
        prop::option::of(datetime().prop_map(|d| d.date())),
        prop::option::of(time()),
        prop::option::of(any::<u128>().prop_map(Uuid::from_u128)),
        prop::option::of(json()),
    );
    (ints, rest, opts1, opts2).prop_map(|(a, b, c, d)| Sample {
        id: 0,
        small: a.0,
        int: a.1,
        big: a.2,
        real: a.3,
        double: a.4,
        flag: a.5,
        text: b.0,
        bytes: b.1,
        at: b.2,
        at_utc: b.3.and_utc(),
        day: b.4,
        time: b.5,
        uid: b.6,
        doc: b.7,
        o_small: c.0,
        o_int: c.1,
        o_big: c.2,
        o_real: c.3,
        o_double: c.4,
        o_flag: c.5,
        o_text: c.6,
        o_bytes: d.0,
        o_at: d.1,
        o_at_utc: d.2.map(|t| t.and_utc()),
        o_day: d.3,
        o_time: d.4,
        o_uid: d.5,
        o_doc: d.6,
    })
}

/// Inserts `sample` with a fresh key and loads it back in a new session.
async fn round_trip(db: &Database, mut sample: Sample) -> orm_core::Result<(Sample, Sample)> {
    sample.id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut s = db.session();
    s.add(sample.clone());
    s.commit().await?;
    let loaded = db.session().get::<Sample>(sample.id).await?.get();
    Ok((sample, loaded))
}

fn property(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t = rt.block_on(TestDb::new(backend));
    rt.block_on(t.db.create_all(&[Sample::schema()]))
        .expect("schema");
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&sample(), |s| {
        let (written, loaded) = rt
            .block_on(round_trip(&t.db, s))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(written, loaded);
        Ok(())
    });
    let stored = rt.block_on(t.db.session().query::<Sample>().count());
    rt.block_on(t.cleanup());
    if let Err(e) = result {
        panic!("{backend:?}: {e}");
    }
    // Every case wrote its own row: the property really ran `cases` times.
    assert_eq!(stored.expect("count"), i64::from(cases), "{backend:?}");
}

#[test]
fn every_type_round_trips_on_sqlite() {
    property(Backend::Sqlite, 128);
}

#[test]
fn every_type_round_trips_on_sqlite_through_sqlx() {
    property(Backend::SqliteSqlx, 128);
}

/// The two drivers of one backend store every type in the same format: what
/// one writes, the other reads back equal (both directions). `backend` is
/// the default driver's; `other` connects the second pool through the other.
fn drivers_read_each_others_rows(backend: Backend, other: orm_core::ConnectOptions) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t = rt.block_on(TestDb::new(backend));
    let sqlx = rt
        .block_on(Database::connect_with(&t.url, other))
        .expect("a second pool through sqlx");
    rt.block_on(t.db.create_all(&[Sample::schema()]))
        .expect("schema");
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&sample(), |s| {
        for (writer, reader) in [(&t.db, &sqlx), (&sqlx, &t.db)] {
            let (written, loaded) = rt
                .block_on(async {
                    let (written, _) = round_trip(writer, s.clone()).await?;
                    let loaded = reader.session().get::<Sample>(written.id).await?.get();
                    Ok::<_, Error>((written, loaded))
                })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(written, loaded);
        }
        Ok(())
    });
    let stored = rt.block_on(sqlx.session().query::<Sample>().count());
    rt.block_on(sqlx.close());
    rt.block_on(t.cleanup());
    if let Err(e) = result {
        panic!("{backend:?}: {e}");
    }
    assert_eq!(stored.expect("count"), 96);
}

#[test]
fn sqlite_drivers_read_each_others_rows() {
    let options = orm_core::ConnectOptions {
        sqlite_driver: orm_core::SqliteDriver::Sqlx,
        ..Default::default()
    };
    drivers_read_each_others_rows(Backend::SqliteFile, options);
}

#[test]
fn mysql_drivers_read_each_others_rows() {
    let options = orm_core::ConnectOptions {
        mysql_driver: orm_core::MySqlDriver::Sqlx,
        ..Default::default()
    };
    drivers_read_each_others_rows(Backend::MySql, options);
}

#[test]
fn every_type_round_trips_on_postgres() {
    property(Backend::Postgres, 48);
}

#[test]
fn every_type_round_trips_on_mysql() {
    property(Backend::MySql, 48);
}

#[test]
fn every_type_round_trips_on_mysql_through_sqlx() {
    property(Backend::MySqlSqlx, 48);
}

fn base() -> Sample {
    let at = NaiveDate::from_ymd_opt(2024, 2, 29)
        .unwrap()
        .and_hms_micro_opt(12, 0, 0, 1)
        .unwrap();
    Sample {
        id: 0,
        small: i16::MIN,
        int: i32::MAX,
        big: i64::MIN,
        real: 1.5,
        double: -2.25,
        flag: true,
        text: "x".into(),
        bytes: vec![0, 255],
        at,
        at_utc: at.and_utc(),
        day: at.date(),
        time: at.time(),
        uid: Uuid::nil(),
        doc: serde_json::json!({"k": [1, "two", null]}),
        o_small: None,
        o_int: None,
        o_big: None,
        o_real: None,
        o_double: None,
        o_flag: None,
        o_text: None,
        o_bytes: None,
        o_at: None,
        o_at_utc: None,
        o_day: None,
        o_time: None,
        o_uid: None,
        o_doc: None,
    }
}

tests::backend_tests! {
    async fn edge_values_round_trip_or_are_refused(db) {
        db.create_all(&[Sample::schema()]).await?;
        let d = db.dialect();
        // Extremes and a megabyte of text.
        let mut big = base();
        big.small = i16::MAX;
        big.big = i64::MAX;
        big.text = "é😀'\"".repeat(250_000);
        big.bytes = vec![7; 1 << 20];
        let (w, l) = round_trip(&db, big).await?;
        assert!(w == l, "large values differ after the round trip");

        // NaN: only PostgreSQL stores it; SQLite would turn it into NULL.
        let mut nan = base();
        nan.double = f64::NAN;
        match (d, round_trip(&db, nan).await) {
            (Dialect::Postgres, Ok((_, l))) => assert!(l.double.is_nan()),
            (_, Err(Error::InvalidValue { entity, column, .. })) => assert_eq!((entity, column), ("Sample", "double")),
            (_, other) => panic!("{d:?}: NaN must be stored faithfully or refused, got {other:?}"),
        }

        // Infinity: MySQL has none.
        let mut inf = base();
        inf.real = f32::NEG_INFINITY;
        match (d, round_trip(&db, inf).await) {
            (Dialect::MySql, Err(Error::InvalidValue { column: "real", .. })) => {}
            (Dialect::MySql, other) => panic!("MySQL must refuse infinity, got {other:?}"),
            (_, r) => assert_eq!(r?.1.real, f32::NEG_INFINITY),
        }

        // NUL bytes in text: PostgreSQL text cannot hold them.
        let mut nul = base();
        nul.text = "a\0b".into();
        match (d, round_trip(&db, nul).await) {
            (Dialect::Postgres, Err(Error::InvalidValue { column: "text", reason, .. })) => assert!(reason.contains("NUL")),
            (Dialect::Postgres, other) => panic!("PostgreSQL must refuse NUL, got {other:?}"),
            (_, r) => assert_eq!(r?.1.text, "a\0b"),
        }

        // A filter value is checked the same way.
        if d != Dialect::Postgres {
            let err = db.session().query::<Sample>().filter(Sample::DOUBLE.eq(f64::NAN)).count().await;
            assert!(matches!(err, Err(Error::InvalidValue { column: "double", .. })), "{err:?}");
        }
        Ok(())
    }

    async fn corrupt_stored_values_are_decode_errors(db) {
        db.create_all(&[Sample::schema()]).await?;
        let (w, _) = round_trip(&db, base()).await?;
        if db.dialect() == Dialect::Postgres {
            // PostgreSQL's column types admit no value the mapped Rust type
            // cannot hold; database.rs covers decode errors there with a
            // narrower mapping of a wide column.
            return Ok(());
        }
        // SQLite and MySQL keep booleans as integers: store one that is neither 0 nor 1.
        db.execute_sql("UPDATE samples SET flag = 7", vec![]).await?;
        match db.session().get::<Sample>(w.id).await {
            Err(Error::Decode { entity: "Sample", column, expected: "bool", found }) => {
                assert_eq!(column, "flag");
                assert!(found.contains('7'), "{found}");
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
        if db.dialect() == Dialect::Sqlite {
            db.execute_sql("UPDATE samples SET flag = 1, at = 'not a date', o_uid = x'010203'", vec![]).await?;
            match db.session().get::<Sample>(w.id).await {
                Err(Error::Decode { column, expected: "NaiveDateTime", found, .. }) => {
                    assert_eq!(column, "at");
                    assert!(found.contains("not a date"), "the error shows the stored text: {found}");
                }
                other => panic!("expected a decode error, got {other:?}"),
            }
        }
        let _ = DbErrorKind::Other;
        Ok(())
    }
}
