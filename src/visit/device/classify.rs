//! Desktop, mobile, tablet, bot or other, from what uap-core found and a few
//! tokens it does not report. uap-core names devices, it does not type them.

use super::DeviceType;

/// What uap-core extracted from one user agent; `None` where it found nothing.
pub(super) struct Signals<'a> {
    pub ua: &'a str,
    pub browser: Option<&'a str>,
    pub os: Option<&'a str>,
    pub device: Option<&'a str>,
}

/// HTTP tools and libraries: no person behind them, whatever the offer thinks.
/// uap-core gives them a browser family but no "Spider" device.
const TOOL_FAMILIES: &[&str] = &[
    "curl",
    "wget",
    "wget2",
    "libcurl-agent",
    "libwww-perl",
    "pycurl",
    "python requests",
    "python-urllib",
    "aria2",
    "httpie",
    "axios",
    "go-http-client",
    "java",
    "apache-httpclient",
    "headlesschrome",
    "phantomjs",
];

/// Automation that uap-core parses as an ordinary browser or not at all.
const BOT_TOKENS: &[&str] = &[
    "HeadlessChrome",
    "PhantomJS",
    "Go-http-client",
    "python-requests",
    "python-urllib",
    "Apache-HttpClient",
];

/// TVs and consoles run Android without "Mobile" and would pass as tablets.
const TV_TOKENS: &[&str] = &[
    "SmartTV",
    "SMART-TV",
    "Smart-TV",
    "GoogleTV",
    "Android TV",
    "AndroidTV",
    "CrKey",
    "AFTB",
    "AFTM",
    "AFTS",
    "AFTT",
    "BRAVIA",
    "Roku",
    "PlayStation",
    "Nintendo",
];

const MOBILE_OS: &[&str] = &[
    "iOS",
    "Android",
    "Windows Phone",
    "BlackBerry OS",
    "KaiOS",
    "Symbian OS",
    "Firefox OS",
    "Sailfish",
    "HarmonyOS",
];

const DESKTOP_OS: &[&str] = &[
    "Windows",
    "Mac OS X",
    "macOS",
    "Linux",
    "Ubuntu",
    "Debian",
    "Fedora",
    "Red Hat",
    "Chrome OS",
    "ChromeOS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
];

pub(super) fn classify(s: &Signals<'_>) -> DeviceType {
    let browser_is_tool = s
        .browser
        .is_some_and(|b| TOOL_FAMILIES.iter().any(|t| b.eq_ignore_ascii_case(t)));
    if s.device == Some("Spider") || browser_is_tool || contains_any(s.ua, BOT_TOKENS) {
        return DeviceType::Bot;
    }
    if contains_any(s.ua, TV_TOKENS) {
        return DeviceType::Other;
    }
    if is_tablet(s) {
        return DeviceType::Tablet;
    }
    let mobile_device = matches!(
        s.device,
        Some("iPhone" | "iPod" | "Generic Smartphone" | "Generic Feature Phone")
    );
    if mobile_device || s.os.is_some_and(|os| MOBILE_OS.contains(&os)) || s.ua.contains("Mobi") {
        return DeviceType::Mobile;
    }
    // "Windows 10", "Windows XP" in older data sets: the family is "Windows".
    let desktop_os =
        s.os.is_some_and(|os| DESKTOP_OS.contains(&os) || os.starts_with("Windows"));
    if desktop_os {
        return DeviceType::Desktop;
    }
    DeviceType::Other
}

fn is_tablet(s: &Signals<'_>) -> bool {
    let device = s.device.unwrap_or("");
    device == "iPad"
        || device == "Generic Tablet"
        || device.starts_with("Kindle")
        || s.os == Some("BlackBerry Tablet OS")
        // Firefox: "(Android 13; Tablet; rv:...)".
        || s.ua.contains("Tablet;")
        || s.ua.contains("Silk/")
        // Google's rule for Android: phones say "Mobile", tablets do not.
        || (s.os == Some("Android") && !s.ua.contains("Mobile"))
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}
