//! The versioned binary encoding of rows that result-cache regions store.
//!
//! ```text
//! FORMAT (u8) | columns (varint) | each name: length (varint) + UTF-8
//!             | rows (varint) | rows x columns cells
//! cell: tag (u8) + data; integers are zigzag varints, floats little-endian
//! bits, text and bytes length-prefixed, times as whole seconds (varint) and
//! nanoseconds (varint), a uuid its 16 bytes, JSON its text, an array its
//! element type (u8), length (varint) and cells. Format 2 added the
//! element type.
//! ```
//!
//! Compact (a small integer is 2 bytes, a NULL 2) and strict: decoding
//! checks the format byte, every tag, length and value, and that nothing is
//! left over. Anything else is `None`, which the cache treats as a miss;
//! bump [`FORMAT`] whenever the encoding changes, so old values read as
//! misses rather than as wrong rows. (The region adds its own envelope with
//! a checksum on top, so damaged bytes are caught before they get here.)
//!
//! The same cell encoding feeds the SHA-1 of cache keys (the parameters of
//! a statement, in order).
//!
//! Layer 2 (the result cache): it uses only what is below it (see `crate::layers`).

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::row::RowSet;
use crate::value::{Elem, SqlType, Value};

/// The version of this encoding.
pub(crate) const FORMAT: u8 = 2;

const SQL_TYPES: [SqlType; 21] = [
    SqlType::SmallInt,
    SqlType::Integer,
    SqlType::BigInt,
    SqlType::Real,
    SqlType::Double,
    SqlType::Boolean,
    SqlType::Text,
    SqlType::Bytes,
    SqlType::Timestamp,
    SqlType::TimestampTz,
    SqlType::Date,
    SqlType::Time,
    SqlType::Uuid,
    SqlType::Json,
    SqlType::Decimal,
    SqlType::U8,
    SqlType::U16,
    SqlType::U32,
    SqlType::Inet,
    SqlType::Cidr,
    SqlType::U64,
];

/// Array element types by their byte (append only, as [`SQL_TYPES`]).
const ELEMS: [Elem; 15] = [
    Elem::SmallInt,
    Elem::Integer,
    Elem::BigInt,
    Elem::Real,
    Elem::Double,
    Elem::Boolean,
    Elem::Text,
    Elem::Bytes,
    Elem::Timestamp,
    Elem::TimestampTz,
    Elem::Date,
    Elem::Time,
    Elem::Uuid,
    Elem::Decimal,
    Elem::Inet,
];

