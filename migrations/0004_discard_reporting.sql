-- Discards per rule, offer, partner and day, for clicks and impressions alike.
-- The offer of a discarded click is the one it was meant for
-- (`requested_offer_id`); impressions have no fail chain, so theirs is `offer_id`.
-- Days are UTC days.

CREATE VIEW discards_daily AS
SELECT
    'click'::text                        AS kind,
    (created_at AT TIME ZONE 'UTC')::date AS day,
    discard_rule,
    requested_offer_id                   AS offer_id,
    partner_id,
    smart_link_id,
    count(*)                             AS discards
FROM clicks
WHERE outcome = 'discarded'
GROUP BY 1, 2, 3, 4, 5, 6
UNION ALL
SELECT
    'impression'::text,
    (created_at AT TIME ZONE 'UTC')::date,
    discard_rule,
    offer_id,
    partner_id,
    NULL::bigint,
    count(*)
FROM impressions
WHERE outcome = 'discarded'
GROUP BY 1, 2, 3, 4, 5, 6;

-- Hits per offer, partner and day with their outcome split: the denominator
-- for discard rates.
CREATE VIEW hits_daily AS
SELECT
    'click'::text                                  AS kind,
    (created_at AT TIME ZONE 'UTC')::date          AS day,
    coalesce(offer_id, requested_offer_id)         AS offer_id,
    partner_id,
    count(*) FILTER (WHERE outcome = 'redirected') AS accepted,
    count(*) FILTER (WHERE outcome = 'discarded')  AS discarded
FROM clicks
GROUP BY 1, 2, 3, 4
UNION ALL
SELECT
    'impression'::text,
    (created_at AT TIME ZONE 'UTC')::date,
    offer_id,
    partner_id,
    count(*) FILTER (WHERE outcome = 'redirected'),
    count(*) FILTER (WHERE outcome = 'discarded')
FROM impressions
GROUP BY 1, 2, 3, 4;
