//! Deep links (`url=`): a partner may choose the landing page, but only where the
//! offer allows it and only on hosts the offer names.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::catalog::Offer;

/// What may not appear raw in a Location header; URL delimiters stay as they are.
const UNSAFE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`');

/// A deep link as a header-safe URL: non-ASCII and unsafe bytes percent-encoded.
pub fn escape(target: &str) -> String {
    utf8_percent_encode(target, UNSAFE).to_string()
}

/// The deep link to redirect to, if the offer allows this one.
pub fn allowed<'a>(offer: &Offer, target: &'a str) -> Option<&'a str> {
    if !offer.deep_link.enabled {
        return None;
    }
    let rest = target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"))?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if target.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    // Only a plain DNS name and digits pass: userinfo (`allowed.example@evil`),
    // backslashes, percent-encoding (`evil.com%2f.allowed.example`), IP
    // literals and anything else a browser might read differently are refused.
    if !is_dns_name(host)
        || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let host = host.to_ascii_lowercase();
    // The browser's reading must agree with ours.
    let parsed = url::Url::parse(target).ok()?;
    if parsed.host_str() != Some(host.as_str()) || !parsed.username().is_empty() {
        return None;
    }
    let ok = offer
        .deep_link
        .hosts
        .iter()
        .any(|h| *host == **h || host.strip_suffix(&**h).is_some_and(|p| p.ends_with('.')));
    ok.then_some(target)
}

/// A host name as DNS allows it (RFC 1123): dot-separated labels of 1 to 63
/// ASCII letters, digits and inner hyphens, 253 characters at most, and not all
/// digits at the end (that would be an IPv4 address).
fn is_dns_name(host: &str) -> bool {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    host.len() <= 253
        && host.split('.').all(label_ok)
        && host
            .rsplit('.')
            .next()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests;
