use orm_core::ColumnValue;

// No storage chosen; a variant with data.
#[derive(ColumnValue)]
pub enum Shape {
    Circle(f64),
    Square,
}

// Two storages; two variants stored under the same name; an unknown option.
#[derive(ColumnValue)]
#[column_value(text, integer)]
pub enum Status {
    #[column_value(rename = "Retired")]
    Active,
    Retired,
    #[column_value(renam = "x")]
    Paused,
}

// `rename` means nothing for integers; `bytes` is not a storage.
#[derive(ColumnValue)]
#[column_value(integer)]
pub enum Priority {
    #[column_value(rename = "low")]
    Low = 1,
}

#[derive(ColumnValue)]
#[column_value(bytes)]
pub enum Kind {
    A,
}

fn main() {}
