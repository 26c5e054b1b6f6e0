use orm_core::ColumnValue;

#[derive(ColumnValue)]
pub struct Tags(Vec<String>);

fn main() {}
