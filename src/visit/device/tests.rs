//! Real user agents, as browsers and crawlers send them.

use std::sync::LazyLock;

use super::*;

static DETECTOR: LazyLock<DeviceDetector> = LazyLock::new(|| DeviceDetector::embedded().unwrap());

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1";
const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
const ANDROID_PHONE: &str = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36";
const ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.6312.118 Safari/537.36";
const KINDLE: &str = "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 like Chrome/124.0.6367.82 Safari/537.36";
const FIREFOX_ANDROID_TABLET: &str =
    "Mozilla/5.0 (Android 13; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0";
const WINDOWS_CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const MAC_SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15";
const LINUX_FIREFOX: &str =
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
const CHROMEBOOK: &str = "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const GOOGLEBOT_SMARTPHONE: &str = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const BINGBOT: &str = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)";
const CURL: &str = "curl/8.5.0";
const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36";
const ANDROID_TV: &str = "Mozilla/5.0 (Linux; Android 9; BRAVIA 4K UR2 Build/PTT1.190515.001.S52) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn v(major: &str, minor: Option<&str>, patch: Option<&str>) -> Version {
    Version::from_parts(Some(major), minor, patch)
}

fn text(part: &Option<std::sync::Arc<str>>) -> Option<&str> {
    part.as_deref()
}

#[test]
fn iphone_is_mobile_ios_with_mobile_safari() {
    let d = DETECTOR.detect(IPHONE);
    assert_eq!(d.device_type, DeviceType::Mobile);
    assert_eq!(d.os_family.as_deref(), Some("iOS"));
    assert_eq!(d.os_version, v("17", Some("4"), Some("1")));
    assert_eq!(d.browser_family.as_deref(), Some("Mobile Safari"));
    assert_eq!(d.browser_version, v("17", Some("4"), Some("1")));
}

#[test]
fn ipad_is_a_tablet() {
    let d = DETECTOR.detect(IPAD);
    assert_eq!(d.device_type, DeviceType::Tablet);
    assert_eq!(d.os_family.as_deref(), Some("iOS"));
    assert_eq!(text(&d.os_version.major), Some("16"));
    assert_eq!(text(&d.os_version.minor), Some("6"));
}

#[test]
fn android_phone_is_mobile() {
    let d = DETECTOR.detect(ANDROID_PHONE);
    assert_eq!(d.device_type, DeviceType::Mobile);
    assert_eq!(d.os_family.as_deref(), Some("Android"));
    assert_eq!(text(&d.os_version.major), Some("14"));
    assert_eq!(d.browser_family.as_deref(), Some("Chrome Mobile"));
    assert_eq!(d.browser_version, v("124", Some("0"), Some("6367")));
}

#[test]
fn android_without_mobile_is_a_tablet() {
    let d = DETECTOR.detect(ANDROID_TABLET);
    assert_eq!(d.device_type, DeviceType::Tablet);
    assert_eq!(d.os_family.as_deref(), Some("Android"));
    assert_eq!(text(&d.os_version.major), Some("13"));
}

#[test]
fn kindle_and_firefox_tablets_are_tablets() {
    assert_eq!(DETECTOR.detect(KINDLE).device_type, DeviceType::Tablet);
    assert_eq!(
        DETECTOR.detect(FIREFOX_ANDROID_TABLET).device_type,
        DeviceType::Tablet
    );
}

#[test]
fn android_tv_is_not_a_tablet() {
    assert_eq!(DETECTOR.detect(ANDROID_TV).device_type, DeviceType::Other);
}

#[test]
fn windows_chrome_is_desktop() {
    let d = DETECTOR.detect(WINDOWS_CHROME);
    assert_eq!(d.device_type, DeviceType::Desktop);
    assert_eq!(d.os_family.as_deref(), Some("Windows"));
    assert_eq!(text(&d.os_version.major), Some("10"));
    assert_eq!(d.browser_family.as_deref(), Some("Chrome"));
    assert_eq!(text(&d.browser_version.major), Some("124"));
}

#[test]
fn macos_safari_is_desktop() {
    let d = DETECTOR.detect(MAC_SAFARI);
    assert_eq!(d.device_type, DeviceType::Desktop);
    assert_eq!(d.os_family.as_deref(), Some("Mac OS X"));
    assert_eq!(d.os_version, v("10", Some("15"), Some("7")));
    assert_eq!(d.browser_family.as_deref(), Some("Safari"));
    assert_eq!(d.browser_version, v("17", Some("4"), Some("1")));
}

#[test]
fn linux_firefox_is_desktop() {
    let d = DETECTOR.detect(LINUX_FIREFOX);
    assert_eq!(d.device_type, DeviceType::Desktop);
    assert_eq!(d.os_family.as_deref(), Some("Ubuntu"));
    assert_eq!(d.browser_family.as_deref(), Some("Firefox"));
    assert_eq!(d.browser_version, v("125", Some("0"), None));
}

