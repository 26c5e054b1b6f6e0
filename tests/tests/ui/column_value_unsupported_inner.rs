use orm_core::ColumnValue;

#[derive(ColumnValue)]
pub struct Tags(std::collections::BTreeSet<String>);

fn main() {}
