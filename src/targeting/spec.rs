//! The targeting shape admins write: JSON in Postgres `jsonb` columns and YAML in
//! the catalog file. Plain strings everywhere so it reads well in SQL; everything is
//! validated and turned into fast structures by [`super::CompiledTargeting::compile`].

use serde::{Deserialize, Serialize};

/// Offer and advanced targeting of one offer, smart-link offer or traffic-targeting row.
///
/// Every field is optional; an empty spec (`{}`) lets every visit through.
/// Unknown keys are refused so that a typo (`"country"` for `"countries"`) cannot
/// silently disable a restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetingSpec {
    // Offer targeting.
    /// ISO 3166-1 alpha-2 codes, e.g. `"US"`.
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub countries: IncludeExclude,
    /// uap-core OS families, e.g. `"iOS"`, `"Android"`, `"Windows"`, `"Mac OS X"`.
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub os: IncludeExclude,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub os_versions: Vec<OsVersionRange>,

    // Advanced targeting.
    /// ISO 3166-2 subdivision codes, either bare (`"NY"`) or country-qualified (`"US-NY"`).
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub regions: IncludeExclude,
    /// City names in English, as the GeoIP database spells them.
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub cities: IncludeExclude,
    /// `desktop`, `mobile`, `tablet`, `bot` or `other`.
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub device_types: IncludeExclude,
    /// uap-core browser families, e.g. `"Chrome"`, `"Mobile Safari"`.
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub browsers: IncludeExclude,
    /// Primary language subtags, e.g. `"en"`, matched against the preferred language.
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub languages: IncludeExclude,
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub isps: IncludeExclude,
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub carriers: IncludeExclude,
    /// Autonomous system numbers.
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub asns: IncludeExclude<u32>,
    /// MaxMind connection types: `cable/dsl`, `cellular`, `corporate`, `satellite`.
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub connection_types: IncludeExclude,
    /// CIDR ranges (`"10.0.0.0/8"`, `"2001:db8::/32"`) or single addresses.
    #[serde(skip_serializing_if = "IncludeExclude::is_empty")]
    pub ip_ranges: IncludeExclude,
    /// Conditions on click parameters; all must hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamCondition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_parting: Option<DayParting>,
}

impl TargetingSpec {
    /// True when the spec restricts nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Include and exclude lists of one dimension. An empty include list means "any".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncludeExclude<T = String> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<T>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<T>,
}

// Manual impl: the derive would needlessly require `T: Default`.
impl<T> Default for IncludeExclude<T> {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

impl<T> IncludeExclude<T> {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// An inclusive OS version range, e.g. "iOS >= 15.2" is `{"os":"iOS","min":"15.2"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsVersionRange {
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
}

/// A condition on one click parameter (`sub1`..`sub5`, `source_id`, `app_id`, or any
/// other query parameter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamCondition {
    pub name: String,
    pub op: ParamOp,
    /// The operand of `equals`, `contains` and `regex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The operands of `in`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Inverts the condition; a missing parameter then passes (except for `empty`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub negate: bool,
    /// Case-insensitive `equals`, `in` and `contains`; regexes use `(?i)` instead.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_case: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamOp {
    Equals,
    In,
    Contains,
    Regex,
    /// The parameter is missing or has an empty value.
    Empty,
}

/// When the offer runs, in the offer's timezone. Empty `days` means every day,
/// empty `hours` means all day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DayParting {
    /// `mon`..`sun` (full names accepted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
    /// `[start, end)` local hours, `0 <= start < end <= 24`; `[9, 17]` is 09:00 to 16:59.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<[u8; 2]>,
}

fn is_false(b: &bool) -> bool {
    !*b
}
