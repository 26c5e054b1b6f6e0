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
    pub clerk_id: i64,
}

#[entity]
pub struct Clerk {
    #[key(auto)]
    pub id: i64,
    pub name: String,
}

#[entity]
pub struct Tag {
    #[key(auto)]
    pub id: i64,
    pub label: String,
}

async fn queries(s: &mut Session) {
    // A column of Tag, the fourth entity, in a join of three.
    let _ = s
        .query::<Sale>()
        .join_on(Sale::SHOP_ID, Shop::ID)
        .then_join_on(Sale::CLERK_ID, Clerk::ID)
        .select((Shop::CITY, Clerk::NAME, Tag::LABEL))
        .all()
        .await;
    // The third entity joins on a column of the two before it, not of Tag.
    let _ = s
        .query::<Sale>()
        .join_on(Sale::SHOP_ID, Shop::ID)
        .then_join_on(Tag::ID, Clerk::ID);
    // Nor on a column of another type.
    let _ = s
        .query::<Sale>()
        .join_on(Sale::SHOP_ID, Shop::ID)
        .then_join_on(Shop::CITY, Clerk::ID);
}

fn main() {}
