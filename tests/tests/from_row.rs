//! Typed selects read into named structs, as a SQLAlchemy user writes
//! `select(Order.shop, func.sum(Order.total).label("revenue"))` and reads
//! `row.revenue`, or sqlx's `query_as::<_, Report>(..)`: items labelled
//! with `AS`, rows read by column name whatever the order of the select
//! list and of the struct, in single-entity selects, joins and raw SQL;
//! a missing label, a name found twice and a cell of the wrong type are
//! errors naming the struct and the column. One statement each.

use orm_core::prelude::*;
use orm_core::{Agg, Case, CountRows, Error};
use tests::backend_tests;

#[entity(table = "fr_shops")]
pub struct Shop {
    #[key]
    pub id: i64,
    #[column(len = 20)]
    pub city: String,
}

#[entity(table = "fr_sales")]
pub struct Sale {
    #[key]
    pub id: i64,
    #[column(references = Shop)]
    pub shop_id: i64,
    #[column(len = 20)]
    pub item: String,
    pub amount: i64,
}

async fn seeded(db: &Database) -> Result<Session> {
    db.create_all(&[Shop::schema(), Sale::schema()]).await?;
    let mut s = db.session();
    for (id, city) in [(1, "Oslo"), (2, "Rome"), (3, "Lima")] {
        s.add(Shop {
            id,
            city: city.into(),
        });
    }
    s.flush().await?;
    for (id, shop_id, item, amount) in [
        (1, 1, "tea", 10),
        (2, 1, "cake", 30),
        (3, 2, "tea", 5),
        (4, 1, "tea", 200),
    ] {
        s.add(Sale {
            id,
            shop_id,
            item: item.into(),
            amount,
        });
    }
    s.commit().await?;
    Ok(s)
}

/// A CASE of text branches.
fn size() -> orm_core::Item<Sale, String> {
    Case::new()
        .when(Sale::AMOUNT.gt(100), "big")
        .otherwise("small")
}

/// Fields in another order than the select list; one renamed.
#[derive(FromRow, Debug, PartialEq)]
struct PerItem {
    item: String,
    #[from_row(rename = "n")]
    sales: i64,
    revenue: Option<i64>,
    size: String,
}

#[derive(FromRow, Debug, PartialEq)]
struct CityRevenue {
    city: String,
    revenue: Option<i64>,
    sales: i64,
}

#[derive(FromRow, Debug, PartialEq)]
struct Ids {
    id: i64,
    shop: i64,
}

