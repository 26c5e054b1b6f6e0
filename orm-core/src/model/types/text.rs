//! [`AsText`]: any `Display + FromStr` type as a text column.
//!
//! Layer 1 (the model): it uses only what is below it (see `crate::layers`).

use std::fmt::Display;
use std::str::FromStr;

use super::Converter;
use crate::value::{DecodeFailure, SqlType, Value};

/// Stores a `Display + FromStr` type as text: `Display` writes it, `FromStr`
/// reads it back. An `IpAddr` (v4 and v6) is the typical use:
///
/// ```
/// use std::net::IpAddr;
/// use orm_core::{AsText, Converter, Value};
///
/// let ip: IpAddr = "2001:db8::1".parse().unwrap();
/// assert_eq!(AsText::to_value(&ip), Value::Text("2001:db8::1".into()));
/// let back: IpAddr = AsText::from_value(Value::Text("2001:db8::1".into())).unwrap();
/// assert_eq!(back, ip);
///
/// let bad = <AsText as Converter<IpAddr>>::from_value(Value::Text("not-an-ip".into())).unwrap_err();
/// assert_eq!(bad.found, "text \"not-an-ip\"");
/// ```
///
/// The text must round-trip: `s.parse()` of `v.to_string()` gives `v` back.
/// Ordering in SQL (`lt`, `order_by`) is the text's, not the type's.
#[derive(Debug, Clone, Copy)]
pub struct AsText;

impl<T: Display + FromStr> Converter<T> for AsText {
    const SQL_TYPE: SqlType = SqlType::Text;

    fn to_value(value: &T) -> Value {
        Value::Text(value.to_string())
    }

    fn from_value(value: Value) -> Result<T, DecodeFailure> {
        match &value {
            Value::Text(s) => s
                .parse()
                .map_err(|_| DecodeFailure::new(std::any::type_name::<T>(), &value)),
            _ => Err(DecodeFailure::new(std::any::type_name::<T>(), &value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn ip_addresses_round_trip_and_bad_text_is_a_failure() {
        for ip in [
            IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            "fe80::1:2:3:4".parse().unwrap(),
        ] {
            let v = AsText::to_value(&ip);
            assert_eq!(<AsText as Converter<IpAddr>>::from_value(v), Ok(ip));
        }
        let err = <AsText as Converter<IpAddr>>::from_value(Value::I64(3)).unwrap_err();
        assert_eq!(err.expected, "core::net::ip_addr::IpAddr");
        assert_eq!(err.found, "i64 3");
    }
}
