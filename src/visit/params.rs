//! Tracking-link query parameters, validated once at the edge.
//!
//! A request value only ever reaches a redirect through a percent-encoded macro, so
//! validation here is about refusing garbage early and clearly, not about escaping.

use serde::Serialize;
use std::borrow::Cow;

/// Longest accepted raw query string; longer ones are refused before parsing.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Longest accepted decoded value of one parameter: what its column holds
/// (bytes, so never more characters than that).
pub const MAX_VALUE_BYTES: usize = crate::columns::TOKEN_CHARS;
/// Most parameters accepted in one query (known and unknown together).
pub const MAX_PARAMS: usize = 64;
/// Unknown parameters kept for targeting conditions; the rest are ignored.
const MAX_EXTRA_PARAMS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("missing parameter `{0}`")]
    Missing(&'static str),
    #[error("parameter `{0}` must be a positive integer")]
    NotAnId(&'static str),
    #[error("parameter `{0}` is repeated")]
    Repeated(String),
    #[error("parameter `{0}` is longer than {MAX_VALUE_BYTES} bytes")]
    TooLong(String),
    #[error("parameter `{0}` contains a control character or one of # / @ \\")]
    ForbiddenCharacter(String),
    #[error("query string longer than {MAX_QUERY_BYTES} bytes")]
    QueryTooLong,
    #[error("more than {MAX_PARAMS} parameters")]
    TooManyParameters,
}

impl ParamError {
    /// Stable machine-readable code, used in HTTP bodies and the click log.
    pub fn code(&self) -> &'static str {
        match self {
            ParamError::Missing(_) => "missing_parameter",
            ParamError::NotAnId(_) => "invalid_id",
            ParamError::Repeated(_) => "repeated_parameter",
            ParamError::TooLong(_) => "parameter_too_long",
            ParamError::ForbiddenCharacter(_) => "forbidden_character",
            ParamError::QueryTooLong => "query_too_long",
            ParamError::TooManyParameters => "too_many_parameters",
        }
    }

    /// The parameter at fault, where there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ParamError::Missing(name) | ParamError::NotAnId(name) => Some(name),
            ParamError::Repeated(name)
            | ParamError::TooLong(name)
            | ParamError::ForbiddenCharacter(name) => Some(name),
            ParamError::QueryTooLong | ParamError::TooManyParameters => None,
        }
    }
}

/// The parameters of `/c`, `/i` and `/sl/{id}` hits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrackingParams {
    pub offer_id: Option<i64>,
    pub partner_id: Option<i64>,
    pub subs: [Option<String>; 5],
    pub source_id: Option<String>,
    pub uid: Option<String>,
    pub idfa: Option<String>,
    pub gaid: Option<String>,
    /// Deep-link target; used only where the offer allows deep links.
    pub url: Option<String>,
    pub app_id: Option<String>,
    pub app_name: Option<String>,
    pub creative: Option<String>,
    pub placement: Option<String>,
    pub site: Option<String>,
    /// Other parameters, for targeting conditions on click parameters.
    pub extra: Vec<(String, String)>,
}

impl TrackingParams {
    /// Parses a raw query string. `require_offer` is false for smart links, whose
    /// offer comes from the link.
    pub fn parse(raw_query: &str, require_offer: bool) -> Result<Self, ParamError> {
        if raw_query.len() > MAX_QUERY_BYTES {
            return Err(ParamError::QueryTooLong);
        }
        let mut params = TrackingParams::default();
        let mut seen: Vec<Cow<'_, str>> = Vec::with_capacity(8);
        for (count, (name, value)) in query_pairs(raw_query).enumerate() {
            if count >= MAX_PARAMS {
                return Err(ParamError::TooManyParameters);
            }
            if value.len() > MAX_VALUE_BYTES {
                return Err(ParamError::TooLong(name.into_owned()));
            }
            if seen.contains(&name) {
                return Err(ParamError::Repeated(name.into_owned()));
            }
            params.assign(&name, value)?;
            seen.push(name);
        }
        if require_offer && params.offer_id.is_none() {
            return Err(ParamError::Missing("oid"));
        }
        if params.partner_id.is_none() {
            return Err(ParamError::Missing("affid"));
        }
        Ok(params)
    }

    /// Takes the value borrowed when it can: ids are parsed, not kept, and
    /// copying each was an allocation per parameter per click.
    fn assign(&mut self, name: &str, value: Cow<'_, str>) -> Result<(), ParamError> {
        let slot = match name {
            "oid" | "offer_id" => {
                self.offer_id = Some(parse_id("oid", &value)?);
                return Ok(());
            }
            "affid" | "affiliate_id" | "partner_id" => {
                self.partner_id = Some(parse_id("affid", &value)?);
                return Ok(());
            }
            "sub1" => &mut self.subs[0],
            "sub2" => &mut self.subs[1],
            "sub3" => &mut self.subs[2],
            "sub4" => &mut self.subs[3],
            "sub5" => &mut self.subs[4],
            "source_id" => &mut self.source_id,
            "uid" => &mut self.uid,
            "idfa" => &mut self.idfa,
            "gaid" => &mut self.gaid,
            "app_id" => &mut self.app_id,
            "app_name" => &mut self.app_name,
            "creative" => &mut self.creative,
            "placement" => &mut self.placement,
            "site" => &mut self.site,
            "url" => {
                // A deep link is a URL: it legitimately holds `/`, `#` and `@`.
                if value.chars().any(char::is_control) {
                    return Err(ParamError::ForbiddenCharacter(name.to_owned()));
                }
                self.url = Some(value.into_owned());
                return Ok(());
            }
            _ => {
                if self.extra.len() < MAX_EXTRA_PARAMS {
                    check_tracking_value(name, &value)?;
                    self.extra.push((name.to_owned(), value.into_owned()));
                }
                return Ok(());
            }
        };
        check_tracking_value(name, &value)?;
        *slot = (!value.is_empty()).then(|| value.into_owned());
        Ok(())
    }

