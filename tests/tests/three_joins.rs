//! Typed selects over three joined entities, as a SQLAlchemy user chains
//! joins: `select(Region.name, func.sum(Sale.amount)).join(Shop, Sale.shop_id
//! == Shop.id).join(Region, Shop.region_id == Region.id).group_by(Region.name)`.
//! The third entity joins on a column of the query's entity (a star) or of
//! the second (a chain), INNER or LEFT; items, filters, GROUP BY, HAVING and
//! ORDER BY read any of the three; one statement each, through the template
//! cache, on every backend.

use orm_core::prelude::*;
use orm_core::{CountRows, TemplateMode};
use tests::backend_tests;

#[entity(table = "t3_regions")]
pub struct Region {
    #[key]
    pub id: i64,
    /// The same column name as the product's: the join keeps them apart.
    #[column(len = 20)]
    pub name: String,
}

#[entity(table = "t3_shops")]
pub struct Shop {
    #[key]
    pub id: i64,
    #[column(references = Region)]
    pub region_id: i64,
    #[column(len = 20)]
    pub city: String,
    #[belongs_to(Region, by = "region_id")]
    pub region: Ref<Region>,
    #[has_many(Sale, by = "shop_id")]
    pub sales: Many<Sale>,
}

#[entity(table = "t3_products")]
pub struct Product {
    #[key]
    pub id: i64,
    #[column(len = 20)]
    pub name: String,
}

#[entity(table = "t3_sales")]
pub struct Sale {
    #[key(auto)]
    pub id: i64,
    #[column(references = Shop)]
    pub shop_id: i64,
    #[column(references = Product)]
    pub product_id: i64,
    pub amount: i64,
    #[belongs_to(Product, by = "product_id")]
    pub product: Ref<Product>,
}

async fn seeded(db: &Database) -> Result<Session> {
    db.create_all(&[
        Region::schema(),
        Shop::schema(),
        Product::schema(),
        Sale::schema(),
    ])
    .await?;
    db.templates().set_mode(TemplateMode::Paranoid);
    let mut s = db.session();
    s.add(Region {
        id: 1,
        name: "north".into(),
    });
    s.add(Region {
        id: 2,
        name: "south".into(),
    });
    s.add(Region {
        id: 3,
        name: "east".into(),
    });
    // Lima (3) has no sales; the east region has no shop.
    for (id, region_id, city) in [
        (1, 1, "Oslo"),
        (2, 1, "Bergen"),
        (3, 2, "Rome"),
        (4, 2, "Lima"),
    ] {
        s.add(Shop {
            id,
            region_id,
            city: city.into(),
            region: Ref::new(),
            sales: Many::new(),
        });
    }
    s.add(Product {
        id: 7,
        name: "tea".into(),
    });
    s.add(Product {
        id: 8,
        name: "pot".into(),
    });
    s.flush().await?;
    for (shop_id, product_id, amount) in [(1, 7, 10), (1, 8, 5), (2, 7, 20), (3, 7, 7), (3, 8, 1)] {
        s.add(Sale {
            id: 0,
            shop_id,
            product_id,
            amount,
            product: Ref::new(),
        });
    }
    s.commit().await?;
    Ok(s)
}

#[derive(Debug, PartialEq, FromRow)]
struct RegionSales {
    region: String,
    sales: i64,
    total: Option<i64>,
}

