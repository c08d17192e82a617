-- Hourly rollups: per-hour figures per (smart link, offer) and per (offer,
-- partner), so that the KPI optimizer and the reports read a few rows per hour
-- instead of every click. See docs/ROLLUPS.md.
--
-- The event writer adds to them in the same statement that inserts the raw
-- rows, counting only the rows that statement actually inserted (`RETURNING`
-- of `INSERT .. ON CONFLICT DO NOTHING`), so a retried batch, a replayed spill
-- file or a split batch counts each row once. `rollup_rebuild` recomputes them
-- from the raw tables (`switchyard rollup rebuild`).
--
-- What counts, in the hour (UTC) of the row's own `created_at`:
--   clicks         redirected clicks
--   unique_clicks  redirected clicks with is_unique
--   conversions    approved conversions, in the hour they were approved (not
--                  the click's hour), under the click's smart link and offer
--   events         approved conversion events, likewise
--   payout/revenue sums over approved conversions and events
--
-- Money is unbounded `numeric`: a sum may never overflow, because an error in
-- the rollup statement would refuse the raw rows with it.

CREATE TABLE smart_link_offer_hourly (
    smart_link_id   bigint NOT NULL,
    offer_id        bigint NOT NULL,
    -- The start of the hour, truncated in UTC.
    hour            timestamptz NOT NULL,
    clicks          bigint NOT NULL DEFAULT 0,
    unique_clicks   bigint NOT NULL DEFAULT 0,
    conversions     bigint NOT NULL DEFAULT 0,
    events          bigint NOT NULL DEFAULT 0,
    payout          numeric NOT NULL DEFAULT 0,
    revenue         numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (smart_link_id, offer_id, hour)
);
-- The rebuild deletes and reports read by time range.
CREATE INDEX smart_link_offer_hourly_hour_idx ON smart_link_offer_hourly (hour);

-- Every click and conversion with an offer, direct or through a smart link.
CREATE TABLE offer_partner_hourly (
    offer_id        bigint NOT NULL,
    partner_id      bigint NOT NULL,
    hour            timestamptz NOT NULL,
    clicks          bigint NOT NULL DEFAULT 0,
    unique_clicks   bigint NOT NULL DEFAULT 0,
    conversions     bigint NOT NULL DEFAULT 0,
    events          bigint NOT NULL DEFAULT 0,
    payout          numeric NOT NULL DEFAULT 0,
    revenue         numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (offer_id, partner_id, hour)
);
CREATE INDEX offer_partner_hourly_hour_idx ON offer_partner_hourly (hour);
CREATE INDEX offer_partner_hourly_partner_idx ON offer_partner_hourly (partner_id, hour);

-- Recomputes the rollups of the hours in [from_hour, to_hour) from the raw
-- tables (NULL: unbounded). Both bounds are rounded down to the hour.
--
-- Safe against a running writer: the SHARE ROW EXCLUSIVE lock waits for every
-- writer transaction that already added to the rollups and blocks new ones
-- until this transaction ends. The DELETE and INSERT then read a snapshot
-- taken after the lock (a volatile function in READ COMMITTED takes one per
-- statement), so every raw row committed before is counted here, and a writer
-- transaction that committed later adds its own rows after this one commits.
-- The writer's statement names smart_link_offer_hourly before
-- offer_partner_hourly, as the LOCK does, so the two cannot deadlock.
-- Callers keep the range short (the CLI goes hour by hour): the writer waits
-- for as long as the lock is held.
CREATE FUNCTION rollup_rebuild(from_hour timestamptz, to_hour timestamptz,
                               OUT link_rows bigint, OUT partner_rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := coalesce(date_trunc('hour', from_hour, 'UTC'), '-infinity');
    hi timestamptz := coalesce(date_trunc('hour', to_hour, 'UTC'), 'infinity');
BEGIN
    LOCK TABLE smart_link_offer_hourly, offer_partner_hourly IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM smart_link_offer_hourly WHERE hour >= lo AND hour < hi;
    DELETE FROM offer_partner_hourly WHERE hour >= lo AND hour < hi;
    CREATE TEMP TABLE rollup_figures ON COMMIT DROP AS
        SELECT smart_link_id, offer_id, partner_id, date_trunc('hour', created_at, 'UTC') AS hour,
               1 AS clicks, CASE WHEN is_unique THEN 1 ELSE 0 END AS unique_clicks,
               0 AS conversions, 0 AS events, 0::numeric AS payout, 0::numeric AS revenue
        FROM clicks
        WHERE created_at >= lo AND created_at < hi AND outcome = 'redirected' AND offer_id IS NOT NULL
        UNION ALL
        SELECT smart_link_id, offer_id, partner_id, date_trunc('hour', created_at, 'UTC'),
               0, 0, 1, 0, payout, revenue
        FROM conversions
        WHERE created_at >= lo AND created_at < hi AND status = 'approved' AND offer_id IS NOT NULL
        UNION ALL
        SELECT smart_link_id, offer_id, partner_id, date_trunc('hour', created_at, 'UTC'),
               0, 0, 0, 1, payout, revenue
        FROM conversion_events
        WHERE created_at >= lo AND created_at < hi AND status = 'approved' AND offer_id IS NOT NULL;
    INSERT INTO smart_link_offer_hourly
        SELECT smart_link_id, offer_id, hour, sum(clicks), sum(unique_clicks), sum(conversions),
               sum(events), sum(payout), sum(revenue)
        FROM rollup_figures WHERE smart_link_id IS NOT NULL GROUP BY 1, 2, 3;
    GET DIAGNOSTICS link_rows = ROW_COUNT;
    INSERT INTO offer_partner_hourly
        SELECT offer_id, partner_id, hour, sum(clicks), sum(unique_clicks), sum(conversions),
               sum(events), sum(payout), sum(revenue)
        FROM rollup_figures WHERE partner_id IS NOT NULL GROUP BY 1, 2, 3;
    GET DIAGNOSTICS partner_rows = ROW_COUNT;
    DROP TABLE rollup_figures;
END
$$;

-- Existing rows: counted once here, in the migration's transaction.
SELECT rollup_rebuild(NULL, NULL);

-- The daily views of 0006 now read the rollups, with the same columns and
-- meaning (UTC days; a conversion on the day it was approved), plus
-- unique_clicks at the end. Their cost no longer grows with click volume.
CREATE OR REPLACE VIEW daily_offer_stats AS
SELECT offer_id, (hour AT TIME ZONE 'UTC')::date AS day,
       sum(clicks)::bigint AS clicks,
       sum(conversions)::bigint AS conversions,
       sum(events)::bigint AS events,
       sum(payout) AS payout,
       sum(revenue) AS revenue,
       sum(revenue) - sum(payout) AS profit,
       sum(unique_clicks)::bigint AS unique_clicks
FROM offer_partner_hourly GROUP BY 1, 2;

CREATE OR REPLACE VIEW daily_partner_stats AS
SELECT partner_id, (hour AT TIME ZONE 'UTC')::date AS day,
       sum(clicks)::bigint AS clicks,
       sum(conversions)::bigint AS conversions,
       sum(events)::bigint AS events,
       sum(payout) AS payout,
       sum(revenue) AS revenue,
       sum(revenue) - sum(payout) AS profit,
       sum(unique_clicks)::bigint AS unique_clicks
FROM offer_partner_hourly GROUP BY 1, 2;

CREATE OR REPLACE VIEW daily_smart_link_stats AS
SELECT smart_link_id, offer_id, (hour AT TIME ZONE 'UTC')::date AS day,
       sum(clicks)::bigint AS clicks,
       sum(conversions)::bigint AS conversions,
       sum(events)::bigint AS events,
       sum(payout) AS payout,
       sum(revenue) AS revenue,
       sum(revenue) - sum(payout) AS profit,
       sum(unique_clicks)::bigint AS unique_clicks
FROM smart_link_offer_hourly GROUP BY 1, 2, 3;