    /// A named parameter's value, for targeting and traffic-control conditions.
    pub fn get(&self, name: &str) -> Option<&str> {
        let value = match name {
            "sub1" => &self.subs[0],
            "sub2" => &self.subs[1],
            "sub3" => &self.subs[2],
            "sub4" => &self.subs[3],
            "sub5" => &self.subs[4],
            "source_id" => &self.source_id,
            "uid" => &self.uid,
            "idfa" => &self.idfa,
            "gaid" => &self.gaid,
            "app_id" => &self.app_id,
            "app_name" => &self.app_name,
            "creative" => &self.creative,
            "placement" => &self.placement,
            "site" => &self.site,
            _ => {
                return self
                    .extra
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str());
            }
        };
        value.as_deref()
    }
}

/// The pairs `form_urlencoded::parse` yields, borrowed from the query where
/// nothing needs decoding (the usual tracking link): decoding each name and
/// value cost more than the rest of the parse.
fn query_pairs(raw_query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            if pair.contains(['%', '+']) {
                // One pair: the decoder yields exactly it.
                let decoded = form_urlencoded::parse(pair.as_bytes()).next();
                return decoded.unwrap_or((Cow::Borrowed(""), Cow::Borrowed("")));
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (Cow::Borrowed(name), Cow::Borrowed(value))
        })
}

fn parse_id(name: &'static str, value: &str) -> Result<i64, ParamError> {
    match value.parse::<i64>() {
        Ok(id) if id > 0 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(ParamError::NotAnId(name)),
    }
}

/// Sub ids and similar values are opaque tokens: control characters (header
/// injection) and URL delimiters have no business in them.
fn check_tracking_value(name: &str, value: &str) -> Result<(), ParamError> {
    let forbidden = |c: char| c.is_control() || matches!(c, '#' | '/' | '@' | '\\');
    if value.chars().any(forbidden) {
        return Err(ParamError::ForbiddenCharacter(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_what_the_url_decoder_yields() {
        for query in [
            "",
            "oid=1&affid=2&sub1=x",
            "a=b=c&&=x&flag&+=%2B&sub1=a+b%20c",
            "%zz=%&%E2%82%AC=é&&&",
            "über=groß%FF",
        ] {
            let ours: Vec<_> = query_pairs(query).collect();
            let theirs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
            assert_eq!(ours, theirs, "{query}");
        }
    }

    #[test]
    fn parses_ids_and_sub_ids() {
        let p = TrackingParams::parse("oid=7&affid=3&sub1=a%20b&sub5=z&foo=bar", true).unwrap();
        assert_eq!(p.offer_id, Some(7));
        assert_eq!(p.partner_id, Some(3));
        assert_eq!(p.subs[0].as_deref(), Some("a b"));
        assert_eq!(p.subs[4].as_deref(), Some("z"));
        assert_eq!(p.get("foo"), Some("bar"));
    }

    #[test]
    fn refuses_bad_ids() {
        for q in [
            "affid=1",
            "oid=&affid=1",
            "oid=x&affid=1",
            "oid=-1&affid=1",
            "oid=0&affid=1",
            "oid=+1&affid=1",
            "oid=99999999999999999999&affid=1",
        ] {
            assert!(TrackingParams::parse(q, true).is_err(), "{q}");
        }
        assert_eq!(
            TrackingParams::parse("oid=1", true),
            Err(ParamError::Missing("affid"))
        );
    }

    #[test]
    fn refuses_repeated_parameters() {
        let err = TrackingParams::parse("oid=1&affid=1&oid=2", true).unwrap_err();
        assert_eq!(err, ParamError::Repeated("oid".into()));
    }

    #[test]
    fn refuses_injection_characters_in_sub_ids() {
        for v in [
            "a%0d%0aLocation:%20x",
            "a%23b",
            "a%2Fb",
            "a%40b",
            "a%5Cb",
            "%00",
        ] {
            let q = format!("oid=1&affid=1&sub2={v}");
            assert!(
                matches!(
                    TrackingParams::parse(&q, true),
                    Err(ParamError::ForbiddenCharacter(_))
                ),
                "{v}"
            );
        }
    }

    #[test]
    fn refuses_oversized_input() {
        let long = "a".repeat(MAX_VALUE_BYTES + 1);
        let q = format!("oid=1&affid=1&sub1={long}");
        assert!(matches!(
            TrackingParams::parse(&q, true),
            Err(ParamError::TooLong(_))
        ));
        let huge = "x=1&".repeat(MAX_QUERY_BYTES);
        assert_eq!(
            TrackingParams::parse(&huge, true),
            Err(ParamError::QueryTooLong)
        );
        let many: String = (0..=MAX_PARAMS).map(|i| format!("p{i}=1&")).collect();
        assert_eq!(
            TrackingParams::parse(&many, true),
            Err(ParamError::TooManyParameters)
        );
    }

    #[test]
    fn smart_link_hits_need_no_offer() {
        let p = TrackingParams::parse("affid=4", false).unwrap();
        assert_eq!(p.offer_id, None);
    }
}
