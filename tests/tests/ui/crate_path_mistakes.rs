use orm_core::prelude::*;

// `crate = ..` takes a path, not a string.
#[entity(crate = "orm_core")]
pub struct Quoted {
    #[key]
    pub id: i64,
}

// A path that does not lead to orm-core: reported at the path.
#[entity(crate = std)]
pub struct Elsewhere {
    #[key]
    pub id: i64,
}

#[fields(crate = 1)]
pub trait LabelFields {
    fn label(&self) -> &String;
}

#[derive(ColumnValue)]
#[column_value(crate = orm_core::<u8>)]
pub struct Code(i64);

fn main() {}
