//! Typed aggregates, as `select(Order.shop, func.count(), func.sum(..))
//! .group_by(..).having(..)` in SQLAlchemy: one Rust type per aggregate on
//! every backend (PostgreSQL's numeric sums and MySQL's DECIMAL averages
//! included), NULL-aware, after an autoflush.

use orm_core::Agg;
use orm_core::prelude::*;
use tests::backend_tests;

#[entity(table = "ag_orders")]
pub struct Order {
    #[key(auto)]
    pub id: i64,
    #[column(len = 10)]
    pub shop: String,
    pub items: i32,
    pub total: f64,
    pub coupon: Option<String>,
}

/// upper, lower, length, items + items, total * total, coupon length, raw.
type Functions = (String, String, i64, i32, f64, Option<i64>, i64);

fn order(shop: &str, items: i32, total: f64, coupon: Option<&str>) -> Order {
    Order {
        id: 0,
        shop: shop.into(),
        items,
        total,
        coupon: coupon.map(str::to_string),
    }
}

backend_tests! {
    async fn aggregates_group_filter_and_order_with_one_type_per_backend(db) {
        db.create_all(&[Order::schema()]).await?;
        let mut s = db.session();
        // Nothing yet: one row of NULL-aware aggregates.
        let empty = s.query::<Order>().select((Agg::count(), Order::ITEMS.sum(), Order::TOTAL.avg(), Order::SHOP.min())).all().await?;
        assert_eq!(empty, [(0, None, None, None)]);

        for (shop, items, total, coupon) in [
            ("a", 1, 10.0, Some("x")),
            ("a", 2, 30.0, None),
            ("b", 5, 5.5, Some("y")),
            ("c", 1_000_000, 1.0, None),
            ("c", 2_000_000_000, 2.0, None),
        ] {
            s.add(order(shop, items, total, coupon));
        }
        // Pending: the select autoflushes first.
        let per_shop = s
            .query::<Order>()
            .order_by(Order::SHOP.asc())
            .select((
                Order::SHOP,
                Agg::count(),
                Order::COUPON.count(),
                Order::ITEMS.sum(),
                Order::TOTAL.sum(),
                Order::TOTAL.avg(),
                Order::ITEMS.min(),
                Order::TOTAL.max(),
            ))
            .group_by(Order::SHOP)
            .all()
            .await?;
        assert_eq!(
            per_shop,
            [
                ("a".to_string(), 2, 1, Some(3), Some(40.0), Some(20.0), Some(1), Some(30.0)),
                ("b".to_string(), 1, 1, Some(5), Some(5.5), Some(5.5), Some(5), Some(5.5)),
                // 2,001,000,000: past i32, a 64-bit sum everywhere.
                ("c".to_string(), 2, 0, Some(2_001_000_000), Some(3.0), Some(1.5), Some(1_000_000), Some(2.0)),
            ]
        );
        let busy = s
            .query::<Order>()
            .filter(Order::TOTAL.gt(1.5))
            .order_by(Order::SHOP.desc())
            .select((Order::SHOP, Order::ITEMS.sum()))
            .group_by(Order::SHOP)
            .having(Agg::<Order, i64>::count().ge(1))
            .having(Order::ITEMS.sum().gt(Some(2)))
            .all()
            .await?;
        assert_eq!(busy, [("c".to_string(), Some(2_000_000_000)), ("b".to_string(), Some(5)), ("a".to_string(), Some(3))]);
        let top = s.query::<Order>().order_by(Order::SHOP.asc()).select((Order::SHOP, Order::TOTAL.max())).group_by(Order::SHOP).first().await?;
        assert_eq!(top, Some(("a".to_string(), Some(30.0))));
        let plain: Vec<(String, Option<String>)> = s
            .query::<Order>()
            .filter(Order::COUPON.is_not_null())
            .order_by(Order::SHOP.asc())
            .select((Order::SHOP, Order::COUPON))
            .all()
            .await?;
        assert_eq!(plain, [("a".to_string(), Some("x".to_string())), ("b".to_string(), Some("y".to_string()))]);
        // Text functions, arithmetic between columns, the raw escape hatch.
        let b: Vec<Functions> = s
            .query::<Order>()
            .filter(Order::SHOP.eq("b"))
            .select((
                Order::SHOP.upper(),
                Order::SHOP.lower(),
                Order::SHOP.length(),
                Order::ITEMS.plus(Order::ITEMS),
                Order::TOTAL.times(Order::TOTAL),
                Order::COUPON.length(),
                // The escape hatch is per backend: branch on the dialect.
                orm_core::Item::<Order, i64>::sql(match db.dialect() {
                    orm_core::Dialect::Postgres => "CAST(7 * 6 AS BIGINT)",
                    orm_core::Dialect::MySql => "CAST(7 * 6 AS SIGNED)",
                    orm_core::Dialect::Sqlite => "7 * 6",
                }),
            ))
            .all()
            .await?;
        assert_eq!(b, [("B".to_string(), "b".to_string(), 1, 10, 30.25, Some(1), 42)]);
        let none: Vec<(Option<i64>,)> = s.query::<Order>().filter(Order::SHOP.eq("c")).select((Order::COUPON.length(),)).all().await?;
        assert_eq!(none, [(None,), (None,)]);

        // Top shops by revenue: ORDER BY an aggregate, then LIMIT.
        let top: Vec<(String, Option<f64>)> = s
            .query::<Order>()
            .limit(2)
            .select((Order::SHOP, Order::TOTAL.sum()))
            .group_by(Order::SHOP)
            .order_by_desc(Order::TOTAL.sum())
            .all()
            .await?;
        assert_eq!(top, [("a".to_string(), Some(40.0)), ("b".to_string(), Some(5.5))]);
        let fewest = s
            .query::<Order>()
            .select((Order::SHOP,))
            .group_by(Order::SHOP)
            .order_by_asc(Agg::count())
            .order_by_asc(Order::ITEMS.max())
            .first()
            .await?;
        assert_eq!(fewest, Some(("b".to_string(),)));
        let shops: Vec<(String,)> = s.query::<Order>().order_by(Order::SHOP.asc()).select((Order::SHOP,)).distinct().all().await?;
        assert_eq!(shops, [("a".to_string(),), ("b".to_string(),), ("c".to_string(),)]);
        // Arithmetic with constants, grouped and ordered by the expression:
        // items in buckets of 2 (1 -> 0, 2 -> 2, 5 -> 4, 1e6 -> 1e6, 2e9 -> 2e9).
        let bucket = || Order::ITEMS.minus(Order::ITEMS.modulo(2));
        let buckets: Vec<(i32, i64)> = s
            .query::<Order>()
            .select((bucket(), Agg::count()))
            .group_by(bucket())
            .order_by_asc(bucket())
            .all()
            .await?;
        assert_eq!(buckets, [(0, 1), (2, 1), (4, 1), (1_000_000, 1), (2_000_000_000, 1)]);
        let shifted: Vec<(i32, i32)> = s
            .query::<Order>()
            .filter(Order::SHOP.eq("a"))
            .order_by(Order::ITEMS.asc())
            .select((Order::ITEMS.plus(10).times(2), Order::ITEMS.times(Order::ITEMS).minus(1)))
            .all()
            .await?;
        assert_eq!(shifted, [(22, 0), (24, 3)]);
        s.commit().await?;
        Ok(())
    }
}
