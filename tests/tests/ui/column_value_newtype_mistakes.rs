use orm_core::ColumnValue;

#[derive(ColumnValue)]
pub struct Pair(i64, i64);

#[derive(ColumnValue)]
#[column_value(text)]
pub struct Id(i64);

#[derive(ColumnValue)]
pub union Bits {
    a: i64,
}

fn main() {}