backend_tests! {
    async fn labelled_aggregates_read_into_a_struct_by_name(db) {
        let mut s = seeded(&db).await?;
        let before = s.stats().statements();
        let select = s
            .query::<Sale>()
            .select((
                Agg::count().label("n"),
                Sale::AMOUNT.sum().label("revenue"),
                size().label("size"),
                Sale::ITEM,
            ))
            .group_by(Sale::ITEM)
            .group_by(size())
            .order_by_asc(Sale::ITEM)
            .order_by_asc(Agg::<Sale, i64>::count());
        let sql = select.statement().sql().to_string();
        assert!(sql.contains("revenue") && sql.contains(" AS "), "{sql}");
        let rows: Vec<PerItem> = select.all_as().await?;
        let row = |item: &str, sales, revenue, size: &str| PerItem {
            item: item.into(),
            sales,
            revenue: Some(revenue),
            size: size.into(),
        };
        assert_eq!(
            rows,
            [
                row("cake", 1, 30, "small"),
                row("tea", 1, 200, "big"),
                row("tea", 2, 15, "small"),
            ]
        );
        assert_eq!(s.stats().statements() - before, 1);
        // The same rows as plain rows, by label and by position.
        let plain = s
            .query::<Sale>()
            .filter(Sale::ITEM.eq("cake"))
            .select((Sale::ITEM, Sale::AMOUNT.plus(1).label("plus_one")))
            .rows()
            .await?;
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].get::<i64>("plus_one")?, 31);
        assert_eq!(plain[0].get::<String>("item")?, "cake");
        assert_eq!(plain[0].get_at::<i64>(1)?, 31);
        // first_as: one row, or none.
        let none: Option<PerItem> = s
            .query::<Sale>()
            .filter(Sale::AMOUNT.gt(1000))
            .select((
                Sale::ITEM,
                Agg::count().label("n"),
                Sale::AMOUNT.sum().label("revenue"),
                Sale::ITEM.label("size"),
            ))
            .group_by(Sale::ITEM)
            .first_as()
            .await?;
        assert_eq!(none, None);
        Ok(())
    }

    async fn a_join_reads_into_a_struct_and_refuses_a_name_found_twice(db) {
        let mut s = seeded(&db).await?;
        let before = s.stats().statements();
        let rows: Vec<CityRevenue> = s
            .query::<Sale>()
            .left_join_on(Sale::SHOP_ID, Shop::ID)
            .select((
                Shop::CITY,
                CountRows.label("sales"),
                Sale::AMOUNT.sum().label("revenue"),
            ))
            .group_by(Shop::CITY)
            .order_by_asc(Shop::CITY)
            .all_as()
            .await?;
        assert_eq!(
            rows,
            [
                CityRevenue { city: "Oslo".into(), revenue: Some(240), sales: 3 },
                CityRevenue { city: "Rome".into(), revenue: Some(5), sales: 1 },
            ]
        );
        assert_eq!(s.stats().statements() - before, 1);
        // Both sides have an `id`: a field reading it is ambiguous ...
        let twice = s
            .query::<Sale>()
            .join_on(Sale::SHOP_ID, Shop::ID)
            .select((Sale::ID, Shop::ID))
            .all_as::<Ids>()
            .await;
        match twice {
            Err(Error::AmbiguousColumn { target, column }) => {
                assert_eq!((target, column), ("Ids", "id"));
            }
            other => panic!("expected AmbiguousColumn, got {other:?}"),
        }
        // ... until one of them is labelled.
        let ids: Vec<Ids> = s
            .query::<Sale>()
            .filter(Sale::ITEM.eq("cake"))
            .join_on(Sale::SHOP_ID, Shop::ID)
            .select((Sale::ID, Shop::ID.label("shop")))
            .all_as()
            .await?;
        assert_eq!(ids, [Ids { id: 2, shop: 1 }]);
        let first: Option<Ids> = s
            .query::<Sale>()
            .join_on(Sale::SHOP_ID, Shop::ID)
            .select((Sale::ID, Shop::ID.label("shop")))
            .order_by_desc(Sale::ID)
            .first_as()
            .await?;
        assert_eq!(first, Some(Ids { id: 4, shop: 1 }));
        Ok(())
    }

    async fn a_missing_label_or_a_wrong_type_names_the_struct_and_column(db) {
        let mut s = seeded(&db).await?;
        // The sum has no label: the struct's `revenue` is not in the row.
        let missing = s
            .query::<Sale>()
            .left_join_on(Sale::SHOP_ID, Shop::ID)
            .select((Shop::CITY, CountRows.label("sales"), Sale::AMOUNT.sum()))
            .group_by(Shop::CITY)
            .all_as::<CityRevenue>()
            .await;
        match missing {
            Err(e @ Error::MissingColumn { .. }) => {
                let text = e.to_string();
                assert!(text.contains("`CityRevenue`") && text.contains("\"revenue\""), "{text}");
                assert!(text.contains("city, sales"), "{text}");
            }
            other => panic!("expected MissingColumn, got {other:?}"),
        }
        // Text where the struct wants an integer.
        #[derive(FromRow, Debug)]
        #[allow(dead_code)]
        struct Wrong {
            item: i64,
        }
        match s.query::<Sale>().select((Sale::ITEM,)).all_as::<Wrong>().await {
            Err(Error::Decode { entity, column, .. }) => {
                assert_eq!((entity, column.as_str()), ("Wrong", "item"));
            }
            other => panic!("expected a decode error, got {other:?}"),
        }
        // The session is still usable.
        assert_eq!(s.query::<Sale>().count().await?, 4);
        Ok(())
    }

    async fn raw_sql_reads_into_a_struct_by_name_whatever_the_case(db) {
        seeded(&db).await?;
        #[derive(FromRow, Debug, PartialEq)]
        struct Tally {
            n: i64,
            biggest: Option<i64>,
        }
        // Unquoted labels: PostgreSQL folds `N` to `n`, the others keep it.
        let t: Vec<Tally> = db
            .sql("SELECT MAX(amount) AS biggest, COUNT(*) AS N FROM fr_sales", vec![])
            .all_as()
            .await?;
        assert_eq!(t, [Tally { n: 4, biggest: Some(200) }]);
        Ok(())
    }
}
