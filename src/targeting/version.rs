//! OS version ranges ("iOS >= 15.2"), parsed once into comparable triples.

use super::TargetingError;
use super::sets::{eq_folded, fold};
use super::spec::OsVersionRange;
use crate::visit::device::Version;

/// `major.minor.patch` with missing parts as 0, so that "14" == "14.0" == "14.0.0".
type Triple = (u32, u32, u32);

#[derive(Debug, Clone)]
pub(crate) struct VersionRule {
    os: Box<str>,
    min: Option<Triple>,
    max: Option<Triple>,
}

impl VersionRule {
    pub fn compile(spec: &OsVersionRange) -> Result<Self, TargetingError> {
        let os = spec.os.trim();
        if os.is_empty() {
            return Err(TargetingError::EmptyValue {
                field: "os_versions.os",
            });
        }
        let parse = |v: &Option<String>| {
            v.as_deref()
                .map(|v| {
                    parse_version(v).ok_or_else(|| TargetingError::InvalidVersion {
                        os: os.to_owned(),
                        value: v.to_owned(),
                    })
                })
                .transpose()
        };
        let (min, max) = (parse(&spec.min)?, parse(&spec.max)?);
        match (min, max) {
            (None, None) => Err(TargetingError::UnboundedVersionRange { os: os.to_owned() }),
            (Some(lo), Some(hi)) if lo > hi => Err(TargetingError::EmptyVersionRange {
                os: os.to_owned(),
                min: spec.min.clone().unwrap_or_default(),
                max: spec.max.clone().unwrap_or_default(),
            }),
            _ => Ok(Self {
                os: fold(os).into(),
                min,
                max,
            }),
        }
    }

    fn contains(&self, v: Triple) -> bool {
        self.min.is_none_or(|lo| v >= lo) && self.max.is_none_or(|hi| v <= hi)
    }
}

/// Ranges of several OSes. A visit whose OS has no range is not constrained here
/// (the `os` list decides which OSes run); one whose OS has ranges must fall in one.
#[derive(Debug, Clone, Default)]
pub(crate) struct VersionRules(pub Vec<VersionRule>);

impl VersionRules {
    pub fn allows(&self, os: Option<&str>, version: &Version) -> bool {
        let Some(os) = os else { return true };
        // A word version (Windows `XP`) is in no numeric range: target it by name
        // in `os` instead (`Windows XP`).
        let visit = version.numeric();
        let mut constrained = false;
        for rule in self.0.iter().filter(|r| eq_folded(os, &r.os)) {
            constrained = true;
            // An unknown version cannot be shown to be in range.
            if visit.is_some_and(|v| rule.contains(v)) {
                return true;
            }
        }
        !constrained
    }
}

/// `15`, `15.2` or `15.2.1`: one to three dot-separated decimal numbers.
fn parse_version(s: &str) -> Option<Triple> {
    let mut parts = [0u32; 3];
    for (index, part) in s.trim().split('.').enumerate() {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *parts.get_mut(index)? = part.parse().ok()?;
    }
    Some((parts[0], parts[1], parts[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(os: &str, min: Option<&str>, max: Option<&str>) -> Result<VersionRule, TargetingError> {
        VersionRule::compile(&OsVersionRange {
            os: os.into(),
            min: min.map(Into::into),
            max: max.map(Into::into),
        })
    }

    #[test]
    fn parses_one_to_three_parts() {
        assert_eq!(parse_version("15"), Some((15, 0, 0)));
        assert_eq!(parse_version(" 15.2 "), Some((15, 2, 0)));
        assert_eq!(parse_version("14.0.1"), Some((14, 0, 1)));
        for bad in [
            "",
            "15.",
            ".2",
            "15.2.1.4",
            "15.x",
            "v15",
            "-1",
            "+1",
            "99999999999",
        ] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_bad_ranges_with_the_os_named() {
        let err = rule("iOS", Some("15.x"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "os_versions: `15.x` is not a version like `15`, `15.2` or `15.2.1` (os `iOS`)"
        );
        assert!(matches!(
            rule("iOS", Some("16"), Some("15.9")),
            Err(TargetingError::EmptyVersionRange { .. })
        ));
        assert!(matches!(
            rule("iOS", None, None),
            Err(TargetingError::UnboundedVersionRange { .. })
        ));
        assert!(matches!(
            rule(" ", Some("1"), None),
            Err(TargetingError::EmptyValue { .. })
        ));
    }
}
