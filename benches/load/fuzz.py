#!/usr/bin/env python3
"""Fuzz the tracking and postback endpoints of a running Switchyard, then count.

Sends N requests (default 50,000) built from a seeded generator: clicks,
impressions and smart-link hits with random, oversized, control-character,
unicode and percent-encoded parameter values and user agents; postbacks for
real transaction ids with random amounts (too large, too precise, negative,
garbage) and oversized or odd fields. Prints the answers by endpoint and
status, then the server's own counts (hits and conversions judged, from
/metrics on the admin listener), which `benches/load/fuzz.sh` compares with the rows in Postgres.

Standard library only. Usage: fuzz.py HOST:PORT [N] [SEED]
"""

import collections
import http.client
import random
import sys
import urllib.parse

ADDR = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 10)

ODD = [
    "", "a", "é", "\u202e", "%00", "\x00", "\r\n", "\t", "#", "/", "@", "\\", "..",
    "' OR 1=1 --", "<script>", "\U0001f600", "\ufffd", "%2f", "%zz", "+", " ",
]


def value(limit=512):
    kind = rng.random()
    if kind < 0.5:
        return "".join(rng.choice("abcdefghij0123456789-_") for _ in range(rng.randint(1, 40)))
    if kind < 0.65:
        return "x" * rng.choice([limit - 1, limit, limit + 1, 4 * limit])
    if kind < 0.8:
        return "é" * rng.choice([limit // 2, limit // 2 + 1, limit])
    return "".join(rng.choice(ODD) for _ in range(rng.randint(1, 6)))


def amount():
    return rng.choice([
        "1", "12.5", "0.0001", "9999999999.9999", "10000000000", "99999999999",
        "1.00001", "-1", "abc", "1e5", "", "0", "123456789012345678901234567890",
        str(rng.randint(0, 10**12)), f"{rng.random() * 1000:.4f}",
    ])


def query(params):
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


conn = http.client.HTTPConnection(ADDR, timeout=10)


def get(path, headers=None):
    global conn
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("location")
    except (http.client.HTTPException, OSError):
        conn.close()
        conn = http.client.HTTPConnection(ADDR, timeout=10)
        return "error", None


answers = collections.Counter()
tids = []
for i in range(N):
    roll = rng.random()
    headers = {}
    if rng.random() < 0.3:
        # http.client refuses line breaks in a header; hyper would too.
        agent = value(1024).replace("\r", "").replace("\n", "").replace("\x00", "")
        try:
            agent.encode("latin-1")
            headers["User-Agent"] = agent
        except UnicodeEncodeError:
            headers["User-Agent"] = agent.encode("utf-8").decode("latin-1")
    if roll < 0.6 or not tids:
        endpoint = rng.choice(["/c", "/c", "/c", "/i", "/sl/1"])
        params = {"affid": rng.choice(["1", "1", "1", "2", "0", "x", "99999999999999999999"])}
        if endpoint != "/sl/1":
            params["oid"] = rng.choice(["1", "1", "1", "2", "-1", "99"])
        for name in rng.sample(["sub1", "sub2", "sub3", "sub4", "sub5", "source_id", "idfa", "gaid", "uid", "url", "extra"], rng.randint(0, 5)):
            params[name] = value()
        status, location = get(f"{endpoint}?{query(params)}", headers)
        if status == 302 and location and "t=" in location:
            tids.append(location.split("t=")[1][:32])
    else:
        params = {"transaction_id": rng.choice(tids) if rng.random() < 0.95 else value(40)}
        if rng.random() < 0.7:
            params["amount"] = amount()
        for name in rng.sample(["order_id", "adv1", "adv2", "adv3", "adv4", "adv5", "adv_event_id", "verification_token"], rng.randint(0, 3)):
            params[name] = value()
        endpoint = "/postback"
        status, _ = get(f"/postback?{query(params)}")
    answers[(endpoint, status)] += 1

for (endpoint, status), count in sorted(answers.items(), key=str):
    print(f"{endpoint:10} {status}: {count}")
print(f"requests: {N}; clicks redirected with a transaction id: {len(tids)}")
