-- Credentials the catalog holds are kept as SHA-256 digests, never in plain text
-- (issue 15, docs/MODEL.md "Secrets"): a partner's API key and an offer's postback
-- verification token. A stolen dump or backup then gives nothing to present.
-- The server hashes what it is given and compares digests in constant time; a
-- partner is found by its key's digest (unique), not by scanning every partner.
-- `sha256()` is built into PostgreSQL 11 and later, so no extension is needed.

ALTER TABLE partners
    ADD COLUMN api_key_sha256 bytea CHECK (api_key_sha256 IS NULL OR octet_length(api_key_sha256) = 32);
UPDATE partners SET api_key_sha256 = sha256(convert_to(api_key, 'UTF8')) WHERE api_key IS NOT NULL;
CREATE UNIQUE INDEX partners_api_key_sha256_key ON partners (api_key_sha256);
ALTER TABLE partners DROP COLUMN api_key;
COMMENT ON COLUMN partners.api_key_sha256 IS
    'SHA-256 of the partner API key (X-Api-Key). Set with `switchyard partner-key new ID`.';

ALTER TABLE offers
    ADD COLUMN verification_token_sha256 bytea
        CHECK (verification_token_sha256 IS NULL OR octet_length(verification_token_sha256) = 32);
UPDATE offers SET verification_token_sha256 = sha256(convert_to(verification_token, 'UTF8'))
    WHERE verification_token IS NOT NULL;
ALTER TABLE offers DROP COLUMN verification_token;
COMMENT ON COLUMN offers.verification_token_sha256 IS
    'SHA-256 of the token a postback must carry. Set with `switchyard offer-token new ID`.';
