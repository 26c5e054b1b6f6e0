use orm_core::ColumnValue;

// A type name SQL would need quoted everywhere.
#[derive(ColumnValue)]
#[column_value(native_enum = "Order State")]
pub enum State {
    Open,
}

// Not a string; and two storages.
#[derive(ColumnValue)]
#[column_value(native_enum = mood)]
pub enum Mood {
    Happy,
}

#[derive(ColumnValue)]
#[column_value(native_enum = "level", text)]
pub enum Level {
    Low,
}

// Two variants under one label.
#[derive(ColumnValue)]
#[column_value(native_enum = "color")]
pub enum Color {
    #[column_value(rename = "Blue")]
    Red,
    Blue,
}

// PostgreSQL's own type; a label MariaDB would change.
#[derive(ColumnValue)]
#[column_value(native_enum = "point")]
pub enum Shape {
    Dot,
}

#[derive(ColumnValue)]
#[column_value(native_enum = "spacing")]
pub enum Spacing {
    #[column_value(rename = "wide ")]
    Wide,
}

fn main() {}
