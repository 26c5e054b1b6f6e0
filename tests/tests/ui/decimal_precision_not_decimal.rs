use orm_core::prelude::*;

#[entity]
pub struct Price {
    #[key(auto)]
    pub id: i64,
    // Precision belongs to decimals, not to floats.
    #[column(precision = 12, scale = 2)]
    pub amount: f64,
}

fn main() {}
