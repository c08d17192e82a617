//! Offer targeting (country, OS, OS version) and advanced targeting (everything
//! else: geo detail, device, language, network, IP ranges, click parameters, day
//! parting).
//!
//! Admins write a [`TargetingSpec`] (JSON in Postgres, YAML in the catalog);
//! [`CompiledTargeting::compile`] validates it once at load time, and
//! [`CompiledTargeting::check`] matches each visit without allocating. The shared
//! rule for unknown values (no GeoIP data, unparsed user agent): an include list
//! does not match them, an exclude list does not exclude them. See `docs/TARGETING.md`.

mod compile;
mod dayparting;
mod error;
mod matching;
mod os_name;
mod params;
mod sets;
mod spec;
mod version;

#[cfg(test)]
mod tests;

pub use compile::CompiledTargeting;
pub use error::TargetingError;
pub use spec::{
    DayParting, IncludeExclude, OsVersionRange, ParamCondition, ParamOp, TargetingSpec,
};

/// Which kind of targeting refused a visit; each maps to its own rule code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetingScope {
    /// Country, OS, OS version.
    Offer,
    /// Every other dimension.
    Advanced,
}

impl TargetingScope {
    /// The rule code reported in decision traces and rejection statistics.
    pub fn rule_code(self) -> &'static str {
        match self {
            TargetingScope::Offer => "OFFER_TARGETING_MISMATCH",
            TargetingScope::Advanced => "ADVANCED_TARGETING_MISMATCH",
        }
    }
}

/// The first targeting dimension a visit failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    pub scope: TargetingScope,
    /// The spec key that failed, e.g. `"countries"`, `"os_versions"`, `"params"`.
    pub dimension: &'static str,
}

impl Mismatch {
    pub fn rule_code(&self) -> &'static str {
        self.scope.rule_code()
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.rule_code(), self.dimension)
    }
}
