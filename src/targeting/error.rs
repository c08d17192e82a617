//! Why a targeting spec was refused. Every message names the JSON field and the
//! offending value, since an admin reads it after a failed catalog load.

/// A targeting spec that cannot be compiled. Raised at load time only, never per click.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetingError {
    #[error("{field}: `{value}` is not an ISO 3166-1 alpha-2 country code (two ASCII letters)")]
    InvalidCountry { field: &'static str, value: String },
    #[error("{field}: `{value}` is not a region code (`NY` or `US-NY`)")]
    InvalidRegion { field: &'static str, value: String },
    #[error("{field}: `{value}` is not a device type (desktop, mobile, tablet, bot, other)")]
    InvalidDeviceType { field: &'static str, value: String },
    #[error("{field}: `{value}` is not a primary language subtag (2 or 3 letters, e.g. `en`)")]
    InvalidLanguage { field: &'static str, value: String },
    #[error("{field}: `{value}` is not a CIDR range or IP address: {reason}")]
    InvalidCidr {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("{field}: empty value")]
    EmptyValue { field: &'static str },
    #[error("os_versions: `{value}` is not a version like `15`, `15.2` or `15.2.1` (os `{os}`)")]
    InvalidVersion { os: String, value: String },
    #[error("os_versions: os `{os}` has min `{min}` greater than max `{max}`")]
    EmptyVersionRange {
        os: String,
        min: String,
        max: String,
    },
    #[error("os_versions: os `{os}` needs `min`, `max` or both")]
    UnboundedVersionRange { os: String },
    #[error("params: `{name}` with op `{op}` needs {needs}")]
    MissingOperand {
        name: String,
        op: &'static str,
        needs: &'static str,
    },
    #[error("params: `{name}` with op `{op}` takes no {extra}")]
    UnexpectedOperand {
        name: String,
        op: &'static str,
        extra: &'static str,
    },
    #[error("params: `{name}` is not available to targeting conditions")]
    UnsupportedParam { name: String },
    #[error("params: `{name}` has an invalid regex `{value}`: {reason}")]
    InvalidRegex {
        name: String,
        value: String,
        reason: String,
    },
    #[error("day_parting.days: `{value}` is not a day (mon, tue, wed, thu, fri, sat, sun)")]
    InvalidDay { value: String },
    #[error("day_parting.hours: [{start}, {end}] is not a range with 0 <= start < end <= 24")]
    InvalidHours { start: u8, end: u8 },
}
