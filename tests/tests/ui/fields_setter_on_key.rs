use orm_core::{entity, fields};

#[fields]
pub trait Identified {
    fn set_id(&mut self, value: i64);
    fn set_version(&mut self, value: i64);
}

#[entity(fields(Identified))]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    #[version]
    pub version: i64,
}

fn main() {}
