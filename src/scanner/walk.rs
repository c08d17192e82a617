//! Follows one URL's chain, hop by hop, the way a phone's browser would:
//! HTTP redirects, meta refresh, `location` assignments; with a cookie jar,
//! bounded in hops, per-hop time, chain time and body size.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{self, HeaderValue};
use url::Url;

use super::client::{self, ScanClient};
use super::hosts::{HostLists, Place};
use super::outcome::{ScanError, ScanResult};
use super::page::{PageHop, PageReader};

/// An Android phone's Chrome: trackers send phones to the store, and may send
/// a desktop browser to a web page instead.
pub const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";

#[derive(Debug, Clone)]
pub struct WalkLimits {
    /// Hops followed after the first request.
    pub max_hops: u32,
    pub hop_timeout: Duration,
    pub chain_timeout: Duration,
    /// Bytes of a page read to look for a meta refresh or a script hop.
    pub max_page_bytes: usize,
}

impl Default for WalkLimits {
    fn default() -> Self {
        Self {
            max_hops: 10,
            hop_timeout: Duration::from_secs(5),
            chain_timeout: Duration::from_secs(20),
            max_page_bytes: 256 * 1024,
        }
    }
}

/// Where a chain went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub result: ScanResult,
    pub reached_tracker: bool,
    pub final_url: Option<String>,
    pub hops: u32,
    pub error: Option<ScanError>,
    pub detail: Option<String>,
    /// Every URL requested or reached, the first included.
    pub chain: Vec<String>,
    pub duration: Duration,
}

/// Everything a walk needs, built once.
pub struct Walker {
    pub client: ScanClient,
    pub hosts: HostLists,
    pub page: PageReader,
    pub limits: WalkLimits,
    pub user_agent: HeaderValue,
}

/// How one hop answered.
enum Hop {
    Next(Url),
    End(Option<String>),
    Failed(ScanError, String),
}

impl Walker {
    pub async fn walk(&self, start: &str) -> Walk {
        let started = Instant::now();
        let mut state = State {
            chain: Vec::new(),
            reached_tracker: false,
            cookies: Vec::new(),
            seen: Vec::new(),
            jar_version: 0,
        };
        let mut url = match Url::parse(start) {
            Ok(url) => url,
            Err(e) => {
                state.chain.push(start.to_owned());
                return state.failed(ScanError::BadLocation, e.to_string(), started);
            }
        };
        loop {
            state.chain.push(url.to_string());
            match self.hosts.classify(&url) {
                Place::Store => return state.ended(ScanResult::Store, None, started),
                Place::Other => {
                    let detail = format!("left the web for a `{}:` URL", url.scheme());
                    return state.ended(ScanResult::Neither, Some(detail), started);
                }
                Place::Tracker => state.reached_tracker = true,
                Place::Web => {}
            }
            if !client::allowed(&url) {
                let detail = format!("{} is not a public address", url.host_str().unwrap_or(""));
                return state.failed(ScanError::PrivateAddress, detail, started);
            }
            let Some(left) = self.limits.chain_timeout.checked_sub(started.elapsed()) else {
                return state.failed(
                    ScanError::Timeout,
                    "the chain took too long".into(),
                    started,
                );
            };
            let budget = left.min(self.limits.hop_timeout);
            state.seen.push((url.to_string(), state.jar_version));
            let hop = match tokio::time::timeout(budget, self.hop(&url, &mut state)).await {
                Ok(hop) => hop,
                Err(_) => Hop::Failed(ScanError::Timeout, format!("no answer within {budget:?}")),
            };
            let next = match hop {
                Hop::Next(next) => next,
                Hop::Failed(error, detail) => return state.failed(error, detail, started),
                Hop::End(detail) => {
                    let result = if self.hosts.classify(&url) == Place::Tracker {
                        ScanResult::Tracker
                    } else {
                        ScanResult::Neither
                    };
                    return state.ended(result, detail, started);
                }
            };
            let again = (next.to_string(), state.jar_version);
            if state.seen.contains(&again) {
                state.chain.push(next.to_string());
                return state.failed(ScanError::Loop, format!("{next} again"), started);
            }
            if state.hops() >= self.limits.max_hops {
                state.chain.push(next.to_string());
                let detail = format!("more than {} hops", self.limits.max_hops);
                return state.failed(ScanError::TooManyHops, detail, started);
            }
            url = next;
        }
    }

