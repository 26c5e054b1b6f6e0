use orm_core::prelude::*;

#[entity]
pub struct Shop {
    #[key]
    pub id: i64,
    pub city: String,
}

#[entity]
pub struct Sale {
    #[key]
    pub id: i64,
    pub amount: i64,
}

async fn report(s: &mut Session) -> Result<()> {
    // A labelled column of an entity that is not in the FROM.
    let _ = s
        .query::<Sale>()
        .select((Sale::AMOUNT, Shop::CITY.label("city")))
        .rows()
        .await?;
    Ok(())
}

fn main() {}
