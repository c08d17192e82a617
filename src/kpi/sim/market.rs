//! A simulated market: the offers' hidden truth, the traffic, the link's KPI
//! settings and a drift schedule (format in docs/KPI.md).

use serde::Deserialize;

use crate::catalog::money::Micros;
use crate::catalog::source::{
    AdvertiserRow, CatalogSource, OfferRow, PartnerRow, RedirectMechanism, SmartLinkOfferRow,
    SmartLinkRow,
};
use crate::kpi::{KpiMetric, KpiStrategy};

/// The simulated link's id in the simulated catalog.
pub const LINK_ID: i64 = 1;
/// The one simulated partner.
pub const PARTNER_ID: i64 = 1;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Market {
    pub name: String,
    #[serde(default = "week")]
    pub hours: u32,
    pub clicks_per_hour: u32,
    pub link: LinkSettings,
    pub offers: Vec<MarketOffer>,
    #[serde(default)]
    pub drift: Vec<Drift>,
}

fn week() -> u32 {
    168
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    pub metric: KpiMetric,
    #[serde(default)]
    pub goal: Option<f64>,
    /// The data collection threshold (clicks over the window).
    pub threshold: u64,
    pub frequency_hours: u32,
    pub lookback_hours: u32,
    /// Simulated when `--strategy` is not given; absent: both.
    #[serde(default)]
    pub strategy: Option<KpiStrategy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketOffer {
    pub id: i64,
    /// Hidden from the optimizer: it sees only simulated conversions.
    pub conversion_rate: f64,
    /// Per conversion.
    pub payout: Micros,
    /// Per conversion.
    pub revenue: Micros,
}

/// From `hour` on, `offer`'s conversion rate is multiplied by `factor`
/// (several drifts of one offer multiply).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    pub hour: u32,
    pub offer: i64,
    pub factor: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error("cannot read market file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("market file {path} is not valid: {source}")]
    Parse {
        path: String,
        source: serde_yaml_ng::Error,
    },
    #[error("market {name}: {reason}")]
    Invalid { name: String, reason: String },
}

impl Market {
    pub fn parse(text: &str, path: &str) -> Result<Self, MarketError> {
        let market: Market =
            serde_yaml_ng::from_str(text).map_err(|source| MarketError::Parse {
                path: path.to_owned(),
                source,
            })?;
        market.validate()?;
        Ok(market)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, MarketError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| MarketError::Read {
            path: name.clone(),
            source,
        })?;
        Self::parse(&text, &name)
    }

    fn validate(&self) -> Result<(), MarketError> {
        let invalid = |reason: String| {
            Err(MarketError::Invalid {
                name: self.name.clone(),
                reason,
            })
        };
        if self.offers.is_empty() {
            return invalid("no offers".into());
        }
        if self.clicks_per_hour == 0 || self.hours == 0 {
            return invalid("clicks_per_hour and hours must be positive".into());
        }
        if self.link.frequency_hours == 0 || self.link.lookback_hours == 0 {
            return invalid("frequency_hours and lookback_hours must be positive".into());
        }
        for offer in &self.offers {
            if !(0.0..=1.0).contains(&offer.conversion_rate) {
                return invalid(format!("offer {}: conversion_rate outside 0..1", offer.id));
            }
            if self.offers.iter().filter(|o| o.id == offer.id).count() > 1 {
                return invalid(format!("offer {} listed twice", offer.id));
            }
        }
        for drift in &self.drift {
            if !self.offers.iter().any(|o| o.id == drift.offer) {
                return invalid(format!("drift names unknown offer {}", drift.offer));
            }
            if !(drift.factor.is_finite() && drift.factor >= 0.0) {
                return invalid(format!("drift factor {} is not >= 0", drift.factor));
            }
        }
        Ok(())
    }

    /// Each offer's true conversion rate during `hour`, in `offers` order.
    pub fn rates_at(&self, hour: u32) -> Vec<f64> {
        self.offers
            .iter()
            .map(|offer| {
                let factor: f64 = self
                    .drift
                    .iter()
                    .filter(|d| d.offer == offer.id && d.hour <= hour)
                    .map(|d| d.factor)
                    .product();
                (offer.conversion_rate * factor).clamp(0.0, 1.0)
            })
            .collect()
    }

    /// A catalog with one partner, the market's offers (no approval needed,
    /// no rules) and one KPI link holding them all.
    pub fn catalog_source(&self, strategy: KpiStrategy) -> CatalogSource {
        let offers = self
            .offers
            .iter()
            .map(|o| OfferRow {
                id: o.id,
                advertiser_id: 1,
                name: format!("Offer {}", o.id),
                status: Default::default(),
                offer_url: format!("https://offer{}.example/?t={{transaction_id}}", o.id),
                requires_approval: false,
                payout_model: Default::default(),
                payout: o.payout,
                revenue_model: Default::default(),
                revenue: o.revenue,
                currency: "USD".into(),
                timezone: "UTC".into(),
                fail_offer_id: None,
                duplicate_filter: None,
                duplicate_window_seconds: 86_400,
                duplicate_action: Default::default(),
                deep_link_enabled: false,
                deep_link_hosts: Vec::new(),
                conversion_window_seconds: 2_592_000,
                allow_duplicate_conversions: false,
                verification_token_sha256: None,
                targeting: serde_json::Value::Object(Default::default()),
            })
            .collect();
        let link_offers = self
            .offers
            .iter()
            .map(|o| SmartLinkOfferRow {
                smart_link_id: LINK_ID,
                offer_id: o.id,
                offer_url_id: None,
                priority: 0,
                weight: 1,
                is_catch_all: false,
                targeting: serde_json::Value::Object(Default::default()),
            })
            .collect();
        CatalogSource {
            advertisers: vec![AdvertiserRow {
                id: 1,
                name: "Simulated".into(),
                status: Default::default(),
            }],
            partners: vec![PartnerRow {
                id: PARTNER_ID,
                name: "Simulated".into(),
                status: Default::default(),
                tags: Vec::new(),
                api_key_sha256: None,
                postback_url: None,
            }],
            offers,
            smart_links: vec![SmartLinkRow {
                id: LINK_ID,
                name: self.name.clone(),
                status: Default::default(),
                tracking_domain_id: None,
                mechanism: RedirectMechanism::Kpi,
                partner_visible: false,
                kpi_metric: self.link.metric,
                kpi_min_clicks: i32::try_from(self.link.threshold).unwrap_or(i32::MAX),
                kpi_lookback_hours: i32::try_from(self.link.lookback_hours).ok(),
                kpi_goal: self.link.goal,
                kpi_frequency_hours: i32::try_from(self.link.frequency_hours).unwrap_or(i32::MAX),
                kpi_strategy: strategy,
                optimization_reset_at: None,
            }],
            smart_link_offers: link_offers,
            ..CatalogSource::default()
        }
    }
}
