use orm_core::{ColumnValue, entity};

#[derive(Clone, PartialEq, Eq, Hash, Debug, ColumnValue)]
pub struct Code(String);

// The database generates integers only.
#[entity]
pub struct Receiver {
    #[key(auto)]
    pub id: Code,
}

fn main() {}
