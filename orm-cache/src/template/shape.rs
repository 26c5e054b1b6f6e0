//! Shape keys: what a template is cached under.
//!
//! A shape is everything that changes the SQL text and nothing that does
//! not: which statement (the caller's site: an entity's table, a query's
//! structure), which optional parts are present, which arguments are lists
//! and which lists are empty, and the dialect; never the values. The caller
//! writes those facts into a [`ShapeKey`]; equal keys must mean equal SQL.

use std::hash::{Hash, Hasher};

/// A compact, hashable description of a statement's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShapeKey {
    bytes: Vec<u8>,
}

impl Hash for ShapeKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl ShapeKey {
    pub fn new() -> ShapeKey {
        ShapeKey {
            bytes: Vec::with_capacity(64),
        }
    }

    /// Adds a small tag (a variant, a flag).
    pub fn tag(&mut self, tag: u8) -> &mut Self {
        self.bytes.push(tag);
        self
    }

    /// Adds a number (a count, an operator).
    pub fn number(&mut self, n: u64) -> &mut Self {
        self.bytes.extend_from_slice(&n.to_le_bytes());
        self
    }

    /// Adds a name. A `'static` name is identified by its address and
    /// length, which is cheaper than its bytes and equally unique for the
    /// life of the process.
    pub fn name(&mut self, name: &'static str) -> &mut Self {
        self.number(name.as_ptr() as u64).number(name.len() as u64)
    }

    /// Adds arbitrary text by value.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.number(text.len() as u64);
        self.bytes.extend_from_slice(text.as_bytes());
        self
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}
