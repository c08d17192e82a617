-- Event tables partitioned by day (issue 13, docs/OPERATIONS.md "Partitions
-- and retention"): `clicks`, `impressions`, `conversions` and
-- `conversion_events` become tables partitioned by RANGE (created_at), so that
-- old days are dropped whole instead of deleted row by row, and a lookup that
-- knows its row's time reads one day's indexes.
--
-- Partitions are UTC days named <table>_pYYYYMMDD, created ahead by the server
-- and by `switchyard partitions ensure` (src/partitions/). A row whose day has
-- no partition yet lands in <table>_default and is never refused; `ensure`
-- moves such rows into their day's partition when it creates it.
--
-- The idempotency keys become (id, created_at): a unique index on a
-- partitioned table must contain the partition key. The writer's ON CONFLICT
-- names the same pair, and a retried or replayed event carries the same
-- created_at, so it still collides with itself, in whatever partition it sits.
--
-- Rows already stored are not copied: each old table becomes one partition,
-- <table>_legacy, covering everything up to the end of its last row's day
-- (MINVALUE onwards), and is dropped whole once that day is past retention.
-- Attaching it builds the new (id, created_at) index on it and scans it once
-- to check the bound; that is the migration's cost on a large table.

-- How far each table was pruned: rows before `pruned_before` are gone for
-- good, so `rollup_rebuild` must not recompute those hours from nothing.
CREATE TABLE event_retention (
    table_name      text PRIMARY KEY,
    pruned_before   timestamptz NOT NULL
);

-- Rebinds every view that reads `<tab>_legacy` to the new `<tab>` (views hold
-- the table they were created on, not its name), with the same text.
CREATE FUNCTION pg_temp.rebind_views(tab text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v regclass;
BEGIN
    FOR v IN
        SELECT DISTINCT r.ev_class::regclass
        FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
        WHERE d.classid = 'pg_rewrite'::regclass
          AND d.refobjid = (tab || '_legacy')::regclass
          AND r.ev_class <> d.refobjid
    LOOP
        EXECUTE format('CREATE OR REPLACE VIEW %s AS %s', v,
                       regexp_replace(pg_get_viewdef(v), '\m' || tab || '_legacy\M', tab, 'g'));
    END LOOP;
END
$$;

-- The old table's CHECK constraints on the new one, NOT VALID ones still NOT
-- VALID (0007): rows from before 0007 were never checked against them, and a
-- valid constraint on the parent would refuse to adopt them.
CREATE FUNCTION pg_temp.copy_checks(tab text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = (tab || '_legacy')::regclass AND contype = 'c' ORDER BY conname
    LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', tab, c.conname, c.def);
    END LOOP;
END
$$;

-- Makes the old table a partition of the new one (or drops it when empty).
CREATE FUNCTION pg_temp.adopt_legacy(tab text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    legacy text := tab || '_legacy';
    last_row timestamptz;
BEGIN
    EXECUTE format('SELECT max(created_at) FROM %I', legacy) INTO last_row;
    IF last_row IS NULL THEN
        EXECUTE format('DROP TABLE %I', legacy);
        RETURN;
    END IF;
    -- The old key (the id alone) is replaced by the new one (a table has one
    -- primary key), which ATTACH builds on the rows.
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', legacy, legacy || '_pkey');
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                   tab, legacy, date_trunc('day', last_row, 'UTC') + interval '1 day');
END
$$;

-- clicks ---------------------------------------------------------------------
ALTER TABLE clicks RENAME TO clicks_legacy;
ALTER INDEX clicks_pkey RENAME TO clicks_legacy_pkey;
ALTER INDEX clicks_created_brin RENAME TO clicks_legacy_created_brin;
ALTER INDEX clicks_offer_time_idx RENAME TO clicks_legacy_offer_time_idx;
ALTER INDEX clicks_partner_time_idx RENAME TO clicks_legacy_partner_time_idx;
ALTER INDEX clicks_smart_link_time_idx RENAME TO clicks_legacy_smart_link_time_idx;
CREATE TABLE clicks (LIKE clicks_legacy INCLUDING DEFAULTS)
    PARTITION BY RANGE (created_at);
-- A conversion finds its click by (transaction_id, created_at): the id carries
-- the click's time (docs/CONVERSIONS.md), so the probe prunes to one day.
ALTER TABLE clicks ADD PRIMARY KEY (transaction_id, created_at);
CREATE INDEX clicks_created_brin ON clicks USING brin (created_at);
CREATE INDEX clicks_offer_time_idx ON clicks (offer_id, created_at) WHERE offer_id IS NOT NULL;
CREATE INDEX clicks_partner_time_idx ON clicks (partner_id, created_at);
CREATE INDEX clicks_smart_link_time_idx ON clicks (smart_link_id, created_at) WHERE smart_link_id IS NOT NULL;
CREATE TABLE clicks_default PARTITION OF clicks DEFAULT;

-- impressions ----------------------------------------------------------------
ALTER TABLE impressions RENAME TO impressions_legacy;
ALTER INDEX impressions_pkey RENAME TO impressions_legacy_pkey;
ALTER INDEX impressions_created_brin RENAME TO impressions_legacy_created_brin;
ALTER INDEX impressions_offer_time_idx RENAME TO impressions_legacy_offer_time_idx;
CREATE TABLE impressions (LIKE impressions_legacy INCLUDING DEFAULTS)
    PARTITION BY RANGE (created_at);
ALTER TABLE impressions ADD PRIMARY KEY (transaction_id, created_at);
CREATE INDEX impressions_created_brin ON impressions USING brin (created_at);
CREATE INDEX impressions_offer_time_idx ON impressions (offer_id, created_at) WHERE offer_id IS NOT NULL;
CREATE TABLE impressions_default PARTITION OF impressions DEFAULT;

-- conversions ----------------------------------------------------------------
ALTER TABLE conversions RENAME TO conversions_legacy;
ALTER INDEX conversions_pkey RENAME TO conversions_legacy_pkey;
ALTER INDEX conversions_created_brin RENAME TO conversions_legacy_created_brin;
ALTER INDEX conversions_txid_idx RENAME TO conversions_legacy_txid_idx;
ALTER INDEX conversions_offer_time_idx RENAME TO conversions_legacy_offer_time_idx;
ALTER INDEX conversions_order_idx RENAME TO conversions_legacy_order_idx;
ALTER INDEX conversions_approved_txid_idx RENAME TO conversions_legacy_approved_txid_idx;
ALTER INDEX conversions_approved_order_idx RENAME TO conversions_legacy_approved_order_idx;
CREATE TABLE conversions (LIKE conversions_legacy INCLUDING DEFAULTS)
    PARTITION BY RANGE (created_at);
ALTER TABLE conversions ADD PRIMARY KEY (conversion_id, created_at);
CREATE INDEX conversions_created_brin ON conversions USING brin (created_at);
CREATE INDEX conversions_txid_idx ON conversions (transaction_id);
CREATE INDEX conversions_offer_time_idx ON conversions (offer_id, created_at);
CREATE INDEX conversions_order_idx ON conversions (offer_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX conversions_approved_txid_idx ON conversions (transaction_id) WHERE status = 'approved';
CREATE INDEX conversions_approved_order_idx ON conversions (offer_id, order_id)
    WHERE status = 'approved' AND order_id IS NOT NULL;
CREATE TABLE conversions_default PARTITION OF conversions DEFAULT;

-- conversion_events ----------------------------------------------------------
ALTER TABLE conversion_events RENAME TO conversion_events_legacy;
ALTER INDEX conversion_events_pkey RENAME TO conversion_events_legacy_pkey;
ALTER INDEX conversion_events_created_brin RENAME TO conversion_events_legacy_created_brin;
ALTER INDEX conversion_events_txid_idx RENAME TO conversion_events_legacy_txid_idx;
CREATE TABLE conversion_events (LIKE conversion_events_legacy INCLUDING DEFAULTS)
    PARTITION BY RANGE (created_at);
ALTER TABLE conversion_events ADD PRIMARY KEY (event_id, created_at);
CREATE INDEX conversion_events_created_brin ON conversion_events USING brin (created_at);
CREATE INDEX conversion_events_txid_idx ON conversion_events (transaction_id);
CREATE TABLE conversion_events_default PARTITION OF conversion_events DEFAULT;

SELECT pg_temp.copy_checks(t) FROM unnest(ARRAY['clicks', 'impressions', 'conversions', 'conversion_events']) AS t;

-- The reporting views of 0004 and 0005 follow the new tables, then the old
-- ones are attached (or dropped when empty).
SELECT pg_temp.rebind_views(t) FROM unnest(ARRAY['clicks', 'impressions', 'conversions', 'conversion_events']) AS t;
SELECT pg_temp.adopt_legacy(t) FROM unnest(ARRAY['clicks', 'impressions', 'conversions', 'conversion_events']) AS t;
DROP FUNCTION pg_temp.rebind_views(text);
DROP FUNCTION pg_temp.adopt_legacy(text);
DROP FUNCTION pg_temp.copy_checks(text);

-- As in 0009, but never before the latest prune of a raw table that feeds the
-- rollups: an hour whose raw rows were dropped keeps the figures it has.
-- `switchyard partitions prune` records its bound under this function's lock,
-- so a rebuild either ran before the drop or sees the new bound.
CREATE OR REPLACE FUNCTION rollup_rebuild(from_hour timestamptz, to_hour timestamptz,
                                          OUT link_rows bigint, OUT partner_rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := coalesce(date_trunc('hour', from_hour, 'UTC'), '-infinity');
    hi timestamptz := coalesce(date_trunc('hour', to_hour, 'UTC'), 'infinity');
    pruned timestamptz;
BEGIN
    LOCK TABLE smart_link_offer_hourly, offer_partner_hourly IN SHARE ROW EXCLUSIVE MODE;
    SELECT max(pruned_before) INTO pruned FROM event_retention
    WHERE table_name IN ('clicks', 'conversions', 'conversion_events');
    lo := greatest(lo, coalesce(pruned, '-infinity'));
    link_rows := 0;
    partner_rows := 0;
    IF lo >= hi THEN
        RETURN;
    END IF;
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
