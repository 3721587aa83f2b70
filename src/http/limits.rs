//! Rate limits of the public listener and the client address they key on.
//!
//! Owns: the per-IP and global GCRA limiters (the `governor` crate) for two
//! classes of requests (certificate lookups, everything else), and deciding
//! which address a request comes from (`X-Forwarded-For` only from
//! configured proxies). Must not do: log or keep addresses beyond the
//! limiter's own bookkeeping (swept every minute).

use super::{HttpConfig, HttpError};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use hyper::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

/// Which budget a request draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Certificate lookups: the strict budget that makes enumerating codes hopeless.
    Lookup,
    /// Every other public request.
    Other,
    /// Not limited (health and metrics for monitoring, the admin listener).
    Free,
}

/// One per-IP limiter and one global limiter.
struct Pair {
    /// Keyed by client address (IPv6 by its /64 network).
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// All clients together.
    global: DefaultDirectRateLimiter,
}

impl Pair {
    fn check(&self, ip: IpAddr, clock: &DefaultClock) -> Result<(), Duration> {
        if let Err(not_until) = self.per_ip.check_key(&ip) {
            return Err(not_until.wait_time_from(clock.now()));
        }
        if let Err(not_until) = self.global.check() {
            return Err(not_until.wait_time_from(clock.now()));
        }
        Ok(())
    }
}

/// The public listener's limiters.
pub struct RateLimits {
    /// Budget for certificate lookups.
    lookup: Pair,
    /// Budget for everything else.
    other: Pair,
    /// The limiters' clock, to turn "not until" into a wait.
    clock: DefaultClock,
}

fn nonzero(key: &str, v: u32) -> Result<NonZeroU32, HttpError> {
    NonZeroU32::new(v)
        .ok_or_else(|| HttpError::Config(format!("http.{key}: must be greater than 0")))
}

impl RateLimits {
    /// Builds the limiters from the configuration.
    pub fn new(cfg: &HttpConfig) -> Result<RateLimits, HttpError> {
        let lookup_ip = Quota::per_minute(nonzero(
            "lookups_per_ip_per_minute",
            cfg.lookups_per_ip_per_minute,
        )?)
        .allow_burst(nonzero("lookup_burst", cfg.lookup_burst)?);
        let lookup_all = Quota::per_second(nonzero(
            "lookups_global_per_second",
            cfg.lookups_global_per_second,
        )?);
        let other_ip = Quota::per_second(nonzero(
            "requests_per_ip_per_second",
            cfg.requests_per_ip_per_second,
        )?)
        .allow_burst(nonzero("request_burst", cfg.request_burst)?);
        let other_all = Quota::per_second(nonzero(
            "requests_global_per_second",
            cfg.requests_global_per_second,
        )?);
        Ok(RateLimits {
            lookup: Pair {
                per_ip: DefaultKeyedRateLimiter::keyed(lookup_ip),
                global: DefaultDirectRateLimiter::direct(lookup_all),
            },
            other: Pair {
                per_ip: DefaultKeyedRateLimiter::keyed(other_ip),
                global: DefaultDirectRateLimiter::direct(other_all),
            },
            clock: DefaultClock::default(),
        })
    }

    /// `Ok` if the request may proceed, else how long the client must wait.
    pub fn check(&self, class: Class, client: IpAddr) -> Result<(), Duration> {
        let key = limit_key(client);
        match class {
            Class::Lookup => self.lookup.check(key, &self.clock),
            Class::Other => self.other.check(key, &self.clock),
            Class::Free => Ok(()),
        }
    }

    /// Drops per-IP entries that are back to a full budget (bounds memory).
    pub fn sweep(&self) {
        for pair in [&self.lookup, &self.other] {
            pair.per_ip.retain_recent();
            pair.per_ip.shrink_to_fit();
        }
    }
}

