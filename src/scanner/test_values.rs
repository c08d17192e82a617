//! The neutral values the scanner fills an offer URL's macros with, so the
//! advertiser's tracker can tell a scan from a click and attributes nothing to
//! a partner. Listed in docs/RULES.md.

use crate::catalog::url_template::{Macro, MacroValues};

/// A transaction id no click ever gets (`TransactionId` is random): all zeros.
pub const TRANSACTION_ID: &str = "00000000000000000000000000000000";
/// The advertising id a device reports when the user limits ad tracking.
pub const DEVICE_ID: &str = "00000000-0000-0000-0000-000000000000";
/// Matches the scanner's default user agent (an Android phone).
pub const OS: &str = "Android";
pub const COUNTRY: &str = "US";

pub struct ScanMacros<'a> {
    pub offer_id: i64,
    pub advertiser_id: i64,
    /// The user agent the scan sends.
    pub user_agent: &'a str,
}

impl MacroValues for ScanMacros<'_> {
    fn write_value(&self, macro_: Macro, out: &mut String) {
        let mut number = |n: i64| out.push_str(itoa::Buffer::new().format(n));
        let value = match macro_ {
            Macro::TransactionId => TRANSACTION_ID,
            Macro::OfferId => return number(self.offer_id),
            Macro::AdvertiserId => return number(self.advertiser_id),
            Macro::AffiliateId => "0",
            Macro::Idfa | Macro::Gaid => DEVICE_ID,
            Macro::CountryCode => COUNTRY,
            Macro::Os => OS,
            Macro::DeviceType => "mobile",
            Macro::UniqueClick => "1",
            Macro::UserAgent => self.user_agent,
            Macro::Sub(_)
            | Macro::SourceId
            | Macro::Uid
            | Macro::Region
            | Macro::City
            | Macro::SmartLinkId
            | Macro::DeepLink
            // The scanner's own address is not a visitor's; no made-up one
            // either, so a tracker geolocates nothing.
            | Macro::Ip => "",
        };
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::url_template::UrlTemplate;

    #[test]
    fn macros_get_neutral_values() {
        let template = UrlTemplate::parse(
            "https://adv.example/c?o={offer_id}&t={transaction_id}&p={affiliate_id}&s={sub1}&g={gaid}",
        )
        .unwrap();
        assert_eq!(
            template.expand(&ScanMacros {
                offer_id: 7,
                advertiser_id: 3,
                user_agent: "UA",
            }),
            format!("https://adv.example/c?o=7&t={TRANSACTION_ID}&p=0&s=&g={DEVICE_ID}")
        );
    }
}
