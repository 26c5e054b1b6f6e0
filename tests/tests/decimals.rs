//! Exact decimals (`rust_decimal::Decimal`), as a SQLAlchemy user expects of
//! `Numeric(asdecimal=True)`: money adds up exactly, compares and sorts as a
//! number, survives a round trip, filters and sums on every backend.
//! PostgreSQL (`numeric`) and MySQL (`DECIMAL(65, 20)`) keep every digit;
//! SQLite keeps numbers as integers or doubles (NUMERIC affinity), so there a
//! decimal keeps 15 significant digits and a sum is a double's.

use std::str::FromStr;

use orm_core::prelude::*;
use orm_core::{Agg, Dialect, Error};
use rust_decimal::Decimal;
use tests::backend_tests;

#[entity(table = "dc_invoices")]
pub struct Invoice {
    #[key(auto)]
    pub id: i64,
    pub amount: Decimal,
    pub discount: Option<Decimal>,
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("a decimal")
}

async fn seeded(db: &Database) -> Result<Session> {
    db.create_all(&[Invoice::schema()]).await?;
    let mut s = db.session();
    for (amount, discount) in [
        ("0.1", None),
        ("0.2", Some("0.05")),
        ("10", None),
        ("9.99", Some("1.5")),
        ("-0.005", None),
        ("12345678.9", None),
    ] {
        s.add(Invoice {
            id: 0,
            amount: d(amount),
            discount: discount.map(d),
        });
    }
    s.commit().await?;
    Ok(s)
}

backend_tests! {
    async fn decimals_round_trip_compare_and_sort_as_numbers(db) {
        let mut s = seeded(&db).await?;
        // A fresh session reads them back from the database.
        let mut fresh = db.session();
        let all = fresh.query::<Invoice>().order_by(Invoice::AMOUNT.asc()).all().await?;
        let amounts: Vec<Decimal> = all.iter().map(|i| i.read().amount).collect();
        assert_eq!(
            amounts,
            ["-0.005", "0.1", "0.2", "9.99", "10", "12345678.9"].map(d),
            "sorted as numbers, not as text (10 after 9.99)"
        );
        assert_eq!(all[2].read().discount, Some(d("0.05")));
        assert_eq!(all[0].read().discount, None);
        // Filters bind decimals exactly.
        let over = fresh.query::<Invoice>().filter(Invoice::AMOUNT.gt(d("0.15"))).count().await?;
        assert_eq!(over, 4);
        let exact = fresh.query::<Invoice>().filter(Invoice::AMOUNT.eq(d("9.99"))).count().await?;
        assert_eq!(exact, 1);
        let listed = fresh
            .query::<Invoice>()
            .filter(Invoice::AMOUNT.is_in((0..2000).map(|n| Decimal::new(n, 1))))
            .count()
            .await?;
        assert_eq!(listed, 3, "0.1, 0.2 and 10 among 0.0 ..= 199.9 (a long list)");
        // A change is seen and written back.
        let ten = fresh.query::<Invoice>().filter(Invoice::AMOUNT.eq(d("10"))).one().await?;
        ten.write().amount = d("10.01");
        let before = fresh.stats().statements();
        fresh.commit().await?;
        assert!(fresh.stats().statements() > before, "the change was flushed");
        let back = s.query::<Invoice>().filter(Invoice::AMOUNT.gt(d("10"))).filter(Invoice::AMOUNT.lt(d("10.02"))).count().await?;
        assert_eq!(back, 1);
        Ok(())
    }

    async fn sums_are_exact_on_the_servers(db) {
        let mut s = seeded(&db).await?;
        let small = s
            .query::<Invoice>()
            .filter(Invoice::AMOUNT.lt(d("1")))
            .select((Invoice::AMOUNT.sum(), Invoice::DISCOUNT.sum(), Invoice::AMOUNT.max(), Agg::count()))
            .all()
            .await?;
        let (sum, discounts, max, n) = small[0];
        assert_eq!((discounts, max, n), (Some(d("0.05")), Some(d("0.2")), 3));
        let sum = sum.expect("a sum");
        if db.dialect() == Dialect::Sqlite {
            // A double's sum: 0.1 + 0.2 is not 0.3 there.
            assert!((sum - d("0.295")).abs() < d("0.000000000001"), "{sum}");
        } else {
            assert_eq!(sum, d("0.295"), "exact: 0.1 + 0.2 - 0.005");
        }
        // Arithmetic between decimal columns.
        let net: Vec<(Option<Decimal>,)> = s
            .query::<Invoice>()
            .filter(Invoice::DISCOUNT.is_not_null())
            .order_by(Invoice::ID.asc())
            .select((Invoice::DISCOUNT.minus(Invoice::DISCOUNT.times(Invoice::DISCOUNT)),))
            .all()
            .await?;
        assert_eq!(net, [(Some(d("0.0475")),), (Some(d("-0.75")),)]);
        // Every row changed: one batched UPDATE of decimals.
        for h in s.query::<Invoice>().all().await? {
            let mut i = h.write();
            i.amount += d("0.01");
            i.discount = Some(d("0.5"));
        }
        s.commit().await?;
        let mut fresh = db.session();
        let after = fresh.query::<Invoice>().filter(Invoice::AMOUNT.eq(d("10.01"))).count().await?;
        let half = fresh.query::<Invoice>().filter(Invoice::DISCOUNT.eq(d("0.5"))).count().await?;
        assert_eq!((after, half), (1, 6));
        Ok(())
    }

    async fn the_servers_keep_every_digit(db) {
        db.create_all(&[Invoice::schema()]).await?;
        let mut s = db.session();
        // 28 significant digits: more than a double's 15-17.
        let wide = d("1234567890123456.789012345678");
        let h = s.add(Invoice { id: 0, amount: wide, discount: Some(d("0.00000000000000000001")) });
        s.commit().await?;
        let id = h.read().id;
        let mut fresh = db.session();
        let back = fresh.get::<Invoice>(id).await?;
        if db.dialect() == Dialect::Sqlite {
            // NUMERIC affinity: a double, 15 significant digits kept.
            let off = (back.read().amount - wide).abs();
            assert!(off > Decimal::ZERO && off < d("1"), "SQLite keeps 15-16 digits: {}", back.read().amount);
        } else {
            assert_eq!(back.read().amount, wide);
            assert_eq!(back.read().discount, Some(d("0.00000000000000000001")));
        }
        Ok(())
    }
}

