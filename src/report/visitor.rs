//! Distinct visitors, counted without keeping an address: evidence a stranger cannot forge
//! cheaply. Anyone can POST a report and choose its count, its User-Agent and its browser; what a
//! sender cannot choose freely is the network it sends from.
//!
//! A visitor is the sender's network (an IPv4 /24, an IPv6 /48) on one day. Each report carries
//! one byte, the first byte of HMAC-SHA256 of that network under a key made at random for the
//! day ([`DayKey`]), which the store keeps until the day after and then forgets. Aggregates
//! keep the set of these bytes per problem and day, so:
//! - the count is exact under re-delivery and retried batches (adding to a set is idempotent);
//! - the set is bounded by construction: at most [`VISITOR_BUCKETS`] values a day;
//! - it is a lower bound: two networks may share a byte (1 in 256 for two), never the reverse;
//! - once the day's key is gone, nobody (the operator included) can tell which network a byte
//!   came from, or link one day's visitors to another's.
//!
//! People behind one NAT count once; the User-Agent is left out on purpose, since a sender
//! chooses it per request. A forger needs as many networks as the visitors it wants to fake.

use std::net::IpAddr;

use ring::hmac;

/// Distinct values a visitor can take: one byte.
pub const VISITOR_BUCKETS: usize = 256;

/// A day's random key. It never leaves the store and the process that hashes with it.
#[derive(Clone)]
pub struct DayKey([u8; 32]);

impl DayKey {
    /// A new key from the system's secure random source.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut key = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)?;
        Ok(Self(key))
    }

    /// A key as the store keeps it.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// The key's bytes, for the store.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The visitor byte of a sender at `ip`.
    pub fn visitor(&self, ip: IpAddr) -> u8 {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let tag = match network(ip) {
            Network::V4(n) => hmac::sign(&key, &n),
            Network::V6(n) => hmac::sign(&key, &n),
        };
        tag.as_ref()[0]
    }
}

impl std::fmt::Debug for DayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DayKey(..)")
    }
}

/// A sender's network, tagged by family so that no IPv4 prefix equals an IPv6 one.
enum Network {
    V4([u8; 4]),
    V6([u8; 7]),
}

/// The /24 of an IPv4 address (an IPv4-mapped IPv6 address is read as IPv4), the /48 of an
/// IPv6 one.
fn network(ip: IpAddr) -> Network {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Network::V4([4, a, b, c])
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            Network::V6([6, o[0], o[1], o[2], o[3], o[4], o[5]])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_network_is_one_visitor_and_the_key_decides_which() {
        let key = DayKey::from_bytes(&[7; 32]).unwrap();
        let v = |s: &str| key.visitor(s.parse().unwrap());
        assert_eq!(v("192.0.2.1"), v("192.0.2.254"), "one /24");
        assert_eq!(v("::ffff:192.0.2.9"), v("192.0.2.1"), "IPv4-mapped");
        assert_eq!(v("2001:db8:1::1"), v("2001:db8:1:ffff::2"), "one /48");
        let distinct: std::collections::BTreeSet<u8> =
            (0..=255u8).map(|c| v(&format!("198.51.{c}.1"))).collect();
        assert!(
            distinct.len() > 140,
            "256 networks spread over the bytes: {}",
            distinct.len()
        );
        let other = DayKey::from_bytes(&[8; 32]).unwrap();
        let moved = (0..=255u8)
            .filter(|c| {
                let ip: IpAddr = format!("198.51.{c}.1").parse().unwrap();
                key.visitor(ip) != other.visitor(ip)
            })
            .count();
        assert!(
            moved > 200,
            "another day's key maps networks elsewhere: {moved}"
        );
        assert_ne!(
            DayKey::generate().unwrap().bytes(),
            DayKey::generate().unwrap().bytes()
        );
        assert_eq!(format!("{key:?}"), "DayKey(..)", "never printed");
    }
}
