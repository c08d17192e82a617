-- Every committed change to a catalog table tells running servers to reload their
-- snapshot. NOTIFY is transactional: it is delivered only on commit, once per
-- distinct payload per transaction, so a bulk edit causes one reload, not thousands.

CREATE FUNCTION switchyard_notify_catalog_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchyard_catalog', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

-- Keeps updated_at honest for admins editing by SQL.
CREATE FUNCTION switchyard_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'advertisers', 'partners', 'advertiser_blocked_partners', 'offers', 'offer_urls',
        'offer_approvals', 'offer_caps', 'offer_blacklisted_subs', 'offer_retargeting_ids',
        'tracking_domains', 'smart_links', 'smart_link_offers', 'optimization_rules',
        'traffic_control', 'traffic_targeting'
    ] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I
             FOR EACH STATEMENT EXECUTE FUNCTION switchyard_notify_catalog_change()',
            t || '_notify', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['advertisers', 'partners', 'offers', 'smart_links'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I BEFORE UPDATE ON %I
             FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at()',
            t || '_touch', t);
    END LOOP;
END;
$$;
