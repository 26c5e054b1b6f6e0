use orm_core::{entity, fields};

mod audit {
    #[orm_core::fields]
    pub trait AuditFields {
        fn updated_by(&self) -> &String;
        fn set_updated_at(&mut self, value: i64);
    }
}

#[entity(fields(audit::AuditFields))]
pub struct Receiver {
    #[key(auto)]
    pub id: i64,
    pub name: String,
}

#[fields]
pub trait Named {
    fn name(&self) -> &String;
}

// The same trait works where the fields exist.
#[entity(fields(Named))]
pub struct Plane {
    #[key(auto)]
    pub id: i64,
    pub name: String,
}

fn main() {}
