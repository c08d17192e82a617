-- Limits on the event tables' text columns, and a dead-letter table.
--
-- The edge refuses any request value that would not fit its column
-- (`src/columns.rs`, checked against this schema by tests/it/column_limits.rs);
-- these constraints are the second line. A row that breaks one makes Postgres
-- refuse it as a data error, and the writer moves that row alone to
-- `dead_letter_events` instead of retrying its batch forever.
--
-- NOT VALID: enforced for every new row without scanning the rows already
-- stored (VALIDATE CONSTRAINT can be run later, off-peak, if wanted).

ALTER TABLE clicks
    ADD CONSTRAINT clicks_discard_rule_len CHECK (char_length(discard_rule) <= 64) NOT VALID,
    ADD CONSTRAINT clicks_discard_detail_len CHECK (char_length(discard_detail) <= 64) NOT VALID,
    ADD CONSTRAINT clicks_sub1_len CHECK (char_length(sub1) <= 512) NOT VALID,
    ADD CONSTRAINT clicks_sub2_len CHECK (char_length(sub2) <= 512) NOT VALID,
    ADD CONSTRAINT clicks_sub3_len CHECK (char_length(sub3) <= 512) NOT VALID,
    ADD CONSTRAINT clicks_sub4_len CHECK (char_length(sub4) <= 512) NOT VALID,
    ADD CONSTRAINT clicks_sub5_len CHECK (char_length(sub5) <= 512) NOT VALID,
    ADD CONSTRAINT clicks_source_id_len CHECK (char_length(source_id) <= 512) NOT VALID,
    ADD CONSTRAINT clicks_idfa_len CHECK (char_length(idfa) <= 512) NOT VALID,
    ADD CONSTRAINT clicks_gaid_len CHECK (char_length(gaid) <= 512) NOT VALID,
    ADD CONSTRAINT clicks_user_agent_len CHECK (char_length(user_agent) <= 1024) NOT VALID,
    ADD CONSTRAINT clicks_country_len CHECK (char_length(country) <= 8) NOT VALID;

ALTER TABLE impressions
    ADD CONSTRAINT impressions_discard_rule_len CHECK (char_length(discard_rule) <= 64) NOT VALID,
    ADD CONSTRAINT impressions_discard_detail_len CHECK (char_length(discard_detail) <= 64) NOT VALID,
    ADD CONSTRAINT impressions_sub1_len CHECK (char_length(sub1) <= 512) NOT VALID,
    ADD CONSTRAINT impressions_sub2_len CHECK (char_length(sub2) <= 512) NOT VALID,
    ADD CONSTRAINT impressions_sub3_len CHECK (char_length(sub3) <= 512) NOT VALID,
    ADD CONSTRAINT impressions_sub4_len CHECK (char_length(sub4) <= 512) NOT VALID,
    ADD CONSTRAINT impressions_sub5_len CHECK (char_length(sub5) <= 512) NOT VALID,
    ADD CONSTRAINT impressions_source_id_len CHECK (char_length(source_id) <= 512) NOT VALID,
    ADD CONSTRAINT impressions_user_agent_len CHECK (char_length(user_agent) <= 1024) NOT VALID,
    ADD CONSTRAINT impressions_country_len CHECK (char_length(country) <= 8) NOT VALID;

ALTER TABLE conversions
    ADD CONSTRAINT conversions_transaction_id_len CHECK (char_length(transaction_id) <= 32) NOT VALID,
    ADD CONSTRAINT conversions_reject_reason_len CHECK (char_length(reject_reason) <= 64) NOT VALID,
    ADD CONSTRAINT conversions_order_id_len CHECK (char_length(order_id) <= 512) NOT VALID,
    ADD CONSTRAINT conversions_adv1_len CHECK (char_length(adv1) <= 512) NOT VALID,
    ADD CONSTRAINT conversions_adv2_len CHECK (char_length(adv2) <= 512) NOT VALID,
    ADD CONSTRAINT conversions_adv3_len CHECK (char_length(adv3) <= 512) NOT VALID,
    ADD CONSTRAINT conversions_adv4_len CHECK (char_length(adv4) <= 512) NOT VALID,
    ADD CONSTRAINT conversions_adv5_len CHECK (char_length(adv5) <= 512) NOT VALID;

ALTER TABLE conversion_events
    ADD CONSTRAINT conversion_events_transaction_id_len CHECK (char_length(transaction_id) <= 32) NOT VALID,
    ADD CONSTRAINT conversion_events_adv_event_id_len CHECK (char_length(adv_event_id) <= 512) NOT VALID,
    ADD CONSTRAINT conversion_events_reject_reason_len CHECK (char_length(reject_reason) <= 64) NOT VALID;

ALTER TABLE partner_postback_attempts
    ADD CONSTRAINT partner_postback_attempts_conversion_id_len CHECK (char_length(conversion_id) <= 32) NOT VALID,
    ADD CONSTRAINT partner_postback_attempts_error_len CHECK (char_length(error) <= 1024) NOT VALID;

-- One row per event Postgres refused for its data. `event_key` is the event's
-- own id, so a batch replayed from the spill file dead-letters a row once.
CREATE TABLE dead_letter_events (
    event_key   text PRIMARY KEY CHECK (char_length(event_key) <= 64),
    -- 'click', 'impression', 'conversion', 'conversion_event', 'postback_attempt'
    kind        text NOT NULL CHECK (char_length(kind) <= 64),
    occurred_at timestamptz NOT NULL,
    dead_at     timestamptz NOT NULL DEFAULT now(),
    sqlstate    text CHECK (char_length(sqlstate) <= 5),
    error       text NOT NULL,
    -- The event as one JSON line, as in the spill file: it can be fixed and
    -- replayed by hand.
    payload     text NOT NULL
);
CREATE INDEX dead_letter_events_dead_at_idx ON dead_letter_events (dead_at);
