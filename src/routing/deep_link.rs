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
    // Userinfo and backslashes are how "allowed.example@evil.example" tricks parsers.
    if authority.contains(['@', '\\'])
        || target.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .to_ascii_lowercase();
    let ok = offer.deep_link.hosts.iter().any(|h| {
        host == *h
            || host
                .strip_suffix(h.as_str())
                .is_some_and(|p| p.ends_with('.'))
    });
    ok.then_some(target)
}
