//! Shape keys: what a template is cached under.
//!
//! A shape is everything that changes the SQL text and nothing that does
//! not: which statement (the caller's site: an entity's table, a query's
//! structure), which optional parts are present, which arguments are lists
//! and which lists are empty, and the dialect; never the values. The caller
//! writes those facts into a [`ShapeKey`]; equal keys must mean equal SQL.

use std::hash::{Hash, Hasher};

/// Bytes a key holds without allocating (a query with five filter terms and
/// an ORDER BY needs ~100).
const INLINE: usize = 128;

/// A compact, hashable description of a statement's shape. A key is built
/// for every templated statement, so it lives in an inline buffer and moves
/// to the heap only past [`INLINE`] bytes (measured: a `Vec` cost one
/// allocation per statement, `SmallVec`'s generic `extend_from_slice` ~440
/// instructions per key).
#[derive(Debug, Clone)]
pub struct ShapeKey {
    inline: [u8; INLINE],
    len: usize,
    /// All the bytes, once they no longer fit inline.
    spilled: Vec<u8>,
}

impl Default for ShapeKey {
    fn default() -> Self {
        ShapeKey::new()
    }
}

impl PartialEq for ShapeKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for ShapeKey {}

impl Hash for ShapeKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl ShapeKey {
    /// An empty key.
    pub fn new() -> ShapeKey {
        ShapeKey {
            inline: [0; INLINE],
            len: 0,
            spilled: Vec::new(),
        }
    }

    fn bytes(&self) -> &[u8] {
        if self.len <= INLINE {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end <= INLINE {
            self.inline[self.len..end].copy_from_slice(bytes);
        } else {
            if self.len <= INLINE {
                self.spilled.extend_from_slice(&self.inline[..self.len]);
            }
            self.spilled.extend_from_slice(bytes);
        }
        self.len = end;
    }

    /// Adds a small tag (a variant, a flag).
    #[inline]
    pub fn tag(&mut self, tag: u8) -> &mut Self {
        match self.inline.get_mut(self.len) {
            Some(b) => {
                *b = tag;
                self.len += 1;
            }
            _ => self.put(&[tag]),
        }
        self
    }

    /// Adds a number (a count, an operator).
    #[inline]
    pub fn number(&mut self, n: u64) -> &mut Self {
        // A fixed-size copy (one store), not a call to memcpy.
        match self.inline.get_mut(self.len..self.len + 8) {
            Some(slot) => {
                slot.copy_from_slice(&n.to_le_bytes());
                self.len += 8;
            }
            None => self.put(&n.to_le_bytes()),
        }
        self
    }

    /// Adds a name. A `'static` name is identified by its address and
    /// length, which is cheaper than its bytes and equally unique for the
    /// life of the process.
    #[inline]
    pub fn name(&mut self, name: &'static str) -> &mut Self {
        self.number(name.as_ptr() as u64).number(name.len() as u64)
    }

    /// Adds arbitrary text by value.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.number(text.len() as u64);
        self.put(text.as_bytes());
        self
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was added yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::ShapeKey;

    /// A key past the inline buffer equals (and hashes as) the same bytes
    /// written in other steps, and differs from a prefix of itself.
    #[test]
    fn long_keys_spill_and_still_compare_by_bytes() {
        let (mut a, mut b, mut prefix) = (ShapeKey::new(), ShapeKey::new(), ShapeKey::new());
        for i in 0..40u64 {
            a.number(i);
            if i < 10 {
                b.number(i);
                prefix.number(i);
            } else {
                // Byte by byte, crossing the inline limit mid-number.
                i.to_le_bytes().iter().for_each(|&t| {
                    b.tag(t);
                });
            }
        }
        assert_eq!(a.len(), 320);
        assert_eq!(a, b);
        assert_ne!(a, prefix);
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(state.hash_one(&a), state.hash_one(&b));
        assert_ne!(state.hash_one(&a), state.hash_one(&prefix));
    }
}
