use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::*;
use crate::catalog::{Catalog, Origin, file};

const SHOP: &str = "
advertisers: [{ id: 1, name: Acme }]
partners: [{ id: 1, name: Blue }]
offers:
  - { id: 1, advertiser_id: 1, name: Deep, offer_url: 'https://d.example/', deep_link_enabled: true, deep_link_hosts: [shop.example] }
";

fn shop() -> Catalog {
    Catalog::build(file::parse(SHOP, "test").unwrap(), Origin::Test, 1).unwrap()
}

#[test]
fn a_percent_encoded_host_is_not_a_subdomain() {
    let catalog = shop();
    let offer = catalog.offer(1).unwrap();
    for refused in [
        "https://evil.com%2f.shop.example/",
        "https://evil.com%2F.shop.example/",
        "https://evil.com%40.shop.example/",
        "https://evil%2ecom.shop.example/",
        "https://shop.example:/",
        "https://shop.example:80x/",
        "https://shop.example./",
        "https://-x.shop.example/",
        "https://x..shop.example/",
        "https://[::1].shop.example/",
        "https://shöp.example/",
        "https://1.2.3.4/",
    ] {
        assert_eq!(allowed(offer, refused), None, "{refused}");
    }
    for accepted in [
        "https://shop.example/",
        "https://m.shop.example:8443/item?x=%2f",
        "http://SHOP.example#frag",
    ] {
        assert_eq!(allowed(offer, accepted), Some(accepted), "{accepted}");
    }
}

/// Random deep links built from the characters that trick URL parsers; every
/// one `allowed` accepts must be, to a browser-grade (WHATWG) parser, a URL on
/// the offer's host or a subdomain of it, with no user info.
#[test]
fn fuzz_every_accepted_deep_link_stays_on_the_offers_hosts() {
    const PIECES: &[&str] = &[
        "a",
        "z",
        "0",
        "9",
        "-",
        ".",
        "shop",
        "shop.example",
        ".shop.example",
        "example",
        "evil.com",
        "%2f",
        "%2F",
        "%2e",
        "%40",
        "%5c",
        "%00",
        "%",
        "@",
        ":",
        "/",
        "\\",
        "?",
        "#",
        "[",
        "]",
        "::1",
        "é",
        "\u{3002}",
        "\u{ff0e}",
        "xn--",
        "80",
        "\t",
        " ",
        "..",
        "127.0.0.1",
    ];
    let catalog = shop();
    let offer = catalog.offer(1).unwrap();
    let mut rng = SmallRng::seed_from_u64(10);
    let (mut accepted, mut tried) = (0, 0);
    for _ in 0..200_000 {
        let mut target = String::from(if rng.random_range(0..2) == 0 {
            "https://"
        } else {
            "http://"
        });
        for _ in 0..rng.random_range(1..8) {
            target.push_str(PIECES[rng.random_range(0..PIECES.len())]);
        }
        // Most random strings are refused; give accepted shapes a chance too.
        if rng.random_range(0..2) == 0 {
            target.push_str(".shop.example");
        }
        if rng.random_range(0..3) == 0 {
            target.push_str(PIECES[rng.random_range(0..PIECES.len())]);
        }
        tried += 1;
        let Some(link) = allowed(offer, &target) else {
            continue;
        };
        accepted += 1;
        let parsed = url::Url::parse(link).unwrap_or_else(|e| panic!("{link:?}: {e}"));
        let host = parsed.host_str().unwrap_or_default();
        assert!(
            host == "shop.example" || host.ends_with(".shop.example"),
            "{link:?} goes to {host:?}"
        );
        assert!(
            parsed.username().is_empty() && parsed.password().is_none(),
            "{link:?}"
        );
    }
    assert!(accepted > 1_000, "only {accepted} of {tried} accepted");
}
