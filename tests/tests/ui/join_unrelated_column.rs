use orm_core::prelude::*;

#[entity]
pub struct Shop {
    #[key(auto)]
    pub id: i64,
    pub city: String,
}

#[entity]
pub struct Sale {
    #[key(auto)]
    pub id: i64,
    pub shop_id: i64,
    pub code: String,
}

#[entity]
pub struct Clerk {
    #[key(auto)]
    pub id: i64,
    pub name: String,
}

async fn queries(s: &mut Session) {
    // A column of Clerk, which the join's FROM does not have.
    let _ = s
        .query::<Sale>()
        .join_on(Sale::SHOP_ID, Shop::ID)
        .select((Shop::CITY, Clerk::NAME))
        .all()
        .await;
    // The ON clause's columns must have one type.
    let _ = s.query::<Sale>().join_on(Sale::CODE, Shop::ID);
}

fn main() {}
