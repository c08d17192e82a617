#!/usr/bin/env python3
"""Bench catalog and request lists for benches/load/harness.sh (standard library only).

    catalog.py UA_FILE OUT_DIR

Writes, into OUT_DIR:
  catalog.sql     a network of 50 advertisers, 1,000 offers, 50 partners (and one
                  inactive), approvals, caps, blacklisted subs, Traffic Control,
                  Traffic Targeting, a retargeting list, 100 smart links of 3-10
                  offers (weight and priority), 20 active optimization rules of
                  every configurable family;
  catalog.yaml    the same for `--catalog-file` (the events-to-a-file target);
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
PAUSED_ADVERTISER = 47  # its offers all need approval, so few partners click them
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
    # Real traffic is mostly browsers: 95% from Mozilla/5.0 strings that are not
    # crawlers, the rest from everything else the tests hold (old phones, apps,
    # crawlers), which the offers' "no bots" targeting partly discards.
    crawler = re.compile(r"bot|crawl|spider|slurp|https?://", re.I)
    browsers = [ua for ua in seen if ua.startswith("Mozilla/5.0") and not crawler.search(ua)]
    others = [ua for ua in seen if ua not in set(browsers)]
    wanted = USER_AGENTS * 95 // 100
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
    """Returns ({table: [row]}, offers each partner may click). Every row of a
    table has the same columns, so the rows become one INSERT each way."""
    t = {name: [] for name in [
        "advertisers", "partners", "offers", "offer_approvals", "advertiser_blocked_partners", "offer_caps",
        "offer_blacklisted_subs", "offer_retargeting_ids", "traffic_control", "traffic_targeting",
        "smart_links", "smart_link_offers", "optimization_rules",
    ]}
    for a in range(1, ADVERTISERS + 1):
        t["advertisers"].append({"id": a, "name": f"Advertiser {a}", "status": "paused" if a == PAUSED_ADVERTISER else "active"})
    for p in range(1, PARTNERS + 2):
        t["partners"].append({
            "id": p, "name": f"Partner {p}", "status": "inactive" if p == PARTNERS + 1 else "active",
            "tags": ["mobile"] if p <= 10 else ["us"],
        })

    templates = [
        "https://adv{a}.example/lp?click_id={{transaction_id}}&pub={{affiliate_id}}&s1={{sub1}}&s2={{sub2}}",
        "https://track.adv{a}.example/c/{{transaction_id}}?o={{offer_id}}&src={{source_id}}",
        "https://shop{a}.example/sale?t={{transaction_id}}&aff={{affiliate_id}}&sub={{sub3}}",
    ]
    public = []
    needs_approval = []
    for o in range(1, OFFERS + 1):
        advertiser = (o - 1) % ADVERTISERS + 1
        requires = o % 5 != 0
        (needs_approval if requires else public).append(o)
        t["offers"].append({
            "id": o, "advertiser_id": advertiser, "name": f"Offer {o}",
            "status": "paused" if o % 100 == 42 else "active",
            "offer_url": templates[o % 3].format(a=advertiser), "requires_approval": requires,
            "payout": 1.5 + o % 7, "revenue": 2.25 + o % 7,
            "fail_offer_id": o - 1 if o % 10 == 0 else None,
            "duplicate_filter": "ip_ua" if o % 4 == 1 else None,
            "duplicate_action": "mark" if o % 4 == 1 else "block",
            "targeting": offer_targeting(o),
        })

    clickable = {p: set(public) for p in range(1, PARTNERS + 2)}
    for p in range(1, PARTNERS + 2):
        for i, o in enumerate(rng.sample(needs_approval, APPROVALS_PER_PARTNER + 5)):
            status = "pending" if i >= APPROVALS_PER_PARTNER else "approved"
            t["offer_approvals"].append({"offer_id": o, "partner_id": p, "status": status})
            if status == "approved":
                clickable[p].add(o)
    for a, p in [(3, 7), (11, 20), (29, 44)]:
        t["advertiser_blocked_partners"].append({"advertiser_id": a, "partner_id": p})

    for o in range(1, OFFERS + 1):
        # A daily cap on every offer, so each redirect reserves a counter; a
        # few small enough to fill during a run and send clicks down the fail chain.
        caps = [(None, "clicks", "day", 150 if o % 200 == 5 else 10_000_000, True)]
        if o % 10 == 1:
            caps.append((o % PARTNERS + 1, "clicks", "hour", 1_000_000, False))
        if o % 20 == 2:
            caps.append((None, "payout", "month", 1_000_000, True))
        for partner, metric, period, limit, hard in caps:
            t["offer_caps"].append({
                "offer_id": o, "partner_id": partner, "metric": metric, "period": period,
                "cap_limit": limit, "hard": hard,
            })
    for o in range(1, OFFERS + 1, 10):
        t["offer_blacklisted_subs"].append({"offer_id": o, "param": "sub2", "value": "fraud"})
        t["offer_blacklisted_subs"].append({"offer_id": o, "param": "source_id", "value": "666"})
    for i in range(100):
        t["offer_retargeting_ids"].append({"offer_id": 999, "device_id": f"{rng.getrandbits(128):032x}"})

    def control(scope, owner, list_, field, pattern):
        row = {"scope": scope, "advertiser_id": None, "offer_id": None, "partner_id": None}
        row[f"{scope}_id"] = owner
        row.update({"list": list_, "field": field, "pattern": pattern})
        return row

    t["traffic_control"] += [control("partner", p, "block", "sub3", "bad%") for p in range(1, 6)]
    t["traffic_control"] += [control("offer", o, "block", "sub2", "%spam%") for o in range(7, OFFERS, 50)]
    t["traffic_control"].append(control("advertiser", 9, "block", "source_id", "99%"))
    t["traffic_targeting"] += [
        {"partner_tag": "mobile", "offer_id": None, "targeting": {"device_types": {"exclude": ["bot"]}}},
        {"partner_tag": "us", "offer_id": 12, "targeting": {"countries": {"exclude": ["CN"]}}},
    ]

    for link in range(1, SMART_LINKS + 1):
        t["smart_links"].append({
            "id": link, "name": f"Smart link {link}", "mechanism": "weight" if link % 2 else "priority",
        })
        # Mostly public offers (any partner may take them), one needing approval.
        members = rng.sample(public, rng.randint(2, 7)) + rng.sample(needs_approval, 1)
        catch_all = rng.choice([o for o in public if o not in members])
        for rank, o in enumerate(members, 1):
            t["smart_link_offers"].append({
                "smart_link_id": link, "offer_id": o, "priority": rank, "weight": rng.randint(1, 100),
                "is_catch_all": False,
            })
        t["smart_link_offers"].append({
            "smart_link_id": link, "offer_id": catch_all, "priority": 999, "weight": 1, "is_catch_all": True,
        })

    # 20 active rules: every configurable family explicitly on (the data-driven
    # ones are on by default, but an admin's catalog says so), the parameterised
    # ones with settings that leave ordinary traffic through, plus scoped
    # overrides as a real network has them.
    def rule(kind, scope="global", offer=None, partner=None, params=None, active=True):
        return {"kind": kind, "scope": scope, "offer_id": offer, "partner_id": partner, "active": active,
                "params": params or {}}

    rules = [rule(kind) for kind in [
        "INACTIVE_PUBLISHER", "INACTIVE_OFFER", "INACTIVE_ADVERTISER", "ADVERTISER_BLOCKED_PUBLISHER",
        "PUBLISHER_NOT_APPROVED", "BLACKLISTED_SUB_ID", "INVALID_USER_IDENTIFIER", "TRAFFIC_CONTROL",
        "OFFER_TARGETING_MISMATCH", "ADVANCED_TARGETING_MISMATCH", "TRAFFIC_TARGETING",
        "CLICK_BUDGET_REACHED", "BUDGET_REACHED",
    ]]
    rate_limit = {"threshold": 1000, "window_seconds": 60}
    rules += [
        rule("ANONYMOUS_PROXY_IP", params={"block": ["vpn", "tor_exit", "public_proxy"]}),
        rule("IP_RATE_LIMIT", params=rate_limit),
        rule("IP_UA_RATE_LIMIT", params={"threshold": 500, "window_seconds": 60}),
        rule("IP_RECENCY", "offer", offer=101, params={"ttl_seconds": 600}),
        rule("IP_RECENCY", "offer", offer=202, params={"ttl_seconds": 600}),
        rule("RECENCY", "offer", offer=303, params={"ttl_seconds": 600}),
        rule("IP_UA_RATE_LIMIT", "partner", partner=3, params={"threshold": 100, "window_seconds": 60}),
    ]
    assert sum(r["active"] for r in rules) == 20
    # An inactive override: this offer is exempt from the global rate limit.
    rules.append(rule("IP_RATE_LIMIT", "offer", offer=404, params=rate_limit, active=False))
    t["optimization_rules"] = rules
    return t, {p: sorted(offers) for p, offers in clickable.items()}


def sql_value(column, value):
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if column == "tags":
        return sql_text("{" + ",".join(value) + "}")
    if isinstance(value, (dict, list)):
        return sql_json(value)
    return sql_text(value)


def catalog_sql(tables):
    out = ["BEGIN;"]
    for table, rows in tables.items():
        if not rows:
            continue
        columns = list(rows[0])
        values = ",\n  ".join("(" + ", ".join(sql_value(c, row[c]) for c in columns) + ")" for row in rows)
        out.append(f"INSERT INTO {table} ({', '.join(columns)}) VALUES\n  {values};")
    out.append("COMMIT;")
    return "\n".join(out) + "\n"


def catalog_file(tables):
    """The same catalog for `--catalog-file` (JSON is YAML): absent columns take
    the schema's defaults there, so NULLs are left out."""
    clean = {table: [{k: v for k, v in row.items() if v is not None} for row in rows] for table, rows in tables.items()}
    return json.dumps(clean, indent=None, separators=(",", ":")) + "\n"


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
    tables, clickable = catalog(rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "catalog.sql").write_text(catalog_sql(tables), encoding="utf-8")
    (out_dir / "catalog.yaml").write_text(catalog_file(tables), encoding="utf-8")
    (out_dir / "uas.txt").write_text("\n".join(uas) + "\n", encoding="utf-8")
    for name, rows in requests(rng, clickable, client_ips(rng), uas).items():
        (out_dir / f"{name}.tsv").write_text("".join(f"{p}\t{ip}\t{ua}\n" for p, ip, ua in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
