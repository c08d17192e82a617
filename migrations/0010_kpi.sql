-- KPI optimization (issue 11): how a link uses its optimizer's runs, and what a
-- run hands to routing. See docs/KPI.md.

-- 'rank' (Everflow's behaviour, the default): the top-ranked eligible offer takes
-- the click. 'explore': a weighted draw by the run's traffic shares, so every
-- offer stays measured while the leader gets most of the traffic.
CREATE TYPE kpi_strategy AS ENUM ('rank', 'explore');

ALTER TABLE smart_links
    ADD COLUMN kpi_strategy kpi_strategy NOT NULL DEFAULT 'rank';

-- A run records the strategy and goal it ran with, so reading a run never
-- depends on the link's settings having stayed the same since.
-- shares[i] is the traffic share of ranking[i] (explore runs; NULL for rank).
-- ranking_changed: the ranking differs from the link's previous run, so an
-- admin page can list only the runs that moved traffic.
ALTER TABLE smart_link_kpi_runs
    ADD COLUMN strategy        kpi_strategy NOT NULL DEFAULT 'rank',
    ADD COLUMN goal            numeric(14, 6),
    ADD COLUMN shares          double precision[],
    ADD COLUMN ranking_changed boolean NOT NULL DEFAULT true,
    ADD CONSTRAINT smart_link_kpi_runs_shares_match
        CHECK (shares IS NULL OR cardinality(shares) = cardinality(ranking));

-- A run takes effect at once on every instance: it reaches routing through the
-- catalog snapshot, so inserting one reloads the snapshot like a catalog edit.
CREATE TRIGGER smart_link_kpi_runs_notify
    AFTER INSERT ON smart_link_kpi_runs
    FOR EACH STATEMENT EXECUTE FUNCTION switchyard_notify_catalog_change();