backend_tests! {
    async fn a_chain_groups_by_the_third_entity(db) {
        let mut s = seeded(&db).await?;
        let before = s.stats().statements();
        // Sale -> Shop -> Region: the third joins on the second's column.
        let per_region: Vec<(String, i64, Option<i64>)> = s
            .query::<Sale>()
            .join_on(Sale::SHOP_ID, Shop::ID)
            .then_join_on(Shop::REGION_ID, Region::ID)
            .select((Region::NAME, CountRows, Sale::AMOUNT.sum()))
            .group_by(Region::NAME)
            .order_by_asc(Region::NAME)
            .all()
            .await?;
        assert_eq!(per_region, [("north".to_string(), 3, Some(35)), ("south".to_string(), 2, Some(8))]);
        assert_eq!(s.stats().statements() - before, 1, "one statement");
        // The same along declared relationships: a belongs-to of the first
        // entity, then a has-many of the second (Region <- Shop -> Sale).
        let along: Vec<(String, Option<i64>)> = s
            .query::<Shop>()
            .join_along(Shop::REGION)
            .then_join_along(Shop::SALES)
            .select((Region::NAME, Sale::AMOUNT.sum()))
            .group_by(Region::NAME)
            .order_by_asc(Region::NAME)
            .all()
            .await?;
        assert_eq!(along, [("north".to_string(), Some(35)), ("south".to_string(), Some(8))]);
        // Along a relationship of the second entity: Sale -> Shop -> Region.
        let chain: Vec<(String, i64)> = s
            .query::<Sale>()
            .join_on(Sale::SHOP_ID, Shop::ID)
            .then_join_along(Shop::REGION)
            .select((Region::NAME, CountRows))
            .group_by(Region::NAME)
            .order_by_asc(Region::NAME)
            .all()
            .await?;
        assert_eq!(chain, [("north".to_string(), 3), ("south".to_string(), 2)]);
        // A belongs-to of the query's entity, LEFT: every sale with its product.
        let by_product: Vec<(String, i64)> = s
            .query::<Sale>()
            .join_along(Sale::PRODUCT)
            .then_left_join_on(Sale::SHOP_ID, Shop::ID)
            .select((Product::NAME, Shop::ID.count()))
            .group_by(Product::NAME)
            .order_by_asc(Product::NAME)
            .all()
            .await?;
        assert_eq!(by_product, [("pot".to_string(), 2), ("tea".to_string(), 3)]);

        // Filters on each of the three, HAVING on the third's group, labels
        // read into a struct.
        let rows: Vec<RegionSales> = s
            .query::<Sale>()
            .filter(Sale::AMOUNT.ge(5))
            .join_on(Sale::SHOP_ID, Shop::ID)
            .filter_joined(Shop::CITY.ne("Bergen"))
            .then_join_on(Shop::REGION_ID, Region::ID)
            .filter_third(Region::NAME.ne("east"))
            .select((Region::NAME.label("region"), CountRows.label("sales"), Sale::AMOUNT.sum().label("total")))
            .group_by(Region::NAME)
            .having(CountRows.ge(1))
            .order_by_desc(Sale::AMOUNT.sum())
            .all_as()
            .await?;
        assert_eq!(
            rows,
            [
                RegionSales { region: "north".into(), sales: 2, total: Some(15) },
                RegionSales { region: "south".into(), sales: 1, total: Some(7) },
            ]
        );

        // The same shape in a loop: compiled once, values bound each time.
        let stats = db.templates().stats();
        for min in [1i64, 5, 10, 20] {
            let n = s
                .query::<Sale>()
                .filter(Sale::AMOUNT.ge(min))
                .join_on(Sale::SHOP_ID, Shop::ID)
                .then_join_on(Shop::REGION_ID, Region::ID)
                .filter_third(Region::NAME.eq("north"))
                .select((Sale::ID,))
                .count()
                .await?;
            assert_eq!(n, match min { 1 | 5 => 3, 10 => 2, _ => 1 }, "amount >= {min}");
        }
        let after = db.templates().stats();
        assert_eq!(after.misses - stats.misses, 1, "{after:?}");
        assert_eq!(after.hits - stats.hits, 3, "{after:?}");
        Ok(())
    }

    async fn a_star_reads_columns_of_all_three(db) {
        let mut s = seeded(&db).await?;
        // Sale -> Shop, Sale -> Product: the third joins on the query's
        // own entity. Two columns named `name`-alike stay apart.
        let rows: Vec<(String, String, Option<i64>)> = s
            .query::<Sale>()
            .join_on(Sale::SHOP_ID, Shop::ID)
            .then_join_on(Sale::PRODUCT_ID, Product::ID)
            .select((Shop::CITY, Product::NAME, Sale::AMOUNT.sum()))
            .group_by(Shop::CITY)
            .group_by(Product::NAME)
            .order_by_asc(Shop::CITY)
            .order_by_asc(Product::NAME)
            .all()
            .await?;
        assert_eq!(
            rows,
            [
                ("Bergen".to_string(), "tea".to_string(), Some(20)),
                ("Oslo".to_string(), "pot".to_string(), Some(5)),
                ("Oslo".to_string(), "tea".to_string(), Some(10)),
                ("Rome".to_string(), "pot".to_string(), Some(1)),
                ("Rome".to_string(), "tea".to_string(), Some(7)),
            ]
        );
        // HAVING on the second and third entities' aggregates.
        let busy: Vec<(String,)> = s
            .query::<Sale>()
            .join_on(Sale::SHOP_ID, Shop::ID)
            .then_join_on(Sale::PRODUCT_ID, Product::ID)
            .select((Product::NAME,))
            .group_by(Product::NAME)
            .having(Product::ID.count().ge(3))
            .all()
            .await?;
        assert_eq!(busy, [("tea".to_string(),)]);
        // Counted in a derived table, whose columns must differ in name on
        // MySQL: three `id`s (and two joined) count as well as any.
        let n = s
            .query::<Sale>()
            .join_on(Sale::SHOP_ID, Shop::ID)
            .then_join_on(Sale::PRODUCT_ID, Product::ID)
            .select((Sale::ID, Product::ID, Shop::ID))
            .count()
            .await?;
        assert_eq!(n, 5);
        let pairs = s.query::<Sale>().join_on(Sale::SHOP_ID, Shop::ID).select((Sale::ID, Shop::ID)).count().await?;
        assert_eq!(pairs, 5);
        Ok(())
    }

    async fn a_left_third_join_keeps_the_rows_without_a_match(db) {
        let mut s = seeded(&db).await?;
        // Every shop with its region, and its sales counted (Lima has none).
        let rows: Vec<(String, String, i64, Option<i64>)> = s
            .query::<Shop>()
            .join_on(Shop::REGION_ID, Region::ID)
            .then_left_join_on(Shop::ID, Sale::SHOP_ID)
            .select((Shop::CITY, Region::NAME, Sale::ID.count(), Sale::AMOUNT.sum()))
            .group_by(Shop::CITY)
            .group_by(Region::NAME)
            .order_by_asc(Shop::CITY)
            .all()
            .await?;
        assert_eq!(
            rows,
            [
                ("Bergen".to_string(), "north".to_string(), 1, Some(20)),
                ("Lima".to_string(), "south".to_string(), 0, None),
                ("Oslo".to_string(), "north".to_string(), 2, Some(15)),
                ("Rome".to_string(), "south".to_string(), 2, Some(8)),
            ]
        );
        // A LEFT JOIN's filter picks the third's matching rows, not the shops.
        let big: Vec<(String, Option<i64>)> = s
            .query::<Shop>()
            .join_on(Shop::REGION_ID, Region::ID)
            .then_left_join_on(Shop::ID, Sale::SHOP_ID)
            .filter_third(Sale::AMOUNT.ge(10))
            .select((Shop::CITY, Sale::AMOUNT.max()))
            .group_by(Shop::CITY)
            .order_by_asc(Shop::CITY)
            .all()
            .await?;
        assert_eq!(
            big,
            [("Bergen".to_string(), Some(20)), ("Lima".to_string(), None), ("Oslo".to_string(), Some(10)), ("Rome".to_string(), None)]
        );
        // Each shop (through the identity map) with its sales' count.
        let shops = s
            .query::<Shop>()
            .join_on(Shop::REGION_ID, Region::ID)
            .filter_joined(Region::NAME.eq("south"))
            .then_left_join_on(Shop::ID, Sale::SHOP_ID)
            .select((Sale::ID.count(),))
            .group_by_left()
            .left_entities()
            .await?;
        let mut got: Vec<(String, i64)> = shops.iter().map(|(h, (n,))| (h.read().city.clone(), *n)).collect();
        got.sort();
        assert_eq!(got, [("Lima".to_string(), 0), ("Rome".to_string(), 2)]);
        Ok(())
    }
}
