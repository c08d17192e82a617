//! The client's IP: the socket peer, or what trusted proxies say in `X-Forwarded-For`.

use std::net::IpAddr;

use ipnet::IpNet;

/// Proxies whose `X-Forwarded-For` we believe. Empty: the header is ignored.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Walks `X-Forwarded-For` from the right, skipping trusted hops: the first
    /// untrusted address is the client. Anything a client prepends is left of it
    /// and never read, so a client cannot choose its own IP.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|h| h.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = canonical(ip);
                    if !self.trusts(client) {
                        return client;
                    }
                }
                // A malformed hop ends what we can believe: keep the last trusted one.
                Err(_) => return client,
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what dual-stack sockets report) as plain IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()])
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        let ip = proxies().client_ip("203.0.113.9".parse().unwrap(), ["1.1.1.1"].into_iter());
        assert_eq!(ip, "203.0.113.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn trusted_peer_forwards_the_rightmost_untrusted_hop() {
        let ip = proxies().client_ip(
            "10.0.0.2".parse().unwrap(),
            ["6.6.6.6, 198.51.100.7", "10.0.0.5"].into_iter(),
        );
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn garbage_hop_stops_the_walk() {
        let ip = proxies().client_ip("10.0.0.2".parse().unwrap(), ["nonsense"].into_iter());
        assert_eq!(ip, "10.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn mapped_ipv6_is_ipv4() {
        assert_eq!(
            canonical("::ffff:1.2.3.4".parse().unwrap()),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
    }
}
