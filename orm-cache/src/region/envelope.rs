//! The bytes a remote store keeps for one cached value.
//!
//! ```text
//! "ORC" | version (1) | fresh until, unix ms (u64) | n (u16) | n generations (u64 each)
//!       | payload length (u32) | payload | FNV-1a 64 of everything before (u64)
//! ```
//!
//! Little-endian throughout. The payload is the caller's own encoding (the
//! ORM's versioned row codec); the envelope adds what the region needs to
//! judge it (freshness, the generations it was computed under) and a
//! checksum. Anything that does not parse exactly, under this version, with
//! a matching checksum, is `None`: a miss, never garbage.

use std::sync::Arc;

const MAGIC: &[u8; 3] = b"ORC";
const VERSION: u8 = 1;

/// A decoded value: what the region stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub fresh_until_ms: u64,
    pub generations: Vec<u64>,
    pub payload: Arc<[u8]>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

pub(crate) fn encode(fresh_until_ms: u64, generations: &[u64], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + 1 + 8 + 2 + generations.len() * 8 + 4 + payload.len() + 8);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&fresh_until_ms.to_le_bytes());
    out.extend_from_slice(&(generations.len() as u16).to_le_bytes());
    for g in generations {
        out.extend_from_slice(&g.to_le_bytes());
    }
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Reads fixed-size fields off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

pub(crate) fn decode(bytes: &[u8]) -> Option<Envelope> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if fnv1a(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut r = Reader(body);
    if r.take(3)? != MAGIC || r.array::<1>()?[0] != VERSION {
        return None;
    }
    let fresh_until_ms = u64::from_le_bytes(r.array()?);
    let n = u16::from_le_bytes(r.array()?);
    let generations = (0..n)
        .map(|_| r.array().map(u64::from_le_bytes))
        .collect::<Option<Vec<_>>>()?;
    let len = u32::from_le_bytes(r.array()?) as usize;
    let payload = r.take(len)?;
    if !r.0.is_empty() {
        return None;
    }
    Some(Envelope {
        fresh_until_ms,
        generations,
        payload: Arc::from(payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = encode(1234, &[7, 0, 9], b"payload");
        let e = decode(&bytes).expect("decodes");
        assert_eq!(e.fresh_until_ms, 1234);
        assert_eq!(e.generations, [7, 0, 9]);
        assert_eq!(&*e.payload, b"payload");
    }

    #[test]
    fn anything_damaged_is_none() {
        let bytes = encode(1234, &[7], b"payload");
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            assert_eq!(decode(&bad), None, "flipped byte {i}");
            assert_eq!(decode(&bytes[..i]), None, "cut at {i}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        assert_eq!(decode(b"garbage"), None);
        assert_eq!(decode(b""), None);
    }

    #[test]
    fn another_version_is_none() {
        let mut bytes = encode(1, &[], b"x");
        bytes[3] = VERSION + 1;
        let n = bytes.len() - 8;
        let sum = fnv1a(&bytes[..n]);
        bytes[n..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            decode(&bytes),
            None,
            "a valid checksum does not save a newer format"
        );
    }
}