    async fn hop(&self, url: &Url, state: &mut State) -> Hop {
        let mut request = hyper::Request::get(url.as_str())
            .header(header::USER_AGENT, self.user_agent.clone())
            .header(
                header::ACCEPT,
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            )
            .header(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9");
        if let Some(cookie) = state.cookie_header(url) {
            request = request.header(header::COOKIE, cookie);
        }
        let request = match request.body(Empty::<Bytes>::new()) {
            Ok(request) => request,
            Err(e) => return Hop::Failed(ScanError::BadLocation, e.to_string()),
        };
        let response = match self.client.request(request).await {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                let text = error_text(&e);
                let kind = if text.contains(client::PRIVATE_ADDRESS_REFUSED) {
                    ScanError::PrivateAddress
                } else {
                    ScanError::Connect
                };
                return Hop::Failed(kind, text);
            }
            Err(e) => return Hop::Failed(ScanError::BadResponse, error_text(&e)),
        };
        state.keep_cookies(url, response.headers());
        let status = response.status();
        if status.is_redirection() {
            let Some(location) = response.headers().get(header::LOCATION) else {
                return Hop::End(Some(format!("HTTP {} without Location", status.as_u16())));
            };
            return match location.to_str().ok().map(|l| url.join(l.trim())) {
                Some(Ok(next)) => Hop::Next(next),
                _ => Hop::Failed(
                    ScanError::BadLocation,
                    String::from_utf8_lossy(location.as_bytes()).into_owned(),
                ),
            };
        }
        if status.is_server_error() {
            return Hop::Failed(ScanError::Http5xx, format!("HTTP {}", status.as_u16()));
        }
        if !status.is_success() {
            return Hop::End(Some(format!("HTTP {}", status.as_u16())));
        }
        let html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.to_ascii_lowercase().contains("html"));
        if !html {
            return Hop::End(None);
        }
        let page = match read_prefix(response.into_body(), self.limits.max_page_bytes).await {
            Ok(page) => page,
            Err(detail) => return Hop::Failed(ScanError::BadResponse, detail),
        };
        match self.page.next_hop(&String::from_utf8_lossy(&page)) {
            Some(hop) => match url.join(hop.target()) {
                Ok(next) => Hop::Next(next),
                Err(e) => Hop::Failed(ScanError::BadLocation, format!("{}: {e}", describe(&hop))),
            },
            None => Hop::End(None),
        }
    }
}

fn describe(hop: &PageHop) -> String {
    match hop {
        PageHop::MetaRefresh(url) => format!("meta refresh to `{url}`"),
        PageHop::Script(url) => format!("script location `{url}`"),
    }
}

fn error_text(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    crate::columns::truncate_to(&text, 500).to_owned()
}

/// The first `limit` bytes of a body; the rest is never read.
async fn read_prefix(mut body: hyper::body::Incoming, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while out.len() < limit {
        match body.frame().await {
            None => break,
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = limit - out.len();
                    out.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
    }
    Ok(out)
}

struct State {
    chain: Vec<String>,
    reached_tracker: bool,
    /// (host, `name=value`): enough for trackers that set a cookie and send
    /// the browser back to themselves to check it.
    cookies: Vec<(String, String)>,
    /// (URL, `jar_version` when it was requested): a URL requested again with
    /// the same cookies would answer the same, so that is a loop; with new
    /// cookies it may not be.
    seen: Vec<(String, u32)>,
    jar_version: u32,
}

impl State {
    fn hops(&self) -> u32 {
        u32::try_from(self.chain.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    fn cookie_header(&self, url: &Url) -> Option<String> {
        let host = url.host_str()?;
        let pairs: Vec<&str> = self
            .cookies
            .iter()
            .filter(|(h, _)| h == host)
            .map(|(_, pair)| pair.as_str())
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn keep_cookies(&mut self, url: &Url, headers: &hyper::HeaderMap) {
        let Some(host) = url.host_str() else {
            return;
        };
        for value in headers.get_all(header::SET_COOKIE) {
            let Some(pair) = value.to_str().ok().and_then(|v| v.split(';').next()) else {
                continue;
            };
            let Some((name, _)) = pair.split_once('=') else {
                continue;
            };
            let pair = pair.trim();
            if self.cookies.iter().any(|(h, p)| h == host && p == pair) {
                continue;
            }
            self.cookies
                .retain(|(h, p)| !(h == host && p.split('=').next() == Some(name)));
            if self.cookies.len() < 50 {
                self.cookies.push((host.to_owned(), pair.to_owned()));
                self.jar_version += 1;
            }
        }
    }

    fn ended(self, result: ScanResult, detail: Option<String>, started: Instant) -> Walk {
        let hops = self.hops();
        let final_url = self.chain.last().cloned();
        Walk {
            result,
            reached_tracker: self.reached_tracker || result == ScanResult::Tracker,
            final_url,
            hops,
            error: None,
            detail,
            chain: self.chain,
            duration: started.elapsed(),
        }
    }

    fn failed(self, error: ScanError, detail: String, started: Instant) -> Walk {
        let mut walk = self.ended(ScanResult::Error, Some(detail), started);
        walk.error = Some(error);
        walk
    }
}