mod tag {
    pub const NULL: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const I16: u8 = 3;
    pub const I32: u8 = 4;
    pub const I64: u8 = 5;
    pub const F32: u8 = 6;
    pub const F64: u8 = 7;
    pub const TEXT: u8 = 8;
    pub const BYTES: u8 = 9;
    pub const TIMESTAMP: u8 = 10;
    pub const TIMESTAMP_TZ: u8 = 11;
    pub const DATE: u8 = 12;
    pub const TIME: u8 = 13;
    pub const UUID: u8 = 14;
    pub const JSON: u8 = 15;
    pub const ARRAY: u8 = 16;
    pub const DECIMAL: u8 = 17;
    pub const INET: u8 = 18;
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_signed(out: &mut Vec<u8>, n: i64) {
    put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_datetime(out: &mut Vec<u8>, t: &NaiveDateTime) {
    let utc = t.and_utc();
    put_signed(out, utc.timestamp());
    put_varint(out, u64::from(utc.timestamp_subsec_nanos()));
}

/// Appends one value.
pub(crate) fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null(t) => {
            out.push(tag::NULL);
            // An enum's NULL is a text NULL (the type's name is not kept:
            // a NULL decodes the same whatever its type).
            let t = if let SqlType::Enum(_) = t {
                &SqlType::Text
            } else {
                t
            };
            out.push(SQL_TYPES.iter().position(|s| s == t).unwrap_or(0) as u8);
        }
        Value::Bool(b) => out.push(if *b { tag::TRUE } else { tag::FALSE }),
        Value::I16(v) => {
            out.push(tag::I16);
            put_signed(out, i64::from(*v));
        }
        Value::I32(v) => {
            out.push(tag::I32);
            put_signed(out, i64::from(*v));
        }
        Value::I64(v) => {
            out.push(tag::I64);
            put_signed(out, *v);
        }
        Value::F32(v) => {
            out.push(tag::F32);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        Value::F64(v) => {
            out.push(tag::F64);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        Value::Text(s) => {
            out.push(tag::TEXT);
            put_bytes(out, s.as_bytes());
        }
        // As its label: an enum field decodes from the label, as from the
        // text a backend returns for the column.
        Value::Enum(t, i) => {
            out.push(tag::TEXT);
            put_bytes(out, t.label(*i).as_bytes());
        }
        Value::Bytes(b) => {
            out.push(tag::BYTES);
            put_bytes(out, b);
        }
        Value::Timestamp(t) => {
            out.push(tag::TIMESTAMP);
            put_datetime(out, t);
        }
        Value::TimestampTz(t) => {
            out.push(tag::TIMESTAMP_TZ);
            put_datetime(out, &t.naive_utc());
        }
        Value::Date(d) => {
            out.push(tag::DATE);
            put_signed(out, i64::from(d.num_days_from_ce()));
        }
        Value::Time(t) => {
            out.push(tag::TIME);
            put_varint(out, u64::from(t.num_seconds_from_midnight()));
            put_varint(out, u64::from(t.nanosecond()));
        }
        Value::Uuid(u) => {
            out.push(tag::UUID);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Decimal(d) => {
            // Its 16-byte form: mantissa, scale and sign, exactly.
            out.push(tag::DECIMAL);
            out.extend_from_slice(&d.serialize());
        }
        Value::Inet(n) => {
            out.push(tag::INET);
            put_bytes(out, n.to_string().as_bytes());
        }
        Value::Json(j) => {
            out.push(tag::JSON);
            put_bytes(out, j.to_string().as_bytes());
        }
        Value::Array(elem, items) => {
            out.push(tag::ARRAY);
            out.push(ELEMS.iter().position(|e| e == elem).unwrap_or(0) as u8);
            put_varint(out, items.len() as u64);
            for item in items {
                put_value(out, item);
            }
        }
    }
}

/// Encodes a result.
pub(crate) fn encode(set: &RowSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + set.rows.len() * set.columns.len() * 6);
    out.push(FORMAT);
    put_varint(&mut out, set.columns.len() as u64);
    for c in set.columns.iter() {
        put_bytes(&mut out, c.as_bytes());
    }
    put_varint(&mut out, set.rows.len() as u64);
    for row in &set.rows {
        for value in row {
            put_value(&mut out, value);
        }
    }
    out
}

/// Reads values off the front of a slice; every method is `None` at the end
/// of the input or on a value out of range.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn signed(&mut self) -> Option<i64> {
        let z = self.varint()?;
        Some(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A count of things each at least one byte long: never more than
    /// the bytes left, so a damaged count cannot allocate gigabytes.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.0.len()).then_some(n)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.take(n)
    }

    fn text(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_string)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn datetime(&mut self) -> Option<NaiveDateTime> {
        let secs = self.signed()?;
        let nanos = u32::try_from(self.varint()?).ok()?;
        DateTime::from_timestamp(secs, nanos).map(|t| t.naive_utc())
    }

    fn value(&mut self, depth: u8) -> Option<Value> {
        Some(match self.byte()? {
            tag::NULL => Value::Null(*SQL_TYPES.get(usize::from(self.byte()?))?),
            tag::FALSE => Value::Bool(false),
            tag::TRUE => Value::Bool(true),
            tag::I16 => Value::I16(i16::try_from(self.signed()?).ok()?),
            tag::I32 => Value::I32(i32::try_from(self.signed()?).ok()?),
            tag::I64 => Value::I64(self.signed()?),
            tag::F32 => Value::F32(f32::from_bits(u32::from_le_bytes(self.array()?))),
            tag::F64 => Value::F64(f64::from_bits(u64::from_le_bytes(self.array()?))),
            tag::TEXT => Value::Text(self.text()?),
            tag::BYTES => Value::Bytes(self.bytes()?.to_vec()),
            tag::TIMESTAMP => Value::Timestamp(self.datetime()?),
            tag::TIMESTAMP_TZ => Value::TimestampTz(self.datetime()?.and_utc()),
            tag::DATE => Value::Date(NaiveDate::from_num_days_from_ce_opt(
                i32::try_from(self.signed()?).ok()?,
            )?),
            tag::TIME => {
                let secs = u32::try_from(self.varint()?).ok()?;
                let nanos = u32::try_from(self.varint()?).ok()?;
                Value::Time(NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)?)
            }
            tag::UUID => Value::Uuid(uuid::Uuid::from_bytes(self.array()?)),
            tag::JSON => Value::Json(Box::new(serde_json::from_slice(self.bytes()?).ok()?)),
            tag::INET => Value::Inet(std::str::from_utf8(self.bytes()?).ok()?.parse().ok()?),
            tag::DECIMAL => Value::Decimal(rust_decimal::Decimal::deserialize(self.array()?)),
            tag::ARRAY if depth < 8 => {
                let elem = *ELEMS.get(usize::from(self.byte()?))?;
                let n = self.count()?;
                Value::Array(
                    elem,
                    (0..n)
                        .map(|_| self.value(depth + 1))
                        .collect::<Option<_>>()?,
                )
            }
            _ => return None,
        })
    }
}