/// The limiter key: IPv4 addresses as they are, IPv6 by their /64 network
/// (one subscriber usually holds a whole /64).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A reverse proxy whose `X-Forwarded-For` is believed: one address
/// (`"10.0.0.1"`, `"::1"`) or a CIDR range (`"10.0.0.0/8"`,
/// `"2001:db8::/32"`). IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`) match
/// the IPv4 entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedProxy(pub IpNet);

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(s: &str) -> Result<TrustedProxy, String> {
        let s = s.trim();
        let net = if s.contains('/') {
            s.parse::<IpNet>().map_err(|_| {
                format!("{s:?} is not a CIDR range (address/prefix, e.g. \"10.0.0.0/8\")")
            })?
        } else {
            let ip = s.parse::<IpAddr>().map_err(|_| {
                format!("{s:?} is neither an IP address nor a CIDR range (e.g. \"10.0.0.0/8\")")
            })?;
            IpNet::from(ip.to_canonical())
        };
        if net.addr() != net.network() {
            return Err(format!(
                "{s:?} has host bits set; did you mean \"{}\"?",
                net.trunc()
            ));
        }
        Ok(TrustedProxy(net))
    }
}

impl<'de> serde::Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TrustedProxy, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The client address: the peer, unless the peer is a trusted proxy; then
/// the right-most `X-Forwarded-For` entry that is not itself a trusted
/// proxy (entries further left are written by the client and can be forged).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.0.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            // Garbage from an untrusted hop: stop at the last address we trust.
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn client_ip_table() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let peer_client: IpAddr = "192.0.2.7".parse().expect("ip");
        let cases: [(IpAddr, &str, IpAddr); 5] = [
            // Untrusted peer: header ignored.
            (peer_client, "203.0.113.9", peer_client),
            // Trusted proxy: the right-most untrusted entry.
            (
                proxy,
                "198.51.100.1, 203.0.113.9",
                "203.0.113.9".parse().expect("ip"),
            ),
            // Chain of trusted proxies is skipped.
            (
                proxy,
                "203.0.113.9, 10.0.0.1",
                "203.0.113.9".parse().expect("ip"),
            ),
            // Garbage: fall back to the proxy itself.
            (proxy, "not-an-ip", proxy),
            // Empty header: the proxy.
            (proxy, "", proxy),
        ];
        let trusted: [TrustedProxy; 1] = ["10.0.0.1".parse().expect("proxy")];
        for (peer, header, want) in cases {
            assert_eq!(
                client_ip(peer, &xff(header), &trusted),
                want,
                "{peer} {header}"
            );
        }
    }

    #[test]
    fn trusted_proxies_are_addresses_or_cidr_ranges() {
        let trusted: Vec<TrustedProxy> = ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"]
            .iter()
            .map(|t| t.parse().expect("proxy"))
            .collect();
        let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
        let cases = [
            // Any peer in 10/8 is a proxy; the client is the right-most untrusted hop.
            ("10.200.3.4", "203.0.113.9, 10.1.1.1", "203.0.113.9"),
            // A single address matches only itself.
            ("192.0.2.1", "203.0.113.9", "203.0.113.9"),
            ("192.0.2.2", "203.0.113.9", "192.0.2.2"),
            // IPv6 ranges; an IPv4-mapped peer matches the IPv4 range.
            ("2001:db8:ffff::1", "198.51.100.7", "198.51.100.7"),
            ("2001:db9::1", "198.51.100.7", "2001:db9::1"),
            ("::ffff:10.9.9.9", "198.51.100.7", "198.51.100.7"),
            // A mapped hop inside the trusted range is skipped too.
            ("10.0.0.1", "198.51.100.7, ::ffff:10.0.0.2", "198.51.100.7"),
            // Just outside the range.
            ("11.0.0.1", "198.51.100.7", "11.0.0.1"),
        ];
        for (peer, header, want) in cases {
            assert_eq!(
                client_ip(ip(peer), &xff(header), &trusted),
                ip(want),
                "peer {peer}, X-Forwarded-For {header}"
            );
        }
        for (bad, says) in [
            ("10.0.0.0/33", "not a CIDR range"),
            ("proxy.example", "neither an IP address nor a CIDR range"),
            ("10.0.0.1/8", "host bits set; did you mean \"10.0.0.0/8\""),
        ] {
            let e = bad.parse::<TrustedProxy>().expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn ipv6_keys_by_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(c));
    }
}
