//! The scanner's HTTP client: HTTP/1.1 and HTTPS, redirects not followed (the
//! walk follows them itself, hop by hop), and a resolver that can pin host
//! names to addresses, like curl's `--resolve`: for staging set-ups, and for
//! tests, where the store and tracker hosts are local servers.
//!
//! Offer URLs and the redirects they lead to are written by advertisers and
//! their trackers, so the scanner must not become a way into our own network:
//! a name that resolves only to loopback, private or link-local addresses is
//! refused (`PRIVATE_ADDRESS_REFUSED`), and the walk refuses such IP literals.
//! Only pinned hosts go anywhere.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::rt::TokioExecutor;

pub type ScanClient = Client<HttpsConnector<HttpConnector<PinnedResolver>>, Empty<Bytes>>;

/// A host pinned to an address: `host=ip:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedHost {
    pub host: String,
    pub addr: SocketAddr,
}

impl std::str::FromStr for PinnedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (host, addr) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not host=ip:port"))?;
        let addr = addr
            .parse()
            .map_err(|e| format!("`{addr}` is not ip:port: {e}"))?;
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("`{text}` names no host"));
        }
        Ok(Self { host, addr })
    }
}

/// Pinned hosts first, then the system resolver.
#[derive(Debug, Clone)]
pub struct PinnedResolver {
    pinned: Arc<[PinnedHost]>,
    system: GaiResolver,
}

type Addrs = std::vec::IntoIter<SocketAddr>;

impl tower::Service<Name> for PinnedResolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addrs, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().trim_end_matches('.');
        if let Some(pin) = self
            .pinned
            .iter()
            .find(|p| p.host.eq_ignore_ascii_case(host))
        {
            let addrs = vec![pin.addr].into_iter();
            return Box::pin(std::future::ready(Ok(addrs)));
        }
        let mut system = self.system.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = system
                .call(name)
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    PRIVATE_ADDRESS_REFUSED,
                ));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// The error text of a name with no public address, which the walk reads
/// back as `ScanError::PrivateAddress`.
pub const PRIVATE_ADDRESS_REFUSED: &str = "resolves only to private addresses";

/// An address a visitor's phone could reach on the internet: not loopback,
/// private (RFC 1918, unique local), link-local, shared (RFC 6598),
/// documentation, multicast, broadcast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

/// Whether the walk may request `url`: an IP literal must be public; a name
/// is checked when it resolves.
pub fn allowed(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

pub fn scan_client(
    pinned: &[PinnedHost],
    connect_timeout: Duration,
) -> Result<ScanClient, rustls::Error> {
    let resolver = PinnedResolver {
        pinned: pinned.into(),
        system: GaiResolver::new(),
    };
    let mut http = HttpConnector::new_with_resolver(resolver);
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let connector = crate::postbacks::client::https_connector(http, "offer URL scans")?;
    // No idle pool: scans are spread out in time, and each hop is usually a
    // different host.
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_scanned() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "142.250.74.46", "2a00:1450:4001::200e"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
