//! Select expressions that work the same on every backend, as a SQLAlchemy
//! user writes `case((Order.total >= 100, "large"), else_="small")`,
//! `func.trim(..)`, `User.first + " " + User.last`, `extract("year",
//! Order.placed)`: CASE with text and integer branches, grouped and
//! ordered by; text functions counting characters, not bytes; constants
//! with quotes and backslashes kept exactly; date parts of timestamps,
//! naive timestamps and dates as integers.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use orm_core::prelude::*;
use orm_core::{Agg, Case};
use tests::backend_tests;

#[entity(table = "ex_orders")]
pub struct Order {
    #[key(auto)]
    pub id: i64,
    #[column(len = 20)]
    pub first: String,
    #[column(len = 20)]
    pub last: String,
    #[column(len = 20)]
    pub code: Option<String>,
    pub total: i64,
    pub placed: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub due: Option<NaiveDate>,
}

/// Year, month, day, hour of `placed`; year of `local`; month, day of `due`.
type Parts = (i64, i64, i64, i64, i64, Option<i64>, Option<i64>);

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 30, 0)
        .single()
        .expect("a time")
}

async fn seeded(db: &Database) -> Result<Session> {
    db.create_all(&[Order::schema()]).await?;
    let mut s = db.session();
    for (first, last, code, total, placed, due) in [
        (
            "  Zoë ",
            "Ng",
            Some("ab-1"),
            5,
            at(2023, 12, 31, 23),
            Some((2024, 1, 15)),
        ),
        ("Ann", "O'Hara", None, 50, at(2024, 1, 1, 0), None),
        (
            "Bo",
            "Li",
            Some("cd-2"),
            500,
            at(2024, 2, 29, 13),
            Some((2024, 3, 1)),
        ),
        ("Cy", "Wu", Some("ef-3"), 120, at(2024, 2, 1, 9), None),
    ] {
        s.add(Order {
            id: 0,
            first: first.into(),
            last: last.into(),
            code: code.map(str::to_string),
            total,
            placed,
            local: placed.naive_utc(),
            due: due.map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).expect("a date")),
        });
    }
    s.commit().await?;
    Ok(s)
}

backend_tests! {
    async fn case_branches_group_and_order_like_sql(db) {
        let mut s = seeded(&db).await?;
        // A constant with a quote and a backslash must come back exactly
        // (MySQL reads backslashes as escapes unless told otherwise).
        let size = || {
            Case::new()
                .when(Order::TOTAL.ge(100), "large")
                .when(Order::TOTAL.ge(10).and(Order::LAST.eq("O'Hara")), "it's \\ mid")
                .otherwise("small")
        };
        let before = s.stats().statements();
        let sizes: Vec<(String, i64, Option<i64>)> = s
            .query::<Order>()
            .select((size(), Agg::count(), Order::TOTAL.sum()))
            .group_by(size())
            .order_by_asc(size())
            .all()
            .await?;
        assert_eq!(
            sizes,
            [
                ("it's \\ mid".to_string(), 1, Some(50)),
                ("large".to_string(), 2, Some(620)),
                ("small".to_string(), 1, Some(5)),
            ]
        );
        assert_eq!(s.stats().statements() - before, 1);
        // Integer branches, no ELSE: NULL where none matched, read as Option.
        let tiers: Vec<(i64, Option<i64>)> = s
            .query::<Order>()
            .order_by(Order::ID.asc())
            .select((Order::ID, Case::new().when(Order::TOTAL.gt(100), 2).when(Order::CODE.is_null(), 1).end()))
            .all()
            .await?;
        assert_eq!(tiers.iter().map(|t| t.1).collect::<Vec<_>>(), [None, Some(1), Some(2), Some(2)]);
        // A CASE inside arithmetic.
        let points: Vec<(i64,)> = s
            .query::<Order>()
            .order_by(Order::ID.asc())
            .select((Order::TOTAL.plus(Case::new().when(Order::CODE.is_null(), 1000).otherwise(0)),))
            .all()
            .await?;
        assert_eq!(points, [(5,), (1050,), (500,), (120,)]);
        Ok(())
    }

    async fn text_functions_count_characters_and_keep_constants(db) {
        let mut s = seeded(&db).await?;
        let names: Vec<(String, String, i64, Option<String>)> = s
            .query::<Order>()
            .order_by(Order::ID.asc())
            .select((
                Order::FIRST.trim().concat(" ").concat(Order::LAST),
                Order::FIRST.trim().substr(2, 2),
                Order::FIRST.trim().length(),
                Order::CODE.upper().concat("/x"),
            ))
            .all()
            .await?;
        assert_eq!(
            names,
            [
                ("Zoë Ng".to_string(), "oë".to_string(), 3, Some("AB-1/x".to_string())),
                ("Ann O'Hara".to_string(), "nn".to_string(), 3, None),
                ("Bo Li".to_string(), "o".to_string(), 2, Some("CD-2/x".to_string())),
                ("Cy Wu".to_string(), "y".to_string(), 2, Some("EF-3/x".to_string())),
            ],
            "characters, not bytes; NULL in, NULL out"
        );
        Ok(())
    }

    async fn date_parts_are_integers_in_utc(db) {
        let mut s = seeded(&db).await?;
        let parts: Vec<Parts> = s
            .query::<Order>()
            .order_by(Order::ID.asc())
            .select((
                Order::PLACED.year(),
                Order::PLACED.month(),
                Order::PLACED.day(),
                Order::PLACED.hour(),
                Order::LOCAL.year(),
                Order::DUE.month(),
                Order::DUE.day(),
            ))
            .all()
            .await?;
        assert_eq!(
            parts,
            [
                (2023, 12, 31, 23, 2023, Some(1), Some(15)),
                (2024, 1, 1, 0, 2024, None, None),
                (2024, 2, 29, 13, 2024, Some(3), Some(1)),
                (2024, 2, 1, 9, 2024, None, None),
            ]
        );
        // Orders per year and month, the report's usual grouping.
        let per_month: Vec<(i64, i64, i64)> = s
            .query::<Order>()
            .select((Order::PLACED.year(), Order::PLACED.month(), Agg::count()))
            .group_by(Order::PLACED.year())
            .group_by(Order::PLACED.month())
            .order_by_asc(Order::PLACED.year())
            .order_by_asc(Order::PLACED.month())
            .all()
            .await?;
        assert_eq!(per_month, [(2023, 12, 1), (2024, 1, 1), (2024, 2, 2)]);
        if db.dialect() == orm_core::Dialect::Postgres {
            // timestamptz parts follow the session's zone unless read in
            // UTC: 23:30 on New Year's Eve UTC is already 2024 in Tokyo.
            s.begin_with(orm_core::Isolation::ReadCommitted).await?;
            s.execute_sql("SET LOCAL TIME ZONE 'Asia/Tokyo'", vec![]).await?;
            let first: Option<(i64, i64)> = s
                .query::<Order>()
                .order_by(Order::ID.asc())
                .select((Order::PLACED.year(), Order::PLACED.hour()))
                .first()
                .await?;
            assert_eq!(first, Some((2023, 23)), "read in UTC");
            s.rollback().await?;
        }
        Ok(())
    }
}