#[test]
fn chromebook_is_desktop() {
    let d = DETECTOR.detect(CHROMEBOOK);
    assert_eq!(d.device_type, DeviceType::Desktop);
    assert_eq!(d.os_family.as_deref(), Some("Chrome OS"));
}

#[test]
fn crawlers_are_bots_even_posing_as_phones() {
    for ua in [GOOGLEBOT, GOOGLEBOT_SMARTPHONE, BINGBOT] {
        assert_eq!(DETECTOR.detect(ua).device_type, DeviceType::Bot, "{ua}");
    }
    assert_eq!(
        DETECTOR.detect(GOOGLEBOT).browser_family.as_deref(),
        Some("Googlebot")
    );
    assert_eq!(
        DETECTOR.detect(BINGBOT).browser_family.as_deref(),
        Some("bingbot")
    );
}

#[test]
fn curl_and_headless_browsers_are_bots() {
    let d = DETECTOR.detect(CURL);
    assert_eq!(d.device_type, DeviceType::Bot);
    assert_eq!(d.browser_family.as_deref(), Some("curl"));
    assert_eq!(d.browser_version, v("8", Some("5"), Some("0")));
    assert_eq!(DETECTOR.detect(HEADLESS).device_type, DeviceType::Bot);
}

#[test]
fn empty_or_unknown_user_agent_is_other_with_nothing_known() {
    for ua in ["", "hello", "\u{0}\u{1}"] {
        let d = DETECTOR.detect(ua);
        assert_eq!(d.device_type, DeviceType::Other, "{ua:?}");
        assert_eq!(d.os_family, None, "{ua:?}");
        assert_eq!(d.browser_family, None, "{ua:?}");
    }
}

#[test]
fn cached_answer_equals_fresh_parse() {
    for ua in [IPHONE, IPAD, ANDROID_PHONE, WINDOWS_CHROME, GOOGLEBOT, CURL] {
        let first = DETECTOR.detect(ua);
        assert_eq!(DETECTOR.detect(ua), first);
        assert_eq!(DETECTOR.parse(ua), first);
    }
}

#[test]
fn huge_user_agent_is_parsed_not_cached() {
    let ua = format!("{WINDOWS_CHROME} {}", "x".repeat(MAX_CACHED_UA_BYTES));
    assert_eq!(DETECTOR.detect(&ua).device_type, DeviceType::Desktop);
    assert_eq!(DETECTOR.cache.get(&ua), None);
}

#[test]
fn version_parts_keep_their_text_and_compare_as_numbers_where_they_are() {
    let beta = Version::from_parts(Some("10"), Some("0b3"), None);
    assert_eq!(text(&beta.minor), Some("0b3"));
    assert_eq!(beta.numeric(), Some((10, 0, 0)));
    let xp = Version::from_parts(Some("XP"), None, None);
    assert_eq!(text(&xp.major), Some("XP"));
    assert_eq!(xp.numeric(), None);
    // uap-core gives Windows 8.1 and 3.1 as a dotted major.
    assert_eq!(
        Version::from_parts(Some("8.1"), None, None).numeric(),
        Some((8, 1, 0))
    );
    assert_eq!(
        Version::from_parts(Some("14"), Some("0"), Some("1")).numeric(),
        Some((14, 0, 1))
    );
    assert_eq!(Version::default().numeric(), None);
}

#[test]
fn windows_xp_keeps_its_word_version() {
    const XP: &str = "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.9.0.11) Gecko/2009060215 Firefox/3.0.11";
    let d = DETECTOR.detect(XP);
    assert_eq!(d.os_family.as_deref(), Some("Windows"));
    assert_eq!(text(&d.os_version.major), Some("XP"));
    assert_eq!(d.device_type, DeviceType::Desktop);
}

#[test]
fn regexes_file_that_is_not_uap_yaml_is_refused_naming_it() {
    let path = std::env::temp_dir().join(format!("switchyard-ua-{}.yaml", std::process::id()));
    std::fs::write(&path, "user_agent_parsers: 3\n").unwrap();
    let err = DeviceDetector::from_path(&path).err().unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(matches!(err, DeviceError::Yaml { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn missing_regexes_file_is_refused() {
    let err = DeviceDetector::from_path("/nonexistent/regexes.yaml")
        .err()
        .unwrap();
    assert!(matches!(err, DeviceError::Read { .. }), "{err}");
}

#[test]
fn project_copy_of_the_regexes_loads_from_disk() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/uap-core/regexes.yaml");
    let from_disk = DeviceDetector::from_path(path).unwrap();
    assert_eq!(from_disk.detect(IPHONE), DETECTOR.detect(IPHONE));
}
