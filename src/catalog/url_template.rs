//! Offer URLs with `{macros}`, compiled once when the snapshot loads.
//!
//! Security lives here: macros may only appear after the host, and every value is
//! percent-encoded with everything but RFC 3986 unreserved characters escaped, so
//! a request value can fill a slot but never add a `/`, `?`, `#`, `@` or a line break.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A macro an offer URL can carry. Unknown `{names}` stay in the URL verbatim:
/// advertisers' own templates sometimes use braces, and we must not eat them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Macro {
    TransactionId,
    OfferId,
    AffiliateId,
    AdvertiserId,
    Sub(usize),
    SourceId,
    Uid,
    Idfa,
    Gaid,
    CountryCode,
    Region,
    City,
    Os,
    DeviceType,
    SmartLinkId,
    UniqueClick,
    /// The partner's `url=` deep link, where the offer allows it.
    DeepLink,
    /// The visitor's IP address (for advertisers' prevalidation URLs).
    Ip,
    /// The visitor's user agent, as stored.
    UserAgent,
}

/// Every macro name an offer URL may use, with what it expands to. The parser
/// reads this table, and the docs test checks it against docs/MODEL.md.
pub const MACROS: &[(&str, Macro)] = &[
    ("transaction_id", Macro::TransactionId),
    ("offer_id", Macro::OfferId),
    ("affiliate_id", Macro::AffiliateId),
    ("partner_id", Macro::AffiliateId),
    ("advertiser_id", Macro::AdvertiserId),
    ("sub1", Macro::Sub(0)),
    ("sub2", Macro::Sub(1)),
    ("sub3", Macro::Sub(2)),
    ("sub4", Macro::Sub(3)),
    ("sub5", Macro::Sub(4)),
    ("source_id", Macro::SourceId),
    ("uid", Macro::Uid),
    ("idfa", Macro::Idfa),
    ("gaid", Macro::Gaid),
    ("country_code", Macro::CountryCode),
    ("region", Macro::Region),
    ("city", Macro::City),
    ("os", Macro::Os),
    ("device_type", Macro::DeviceType),
    ("smart_link_id", Macro::SmartLinkId),
    ("unique_click", Macro::UniqueClick),
    ("deep_link", Macro::DeepLink),
    ("ip", Macro::Ip),
    ("user_agent", Macro::UserAgent),
];

impl Macro {
    fn from_name(name: &str) -> Option<Self> {
        MACROS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|&(_, macro_)| macro_)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlTemplateError {
    #[error("must start with http:// or https://")]
    Scheme,
    #[error("has no host")]
    NoHost,
    #[error("has a macro or brace in its scheme or host")]
    MacroInHost,
    #[error("contains whitespace or a control character")]
    Whitespace,
    #[error("contains non-ASCII characters (percent-encode them, use punycode hosts)")]
    NonAscii,
    #[error("is longer than 4 GB")]
    TooLong,
}

/// Two allocations an offer, whatever its macro count: a catalog of 100k
/// offers holds 100k of these (see docs/ARCHITECTURE.md, "Memory").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlTemplate {
    /// The literal text between the macros, end to end.
    literals: Box<str>,
    /// Each macro, after the literal text up to its offset in `literals`.
    slots: Box<[(u32, Macro)]>,
}

/// Provides the value of each macro for one hit; `None` expands to nothing.
pub trait MacroValues {
    fn write_value(&self, macro_: Macro, out: &mut String);
}

