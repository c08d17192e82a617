//! Which hosts are app stores and which are attribution trackers. Matched by
//! host name: an entry matches itself and its subdomains. Both lists are
//! documented in docs/RULES.md, and operators add to them in the configuration.

/// App store hosts. Specific hosts, not `apple.com`: Apple's own site is not
/// a store page.
pub const STORE_HOSTS: &[&str] = &[
    "apps.apple.com",
    "itunes.apple.com",
    "play.google.com",
    "market.android.com",
    "appgallery.huawei.com",
    "appgallery.cloud.huawei.com",
    "galaxystore.samsung.com",
    "apps.samsung.com",
    "apps.microsoft.com",
];

/// URL schemes that open a store app directly.
pub const STORE_SCHEMES: &[&str] = &[
    "market",
    "itms-apps",
    "itms-appss",
    "samsungapps",
    "appmarket",
];

/// Mobile measurement partners' click hosts.
pub const TRACKER_HOSTS: &[&str] = &[
    // AppsFlyer: app.appsflyer.com, and OneLink links on onelink.me.
    "appsflyer.com",
    "onelink.me",
    // Adjust: app.adjust.com / .io / .net.in / .world, and short links.
    "adjust.com",
    "adjust.io",
    "adjust.net.in",
    "adjust.world",
    "adj.st",
    "go.link",
    // Branch: *.app.link and the legacy bnc.lt.
    "branch.io",
    "app.link",
    "bnc.lt",
    // Kochava: control.kochava.com, and SmartLinks on smart.link.
    "kochava.com",
    "smart.link",
    // Singular: *.sng.link.
    "singular.net",
    "sng.link",
    // Tenjin, Airbridge, AppMetrica.
    "tenjin.io",
    "tenjin.com",
    "airbridge.io",
    "abr.ge",
    "appmetrica.yandex.com",
    "appmetrica.yandex.ru",
];

/// What a URL is, by its scheme and host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Store,
    Tracker,
    /// An http(s) URL of any other host: followed.
    Web,
    /// Another scheme (intent://, a custom app scheme): the chain leaves the web here.
    Other,
}

/// The built-in lists plus the operator's additions, lowercased once.
#[derive(Debug, Clone)]
pub struct HostLists {
    stores: Vec<String>,
    trackers: Vec<String>,
}

impl Default for HostLists {
    fn default() -> Self {
        Self::new(&[], &[])
    }
}

impl HostLists {
    pub fn new(extra_stores: &[String], extra_trackers: &[String]) -> Self {
        let list = |builtin: &[&str], extra: &[String]| {
            builtin
                .iter()
                .map(|h| (*h).to_owned())
                .chain(extra.iter().map(|h| normalize(h)))
                .filter(|h| !h.is_empty())
                .collect()
        };
        Self {
            stores: list(STORE_HOSTS, extra_stores),
            trackers: list(TRACKER_HOSTS, extra_trackers),
        }
    }

    pub fn classify(&self, url: &url::Url) -> Place {
        let scheme = url.scheme();
        if STORE_SCHEMES.contains(&scheme) {
            return Place::Store;
        }
        if scheme != "http" && scheme != "https" {
            return Place::Other;
        }
        let Some(host) = url.host_str() else {
            return Place::Other;
        };
        let host = host.trim_end_matches('.');
        if matches_any(host, &self.stores) {
            Place::Store
        } else if matches_any(host, &self.trackers) {
            Place::Tracker
        } else {
            Place::Web
        }
    }
}

fn normalize(host: &str) -> String {
    host.trim().trim_matches('.').to_ascii_lowercase()
}

/// `host` (lowercase, as `url` gives it) is an entry or a subdomain of one.
fn matches_any(host: &str, entries: &[String]) -> bool {
    entries.iter().any(|entry| {
        host == entry
            || host
                .strip_suffix(entry.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(lists: &HostLists, url: &str) -> Place {
        lists.classify(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn stores_trackers_and_the_rest_by_host() {
        let lists = HostLists::default();
        assert_eq!(
            place(&lists, "https://apps.apple.com/us/app/id1"),
            Place::Store
        );
        assert_eq!(
            place(&lists, "https://play.google.com/store/apps/details?id=a.b"),
            Place::Store
        );
        assert_eq!(place(&lists, "market://details?id=a.b"), Place::Store);
        assert_eq!(
            place(&lists, "itms-apps://itunes.apple.com/app/id1"),
            Place::Store
        );
        assert_eq!(
            place(&lists, "https://app.appsflyer.com/id1?pid=x"),
            Place::Tracker
        );
        assert_eq!(place(&lists, "https://acme.onelink.me/abc"), Place::Tracker);
        assert_eq!(place(&lists, "https://www.apple.com/"), Place::Web);
        assert_eq!(place(&lists, "https://notappsflyer.com/"), Place::Web);
        assert_eq!(place(&lists, "intent://x#Intent;end"), Place::Other);
    }

    #[test]
    fn operators_add_hosts() {
        let lists = HostLists::new(&["Store.Example.".into()], &["trk.example".into()]);
        assert_eq!(place(&lists, "http://a.store.example/x"), Place::Store);
        assert_eq!(place(&lists, "http://trk.example/x"), Place::Tracker);
    }
}
