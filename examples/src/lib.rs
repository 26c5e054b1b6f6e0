//! Examples live in this package's `[[example]]` targets; run `cargo run --example quickstart`.
