-- The small catalog of run.sh and instructions.sh: one offer with targeting,
-- a click cap and a sub blacklist, approved for one partner.
INSERT INTO advertisers (id, name) VALUES (1, 'Bench');
INSERT INTO partners (id, name) VALUES (1, 'Bench partner');
INSERT INTO offers (id, advertiser_id, name, offer_url, targeting)
  VALUES (1, 1, 'Bench offer', 'https://adv.example/?t={transaction_id}&s1={sub1}&s2={sub2}&p={affiliate_id}',
          '{"countries": {"exclude": ["KP"]}, "device_types": {"exclude": ["bot"]}}');
INSERT INTO offer_approvals (offer_id, partner_id) VALUES (1, 1);
INSERT INTO offer_caps (offer_id, metric, period, cap_limit) VALUES (1, 'clicks', 'day', 1000000000);
INSERT INTO offer_blacklisted_subs (offer_id, param, value) VALUES (1, 'sub1', 'fraud');
