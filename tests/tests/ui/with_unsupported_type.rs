use orm_core::prelude::*;

pub struct Opaque;

#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    // AsText needs Display + FromStr.
    #[column(with = AsText)]
    pub address: Opaque,
    // AsJson needs serde's Serialize + DeserializeOwned.
    #[column(with = AsJson)]
    pub settings: Option<Opaque>,
}

fn main() {}
