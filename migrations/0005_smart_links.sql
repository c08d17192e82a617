-- Smart links: what partners may see, how links perform, and when their KPI
-- optimization starts over. See docs/SMART_LINKS.md.

-- Seed 000: "Adding or removing Offers resets the Smart Link algorithm. Previous
-- data is NOT retained." The optimizer reads only traffic after
-- smart_links.optimization_reset_at; this table keeps the history of resets.
-- No foreign key: a reset row must survive (and be writable while) its link is
-- deleted, like the event tables.
CREATE TABLE smart_link_optimization_resets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    smart_link_id   bigint NOT NULL,
    reset_at        timestamptz NOT NULL DEFAULT now(),
    -- 'offer_added' or 'offer_removed'
    reason          text NOT NULL
);
CREATE INDEX smart_link_optimization_resets_link_idx
    ON smart_link_optimization_resets (smart_link_id, reset_at DESC);

-- Statement-level, so that adding ten offers in one INSERT is one reset per link,
-- not ten. Both triggers name their transition table `changed`, so one function
-- serves both.
CREATE FUNCTION switchyard_reset_smart_link_optimization() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Links deleted in the same statement (ON DELETE CASCADE) are gone: the UPDATE
    -- finds nothing, so nothing is recorded for them.
    WITH touched AS (
        UPDATE smart_links SET optimization_reset_at = now()
        WHERE id IN (SELECT smart_link_id FROM changed)
        RETURNING id
    )
    INSERT INTO smart_link_optimization_resets (smart_link_id, reset_at, reason)
    SELECT id, now(), CASE TG_OP WHEN 'INSERT' THEN 'offer_added' ELSE 'offer_removed' END
    FROM touched;
    RETURN NULL;
END;
$$;

CREATE TRIGGER smart_link_offers_added
    AFTER INSERT ON smart_link_offers
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION switchyard_reset_smart_link_optimization();

CREATE TRIGGER smart_link_offers_removed
    AFTER DELETE ON smart_link_offers
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION switchyard_reset_smart_link_optimization();

-- The smart links each partner may use, with its tracking link: visible, active
-- links where the partner is approved for a regular offer, or that have a Catch
-- All (which needs no approval). Mirrors GET /partner/smart-links. Links without
-- a tracking domain use the `switchyard.public_host` setting
-- (ALTER DATABASE .. SET switchyard.public_host = 'track.example.com').
CREATE VIEW partner_smart_links AS
SELECT
    p.id AS partner_id,
    sl.id AS smart_link_id,
    sl.name,
    sl.mechanism,
    td.hostname AS tracking_domain,
    'https://'
        || coalesce(td.hostname, nullif(current_setting('switchyard.public_host', true), ''), 'localhost')
        || '/sl/' || sl.id || '?affid=' || p.id AS tracking_link
FROM smart_links sl
CROSS JOIN partners p
LEFT JOIN tracking_domains td ON td.id = sl.tracking_domain_id
WHERE sl.status = 'active'
  AND sl.partner_visible
  AND p.status = 'active'
  AND (
      EXISTS (
          SELECT 1 FROM smart_link_offers slo
          WHERE slo.smart_link_id = sl.id AND slo.is_catch_all
      )
      OR EXISTS (
          SELECT 1
          FROM smart_link_offers slo
          JOIN offers o ON o.id = slo.offer_id
          LEFT JOIN offer_approvals a ON a.offer_id = o.id AND a.partner_id = p.id
          WHERE slo.smart_link_id = sl.id
            AND NOT slo.is_catch_all
            -- Same as rules::status::is_approved: an explicit block wins over a public offer.
            AND (a.status = 'approved'
                 OR (a.status IS DISTINCT FROM 'blocked' AND NOT o.requires_approval))
      )
  );

