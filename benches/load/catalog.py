#!/usr/bin/env python3
"""Bench catalog and request lists for benches/load/harness.sh (standard library only).

    catalog.py UA_FILE OUT_DIR

Writes, into OUT_DIR:
  catalog.sql     a network of 50 advertisers, 1,000 offers, 50 partners (and one
                  inactive), approvals, caps, blacklisted subs, Traffic Control,
                  Traffic Targeting, a retargeting list, 100 smart links of 3-10
                  offers (weight and priority), 20 active optimization rules of
                  every configurable family;
  c.tsv, sl.tsv, mix.tsv
                  requests for wrk (path TAB client IP TAB user agent): direct
                  clicks, smart-link clicks, and both alternated;
  uas.txt         the distinct user agents used.

Everything is drawn from a fixed seed, so two runs of the harness send the same
traffic to the same catalog. The traffic is mostly what a healthy network sees
(partners clicking offers they are approved for, real browsers): a few percent
hit the rules on purpose so the discard path is exercised too.
"""

import json
import random
import re
import sys
from pathlib import Path

SEED = 20261203
ADVERTISERS = 50
OFFERS = 1000
PARTNERS = 50  # active; partner PARTNERS + 1 is inactive
SMART_LINKS = 100
APPROVALS_PER_PARTNER = 200
USER_AGENTS = 300
REQUESTS = 20000  # per list; wrk cycles through it
CLIENT_IPS = 5000


def sql_text(value):
    return "'" + str(value).replace("'", "''") + "'"


def sql_json(value):
    return sql_text(json.dumps(value, separators=(",", ":"))) + "::jsonb"


def user_agents(path, rng):
    """A few hundred distinct user agents from uap-core's test cases."""
    found = re.findall(r"^\s*- user_agent_string:\s*'(.*)'\s*$", path.read_text(encoding="utf-8"), re.M)
    seen = sorted({ua.replace("''", "'") for ua in found if ua and "\t" not in ua and len(ua) < 400})
    # Real traffic is mostly browsers: nine in ten from Mozilla/5.0 strings, the
    # rest from everything else the tests hold (old phones, apps, crawlers).
    browsers = [ua for ua in seen if ua.startswith("Mozilla/5.0")]
    others = [ua for ua in seen if not ua.startswith("Mozilla/5.0")]
    wanted = USER_AGENTS * 9 // 10
    if len(browsers) < wanted or len(others) < USER_AGENTS - wanted:
        sys.exit(f"{path}: too few usable user agents")
    return rng.sample(browsers, wanted) + rng.sample(others, USER_AGENTS - wanted)


def offer_targeting(offer_id):
    """Mostly the usual 'no bots, not these countries'; some offers narrower."""
    targeting = {"countries": {"exclude": ["KP", "IR"]}, "device_types": {"exclude": ["bot"]}}
    if offer_id % 10 == 3:
        targeting["os"] = {"include": ["iOS", "Android", "Windows", "Mac OS X"]}
    if offer_id % 25 == 0:
        targeting["os_versions"] = [{"os": "iOS", "min": "9"}, {"os": "Android", "min": "4.4"}]
    if offer_id % 10 == 7:
        targeting["params"] = [{"name": "sub1", "op": "empty", "negate": True}]
    if offer_id % 50 == 11:
        targeting["ip_ranges"] = {"exclude": ["10.0.0.0/8", "192.168.0.0/16"]}
    return targeting


