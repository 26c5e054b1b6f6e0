use orm_core::prelude::*;

#[entity]
pub struct Post {
    #[key(auto)]
    pub id: i64,
    pub tags: Vec<String>,
    pub weights: Vec<f64>,
}

fn main() {
    // Not an array column.
    let _ = Post::ID.contains(3i64);
    // Floats are not searchable elements.
    let _ = Post::WEIGHTS.contains(1.0f64);
    // The element type must be the array's.
    let _ = Post::TAGS.contains(3i64);
    // Set filters and lengths are for arrays too.
    let _ = Post::TAGS.overlaps([1i64, 2]);
    let _ = Post::ID.len().gt(2);
}
