//! Typed selects over two joined entities, as a SQLAlchemy user writes
//! `select(Customer.city, func.count(), func.sum(Order.total))
//! .join(Customer, Order.customer_id == Customer.id).group_by(Customer.city)`:
//! columns and aggregates of either side into tuples, the ON clause given
//! explicitly or taken from a relationship, filters on both sides, GROUP
//! BY / HAVING / ORDER BY / LIMIT over the joined rows, LEFT JOINs that keep
//! the unmatched rows, one statement each, after an autoflush.

use orm_core::prelude::*;
use orm_core::{CmpOp, CountRows};
use tests::backend_tests;

#[entity(table = "tj_customers")]
pub struct Customer {
    #[key]
    pub id: i64,
    /// The same column name as the order's: the join keeps them apart.
    #[column(len = 20)]
    pub name: String,
    #[column(len = 20)]
    pub city: String,
    pub region: i32,
    /// What the customer's account says it spent.
    pub spent: i64,
    #[has_many(Order, by = "customer_id")]
    pub orders: Many<Order>,
}

#[entity(table = "tj_orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[column(references = Customer)]
    pub customer_id: i64,
    #[column(len = 20)]
    pub name: String,
    pub total: i64,
    pub region: i32,
    pub note: Option<String>,
}

async fn seeded(db: &Database) -> Result<Session> {
    db.create_all(&[Customer::schema(), Order::schema()])
        .await?;
    let mut s = db.session();
    for (id, name, city, region, spent) in [
        (1, "ann", "Oslo", 1, 155),
        (2, "bob", "Rome", 2, 200),
        (3, "cy", "Oslo", 1, 260),
        (4, "di", "Lima", 3, 0),
    ] {
        s.add(Customer {
            id,
            name: name.into(),
            city: city.into(),
            region,
            spent,
            orders: Many::new(),
        });
    }
    s.flush().await?;
    // di (4) has no orders; bob's second order is in another region.
    for (id, customer_id, name, total, region, note) in [
        (10, 1, "tea", 120, 1, None),
        (11, 1, "pot", 35, 1, Some("gift")),
        (12, 2, "cup", 240, 2, None),
        (13, 2, "jar", 15, 1, None),
        (14, 3, "mug", 260, 1, Some("rush")),
    ] {
        s.add(Order {
            id,
            customer_id,
            name: name.into(),
            total,
            region,
            note: note.map(str::to_string),
        });
    }
    s.commit().await?;
    Ok(s)
}