def catalog(rng):
    """Returns (sql lines, offers each partner may click, smart link ids)."""
    out = ["BEGIN;"]
    out.append(
        "INSERT INTO advertisers (id, name, status) VALUES "
        + ", ".join(
            f"({a}, 'Advertiser {a}', '{'paused' if a == ADVERTISERS else 'active'}')"
            for a in range(1, ADVERTISERS + 1)
        )
        + ";"
    )
    partners = []
    for p in range(1, PARTNERS + 2):
        tags = "{mobile}" if p <= 10 else "{us}"
        status = "inactive" if p == PARTNERS + 1 else "active"
        partners.append(f"({p}, 'Partner {p}', '{status}', '{tags}')")
    out.append("INSERT INTO partners (id, name, status, tags) VALUES " + ", ".join(partners) + ";")

    templates = [
        "https://adv{a}.example/lp?click_id={{transaction_id}}&pub={{affiliate_id}}&s1={{sub1}}&s2={{sub2}}",
        "https://track.adv{a}.example/c/{{transaction_id}}?o={{offer_id}}&src={{source_id}}",
        "https://shop{a}.example/sale?t={{transaction_id}}&aff={{affiliate_id}}&sub={{sub3}}",
    ]
    public = []
    needs_approval = []
    for o in range(1, OFFERS + 1):
        advertiser = (o - 1) % ADVERTISERS + 1
        status = "paused" if o % 100 == 42 else "active"
        requires = o % 5 != 0
        (needs_approval if requires else public).append(o)
        fail = o - 1 if o % 10 == 0 else None
        duplicate = "'ip_ua', 'mark'" if o % 4 == 1 else "NULL, 'block'"
        out.append(
            "INSERT INTO offers (id, advertiser_id, name, status, offer_url, requires_approval, payout, revenue,"
            " fail_offer_id, duplicate_filter, duplicate_action, targeting) VALUES "
            f"({o}, {advertiser}, 'Offer {o}', '{status}', {sql_text(templates[o % 3].format(a=advertiser))},"
            f" {str(requires).lower()}, {1 + o % 7}.50, {2 + o % 7}.25, NULL, {duplicate}, {sql_json(offer_targeting(o))});"
        )
        if fail:
            out.append(f"UPDATE offers SET fail_offer_id = {fail} WHERE id = {o};")

    clickable = {p: set(public) for p in range(1, PARTNERS + 2)}
    approvals = []
    for p in range(1, PARTNERS + 2):
        chosen = rng.sample(needs_approval, APPROVALS_PER_PARTNER + 5)
        for i, o in enumerate(chosen):
            status = "pending" if i >= APPROVALS_PER_PARTNER else "approved"
            approvals.append(f"({o}, {p}, '{status}')")
            if status == "approved":
                clickable[p].add(o)
    out.append("INSERT INTO offer_approvals (offer_id, partner_id, status) VALUES " + ", ".join(approvals) + ";")
    out.append("INSERT INTO advertiser_blocked_partners (advertiser_id, partner_id) VALUES (3, 7), (11, 20), (29, 44);")

    caps = []
    for o in range(1, OFFERS + 1):
        # A real daily cap on every offer: each redirect reserves it.
        limit = 150 if o % 200 == 5 else 10_000_000
        caps.append(f"({o}, NULL, 'clicks', 'day', {limit}, true)")
        if o % 10 == 1:
            caps.append(f"({o}, {o % PARTNERS + 1}, 'clicks', 'hour', 1000000, false)")
        if o % 20 == 2:
            caps.append(f"({o}, NULL, 'payout', 'month', 1000000, true)")
    out.append(
        "INSERT INTO offer_caps (offer_id, partner_id, metric, period, cap_limit, hard) VALUES " + ", ".join(caps) + ";"
    )
    blacklisted = [f"({o}, 'sub2', 'fraud'), ({o}, 'source_id', '666')" for o in range(1, OFFERS + 1, 10)]
    out.append("INSERT INTO offer_blacklisted_subs (offer_id, param, value) VALUES " + ", ".join(blacklisted) + ";")
    out.append(
        "INSERT INTO offer_retargeting_ids (offer_id, device_id) SELECT 999, md5(g::text) FROM generate_series(1, 100) g;"
    )
    controls = [f"('partner', NULL, NULL, {p}, 'block', 'sub3', 'bad%')" for p in range(1, 6)]
    controls += [f"('offer', NULL, {o}, NULL, 'block', 'sub2', '%spam%')" for o in range(7, OFFERS, 50)]
    controls += ["('advertiser', 9, NULL, NULL, 'block', 'source_id', '99%')"]
    out.append(
        "INSERT INTO traffic_control (scope, advertiser_id, offer_id, partner_id, list, field, pattern) VALUES "
        + ", ".join(controls)
        + ";"
    )
    out.append(
        "INSERT INTO traffic_targeting (partner_tag, offer_id, targeting) VALUES "
        f"('mobile', NULL, {sql_json({'device_types': {'exclude': ['bot']}})}), "
        f"('us', 12, {sql_json({'countries': {'exclude': ['CN']}})});"
    )

    link_offers = []
    for link in range(1, SMART_LINKS + 1):
        mechanism = "weight" if link % 2 else "priority"
        out.append(f"INSERT INTO smart_links (id, name, mechanism) VALUES ({link}, 'Smart link {link}', '{mechanism}');")
        # Mostly public offers (any partner may take them), a few needing approval.
        members = rng.sample(public, rng.randint(2, 7)) + rng.sample(needs_approval, 1)
        catch_all = rng.choice([o for o in public if o not in members])
        for rank, o in enumerate(members, 1):
            link_offers.append(f"({link}, {o}, {rank}, {rng.randint(1, 100)}, false)")
        link_offers.append(f"({link}, {catch_all}, 999, 1, true)")
    out.append(
        "INSERT INTO smart_link_offers (smart_link_id, offer_id, priority, weight, is_catch_all) VALUES "
        + ", ".join(link_offers)
        + ";"
    )

    # 20 active rules: every configurable family explicitly on (the data-driven
    # ones are on by default, but an admin's catalog says so), the parameterised
    # ones with settings that leave ordinary traffic through, plus scoped
    # overrides as a real network has them.
    rules = [
        (kind, "global", "NULL", "NULL", {})
        for kind in [
            "INACTIVE_PUBLISHER", "INACTIVE_OFFER", "INACTIVE_ADVERTISER", "ADVERTISER_BLOCKED_PUBLISHER",
            "PUBLISHER_NOT_APPROVED", "BLACKLISTED_SUB_ID", "INVALID_USER_IDENTIFIER", "TRAFFIC_CONTROL",
            "OFFER_TARGETING_MISMATCH", "ADVANCED_TARGETING_MISMATCH", "TRAFFIC_TARGETING",
            "CLICK_BUDGET_REACHED", "BUDGET_REACHED",
        ]
    ]
    rules += [
        ("ANONYMOUS_PROXY_IP", "global", "NULL", "NULL", {"block": ["vpn", "tor_exit", "public_proxy"]}),
        ("IP_RATE_LIMIT", "global", "NULL", "NULL", {"threshold": 1000, "window_seconds": 60}),
        ("IP_UA_RATE_LIMIT", "global", "NULL", "NULL", {"threshold": 500, "window_seconds": 60}),
        ("IP_RECENCY", "offer", "101", "NULL", {"ttl_seconds": 600}),
        ("IP_RECENCY", "offer", "202", "NULL", {"ttl_seconds": 600}),
        ("RECENCY", "offer", "303", "NULL", {"ttl_seconds": 600}),
        ("IP_UA_RATE_LIMIT", "partner", "NULL", "3", {"threshold": 100, "window_seconds": 60}),
    ]
    values = [
        f"({sql_text(kind)}, '{scope}', {offer}, {partner}, true, {sql_json(params)})"
        for kind, scope, offer, partner, params in rules
    ]
    # An inactive override: this offer is exempt from the global rate limit.
    values.append("('IP_RATE_LIMIT', 'offer', 404, NULL, false, '{}'::jsonb)")
    out.append(
        "INSERT INTO optimization_rules (kind, scope, offer_id, partner_id, active, params) VALUES "
        + ", ".join(values)
        + ";"
    )
    out.append("COMMIT;")
    assert len(rules) == 20
    return out, {p: sorted(offers) for p, offers in clickable.items()}