/// Money with a declared precision and scale, as `Numeric(12, 2)` in
/// SQLAlchemy or `@Column(precision = 12, scale = 2)` in Hibernate.
#[entity(table = "dc_prices")]
pub struct Price {
    #[key(auto)]
    pub id: i64,
    #[column(precision = 12, scale = 2)]
    pub amount: Decimal,
    #[column(precision = 5)]
    pub units: Option<Decimal>,
}

backend_tests! {
    async fn precision_and_scale_shape_the_column_and_refuse_what_it_cannot_hold(db) {
        db.create_all(&[Price::schema()]).await?;
        // The columns are what was declared, as the server reports them
        // (SQLite keeps no precision).
        let server = match db.dialect() {
            Dialect::Postgres => Some(("bigint", "current_schema()")),
            Dialect::MySql => Some(("SIGNED", "DATABASE()")),
            Dialect::Sqlite => None,
        };
        if let Some((int, schema)) = server {
            let rows = db
                .fetch_sql(
                    format!(
                        "SELECT column_name AS c, CAST(numeric_precision AS {int}) AS p, CAST(numeric_scale AS {int}) AS s \
                         FROM information_schema.columns WHERE table_schema = {schema} AND table_name = 'dc_prices' AND column_name IN ('amount', 'units') \
                         ORDER BY column_name"
                    ),
                    vec![],
                )
                .await?;
            let got: Vec<(String, i64, i64)> = rows
                .iter()
                .map(|r| Ok((r.get_at::<String>(0)?, r.get_at::<i64>(1)?, r.get_at::<i64>(2)?)))
                .collect::<Result<_>>()?;
            assert_eq!(got, [("amount".to_string(), 12, 2), ("units".to_string(), 5, 0)]);
        }
        let mut s = db.session();
        // The widest values that fit, and a negative one.
        let a = s.add(Price { id: 0, amount: d("9999999999.99"), units: Some(d("99999")) });
        let b = s.add(Price { id: 0, amount: d("-0.5"), units: None });
        s.commit().await?;
        let before = s.stats().statements();
        // One place too many: the server would round it, so it is refused
        // before anything is sent, naming the entity and the column.
        b.write().amount = d("1.005");
        match s.commit().await {
            Err(Error::InvalidValue { entity, column, reason, .. }) => {
                assert_eq!((entity, column), ("Price", "amount"));
                assert!(reason.contains("3 digits after the point") && reason.contains("keeps 2"), "{reason}");
            }
            other => panic!("expected InvalidValue, got {other:?}"),
        }
        assert_eq!(s.stats().statements(), before, "nothing was sent");
        s.rollback().await?;
        // Too many digits before the point, in an insert.
        let c = s.add(Price { id: 0, amount: d("1"), units: Some(d("100000")) });
        let err = s.commit().await.expect_err("6 digits in a precision of 5");
        assert!(err.to_string().contains("6 digits before the point"), "{err}");
        s.rollback().await?;
        // Trailing zeros are no digits: 1.500 fits a scale of 2. The fixed
        // objects commit; the rows hold exactly what the objects say.
        b.write().amount = d("1.500");
        c.write().units = Some(d("12345"));
        s.commit().await?;
        let mut fresh = db.session();
        let rows = fresh.query::<Price>().order_by(Price::ID.asc()).all().await?;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].read().amount, d("9999999999.99"));
        assert_eq!(rows[0].read().units, Some(d("99999")));
        assert_eq!(rows[1].read().amount, d("1.5"));
        assert_eq!(rows[2].read().units, Some(d("12345")));
        drop(a);
        // A bulk update is checked the same way.
        let err = fresh
            .query::<Price>()
            .update([Price::AMOUNT.set(d("0.001"))])
            .await
            .expect_err("a third place");
        assert!(matches!(err, Error::InvalidValue { column: "amount", .. }), "{err:?}");
        Ok(())
    }
}
