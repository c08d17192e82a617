//! The scanner's HTTP client: HTTP/1.1 and HTTPS, redirects not followed (the
//! walk follows them itself, hop by hop), and a resolver that can pin host
//! names to addresses, like curl's `--resolve`: for staging set-ups, and for
//! tests, where the store and tracker hosts are local servers.

use std::future::Future;
use std::net::SocketAddr;
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
            let addrs = system.call(name).await?;
            Ok(addrs.collect::<Vec<_>>().into_iter())
        })
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
