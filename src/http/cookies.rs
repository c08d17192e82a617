//! The cookies an accepted click sets (seed 000, cookie-based tracking): `sy_tid`,
//! the click's transaction id, read by the conversion pixel on the same site;
//! and `sy_uid`, set once per browser, which the cookie duplicate filter keys on
//! (`sy_tid` changes on every click, so it cannot tell a repeat visitor).
//!
//! Browsers send these cookies only to the tracking site itself, or to a
//! subresource of a page on the same site (`SameSite=Lax`): a pixel on another
//! site never sees them. `docs/SMART_LINKS.md` says which setups work.

use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::routing::TransactionId;
use crate::visit::Visit;
use crate::visit::cookie::{TRANSACTION_COOKIE, VISITOR_COOKIE};

/// The conversion window's default: a pixel can still find the click.
const COOKIE_MAX_AGE_SECONDS: u32 = 2_592_000;

/// How click cookies are scoped; built once from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookiePolicy {
    /// Parent domains (lowercase, no leading dot). A click on one of them or on
    /// a subdomain sets its cookies there, so a pixel on any other subdomain
    /// of the same site (the advertiser's `www` beside a CNAMEd `track`) reads
    /// them.
    pub domains: Vec<String>,
    /// `SameSite=None; Secure` instead of `SameSite=Lax`: the operator says
    /// every tracking domain is reached over HTTPS, so a browser that still
    /// allows third-party cookies sends them to a pixel on another site.
    /// Never guessed from the request: behind a TLS-terminating proxy the
    /// server cannot tell, and browsers drop Secure cookies set over HTTP.
    pub cross_site: bool,
}

impl CookiePolicy {
    /// The `Domain` attribute for a click on `host`: a configured parent
    /// domain the host belongs to, else the smart link's tracking domain, else
    /// none (host-only, which is also what a request on an IP address needs).
    fn domain<'a>(
        &'a self,
        host: Option<&str>,
        tracking_domain: Option<&'a str>,
    ) -> Option<&'a str> {
        let parent = host.and_then(|host| {
            self.domains.iter().find(|domain| {
                host.strip_suffix(domain.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
            })
        });
        parent.map(String::as_str).or(tracking_domain)
    }

    fn same_site(&self) -> &'static str {
        if self.cross_site {
            "SameSite=None; Secure"
        } else {
            "SameSite=Lax"
        }
    }

    /// After an accepted click: `sy_tid`, and `sy_uid` for a new visitor.
    pub fn set_click_cookies(
        &self,
        response: &mut Response,
        site: &ClickSite<'_>,
        transaction_id: TransactionId,
        new_visitor: bool,
    ) {
        let hex = transaction_id.to_hex();
        let id = hex.as_str();
        let domain = self.domain(site.host, site.tracking_domain);
        let same_site = self.same_site();
        let headers = response.headers_mut();
        headers.append(
            header::SET_COOKIE,
            cookie(TRANSACTION_COOKIE, id, domain, same_site),
        );
        if new_visitor {
            headers.append(
                header::SET_COOKIE,
                cookie(VISITOR_COOKIE, id, domain, same_site),
            );
        }
    }
}

/// Where an accepted click was asked for: the request's host and the smart
/// link's tracking domain, if any.
pub struct ClickSite<'a> {
    pub host: Option<&'a str>,
    pub tracking_domain: Option<&'a str>,
}

/// Before routing: a browser without `sy_uid` is identified by the id this click
/// is about to set. Returns whether it is a new visitor.
pub fn identify_visitor(visit: &mut Visit, transaction_id: TransactionId) -> bool {
    let new_visitor = visit.click_cookie.is_none();
    if new_visitor {
        visit.click_cookie = Some(transaction_id.to_string());
    }
    new_visitor
}

/// Pieces pushed into one buffer sized up front: two `format!` calls per
/// cookie cost a tenth of a click's instructions.
fn cookie(name: &str, value: &str, domain: Option<&str>, same_site: &str) -> HeaderValue {
    const MAX_AGE: &str = "; Path=/; Max-Age=";
    let mut max_age = itoa::Buffer::new();
    let max_age = max_age.format(COOKIE_MAX_AGE_SECONDS);
    // Room for the attributes (under 100 bytes) and the domain.
    let mut text = String::with_capacity(128 + domain.map_or(0, str::len));
    for piece in [name, "=", value] {
        text.push_str(piece);
    }
    if let Some(domain) = domain {
        text.push_str("; Domain=");
        text.push_str(domain);
    }
    for piece in [MAX_AGE, max_age, "; HttpOnly; ", same_site] {
        text.push_str(piece);
    }
    // Names are constants, values hex, domains validated hostnames ([a-z0-9.-]).
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("sy_invalid=1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_scoped_to_the_tracking_domain() {
        assert_eq!(
            cookie("sy_tid", "ab", Some("go.example"), "SameSite=Lax"),
            "sy_tid=ab; Domain=go.example; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            cookie("sy_uid", "ab", None, "SameSite=Lax"),
            "sy_uid=ab; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn a_parent_domain_applies_to_its_own_hosts_only() {
        let policy = CookiePolicy {
            domains: vec!["adv.test".to_owned()],
            cross_site: false,
        };
        assert_eq!(
            policy.domain(Some("track.adv.test"), None),
            Some("adv.test")
        );
        assert_eq!(
            policy.domain(Some("adv.test"), Some("x.example")),
            Some("adv.test")
        );
        // A look-alike is not a subdomain: its cookies stay where they were.
        assert_eq!(policy.domain(Some("badadv.test"), None), None);
        assert_eq!(
            policy.domain(Some("go.other.test"), Some("go.other.test")),
            Some("go.other.test")
        );
    }

    #[test]
    fn cross_site_cookies_are_secure_and_only_on_request() {
        assert_eq!(CookiePolicy::default().same_site(), "SameSite=Lax");
        let https = CookiePolicy {
            domains: Vec::new(),
            cross_site: true,
        };
        assert_eq!(https.same_site(), "SameSite=None; Secure");
    }
}