/// Decodes a result; `None` for anything that is not exactly an encoding
/// of this format.
pub(crate) fn decode(bytes: &[u8]) -> Option<RowSet> {
    let mut r = Reader(bytes);
    if r.byte()? != FORMAT {
        return None;
    }
    let ncols = r.count()?;
    let columns: Arc<[Box<str>]> = (0..ncols)
        .map(|_| r.text().map(String::into_boxed_str))
        .collect::<Option<_>>()?;
    let nrows = r.count()?;
    if ncols == 0 && nrows > 0 {
        return None;
    }
    let mut rows = Vec::with_capacity(nrows);
    for _ in 0..nrows {
        let row = (0..ncols).map(|_| r.value(0)).collect::<Option<Vec<_>>>()?;
        rows.push(row);
    }
    if !r.0.is_empty() {
        return None;
    }
    Some(RowSet { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn every_kind() -> RowSet {
        let when = NaiveDate::from_ymd_opt(1969, 7, 20)
            .unwrap()
            .and_hms_nano_opt(20, 17, 40, 123_456_789)
            .unwrap();
        let values = vec![
            Value::Null(SqlType::Json),
            Value::Bool(true),
            Value::Bool(false),
            Value::I16(i16::MIN),
            Value::I32(-1),
            Value::I64(i64::MAX),
            Value::F32(-0.5),
            Value::F64(f64::NAN),
            Value::Text("héllo".into()),
            Value::Bytes(vec![0, 255, 7]),
            Value::Timestamp(when),
            Value::TimestampTz(Utc.from_utc_datetime(&when)),
            Value::Date(NaiveDate::from_ymd_opt(-44, 3, 15).unwrap()),
            Value::Time(NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).unwrap()),
            Value::Uuid(uuid::Uuid::from_u128(0x1234_5678_9abc_def0)),
            Value::Decimal("-12345.6789".parse().unwrap()),
            Value::Inet("2001:db8::/32".parse().unwrap()),
            Value::Json(Box::new(serde_json::json!({"a": [1, 2, null]}))),
            Value::Array(Elem::BigInt, vec![Value::I64(1), Value::I64(2)]),
            Value::Array(Elem::Text, vec![]),
        ];
        let columns: Vec<Box<str>> = (0..values.len()).map(|i| format!("c{i}").into()).collect();
        RowSet {
            columns: columns.into(),
            rows: vec![values.clone(), values],
        }
    }

    fn same(a: &RowSet, b: &RowSet) -> bool {
        // NaN != NaN: compare encodings, which are bit-exact.
        a.columns == b.columns && encode(a) == encode(b)
    }

    #[test]
    fn every_kind_round_trips() {
        let set = every_kind();
        let bytes = encode(&set);
        let back = decode(&bytes).expect("decodes");
        assert!(same(&set, &back));
        assert_eq!(back.rows[0][5], Value::I64(i64::MAX));
        assert_eq!(back.rows[1][11], set.rows[1][11]);
    }

    #[test]
    fn empty_results_round_trip() {
        let set = RowSet::default();
        assert!(same(&set, &decode(&encode(&set)).unwrap()));
    }

    #[test]
    fn damaged_bytes_never_decode_to_garbage_or_panic() {
        let bytes = encode(&every_kind());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_none());
        // Flipped bits either fail or decode to something well-formed; the
        // region's checksum is what catches them, this must only not panic.
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0xff;
            let _ = decode(&bad);
        }
        let mut other_format = bytes;
        other_format[0] = FORMAT + 1;
        assert!(decode(&other_format).is_none());
        assert!(decode(&[FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_none());
    }

    #[test]
    fn small_values_are_small() {
        let set = RowSet {
            columns: vec!["id".into()].into(),
            rows: vec![vec![Value::I64(5)], vec![Value::Null(SqlType::BigInt)]],
        };
        // format, 1 column "id", 2 rows, 2 bytes per cell.
        assert_eq!(encode(&set).len(), 1 + 1 + 3 + 1 + 2 + 2);
    }
}