backend_tests! {
    async fn a_report_groups_the_joined_rows_by_a_column_of_the_other_side(db) {
        let mut s = seeded(&db).await?;
        let before = s.stats().statements();
        let per_city: Vec<(String, i64, Option<i64>, Option<i64>)> = s
            .query::<Order>()
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .select((Customer::CITY, CountRows, Order::TOTAL.sum(), Order::TOTAL.max()))
            .group_by(Customer::CITY)
            .order_by_asc(Customer::CITY)
            .all()
            .await?;
        assert_eq!(
            per_city,
            [
                ("Oslo".to_string(), 3, Some(415), Some(260)),
                ("Rome".to_string(), 2, Some(255), Some(240)),
            ],
            "an inner join: Lima's customer has no orders"
        );
        assert_eq!(s.stats().statements() - before, 1, "one statement");

        // HAVING on an aggregate of the joined side, the largest first.
        let big: Vec<(String, Option<i64>)> = s
            .query::<Order>()
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .select((Customer::NAME, Order::TOTAL.sum()))
            .group_by(Customer::NAME)
            .having(Order::TOTAL.sum().gt(Some(200)))
            .order_by_desc(Order::TOTAL.sum())
            .all()
            .await?;
        assert_eq!(big, [("cy".to_string(), Some(260)), ("bob".to_string(), Some(255))]);

        // Grouped by an expression of the other side's column.
        let buckets: Vec<(i32, i64)> = s
            .query::<Customer>()
            .join_along(Customer::ORDERS)
            .select((Customer::REGION.times(10), CountRows))
            .group_by(Customer::REGION.times(10))
            .order_by_asc(Customer::REGION.times(10))
            .all()
            .await?;
        assert_eq!(buckets, [(10, 3), (20, 2)]);
        Ok(())
    }

    async fn filters_on_both_sides_and_same_named_columns_stay_apart(db) {
        let mut s = seeded(&db).await?;
        let before = s.stats().statements();
        // Both tables have `id`, `name` and `region`: each reads its own.
        let rows: Vec<(i64, String, String, i64, i32, i32)> = s
            .query::<Order>()
            .filter(Order::TOTAL.gt(20))
            .order_by(Order::TOTAL.desc())
            .limit(3)
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .filter_joined(Customer::CITY.eq("Oslo").or(Customer::CITY.eq("Rome")))
            .select((Order::ID, Order::NAME, Customer::NAME, Customer::ID, Order::REGION, Customer::REGION))
            .all()
            .await?;
        assert_eq!(
            rows,
            [
                (14, "mug".to_string(), "cy".to_string(), 3, 1, 1),
                (12, "cup".to_string(), "bob".to_string(), 2, 2, 2),
                (10, "tea".to_string(), "ann".to_string(), 1, 1, 1),
            ],
            "the query's order and limit apply to the joined rows"
        );
        // A second ON term: orders placed in their customer's own region.
        let home: Vec<(i64,)> = s
            .query::<Order>()
            .order_by(Order::ID.asc())
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .on(Order::REGION, Customer::REGION)
            .select((Order::ID,))
            .all()
            .await?;
        assert_eq!(home, [(10,), (11,), (12,), (14,)], "order 13 is bob's, placed in region 1");
        // Offset, distinct, first.
        let cities: Vec<(String,)> = s
            .query::<Order>()
            .offset(1)
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .select((Customer::CITY,))
            .distinct()
            .order_by_asc(Customer::CITY)
            .all()
            .await?;
        assert_eq!(cities, [("Rome".to_string(),)]);
        let top = s
            .query::<Order>()
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .select((Customer::NAME, Order::TOTAL))
            .order_by_desc(Order::TOTAL)
            .first()
            .await?;
        assert_eq!(top, Some(("cy".to_string(), 260)));
        assert_eq!(s.stats().statements() - before, 4);
        Ok(())
    }

    async fn a_left_join_keeps_the_rows_without_a_match(db) {
        let mut s = seeded(&db).await?;
        // Every customer with its order count, di's zero included.
        let counts: Vec<(String, i64, Option<i64>)> = s
            .query::<Customer>()
            .left_join_along(Customer::ORDERS)
            .select((Customer::NAME, Order::ID.count(), Order::TOTAL.sum()))
            .group_by(Customer::NAME)
            .order_by_asc(Customer::NAME)
            .all()
            .await?;
        assert_eq!(
            counts,
            [
                ("ann".to_string(), 2, Some(155)),
                ("bob".to_string(), 2, Some(255)),
                ("cy".to_string(), 1, Some(260)),
                ("di".to_string(), 0, None),
            ]
        );
        // Plain columns of the joined side read as Option; a filter on the
        // joined side chooses the matches, not the customers.
        let notes: Vec<(String, Option<i64>, Option<String>)> = s
            .query::<Customer>()
            .order_by(Customer::ID.asc())
            .left_join_on(Customer::ID, Order::CUSTOMER_ID)
            .filter_joined(Order::NOTE.is_not_null())
            .select((Customer::NAME, Order::ID.nullable(), Order::NOTE))
            .all()
            .await?;
        assert_eq!(
            notes,
            [
                ("ann".to_string(), Some(11), Some("gift".to_string())),
                ("bob".to_string(), None, None),
                ("cy".to_string(), Some(14), Some("rush".to_string())),
                ("di".to_string(), None, None),
            ]
        );
        // The joined side's plain column, NULL where none matched, is a
        // typed decode error naming the column, not a wrong value.
        let err = s
            .query::<Customer>()
            .left_join_along(Customer::ORDERS)
            .select((Customer::NAME, Order::TOTAL))
            .all()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, orm_core::Error::Decode { column, expected: "i64", .. } if &**column == "total"),
            "{err}"
        );
        Ok(())
    }

    async fn a_join_autoflushes_and_reads_the_transaction(db) {
        let mut s = seeded(&db).await?;
        s.add(Order { id: 15, customer_id: 4, name: "vase".into(), total: 99, region: 3, note: None });
        let before = s.stats().statements();
        let di: Vec<(String, i64)> = s
            .query::<Order>()
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .filter_joined(Customer::CITY.eq("Lima"))
            .select((Customer::NAME, Order::TOTAL))
            .all()
            .await?;
        assert_eq!(di, [("di".to_string(), 99)], "the pending order was flushed first");
        assert_eq!(s.stats().statements() - before, 2, "the INSERT, then the select");
        s.rollback().await?;
        let after: Vec<(i64,)> = s
            .query::<Order>()
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .filter_joined(Customer::CITY.eq("Lima"))
            .select((Order::ID,))
            .all()
            .await?;
        assert!(after.is_empty(), "rolled back");
        Ok(())
    }
    async fn having_compares_an_aggregate_with_a_column_and_groups_are_counted(db) {
        let mut s = seeded(&db).await?;
        // The report's "accounts their history disagrees with": customers
        // whose orders do not add up to what their account says.
        let rows: Vec<(String, Option<i64>, i64)> = s
            .query::<Order>()
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .select((Customer::NAME, Order::TOTAL.sum(), Customer::SPENT))
            .group_by(Customer::NAME)
            .group_by(Customer::SPENT)
            .having_cmp(Order::TOTAL.sum(), CmpOp::Ne, Customer::SPENT)
            .all()
            .await?;
        assert_eq!(rows, [("bob".to_string(), Some(255), 200)]);
        let before = s.stats().statements();
        let n = s
            .query::<Order>()
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .select((Customer::ID,))
            .group_by(Customer::ID)
            .group_by(Customer::SPENT)
            .having_cmp(Order::TOTAL.sum(), CmpOp::Eq, Customer::SPENT)
            .count()
            .await?;
        assert_eq!(n, 2, "ann and cy; di has no orders to join");
        assert_eq!(s.stats().statements() - before, 1, "counted by the database");
        // One entity: customers whose orders differ in size.
        let uneven = s
            .query::<Order>()
            .select((Order::CUSTOMER_ID,))
            .group_by(Order::CUSTOMER_ID)
            .having_cmp(Order::TOTAL.max(), CmpOp::Gt, Order::TOTAL.min())
            .count()
            .await?;
        assert_eq!(uneven, 2, "ann and bob");
        Ok(())
    }
}
