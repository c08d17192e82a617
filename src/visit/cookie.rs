//! The visitor cookie: a browser's identity for the duplicate click filter.

/// Set by accepted clicks, once per browser (see `http::cookies`).
pub const VISITOR_COOKIE: &str = "sy_uid";

/// Set by accepted clicks to their transaction id; the conversion pixel reads it.
pub const TRANSACTION_COOKIE: &str = "sy_tid";

/// The first cookie named `name` across `Cookie` header lines.
pub fn cookie_value<'a>(
    cookie_headers: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<&'a str> {
    cookie_headers
        .into_iter()
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The visitor cookie's value from `Cookie` header lines. Only what we set is
/// believed (32 lowercase hex): anything else is junk or forged and counts as
/// no cookie.
pub fn visitor_cookie<'a>(cookie_headers: impl IntoIterator<Item = &'a str>) -> Option<String> {
    cookie_value(cookie_headers, VISITOR_COOKIE)
        .filter(|value| crate::routing::TransactionId::parse(value).is_some())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_visitor_cookie_is_believed() {
        let uid = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            visitor_cookie([format!("a=1; sy_uid={uid}").as_str()]),
            Some(uid.to_owned())
        );
        assert_eq!(visitor_cookie(["sy_uid=../../etc"]), None);
        assert_eq!(visitor_cookie(["a=1", "b=2"]), None);
    }
}
