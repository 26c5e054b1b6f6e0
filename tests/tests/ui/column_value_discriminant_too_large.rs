use orm_core::ColumnValue;

#[derive(Clone, Copy, ColumnValue)]
#[column_value(integer)]
#[repr(i64)]
pub enum Big {
    Small = 1,
    Huge = 1 << 40,
}

fn main() {}
