//! Entities and values in one result, as a SQLAlchemy user writes
//! `session.query(Customer, func.count(Order.id)).outerjoin(Order)
//! .group_by(Customer.id)` or `query(Author, scalar_subquery)`: each row's
//! entity comes through the identity map (the session's own object, an
//! unflushed change autoflushed first) beside typed values, in one
//! statement, on every backend.

use orm_core::prelude::*;
use orm_core::{Agg, CountRows, Subquery};
use tests::backend_tests;

#[entity(table = "mx_customers")]
pub struct Customer {
    #[key]
    pub id: i64,
    #[column(len = 20)]
    pub name: String,
    pub doc: Option<serde_json::Value>,
}

#[entity(table = "mx_orders")]
pub struct Order {
    #[key]
    pub id: i64,
    #[column(references = Customer)]
    pub customer_id: i64,
    pub total: i64,
}

/// Orders counted, their total, joined rows.
type Tally = (i64, Option<i64>, i64);

async fn seeded(db: &Database) -> Result<(Session, Vec<Handle<Customer>>)> {
    db.create_all(&[Customer::schema(), Order::schema()])
        .await?;
    let mut s = db.session();
    let customers: Vec<_> = [(1, "ann"), (2, "bob"), (3, "cy")]
        .into_iter()
        .map(|(id, name)| {
            s.add(Customer {
                id,
                name: name.into(),
                doc: Some(serde_json::json!({"vip": id == 1})),
            })
        })
        .collect();
    s.flush().await?;
    for (id, customer_id, total) in [(1, 1, 10), (2, 1, 30), (3, 2, 5)] {
        s.add(Order {
            id,
            customer_id,
            total,
        });
    }
    s.commit().await?;
    Ok((s, customers))
}

backend_tests! {
    async fn each_customer_with_aggregates_of_its_orders(db) {
        let (mut s, customers) = seeded(&db).await?;
        // An unflushed change: autoflushed before the query, and the row's
        // entity is the session's own object.
        customers[2].write().name = "cyd".into();
        let before = s.stats().statements();
        let rows: Vec<(Handle<Customer>, Tally)> = s
            .query::<Customer>()
            .left_join_on(Customer::ID, Order::CUSTOMER_ID)
            .select((Order::ID.count(), Order::TOTAL.sum(), CountRows))
            .group_by_left()
            .order_by_asc(Customer::ID)
            .left_entities()
            .await?;
        assert!(s.stats().statements() - before <= 2, "the autoflush's UPDATE and the query");
        assert_eq!(rows.len(), 3);
        for ((h, _), c) in rows.iter().zip(&customers) {
            assert!(Handle::ptr_eq(h, c), "one key, one object");
        }
        let values: Vec<_> = rows.iter().map(|(h, v)| (h.read().name.clone(), *v)).collect();
        assert_eq!(
            values,
            [
                ("ann".to_string(), (2, Some(40), 2)),
                ("bob".to_string(), (1, Some(5), 1)),
                ("cyd".to_string(), (0, None, 1)),
            ]
        );
        // The autoflush opened a transaction: end it (SQLite's one
        // connection would wait for it).
        s.commit().await?;
        // A HAVING over the groups, and a fresh session: entities loaded
        // from these rows.
        let mut fresh = db.session();
        let big: Vec<(Handle<Customer>, (Option<i64>,))> = fresh
            .query::<Customer>()
            .join_on(Customer::ID, Order::CUSTOMER_ID)
            .select((Order::TOTAL.sum(),))
            .group_by_left()
            .having(Order::TOTAL.sum().gt(Some(20)))
            .left_entities()
            .await?;
        assert_eq!(big.len(), 1);
        assert_eq!(big[0].0.read().name, "ann");
        assert_eq!(big[0].0.read().doc, Some(serde_json::json!({"vip": true})));
        assert_eq!(big[0].1, (Some(40),));
        let again = fresh.get::<Customer>(1).await?;
        assert!(Handle::ptr_eq(&again, &big[0].0));
        Ok(())
    }

    async fn each_order_with_columns_of_its_customer(db) {
        let (mut s, _) = seeded(&db).await?;
        // Without grouping: one row per joined row.
        let rows: Vec<(Handle<Order>, (String,))> = s
            .query::<Order>()
            .order_by(Order::ID.asc())
            .join_on(Order::CUSTOMER_ID, Customer::ID)
            .select((Customer::NAME,))
            .left_entities()
            .await?;
        let got: Vec<(i64, String)> = rows.iter().map(|(o, (n,))| (o.read().id, n.clone())).collect();
        assert_eq!(got, [(1, "ann".into()), (2, "ann".into()), (3, "bob".into())]);
        Ok(())
    }

    async fn a_single_entity_select_with_a_scalar_subquery_per_row(db) {
        let (mut s, customers) = seeded(&db).await?;
        let before = s.stats().statements();
        let rows: Vec<(Handle<Customer>, (i64, String))> = s
            .query::<Customer>()
            .filter(Customer::ID.le(2))
            .order_by(Customer::ID.desc())
            .select((
                Subquery::of(Agg::<Order, i64>::count()).correlate(Order::CUSTOMER_ID, Customer::ID),
                Customer::NAME.upper(),
            ))
            .entities()
            .await?;
        assert_eq!(s.stats().statements() - before, 1);
        assert!(Handle::ptr_eq(&rows[0].0, &customers[1]));
        assert_eq!(rows[0].1, (1, "BOB".to_string()));
        assert_eq!(rows[1].1, (2, "ANN".to_string()));
        Ok(())
    }
}
