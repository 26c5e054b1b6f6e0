//! [`Cidr`]: a network address (`10.0.0.0/24`, no host bits set), stored as
//! PostgreSQL's native `cidr` and as text elsewhere, beside `IpAddr` and
//! `IpNetwork` (an address with an optional prefix: PostgreSQL's `inet`).
//!
//! The decision: a type of its own rather than a column attribute, because
//! PostgreSQL refuses a `cidr` with host bits (`10.0.0.1/24`): the value is
//! checked when it is made ([`Cidr::new`], `parse`), so a bad one never
//! reaches a flush. It travels as the same `Value::Inet` as `inet` values
//! (sqlx binds it as `inet`, which PostgreSQL assigns to a `cidr` column and
//! compares with one); only the column's DDL type differs.
//!
//! Layer 1 (the model): it uses only what is below it (see `crate::layers`).

use std::fmt;
use std::str::FromStr;

use ipnetwork::IpNetwork;

use crate::value::{ColumnValue, DecodeFailure, SqlType, Value};

/// A network: an address whose bits past the prefix are zero.
///
/// ```
/// use orm_core::types::Cidr;
/// let net: Cidr = "10.1.0.0/16".parse()?;
/// assert_eq!(net.network().prefix(), 16);
/// assert!(net.contains("10.1.2.3".parse().unwrap()));
/// // Host bits set: not a network (PostgreSQL's cidr refuses it too).
/// assert!("10.1.0.1/16".parse::<Cidr>().is_err());
/// # Ok::<(), orm_core::types::CidrError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr(IpNetwork);

/// Why a value is not a [`Cidr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not an address with an optional `/prefix`.
    #[error("not a network address: {0:?}")]
    Syntax(String),
    /// Bits set past the prefix (`10.0.0.1/24`; the network is `10.0.0.0/24`).
    #[error("{0} has bits set to the right of its /{1} prefix (the network is {2})")]
    HostBits(IpNetwork, u8, IpNetwork),
}

impl Cidr {
    /// The network, refused if bits past its prefix are set.
    pub fn new(net: IpNetwork) -> Result<Cidr, CidrError> {
        let masked = IpNetwork::new(net.network(), net.prefix()).expect("same prefix");
        if masked.ip() != net.ip() {
            return Err(CidrError::HostBits(net, net.prefix(), masked));
        }
        Ok(Cidr(net))
    }

    /// The network with the bits past its prefix cleared
    /// (`10.0.0.7/24` becomes `10.0.0.0/24`).
    pub fn truncating(net: IpNetwork) -> Cidr {
        Cidr(IpNetwork::new(net.network(), net.prefix()).expect("same prefix"))
    }

    /// As an [`IpNetwork`].
    pub fn network(self) -> IpNetwork {
        self.0
    }

    /// Whether `ip` is in the network.
    pub fn contains(self, ip: std::net::IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let net: IpNetwork = s.parse().map_err(|_| CidrError::Syntax(s.to_string()))?;
        Cidr::new(net)
    }
}

impl fmt::Display for Cidr {
    /// Always with its prefix, as PostgreSQL writes a `cidr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.ip(), self.0.prefix())
    }
}

impl TryFrom<IpNetwork> for Cidr {
    type Error = CidrError;
    fn try_from(net: IpNetwork) -> Result<Cidr, CidrError> {
        Cidr::new(net)
    }
}

impl From<Cidr> for IpNetwork {
    fn from(c: Cidr) -> IpNetwork {
        c.0
    }
}

impl ColumnValue for Cidr {
    const SQL_TYPE: SqlType = SqlType::Cidr;

    fn to_value(&self) -> Value {
        Value::Inet(self.0)
    }

    fn from_value(value: Value) -> Result<Self, DecodeFailure> {
        let fail = |v: &Value| DecodeFailure::new("Cidr", v);
        match &value {
            Value::Inet(n) => Cidr::new(*n).map_err(|_| fail(&value)),
            Value::Text(s) => s.parse().map_err(|_| fail(&value)),
            v => Err(fail(v)),
        }
    }
}

impl crate::model::column::Scalar for Cidr {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_host_bits() {
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8::/32");
        let host: Cidr = "10.0.0.1/32".parse().unwrap();
        assert_eq!(host.to_string(), "10.0.0.1/32");
        let err = "10.0.0.1/24".parse::<Cidr>().unwrap_err();
        assert!(err.to_string().contains("10.0.0.0/24"), "{err}");
        assert_eq!(
            Cidr::truncating("10.0.0.7/24".parse().unwrap()).to_string(),
            "10.0.0.0/24"
        );
        assert!(matches!("nope".parse::<Cidr>(), Err(CidrError::Syntax(_))));
        assert_eq!(
            Cidr::from_value(Value::Text("10.2.0.0/16".into())),
            Ok("10.2.0.0/16".parse().unwrap())
        );
        assert!(Cidr::from_value(Value::Text("10.2.0.1/16".into())).is_err());
    }
}