impl UrlTemplate {
    pub fn parse(url: &str) -> Result<Self, UrlTemplateError> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(UrlTemplateError::Scheme)?;
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlTemplateError::Whitespace);
        }
        // Expanded URLs go into a Location header, which must be visible ASCII.
        if !url.is_ascii() {
            return Err(UrlTemplateError::NonAscii);
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if authority.is_empty() || authority.starts_with('@') {
            return Err(UrlTemplateError::NoHost);
        }
        if authority.contains(['{', '}']) {
            return Err(UrlTemplateError::MacroInHost);
        }

        let mut literals = String::with_capacity(url.len());
        let mut slots = Vec::new();
        let mut remaining = url;
        while let Some(open) = remaining.find('{') {
            let after = &remaining[open + 1..];
            let known = after
                .find('}')
                .and_then(|close| Macro::from_name(&after[..close]).map(|m| (m, close)));
            match known {
                Some((macro_, close)) => {
                    literals.push_str(&remaining[..open]);
                    // Catalog URLs are bounded by the schema and the file loader;
                    // a 4 GB URL is refused rather than cut.
                    let at =
                        u32::try_from(literals.len()).map_err(|_| UrlTemplateError::TooLong)?;
                    slots.push((at, macro_));
                    remaining = &after[close + 1..];
                }
                None => {
                    literals.push_str(&remaining[..=open]);
                    remaining = after;
                }
            }
        }
        literals.push_str(remaining);
        Ok(Self {
            literals: literals.into_boxed_str(),
            slots: slots.into_boxed_slice(),
        })
    }

    /// `scheme://host[:port]`, which never holds a macro (checked at parse).
    pub fn origin(&self) -> Option<&str> {
        let first = match self.slots.first() {
            Some(&(at, _)) => &self.literals[..at as usize],
            None => &self.literals[..],
        };
        let after_scheme = first.find("://")? + 3;
        let end = first[after_scheme..]
            .find(['/', '?', '#'])
            .map_or(first.len(), |i| after_scheme + i);
        Some(&first[..end])
    }

    pub fn uses(&self, wanted: Macro) -> bool {
        self.slots.iter().any(|&(_, m)| m == wanted)
    }

    pub fn expand(&self, values: &impl MacroValues) -> String {
        let mut out = String::with_capacity(self.literals.len() + 64);
        let mut raw = String::new();
        let mut from = 0;
        for &(at, macro_) in &self.slots {
            let at = at as usize;
            out.push_str(&self.literals[from..at]);
            from = at;
            raw.clear();
            values.write_value(macro_, &mut raw);
            out.extend(utf8_percent_encode(&raw, VALUE));
        }
        out.push_str(&self.literals[from..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);
    impl MacroValues for Fixed {
        fn write_value(&self, m: Macro, out: &mut String) {
            match m {
                Macro::Sub(0) => out.push_str(self.0),
                Macro::OfferId => out.push('7'),
                _ => {}
            }
        }
    }

    #[test]
    fn expands_known_macros_and_keeps_unknown_ones() {
        let t =
            UrlTemplate::parse("https://adv.example/p?o={offer_id}&s={sub1}&x={custom}&e={sub2}")
                .unwrap();
        assert_eq!(
            t.expand(&Fixed("abc")),
            "https://adv.example/p?o=7&s=abc&x={custom}&e="
        );
    }

    #[test]
    fn values_cannot_escape_their_slot() {
        let t = UrlTemplate::parse("https://adv.example/{sub1}?q={sub1}").unwrap();
        let url = t.expand(&Fixed("../evil.example/?a=1#@x\r\nSet-Cookie: a"));
        assert_eq!(
            url,
            "https://adv.example/..%2Fevil.example%2F%3Fa%3D1%23%40x%0D%0ASet-Cookie%3A%20a?q=..%2Fevil.example%2F%3Fa%3D1%23%40x%0D%0ASet-Cookie%3A%20a"
        );
    }

    #[test]
    fn origin_is_scheme_host_and_port() {
        let t = UrlTemplate::parse("https://adv.example:8443/p?o={offer_id}").unwrap();
        assert_eq!(t.origin(), Some("https://adv.example:8443"));
        let t = UrlTemplate::parse("http://adv.example?{sub1}").unwrap();
        assert_eq!(t.origin(), Some("http://adv.example"));
    }

    #[test]
    fn refuses_macros_in_host_and_bad_schemes() {
        assert_eq!(
            UrlTemplate::parse("https://{sub1}.adv.example/"),
            Err(UrlTemplateError::MacroInHost)
        );
        assert_eq!(
            UrlTemplate::parse("javascript:alert(1)"),
            Err(UrlTemplateError::Scheme)
        );
        assert_eq!(
            UrlTemplate::parse("https:///path"),
            Err(UrlTemplateError::NoHost)
        );
        assert_eq!(
            UrlTemplate::parse("https://a.example/ x"),
            Err(UrlTemplateError::Whitespace)
        );
    }
}
