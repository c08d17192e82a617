//! The values of an offer URL's macros for one hit.

use crate::catalog::url_template::{Macro, MacroValues};
use crate::visit::Visit;

use super::TransactionId;

pub struct HitMacros<'a> {
    pub transaction_id: TransactionId,
    /// An allowed deep link, already checked against the offer's hosts.
    pub deep_link: Option<&'a str>,
    pub offer_id: i64,
    pub advertiser_id: i64,
    pub smart_link_id: Option<i64>,
    pub unique_click: bool,
    pub visit: &'a Visit,
}

impl MacroValues for HitMacros<'_> {
    fn write_value(&self, macro_: Macro, out: &mut String) {
        let params = &self.visit.params;
        // Numbers go through `itoa`: the formatting machinery cost more per
        // click than the rest of the URL.
        let mut number = |n: i64| out.push_str(itoa::Buffer::new().format(n));
        let value = match macro_ {
            Macro::TransactionId => return out.push_str(self.transaction_id.to_hex().as_str()),
            Macro::OfferId => return number(self.offer_id),
            Macro::AffiliateId => return number(params.partner_id.unwrap_or_default()),
            Macro::AdvertiserId => return number(self.advertiser_id),
            Macro::SmartLinkId => match self.smart_link_id {
                Some(id) => return number(id),
                None => "",
            },
            Macro::UniqueClick => {
                if self.unique_click {
                    "1"
                } else {
                    "0"
                }
            }
            Macro::DeepLink => self.deep_link.unwrap_or_default(),
            Macro::Sub(i) => text(&params.subs[i]),
            Macro::SourceId => text(&params.source_id),
            Macro::Uid => text(&params.uid),
            Macro::Idfa => text(&params.idfa),
            Macro::Gaid => text(&params.gaid),
            Macro::CountryCode => text(&self.visit.geo.country),
            Macro::Region => text(&self.visit.geo.region),
            Macro::City => text(&self.visit.geo.city),
            Macro::Os => text(&self.visit.device.os_family),
            Macro::DeviceType => self.visit.device.device_type.as_str(),
            Macro::Ip => {
                use std::fmt::Write as _;
                // Writing to a String cannot fail.
                let _ = write!(out, "{}", self.visit.ip);
                return;
            }
            Macro::UserAgent => &self.visit.user_agent,
        };
        out.push_str(value);
    }
}

fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}
