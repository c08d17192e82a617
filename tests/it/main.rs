//! One integration-test binary for the whole crate: each file used to be its
//! own binary, and every one of them linked all of the dependencies again,
//! which cost minutes of linking and gigabytes of disk per build.

mod common;
mod conversion_support;
mod pg_proxy;
mod scanner_support;

mod admin_postgres;
mod catalog_postgres;
mod check_catalog;
mod checks_postgres;
mod cli;
mod clicks_postgres;
mod column_limits;
mod compose_file;
mod conversions_postgres;
mod cookies_chromium;
mod counters_redis;
mod docs_agree;
mod fleet_postgres;
mod grafana_dashboard;
mod hung_up_postbacks;
mod interstitial_chromium;
mod interstitial_postgres;
mod kpi_postgres;
mod kpi_scheduler_postgres;
mod outage_postgres;
mod partitions_postgres;
mod partner_postbacks_postgres;
mod retargeting_postgres;
mod rollups_postgres;
mod rules;
mod rules_postgres;
mod scanner_postgres;
mod scanner_walk;
mod secrets_postgres;
mod slow_sink_postgres;
mod smart_links_postgres;
