//! The values of an offer URL's macros for one hit.

use std::fmt::Write;

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
        let text = |value: &Option<String>, out: &mut String| {
            if let Some(v) = value {
                out.push_str(v);
            }
        };
        // Writing to a String cannot fail.
        let _ = match macro_ {
            Macro::TransactionId => write!(out, "{}", self.transaction_id),
            Macro::OfferId => write!(out, "{}", self.offer_id),
            Macro::AffiliateId => write!(out, "{}", params.partner_id.unwrap_or_default()),
            Macro::AdvertiserId => write!(out, "{}", self.advertiser_id),
            Macro::SmartLinkId => match self.smart_link_id {
                Some(id) => write!(out, "{id}"),
                None => Ok(()),
            },
            Macro::UniqueClick => write!(out, "{}", u8::from(self.unique_click)),
            Macro::DeepLink => {
                out.push_str(self.deep_link.unwrap_or_default());
                Ok(())
            }
            Macro::Sub(i) => {
                text(&params.subs[i], out);
                Ok(())
            }
            Macro::SourceId => {
                text(&params.source_id, out);
                Ok(())
            }
            Macro::Uid => {
                text(&params.uid, out);
                Ok(())
            }
            Macro::Idfa => {
                text(&params.idfa, out);
                Ok(())
            }
            Macro::Gaid => {
                text(&params.gaid, out);
                Ok(())
            }
            Macro::CountryCode => {
                text(&self.visit.geo.country, out);
                Ok(())
            }
            Macro::Region => {
                text(&self.visit.geo.region, out);
                Ok(())
            }
            Macro::City => {
                text(&self.visit.geo.city, out);
                Ok(())
            }
            Macro::Os => {
                text(&self.visit.device.os_family, out);
                Ok(())
            }
            Macro::DeviceType => {
                out.push_str(self.visit.device.device_type.as_str());
                Ok(())
            }
        };
    }
}
