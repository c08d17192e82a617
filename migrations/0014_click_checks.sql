-- Third-party checks' verdicts with each hit (issue 14): a JSON array of
-- {"check", "verdict", "latency_us", "monitor"}, NULL when no check ran, so
-- the common row stays as small as it was. Adding a nullable column without a
-- default rewrites nothing.
ALTER TABLE clicks ADD COLUMN checks jsonb;
ALTER TABLE impressions ADD COLUMN checks jsonb;
