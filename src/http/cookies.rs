//! The cookies an accepted click sets (seed 000, cookie-based tracking): `sy_tid`,
//! the click's transaction id, read by the conversion pixel on the same domain;
//! and `sy_uid`, set once per browser, which the cookie duplicate filter keys on
//! (`sy_tid` changes on every click, so it cannot tell a repeat visitor).

use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::routing::TransactionId;
use crate::visit::Visit;
use crate::visit::cookie::{TRANSACTION_COOKIE, VISITOR_COOKIE};

/// The conversion window's default: a pixel can still find the click.
const COOKIE_MAX_AGE_SECONDS: u32 = 2_592_000;

/// Before routing: a browser without `sy_uid` is identified by the id this click
/// is about to set. Returns whether it is a new visitor.
pub fn identify_visitor(visit: &mut Visit, transaction_id: TransactionId) -> bool {
    let new_visitor = visit.click_cookie.is_none();
    if new_visitor {
        visit.click_cookie = Some(transaction_id.to_string());
    }
    new_visitor
}

/// After an accepted click: `sy_tid`, and `sy_uid` for a new visitor, on the
/// tracking domain (host-only without one).
pub fn set_click_cookies(
    response: &mut Response,
    transaction_id: TransactionId,
    new_visitor: bool,
    domain: Option<&str>,
) {
    let id = transaction_id.to_string();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, cookie(TRANSACTION_COOKIE, &id, domain));
    if new_visitor {
        headers.append(header::SET_COOKIE, cookie(VISITOR_COOKIE, &id, domain));
    }
}

/// `Secure` is left off: behind a TLS-terminating proxy the server cannot tell
/// the scheme, and a Secure cookie on a plain-HTTP tracking domain would be
/// dropped. Without a tracking domain the cookie is host-only, which is also
/// what a request on an IP address needs.
fn cookie(name: &str, value: &str, domain: Option<&str>) -> HeaderValue {
    let domain = domain.map_or(String::new(), |d| format!("; Domain={d}"));
    let text = format!(
        "{name}={value}{domain}; Path=/; Max-Age={COOKIE_MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax"
    );
    // Names are constants, values hex, domains validated hostnames ([a-z0-9.-]).
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("sy_invalid=1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_scoped_to_the_tracking_domain() {
        assert_eq!(
            cookie("sy_tid", "ab", Some("go.example")),
            "sy_tid=ab; Domain=go.example; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            cookie("sy_uid", "ab", None),
            "sy_uid=ab; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
        );
    }
}
