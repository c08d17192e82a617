-- Partner postbacks waiting for delivery or for a retry, kept in Postgres so that
-- a restart does not drop them and any instance can deliver them. See
-- docs/CONVERSIONS.md ("Partner postbacks").
--
-- Rows arrive through the event writer (COPY + INSERT .. ON CONFLICT
-- (delivery_id) DO NOTHING), so a spilled and replayed delivery is queued once.
-- Rows are never deleted by the server: a delivered or given-up row must outlive
-- any spill file that could replay its insert, or the delivery would start over.

CREATE TYPE partner_postback_state AS ENUM ('pending', 'delivered', 'given_up');

CREATE TABLE partner_postback_queue (
    -- Drawn by the server before the delivery is queued; also the partner's
    -- idempotency key ({idempotency_key} in postback URLs).
    delivery_id         text PRIMARY KEY CHECK (delivery_id ~ '^[0-9a-f]{32}$'),
    -- The conversion's id, or the event's id for a post-conversion event.
    conversion_id       text NOT NULL CHECK (char_length(conversion_id) <= 32),
    partner_id          bigint NOT NULL,
    -- Expanded once, at approval: every attempt calls the same URL.
    url                 text NOT NULL,
    created_at          timestamptz NOT NULL,
    state               partner_postback_state NOT NULL DEFAULT 'pending',
    -- Claims so far, the one in flight included.
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- Due time while pending. A claim pushes it forward by the claim timeout, so
    -- a delivery whose instance died is claimed again once that passes.
    next_attempt_at     timestamptz NOT NULL,
    -- Set per claim: only the current claimant may reschedule the row.
    claim_token         text,
    last_http_status    integer,
    last_error          text,
    -- 'refused' (the partner answered a final 4xx), 'attempts_exhausted', or
    -- 'claim_lost' (the last attempt's instance stopped before reporting back).
    given_up_reason     text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- What the dispatchers poll: due pending rows, oldest first.
CREATE INDEX partner_postback_queue_due_idx ON partner_postback_queue (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX partner_postback_queue_conversion_idx ON partner_postback_queue (conversion_id);
