-- A generated catalog for benches/catalog/run.sh, sized by the setting
-- `bench.offers` (SET bench.offers = 100000 before running this file):
-- one advertiser per 20 offers (at least 50), 1,000 partners, five approvals
-- per offer (500,000 at 100k offers), a daily cap on every offer and more on
-- some, targeting on every offer (a few hundred distinct specs), an extra
-- landing page on one offer in ten, blacklisted subs, Traffic Control, 10,000
-- smart links of five offers and a Catch All, and the 20 active rules of
-- benches/load/catalog.py plus an offer-scoped rule on one offer in a hundred.
-- Deterministic: the same size gives the same rows.
BEGIN;

CREATE TEMP TABLE bench_size ON COMMIT DROP AS
SELECT current_setting('bench.offers')::int AS offers,
       greatest(50, current_setting('bench.offers')::int / 20) AS advertisers,
       1000 AS partners,
       10000 AS smart_links;

INSERT INTO advertisers (id, name, status)
SELECT a, 'Advertiser ' || a, CASE WHEN a % 97 = 0 THEN 'paused' ELSE 'active' END::entity_status
FROM bench_size, generate_series(1, advertisers) a;

INSERT INTO partners (id, name, status, tags, postback_url)
SELECT p, 'Partner ' || p,
       CASE WHEN p % 199 = 0 THEN 'inactive' ELSE 'active' END::entity_status,
       CASE WHEN p % 10 = 0 THEN ARRAY['mobile'] ELSE ARRAY['us', 'desktop'] END,
       CASE WHEN p % 3 = 0 THEN 'https://partner' || p || '.example/pb?click={transaction_id}&s1={sub1}' END
FROM bench_size, generate_series(1, partners) p;

INSERT INTO advertiser_blocked_partners (advertiser_id, partner_id)
SELECT a, (a * 37) % partners + 1 FROM bench_size, generate_series(1, advertisers, 7) a;

-- Targeting specs come from a few hundred combinations, as a network's offers
-- mostly share their geo and device settings; URLs are every offer's own.
INSERT INTO offers (id, advertiser_id, name, status, offer_url, requires_approval, payout, revenue,
                    timezone, fail_offer_id, duplicate_filter, duplicate_action, targeting)
SELECT o,
       (o - 1) % advertisers + 1,
       'Offer ' || o || ' of advertiser ' || ((o - 1) % advertisers + 1),
       CASE WHEN o % 100 = 42 THEN 'paused' ELSE 'active' END::entity_status,
       CASE o % 3
         WHEN 0 THEN 'https://adv' || ((o - 1) % advertisers + 1) || '.example/lp/' || o
                     || '?click_id={transaction_id}&pub={affiliate_id}&s1={sub1}&s2={sub2}'
         WHEN 1 THEN 'https://track.adv' || ((o - 1) % advertisers + 1) || '.example/c/{transaction_id}?o='
                     || o || '&src={source_id}'
         ELSE 'https://shop' || ((o - 1) % advertisers + 1) || '.example/sale/' || o
              || '?t={transaction_id}&aff={affiliate_id}&sub={sub3}&cc={country_code}'
       END,
       o % 5 <> 0,
       1.5 + o % 7, 2.25 + o % 7,
       (ARRAY['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Tokyo'])[o % 4 + 1],
       CASE WHEN o % 10 = 0 THEN o - 1 END,
       CASE WHEN o % 4 = 1 THEN 'ip_ua' END::duplicate_identifier,
       CASE WHEN o % 4 = 1 THEN 'mark' ELSE 'block' END::duplicate_action,
       jsonb_strip_nulls(jsonb_build_object(
         'countries', CASE WHEN o % 3 = 0
           THEN jsonb_build_object('include', jsonb_build_array(
                  (ARRAY['US','GB','DE','FR','ES','IT','BR','MX','CA','AU','JP','IN','NL','SE','PL'])[o % 15 + 1],
                  (ARRAY['US','GB','DE','FR','ES','IT','BR','MX','CA','AU','JP','IN','NL','SE','PL'])[(o / 15) % 15 + 1]))
           ELSE '{"exclude": ["KP", "IR"]}'::jsonb END,
         'device_types', '{"exclude": ["bot"]}'::jsonb,
         'os', CASE WHEN o % 10 = 3 THEN '{"include": ["iOS", "Android", "Windows", "Mac OS X"]}'::jsonb END,
         'os_versions', CASE WHEN o % 25 = 0
           THEN '[{"os": "iOS", "min": "9"}, {"os": "Android", "min": "4.4"}]'::jsonb END,
         'params', CASE WHEN o % 10 = 7 THEN '[{"name": "sub1", "op": "empty", "negate": true}]'::jsonb END,
         'ip_ranges', CASE WHEN o % 50 = 11 THEN '{"exclude": ["10.0.0.0/8", "192.168.0.0/16"]}'::jsonb END))
FROM bench_size, generate_series(1, offers) o;

