use orm_core::prelude::*;

#[entity]
pub struct Price {
    #[key(auto)]
    pub id: i64,
    // A scale larger than the precision, and a scale without one.
    #[column(precision = 4, scale = 6)]
    pub rate: rust_decimal::Decimal,
    #[column(scale = 2)]
    pub fee: rust_decimal::Decimal,
}

fn main() {}
