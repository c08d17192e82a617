//! What the user agent says about the client's device, OS and browser.

mod cache;
mod classify;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod uap_core_tests;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use cache::UaCache;
use classify::{Signals, classify};

/// The uap-core rules shipped in the binary, so it runs without data files.
const EMBEDDED_REGEXES: &str = include_str!("../../data/uap-core/regexes.yaml");
/// Distinct user agents remembered; real traffic repeats far fewer.
pub const DEFAULT_CACHE_CAPACITY: usize = 20_000;
/// Longer user agents are parsed every time: caching them would let a client
/// fill memory with a few huge headers.
const MAX_CACHED_UA_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    Desktop,
    Mobile,
    Tablet,
    Bot,
    #[default]
    Other,
}

impl DeviceType {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviceType::Desktop => "desktop",
            DeviceType::Mobile => "mobile",
            DeviceType::Tablet => "tablet",
            DeviceType::Bot => "bot",
            DeviceType::Other => "other",
        }
    }
}

/// A version as uap-core gives it: each part is text, because some are words
/// (Windows `XP`, `Vista`, `RT 8`) or not plain numbers (`3.1`, `0b3`). Parts
/// are shared, so cloning a cached `DeviceInfo` does not allocate for them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Version {
    #[serde(serialize_with = "part_text")]
    pub major: Option<Arc<str>>,
    #[serde(serialize_with = "part_text")]
    pub minor: Option<Arc<str>>,
    #[serde(serialize_with = "part_text")]
    pub patch: Option<Arc<str>>,
}

impl Version {
    pub fn from_parts(major: Option<&str>, minor: Option<&str>, patch: Option<&str>) -> Self {
        let text = |part: Option<&str>| part.map(Arc::from);
        Self {
            major: text(major),
            minor: text(minor),
            patch: text(patch),
        }
    }

    /// `(major, minor, patch)` for range comparisons, or `None` when the major
    /// is not a number (`XP`). A dotted major (`8.1`, as uap-core gives Windows
    /// 8.1) supplies the minor too. A minor or patch that is not a number
    /// counts as 0, like a missing one.
    pub fn numeric(&self) -> Option<(u32, u32, u32)> {
        let mut numbers = [0u32; 3];
        let mut count = 0;
        for piece in self.major.as_deref()?.split('.') {
            let n = number(piece)?;
            if let Some(slot) = numbers.get_mut(count) {
                *slot = n;
                count += 1;
            }
        }
        for part in [&self.minor, &self.patch] {
            let Some(n) = part.as_deref().and_then(number) else {
                break;
            };
            if let Some(slot) = numbers.get_mut(count) {
                *slot = n;
                count += 1;
            }
        }
        Some((numbers[0], numbers[1], numbers[2]))
    }
}

/// `17.4.1`, `XP`, `RT 8.1`: the parts uap-core found, dot-separated.
impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = [&self.major, &self.minor, &self.patch]
            .into_iter()
            .map_while(|part| part.as_deref());
        if let Some(first) = parts.next() {
            f.write_str(first)?;
        }
        parts.try_for_each(|part| write!(f, ".{part}"))
    }
}

/// Plain decimal digits only: `+1` or ` 1` are not versions.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn part_text<S: serde::Serializer>(part: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    part.as_deref().serialize(s)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// uap-core OS family, e.g. "iOS", "Android", "Windows", "Mac OS X", "Linux"; `None` if unknown.
    pub os_family: Option<String>,
    pub os_version: Version,
    pub device_type: DeviceType,
    /// uap-core user-agent family, e.g. "Chrome", "Mobile Safari", "Firefox".
    pub browser_family: Option<String>,
    pub browser_version: Version,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("cannot read user-agent regexes {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("user-agent regexes {origin} are not valid uap-core YAML: {source}")]
    Yaml {
        origin: String,
        source: serde_yaml_ng::Error,
    },
    #[error("user-agent regexes {origin} do not compile: {source}")]
    Compile {
        origin: String,
        source: ua_parser::Error,
    },
}

/// User agent → `DeviceInfo`, with uap-core's rules and a bounded cache.
pub struct DeviceDetector {
    extractor: ua_parser::Extractor<'static>,
    cache: UaCache,
}

impl DeviceDetector {
    /// From a uap-core `regexes.yaml`, e.g. a newer one than the binary ships.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, DeviceError> {
        let path = path.as_ref();
        let yaml = std::fs::read_to_string(path).map_err(|source| DeviceError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&yaml, &path.display().to_string())
    }

    /// From the uap-core rules compiled into the binary.
    pub fn embedded() -> Result<Self, DeviceError> {
        Self::from_yaml(EMBEDDED_REGEXES, "<embedded>")
    }

    /// The embedded detector, compiled once per process: compiling the regexes
    /// takes ~150 ms (seconds in debug builds), too slow to repeat per server.
    pub fn shared_embedded() -> Result<Arc<Self>, DeviceError> {
        static SHARED: std::sync::OnceLock<Arc<DeviceDetector>> = std::sync::OnceLock::new();
        if let Some(detector) = SHARED.get() {
            return Ok(detector.clone());
        }
        let detector = Arc::new(Self::embedded()?);
        Ok(SHARED.get_or_init(|| detector).clone())
    }

    fn from_yaml(yaml: &str, origin: &str) -> Result<Self, DeviceError> {
        // `Regexes` holds `Cow`s that serde always fills owned, so the result
        // borrows nothing from `yaml` and can be `'static`.
        let regexes: ua_parser::Regexes<'static> =
            serde_yaml_ng::from_str(yaml).map_err(|source| DeviceError::Yaml {
                origin: origin.to_owned(),
                source,
            })?;
        let extractor =
            ua_parser::Extractor::try_from(regexes).map_err(|source| DeviceError::Compile {
                origin: origin.to_owned(),
                source,
            })?;
        Ok(Self {
            extractor,
            cache: UaCache::new(DEFAULT_CACHE_CAPACITY),
        })
    }

    /// Remember at least `capacity` distinct user agents (and at most twice that).
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = UaCache::new(capacity);
        self
    }

    pub fn detect(&self, user_agent: &str) -> DeviceInfo {
        if user_agent.len() > MAX_CACHED_UA_BYTES {
            return self.parse(user_agent);
        }
        if let Some(info) = self.cache.get(user_agent) {
            return info;
        }
        let info = self.parse(user_agent);
        self.cache.insert(user_agent, info.clone());
        info
    }

    /// Parses without the cache.
    pub fn parse(&self, user_agent: &str) -> DeviceInfo {
        let (browser, os, device) = self.extractor.extract(user_agent);
        // uap-core's "Other" means "no idea"; so does `None` here.
        let known = |family: &str| family != "Other";
        let browser = browser.filter(|b| known(&b.family));
        let os = os.filter(|o| known(&o.os));
        let device = device.filter(|d| known(&d.device));
        let device_type = classify(&Signals {
            ua: user_agent,
            browser: browser.as_ref().map(|b| &*b.family),
            os: os.as_ref().map(|o| &*o.os),
            device: device.as_ref().map(|d| &*d.device),
        });
        DeviceInfo {
            os_version: os.as_ref().map_or_else(Version::default, |o| {
                Version::from_parts(o.major.as_deref(), o.minor.as_deref(), o.patch.as_deref())
            }),
            os_family: os.map(|o| o.os.into_owned()),
            device_type,
            browser_version: browser.as_ref().map_or_else(Version::default, |b| {
                Version::from_parts(b.major, b.minor, b.patch)
            }),
            browser_family: browser.map(|b| b.family.into_owned()),
        }
    }
}
