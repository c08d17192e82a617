-- The exploring strategy carries evidence from one run to the next (issue 11,
-- docs/KPI.md "Exploring"): per offer, what it did before the run's window,
-- faded by age, so the next run reads one more hour instead of the whole week.
-- [{"offer_id", "clicks", "unique_clicks", "conversions", "events", "payout",
--   "revenue"}], fractional, money in currency units; NULL for rank runs.
ALTER TABLE smart_link_kpi_runs
    ADD COLUMN carried jsonb;
