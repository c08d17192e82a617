//! Languages from `Accept-Language`.

/// Most languages kept: targeting looks at the first few, and the header is
/// client-controlled.
pub const MAX_LANGUAGES: usize = 8;
/// Items read from the header; the rest is ignored so a junk header costs little.
const MAX_ITEMS: usize = 32;

/// Primary language subtags (`en` for `en-GB`), lowercase, most preferred
/// first. Ties keep header order; `q=0` ("not this one") and `*` are dropped,
/// as are malformed items, so a garbled header yields fewer languages rather
/// than wrong ones.
pub fn languages(accept_language: &str) -> Vec<String> {
    let mut weighted: Vec<(u16, String)> = accept_language
        .split(',')
        .take(MAX_ITEMS)
        .filter_map(item)
        .filter(|(q, _)| *q > 0)
        .collect();
    // Stable, so equal weights keep the client's order.
    weighted.sort_by_key(|(q, _)| std::cmp::Reverse(*q));
    let mut out: Vec<String> = Vec::with_capacity(weighted.len().min(MAX_LANGUAGES));
    for (_, lang) in weighted {
        if out.len() == MAX_LANGUAGES {
            break;
        }
        if !out.contains(&lang) {
            out.push(lang);
        }
    }
    out
}

/// One `tag;q=0.5` item as (weight in thousandths, primary subtag).
fn item(raw: &str) -> Option<(u16, String)> {
    let mut parts = raw.split(';');
    let tag = parts.next()?.trim();
    let primary = tag.split(['-', '_']).next()?;
    if primary.is_empty() || primary.len() > 8 || !primary.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return None;
    }
    let mut q = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            q = qvalue(value.trim())?;
        }
    }
    Some((q, primary.to_ascii_lowercase()))
}

fn qvalue(raw: &str) -> Option<u16> {
    // Digits and one dot only: `f32` would also take "inf", "NaN" and "1e-3".
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let q: f32 = raw.parse().ok()?;
    (0.0..=1.0)
        .contains(&q)
        .then(|| (q * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_q_value() {
        assert_eq!(languages("fr;q=0.5, en-US, de;q=0.9"), ["en", "de", "fr"]);
    }

    #[test]
    fn ties_keep_header_order() {
        assert_eq!(
            languages("pt-BR;q=0.8, es;q=0.8, en;q=0.8"),
            ["pt", "es", "en"]
        );
    }

    #[test]
    fn primary_subtag_is_lowercased_and_deduplicated() {
        assert_eq!(
            languages("EN-gb, en-US;q=0.9, Fr-CA;q=0.8, en;q=0.7, zh_Hant_TW;q=0.6"),
            ["en", "fr", "zh"]
        );
    }

    #[test]
    fn q_zero_means_not_wanted() {
        assert_eq!(languages("de;q=0, en;q=0.000, it;q=0.001"), ["it"]);
    }

    #[test]
    fn wildcard_is_ignored() {
        assert_eq!(languages("*, nl;q=0.5"), ["nl"]);
    }

    #[test]
    fn malformed_items_are_dropped() {
        assert_eq!(
            languages("en;q=2, fr;q=inf, de;q=abc, it;q, 12, ;q=1, es;Q=0.4 , ja"),
            ["ja", "es"]
        );
    }

    #[test]
    fn at_most_eight_languages() {
        let header = "a-x, ab, ac, ad, ae, af, ag, ah, ai, aj";
        let got = languages(header);
        assert_eq!(got.len(), MAX_LANGUAGES);
        assert_eq!(got.first().map(String::as_str), Some("a"));
        assert_eq!(got.last().map(String::as_str), Some("ah"));
    }

    #[test]
    fn empty_or_garbage_header_gives_nothing() {
        assert!(languages("").is_empty());
        assert!(languages(" , ;;,").is_empty());
    }
}