INSERT INTO offer_urls (offer_id, name, url)
SELECT o, 'Landing page B', 'https://adv' || o % 50 || '.example/b/' || o || '?click_id={transaction_id}'
FROM bench_size, generate_series(1, offers, 10) o;

-- Five partners per offer, spread so every partner has about as many.
INSERT INTO offer_approvals (offer_id, partner_id, status)
SELECT o, ((o * 7 + k * 211) % partners) + 1,
       CASE WHEN k = 4 THEN 'pending' ELSE 'approved' END::approval_status
FROM bench_size, generate_series(1, offers) o, generate_series(0, 4) k;

INSERT INTO offer_caps (offer_id, partner_id, metric, period, cap_limit, hard)
SELECT o, NULL::bigint, 'clicks'::cap_metric, 'day'::cap_period, 10000000, true FROM bench_size, generate_series(1, offers) o
UNION ALL
SELECT o, (o * 7) % partners + 1, 'clicks', 'hour', 1000000, false
FROM bench_size, generate_series(1, offers, 10) o
UNION ALL
SELECT o, NULL, 'payout', 'month', 1000000, true FROM bench_size, generate_series(2, offers, 20) o;

INSERT INTO offer_blacklisted_subs (offer_id, param, value)
SELECT o, 'sub2', 'fraud' FROM bench_size, generate_series(1, offers, 10) o
UNION ALL
SELECT o, 'source_id', 'src' || o % 1000 FROM bench_size, generate_series(1, offers, 10) o;

INSERT INTO traffic_control (scope, partner_id, list, field, pattern)
SELECT 'partner', p, 'block', 'sub3', 'bad%' FROM generate_series(1, 50) p;
INSERT INTO traffic_control (scope, offer_id, list, field, pattern)
SELECT 'offer', o, 'block', 'sub2', '%spam%' FROM bench_size, generate_series(7, offers, 50) o;
INSERT INTO traffic_control (scope, advertiser_id, list, field, pattern)
VALUES ('advertiser', 9, 'block', 'source_id', '99%');

INSERT INTO traffic_targeting (partner_tag, offer_id, targeting) VALUES
  ('mobile', NULL, '{"device_types": {"exclude": ["bot"]}}'),
  ('us', 12, '{"countries": {"exclude": ["CN"]}}');

INSERT INTO tracking_domains (id, hostname) VALUES (1, 'go.bench.example');

INSERT INTO smart_links (id, name, mechanism, tracking_domain_id, partner_visible)
SELECT l, 'Smart link ' || l,
       (ARRAY['priority', 'weight', 'kpi'])[l % 3 + 1]::redirect_mechanism,
       CASE WHEN l % 2 = 0 THEN 1 END, l % 4 <> 0
FROM bench_size, generate_series(1, smart_links) l;

-- Five offers per link and a Catch All, drawn so no link holds an offer twice.
INSERT INTO smart_link_offers (smart_link_id, offer_id, priority, weight, is_catch_all, targeting)
SELECT l, ((l * 13 + k * (offers / 6 + 1)) % offers) + 1, k + 1, 1 + (l * k) % 100, k = 5,
       CASE WHEN k = 0 AND l % 5 = 0 THEN '{"countries": {"include": ["US"]}}'::jsonb ELSE '{}'::jsonb END
FROM bench_size, generate_series(1, smart_links) l, generate_series(0, 5) k;

INSERT INTO optimization_rules (kind, params) VALUES
  ('INACTIVE_PUBLISHER', '{}'), ('INACTIVE_OFFER', '{}'), ('INACTIVE_ADVERTISER', '{}'),
  ('ADVERTISER_BLOCKED_PUBLISHER', '{}'), ('PUBLISHER_NOT_APPROVED', '{}'), ('BLACKLISTED_SUB_ID', '{}'),
  ('INVALID_USER_IDENTIFIER', '{}'), ('TRAFFIC_CONTROL', '{}'), ('OFFER_TARGETING_MISMATCH', '{}'),
  ('ADVANCED_TARGETING_MISMATCH', '{}'), ('TRAFFIC_TARGETING', '{}'), ('CLICK_BUDGET_REACHED', '{}'),
  ('BUDGET_REACHED', '{}'),
  ('ANONYMOUS_PROXY_IP', '{"block": ["vpn", "tor_exit", "public_proxy"]}'),
  ('IP_RATE_LIMIT', '{"threshold": 1000, "window_seconds": 60}'),
  ('IP_UA_RATE_LIMIT', '{"threshold": 500, "window_seconds": 60}');
INSERT INTO optimization_rules (kind, scope, offer_id, params)
SELECT 'IP_RECENCY', 'offer', o, '{"ttl_seconds": 600}' FROM bench_size, generate_series(101, offers, 100) o;
INSERT INTO optimization_rules (kind, scope, partner_id, params)
VALUES ('IP_UA_RATE_LIMIT', 'partner', 3, '{"threshold": 100, "window_seconds": 60}');

COMMIT;
ANALYZE;