def client_ips(rng):
    ips = set()
    while len(ips) < CLIENT_IPS:
        first = rng.choice([24, 31, 46, 66, 73, 81, 91, 98, 109, 151, 177, 187, 201, 203])
        ips.add(f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
    return sorted(ips)


def params(rng, i):
    """Sub ids as partners send them: a click id, a placement, a campaign, a source."""
    sub2 = "fraud" if rng.random() < 0.003 else f"placement{rng.randrange(50)}"
    sub3 = "bad-campaign" if rng.random() < 0.003 else f"cmp{rng.randrange(200)}"
    return f"sub1=k{i:06d}&sub2={sub2}&sub3={sub3}&source_id={rng.randrange(1, 500)}"


def requests(rng, clickable, ips, uas):
    direct, smart = [], []
    for i in range(REQUESTS):
        partner = PARTNERS + 1 if rng.random() < 0.002 else rng.randint(1, PARTNERS)
        # Partners mostly click offers they may run; a few try others.
        offer = rng.choice(clickable[partner]) if rng.random() < 0.97 else rng.randint(1, OFFERS)
        direct.append((f"/c?oid={offer}&affid={partner}&{params(rng, i)}", rng.choice(ips), rng.choice(uas)))
        link = rng.randint(1, SMART_LINKS)
        smart.append((f"/sl/{link}?affid={partner}&{params(rng, REQUESTS + i)}", rng.choice(ips), rng.choice(uas)))
    mixed = [r for pair in zip(direct, smart) for r in pair]
    return {"c": direct, "sl": smart, "mix": mixed}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ua_file, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    rng = random.Random(SEED)
    uas = user_agents(ua_file, rng)
    sql, clickable = catalog(rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "catalog.sql").write_text("\n".join(sql) + "\n", encoding="utf-8")
    (out_dir / "uas.txt").write_text("\n".join(uas) + "\n", encoding="utf-8")
    for name, rows in requests(rng, clickable, client_ips(rng), uas).items():
        (out_dir / f"{name}.tsv").write_text("".join(f"{p}\t{ip}\t{ua}\n" for p, ip, ua in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
