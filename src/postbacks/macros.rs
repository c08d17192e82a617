//! A partner's postback URL, expanded for one conversion.
//!
//! The click macros (`{transaction_id}`, `{sub1}`.., `{offer_id}`, ...) go
//! through the shared [`UrlTemplate`], whose values are percent-encoded. The
//! conversion-only macros (`{payout}`, `{conversion_id}`, `{adv_event_id}`,
//! `{amount}`, `{order_id}`, `{idempotency_key}`) are not in the shared macro set, so they are
//! filled in a second pass over the first one's output, with the same encoding.
//! The first pass encodes `{` and `}` inside values, so a request value can
//! never smuggle a macro into the second pass.

use std::fmt::Write;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::catalog::money::Micros;
use crate::catalog::url_template::{Macro, MacroValues, UrlTemplate, UrlTemplateError};
use crate::routing::TransactionId;

/// RFC 3986 unreserved characters stay; everything else is escaped (as in offer URLs).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Everything a partner postback URL can mention.
#[derive(Debug, Clone)]
pub struct PostbackValues<'a> {
    pub transaction_id: TransactionId,
    pub offer_id: i64,
    pub partner_id: i64,
    pub advertiser_id: Option<i64>,
    pub smart_link_id: Option<i64>,
    pub subs: &'a [Option<String>; 5],
    pub source_id: Option<&'a str>,
    /// The conversion's id, or the event's for a post-conversion event.
    pub conversion_id: &'a str,
    pub adv_event_id: Option<&'a str>,
    pub payout: Micros,
    pub amount: Option<Micros>,
    pub order_id: Option<&'a str>,
    /// The delivery's id: the same on every attempt, from any instance, so the
    /// partner can drop repeats (delivery is at least once).
    pub idempotency_key: &'a str,
}

impl MacroValues for PostbackValues<'_> {
    fn write_value(&self, macro_: Macro, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match macro_ {
            Macro::TransactionId => write!(out, "{}", self.transaction_id),
            Macro::OfferId => write!(out, "{}", self.offer_id),
            Macro::AffiliateId => write!(out, "{}", self.partner_id),
            Macro::AdvertiserId => match self.advertiser_id {
                Some(id) => write!(out, "{id}"),
                None => Ok(()),
            },
            Macro::SmartLinkId => match self.smart_link_id {
                Some(id) => write!(out, "{id}"),
                None => Ok(()),
            },
            Macro::Sub(i) => {
                if let Some(Some(sub)) = self.subs.get(i) {
                    out.push_str(sub);
                }
                Ok(())
            }
            Macro::SourceId => {
                out.push_str(self.source_id.unwrap_or(""));
                Ok(())
            }
            // Visit facts a conversion does not carry: expand to nothing.
            Macro::Uid
            | Macro::Idfa
            | Macro::Gaid
            | Macro::CountryCode
            | Macro::Region
            | Macro::City
            | Macro::Os
            | Macro::Ip
            | Macro::UserAgent
            | Macro::DeviceType
            | Macro::UniqueClick
            | Macro::DeepLink => Ok(()),
        };
    }
}

/// The conversion-only macros, in the order `expand` fills them; the docs
/// test checks this list against the docs.
pub const CONVERSION_MACROS: [&str; 6] = [
    "payout",
    "conversion_id",
    "adv_event_id",
    "amount",
    "order_id",
    "idempotency_key",
];

/// The URL to call; fails only on a template the catalog should have refused.
pub fn expand(template: &str, values: &PostbackValues<'_>) -> Result<String, UrlTemplateError> {
    let first = UrlTemplate::parse(template)?.expand(values);
    let payout = values.payout.to_string();
    let amount = values.amount.map(|a| a.to_string()).unwrap_or_default();
    let conversion_only: [&str; 6] = [
        &payout,
        values.conversion_id,
        values.adv_event_id.unwrap_or(""),
        &amount,
        values.order_id.unwrap_or(""),
        values.idempotency_key,
    ];
    let mut url = first;
    for (name, value) in CONVERSION_MACROS.iter().zip(conversion_only) {
        let slot = format!("{{{name}}}");
        if url.contains(&slot) {
            url = url.replace(&slot, &utf8_percent_encode(value, VALUE).to_string());
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(subs: &'a [Option<String>; 5]) -> PostbackValues<'a> {
        PostbackValues {
            transaction_id: TransactionId(0xab),
            offer_id: 7,
            partner_id: 3,
            advertiser_id: Some(1),
            smart_link_id: None,
            subs,
            source_id: None,
            conversion_id: "c0ffee",
            adv_event_id: Some("add to cart"),
            payout: Micros(2_500_000),
            amount: None,
            order_id: None,
            idempotency_key: "0123456789abcdef0123456789abcdef",
        }
    }

    #[test]
    fn fills_click_and_conversion_macros() {
        let subs = [Some("a&b".to_owned()), None, None, None, None];
        let url = expand(
            "https://partner.example/pb?tid={transaction_id}&s1={sub1}&p={payout}&c={conversion_id}&e={adv_event_id}&o={offer_id}&k={idempotency_key}&x={custom}",
            &values(&subs),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://partner.example/pb?tid=000000000000000000000000000000ab&s1=a%26b&p=2.5&c=c0ffee&e=add%20to%20cart&o=7&k=0123456789abcdef0123456789abcdef&x={custom}"
        );
    }

    #[test]
    fn a_value_cannot_inject_a_conversion_macro() {
        let subs = [Some("{payout}".to_owned()), None, None, None, None];
        let url = expand("https://partner.example/pb?s1={sub1}", &values(&subs)).unwrap();
        assert_eq!(url, "https://partner.example/pb?s1=%7Bpayout%7D");
    }
}
