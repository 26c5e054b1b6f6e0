use orm_core::FromRow;

// A tuple struct has no names to read by.
#[derive(FromRow)]
struct Pair(i64, i64);

// A misspelt option, and two fields reading one column.
#[derive(FromRow)]
struct Report {
    #[from_row(renam = "total")]
    sum: i64,
    #[from_row(rename = "n")]
    count: i64,
    n: i64,
}

// A field whose type is no column type.
#[derive(FromRow)]
struct Unsupported {
    when: std::time::Instant,
}

fn main() {}
