//! Typed queries: every filter form, order/limit/offset, count, first/one,
//! plain rows, and statement counts, on every backend.

use orm_core::Value;
use orm_core::prelude::*;
use tests::backend_tests;

/// Table and column names that are SQL keywords, quoted by the renderer.
#[entity(table = "order")]
#[derive(Debug, Clone)]
pub struct Item {
    #[key(auto)]
    pub id: i64,
    #[column(rename = "select", index)]
    pub label: String,
    pub price: f64,
    pub stock: Option<i32>,
    pub active: bool,
}

async fn seed(db: &Database) -> orm_core::Result<()> {
    db.create_all(&[Item::schema()]).await?;
    let mut s = db.session();
    s.add_all((0..10).map(|i| Item {
        id: 0,
        label: format!("item-{i}"),
        price: f64::from(i) * 1.5,
        stock: if i % 3 == 0 { None } else { Some(i * 10) },
        active: i % 2 == 0,
    }));
    s.commit().await?;
    Ok(())
}

fn labels(items: &[Handle<Item>]) -> Vec<String> {
    items.iter().map(|h| h.read().label.clone()).collect()
}

backend_tests! {
    async fn comparisons_and_boolean_logic(db) {
        seed(&db).await?;
        let mut s = db.session();
        let q = s.query::<Item>().filter(Item::PRICE.ge(6.0).and(Item::PRICE.lt(9.0))).order_by(Item::ID.asc());
        assert_eq!(labels(&q.all().await?), ["item-4", "item-5"]);
        let q = s.query::<Item>().filter(Item::LABEL.eq("item-1").or(Item::LABEL.eq("item-8")));
        assert_eq!(q.count().await?, 2);
        let q = s.query::<Item>().filter(!Item::ACTIVE.eq(true));
        assert_eq!(q.count().await?, 5);
        let q = s.query::<Item>().filter(Item::LABEL.ne("item-0")).filter(Item::STOCK.gt(50));
        assert_eq!(labels(&q.order_by(Item::ID.asc()).all().await?), ["item-7", "item-8"]);
        let q = s.query::<Item>().filter(Filter::any([Item::PRICE.le(0.0), Item::PRICE.gt(13.0)]));
        assert_eq!(q.count().await?, 2);
        assert_eq!(s.query::<Item>().filter(Filter::any([])).count().await?, 0);
        assert_eq!(s.query::<Item>().filter(Filter::all([])).count().await?, 10);
        Ok(())
    }

    async fn null_checks_and_like(db) {
        seed(&db).await?;
        let mut s = db.session();
        assert_eq!(s.query::<Item>().filter(Item::STOCK.is_null()).count().await?, 4);
        assert_eq!(s.query::<Item>().filter(Item::STOCK.is_not_null()).count().await?, 6);
        assert_eq!(s.query::<Item>().filter(Item::LABEL.like("item-%")).count().await?, 10);
        assert_eq!(s.query::<Item>().filter(Item::LABEL.like("%-1_")).count().await?, 0);
        assert_eq!(s.query::<Item>().filter(Item::LABEL.not_like("%9")).count().await?, 9);
        Ok(())
    }

    async fn in_lists_of_every_length(db) {
        seed(&db).await?;
        let mut s = db.session();
        let none: Vec<i64> = vec![];
        assert_eq!(s.query::<Item>().filter(Item::ID.is_in(&none)).count().await?, 0);
        assert_eq!(s.query::<Item>().filter(Item::ID.not_in(&none)).count().await?, 10);
        let first = s.query::<Item>().order_by(Item::ID.asc()).first().await?.expect("rows");
        let id = first.read().id;
        assert_eq!(labels(&s.query::<Item>().filter(Item::ID.is_in([id])).all().await?), ["item-0"]);
        // 5,000 values, most of them absent, with duplicates.
        let many: Vec<i64> = (0..5_000).map(|i| id + (i % 2_500)).collect();
        let before = s.stats().statements();
        assert_eq!(s.query::<Item>().filter(Item::ID.is_in(&many)).count().await?, 10);
        assert_eq!(s.stats().statements() - before, 1);
        assert_eq!(s.query::<Item>().filter(Item::ID.not_in(&many)).count().await?, 0);
        assert_eq!(s.query::<Item>().filter(Item::LABEL.is_in(&["item-3", "nope"])).count().await?, 1);
        Ok(())
    }

    async fn order_limit_offset(db) {
        seed(&db).await?;
        let mut s = db.session();
        let page = s.query::<Item>().order_by(Item::PRICE.desc()).limit(3).offset(2).all().await?;
        assert_eq!(labels(&page), ["item-7", "item-6", "item-5"]);
        let tail = s.query::<Item>().order_by(Item::ID.asc()).offset(8).all().await?;
        assert_eq!(labels(&tail), ["item-8", "item-9"]);
        assert_eq!(s.query::<Item>().limit(4).count().await?, 4);
        assert_eq!(s.query::<Item>().offset(7).count().await?, 3);
        let by_two = s.query::<Item>().order_by(Item::ACTIVE.desc()).order_by(Item::ID.desc()).limit(2).all().await?;
        assert_eq!(labels(&by_two), ["item-8", "item-6"]);
        Ok(())
    }

    async fn first_and_one(db) {
        seed(&db).await?;
        let mut s = db.session();
        assert!(s.query::<Item>().filter(Item::LABEL.eq("zzz")).first().await?.is_none());
        let one = s.query::<Item>().filter(Item::LABEL.eq("item-2")).one().await?;
        assert_eq!(one.read().price, 3.0);
        match s.query::<Item>().filter(Item::ACTIVE.eq(true)).one().await {
            Err(Error::MultipleRows { entity: "Item", .. }) => {}
            other => panic!("expected MultipleRows, got {other:?}"),
        }
        match s.query::<Item>().filter(Item::LABEL.eq("zzz")).one().await {
            Err(Error::NotFound { entity: "Item", .. }) => {}
            other => panic!("expected NotFound, got {other:?}"),
        }
        Ok(())
    }

    async fn plain_rows_by_name_and_position(db) {
        seed(&db).await?;
        let mut s = db.session();
        let rows = s.query::<Item>().filter(Item::LABEL.eq("item-4")).rows().await?;
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.columns().collect::<Vec<_>>(), ["id", "select", "price", "stock", "active"]);
        assert_eq!(row.get::<String>("select")?, "item-4");
        assert_eq!(row.get_at::<f64>(2)?, 6.0);
        assert_eq!(row.get::<Option<i32>>("stock")?, Some(40));
        assert!(row.get::<bool>("active")?);
        assert!(matches!(row.get::<i64>("missing"), Err(Error::NoSuchColumn(_))));
        assert!(matches!(row.get_at::<i64>(9), Err(Error::ColumnIndex { index: 9, len: 5 })));
        assert!(matches!(row.get::<i64>("select"), Err(Error::Decode { .. })));
        assert_eq!(s.identity_count::<Item>(), 0, "plain rows bypass the identity map");
        Ok(())
    }

    async fn raw_sql_through_the_session(db) {
        seed(&db).await?;
        let mut s = db.session();
        let sql = match db.dialect() {
            orm_core::Dialect::Postgres => r#"SELECT COUNT(*) AS n FROM "order" WHERE price > $1"#,
            orm_core::Dialect::MySql => "SELECT COUNT(*) AS n FROM `order` WHERE price > ?",
            orm_core::Dialect::Sqlite => r#"SELECT COUNT(*) AS n FROM "order" WHERE price > ?"#,
        };
        let rows = s.fetch_sql(sql, vec![Value::F64(10.0)]).await?;
        assert_eq!(rows[0].get::<i64>("n")?, 3);
        Ok(())
    }

    async fn statements_are_counted(db) {
        seed(&db).await?;
        let mut s = db.session();
        let before = s.stats().snapshot();
        s.query::<Item>().all().await?;
        s.query::<Item>().count().await?;
        let delta = s.stats().snapshot() - before;
        assert_eq!(delta.statements, 2);
        assert_eq!(delta.rows, 11, "10 entity rows and one count row");
        assert_eq!(delta.errors, 0);
        Ok(())
    }
}