-- Conversions of smart link traffic. The link and offer are taken from the
-- conversion row when it carries them, else from its click.
CREATE VIEW smart_link_conversions AS
SELECT
    coalesce(cv.smart_link_id, k.smart_link_id) AS smart_link_id,
    coalesce(cv.offer_id, k.offer_id) AS offer_id,
    cv.created_at,
    cv.payout,
    cv.revenue
FROM conversions cv
LEFT JOIN clicks k ON k.transaction_id = cv.transaction_id
WHERE cv.status = 'approved'
  AND coalesce(cv.smart_link_id, k.smart_link_id) IS NOT NULL;

-- Per smart link and UTC day. Clicks count on the day of the click, conversions
-- on the day of the conversion.
CREATE VIEW smart_link_daily AS
WITH hits AS (
    SELECT
        smart_link_id,
        (created_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS clicks,
        count(*) FILTER (WHERE outcome = 'redirected') AS valid_clicks,
        count(*) FILTER (WHERE outcome = 'discarded') AS invalid_clicks,
        count(*) FILTER (WHERE outcome = 'redirected' AND is_unique) AS unique_clicks
    FROM clicks
    WHERE smart_link_id IS NOT NULL
    GROUP BY 1, 2
), conv AS (
    SELECT
        smart_link_id,
        (created_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS conversions,
        sum(revenue) AS revenue,
        sum(payout) AS payout
    FROM smart_link_conversions
    GROUP BY 1, 2
)
SELECT
    coalesce(h.smart_link_id, c.smart_link_id) AS smart_link_id,
    coalesce(h.day, c.day) AS day,
    coalesce(h.clicks, 0) AS clicks,
    coalesce(h.valid_clicks, 0) AS valid_clicks,
    coalesce(h.invalid_clicks, 0) AS invalid_clicks,
    coalesce(h.unique_clicks, 0) AS unique_clicks,
    coalesce(c.conversions, 0) AS conversions,
    coalesce(c.revenue, 0) AS revenue,
    coalesce(c.payout, 0) AS payout,
    coalesce(c.revenue, 0) - coalesce(c.payout, 0) AS profit
FROM hits h
FULL JOIN conv c ON c.smart_link_id = h.smart_link_id AND c.day = h.day;

-- Per offer inside each smart link and UTC day. Discarded clicks took no offer:
-- they appear under offer_id NULL.
CREATE VIEW smart_link_offer_daily AS
WITH hits AS (
    SELECT
        smart_link_id,
        offer_id,
        (created_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS clicks,
        count(*) FILTER (WHERE outcome = 'redirected') AS valid_clicks,
        count(*) FILTER (WHERE outcome = 'discarded') AS invalid_clicks,
        count(*) FILTER (WHERE outcome = 'redirected' AND is_unique) AS unique_clicks
    FROM clicks
    WHERE smart_link_id IS NOT NULL
    GROUP BY 1, 2, 3
), conv AS (
    SELECT
        smart_link_id,
        offer_id,
        (created_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS conversions,
        sum(revenue) AS revenue,
        sum(payout) AS payout
    FROM smart_link_conversions
    GROUP BY 1, 2, 3
)
SELECT
    coalesce(h.smart_link_id, c.smart_link_id) AS smart_link_id,
    coalesce(h.offer_id, c.offer_id) AS offer_id,
    coalesce(h.day, c.day) AS day,
    coalesce(h.clicks, 0) AS clicks,
    coalesce(h.valid_clicks, 0) AS valid_clicks,
    coalesce(h.invalid_clicks, 0) AS invalid_clicks,
    coalesce(h.unique_clicks, 0) AS unique_clicks,
    coalesce(c.conversions, 0) AS conversions,
    coalesce(c.revenue, 0) AS revenue,
    coalesce(c.payout, 0) AS payout,
    coalesce(c.revenue, 0) - coalesce(c.payout, 0) AS profit
FROM hits h
FULL JOIN conv c
    ON c.smart_link_id = h.smart_link_id
   AND c.offer_id IS NOT DISTINCT FROM h.offer_id
   AND c.day = h.day;
