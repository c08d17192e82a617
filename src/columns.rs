//! What each column of the event tables accepts: the one table of limits that the
//! edge validates request values against, so that a value which reaches the
//! writer always fits its column.
//!
//! Postgres enforces the same limits (`migrations/0007_event_limits.sql`), and
//! `tests/it/column_limits.rs` checks this table against the migrated schema in
//! both directions: a column added to a migration but not here, or a limit that
//! differs, fails the build's tests. A row that slips past the edge anyway is
//! dead-lettered by the writer, never retried (see `events::writer`).

use crate::catalog::money::Micros;

/// Sub ids, `source_id`, device ids, `order_id`, `adv1`..`adv5`, `adv_event_id`.
pub const TOKEN_CHARS: usize = 512;
/// The user agent, cut to this length at the edge.
pub const USER_AGENT_CHARS: usize = 1024;
/// Rule codes, request-refusal details and conversion reject reasons.
pub const CODE_CHARS: usize = 64;
/// ISO country codes, with room for MaxMind's continent-like codes.
pub const COUNTRY_CHARS: usize = 8;
/// Transaction, conversion, event and attempt ids: 32 lowercase hex characters.
pub const ID_CHARS: usize = 32;
/// A partner postback attempt's error text.
pub const ERROR_CHARS: usize = 1024;
/// Every money column is `numeric(14, 4)`.
pub const MONEY: Numeric = Numeric {
    precision: 14,
    scale: 4,
};

/// A column's SQL type, as `information_schema.columns` reports it, with the
/// limit a value must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `text`; `Some(n)`: at most `n` characters (a CHECK constraint). Never a NUL.
    Text(Option<usize>),
    BigInt,
    Integer,
    Numeric(Numeric),
    Inet,
    Timestamptz,
    Boolean,
    /// A Postgres enum type, by name.
    Enum(&'static str),
    /// `jsonb`, written by the server (never request text).
    Jsonb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numeric {
    pub precision: u32,
    pub scale: u32,
}

impl Numeric {
    /// Whether `value` is stored exactly: below `10^(precision - scale)` in size
    /// and with no more than `scale` decimals (Postgres would round those away).
    pub fn fits(self, value: Micros) -> bool {
        let Some(unit) = 10i64.checked_pow(6u32.saturating_sub(self.scale)) else {
            return false;
        };
        let bound = 10i128.pow(self.precision - self.scale) * 1_000_000;
        value.0 % unit == 0 && i128::from(value.0).abs() < bound
    }

    /// The largest value that fits, for messages and tests.
    pub fn max(self) -> Micros {
        let bound = 10i64.pow(self.precision - self.scale) * 1_000_000;
        let unit = 10i64.pow(6u32.saturating_sub(self.scale));
        Micros(bound - unit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// The columns the writer fills, in the order it writes them.
    pub columns: &'static [Column],
    /// Columns Postgres fills itself (identity, defaults); the writer never sends them.
    pub generated: &'static [&'static str],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const fn col(name: &'static str, kind: Kind, nullable: bool) -> Column {
    Column {
        name,
        kind,
        nullable,
    }
}

const ID: Kind = Kind::Text(Some(ID_CHARS));
const TOKEN: Kind = Kind::Text(Some(TOKEN_CHARS));
const CODE: Kind = Kind::Text(Some(CODE_CHARS));
const MONEY_KIND: Kind = Kind::Numeric(MONEY);

pub const CLICKS: Table = Table {
    name: "clicks",
    columns: &[
        col("transaction_id", ID, false),
        col("created_at", Kind::Timestamptz, false),
        col("outcome", Kind::Enum("hit_outcome"), false),
        col("discard_rule", CODE, true),
        col("discard_detail", CODE, true),
        col("requested_offer_id", Kind::BigInt, true),
        col("offer_id", Kind::BigInt, true),
        col("advertiser_id", Kind::BigInt, true),
        col("partner_id", Kind::BigInt, true),
        col("smart_link_id", Kind::BigInt, true),
        col("sub1", TOKEN, true),
        col("sub2", TOKEN, true),
        col("sub3", TOKEN, true),
        col("sub4", TOKEN, true),
        col("sub5", TOKEN, true),
        col("source_id", TOKEN, true),
        col("idfa", TOKEN, true),
        col("gaid", TOKEN, true),
        col("ip", Kind::Inet, false),
        col("user_agent", Kind::Text(Some(USER_AGENT_CHARS)), false),
        col("country", Kind::Text(Some(COUNTRY_CHARS)), true),
        col("is_unique", Kind::Boolean, false),
        col("checks", Kind::Jsonb, true),
    ],
    generated: &[],
};

pub const IMPRESSIONS: Table = Table {
    name: "impressions",
    columns: &[
        col("transaction_id", ID, false),
        col("created_at", Kind::Timestamptz, false),
        col("outcome", Kind::Enum("hit_outcome"), false),
        col("discard_rule", CODE, true),
        col("discard_detail", CODE, true),
        col("offer_id", Kind::BigInt, true),
        col("advertiser_id", Kind::BigInt, true),
        col("partner_id", Kind::BigInt, true),
        col("sub1", TOKEN, true),
        col("sub2", TOKEN, true),
        col("sub3", TOKEN, true),
        col("sub4", TOKEN, true),
        col("sub5", TOKEN, true),
        col("source_id", TOKEN, true),
        col("ip", Kind::Inet, false),
        col("user_agent", Kind::Text(Some(USER_AGENT_CHARS)), false),
        col("country", Kind::Text(Some(COUNTRY_CHARS)), true),
        col("checks", Kind::Jsonb, true),
    ],
    generated: &[],
};

pub const CONVERSIONS: Table = Table {
    name: "conversions",
    columns: &[
        col("conversion_id", ID, false),
        col("created_at", Kind::Timestamptz, false),
        col("transaction_id", ID, false),
        col("status", Kind::Enum("conversion_status"), false),
        col("reject_reason", CODE, true),
        col("offer_id", Kind::BigInt, true),
        col("advertiser_id", Kind::BigInt, true),
        col("partner_id", Kind::BigInt, true),
        col("smart_link_id", Kind::BigInt, true),
        col("amount", MONEY_KIND, true),
        col("payout", MONEY_KIND, false),
        col("revenue", MONEY_KIND, false),
        col("order_id", TOKEN, true),
        col("adv1", TOKEN, true),
        col("adv2", TOKEN, true),
        col("adv3", TOKEN, true),
        col("adv4", TOKEN, true),
        col("adv5", TOKEN, true),
    ],
    generated: &[],
};

pub const CONVERSION_EVENTS: Table = Table {
    name: "conversion_events",
    columns: &[
        col("event_id", ID, false),
        col("created_at", Kind::Timestamptz, false),
        col("transaction_id", ID, false),
        col("adv_event_id", TOKEN, false),
        col("status", Kind::Enum("conversion_status"), false),
        col("reject_reason", CODE, true),
        col("offer_id", Kind::BigInt, true),
        col("partner_id", Kind::BigInt, true),
        col("smart_link_id", Kind::BigInt, true),
        col("amount", MONEY_KIND, true),
        col("payout", MONEY_KIND, false),
        col("revenue", MONEY_KIND, false),
    ],
    generated: &[],
};

pub const POSTBACK_ATTEMPTS: Table = Table {
    name: "partner_postback_attempts",
    columns: &[
        col("attempt_id", ID, false),
        col("conversion_id", ID, false),
        col("partner_id", Kind::BigInt, false),
        col("attempt", Kind::Integer, false),
        col("attempted_at", Kind::Timestamptz, false),
        // Built by the server from the partner's template; not a request value.
        col("url", Kind::Text(None), false),
        col("http_status", Kind::Integer, true),
        col("error", Kind::Text(Some(ERROR_CHARS)), true),
    ],
    generated: &["id"],
};

/// Partner postbacks to deliver: the writer inserts a new delivery, and the
/// dispatcher (`postbacks::store`) updates the rest.
pub const POSTBACK_QUEUE: Table = Table {
    name: "partner_postback_queue",
    columns: &[
        col("delivery_id", ID, false),
        col("conversion_id", ID, false),
        col("partner_id", Kind::BigInt, false),
        // Built by the server from the partner's template; not a request value.
        col("url", Kind::Text(None), false),
        col("created_at", Kind::Timestamptz, false),
        col("next_attempt_at", Kind::Timestamptz, false),
    ],
    generated: &[
        "state",
        "attempts",
        "claim_token",
        "last_http_status",
        "last_error",
        "given_up_reason",
        "updated_at",
    ],
};

/// Rows Postgres refused for their data, kept with the reason (see `events::writer`).
pub const DEAD_LETTERS: Table = Table {
    name: "dead_letter_events",
    columns: &[
        col("event_key", Kind::Text(Some(CODE_CHARS)), false),
        col("kind", Kind::Text(Some(CODE_CHARS)), false),
        col("occurred_at", Kind::Timestamptz, false),
        col("sqlstate", Kind::Text(Some(5)), true),
        col("error", Kind::Text(None), false),
        // The event as a JSON line: JSON escapes a NUL, which `text` cannot hold.
        col("payload", Kind::Text(None), false),
    ],
    generated: &["dead_at"],
};

/// Every table the event writer fills.
pub const EVENT_TABLES: [Table; 7] = [
    CLICKS,
    IMPRESSIONS,
    CONVERSIONS,
    CONVERSION_EVENTS,
    POSTBACK_ATTEMPTS,
    POSTBACK_QUEUE,
    DEAD_LETTERS,
];

/// `text` with at most `max` characters and no NUL (which Postgres `text`
/// cannot store).
pub fn text_fits(value: &str, max: usize) -> bool {
    !value.contains('\0') && (value.len() <= max || value.chars().count() <= max)
}

/// `value` cut to at most `max` bytes on a character boundary.
pub fn truncate_to(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_fits_numeric_14_4_exactly() {
        let max = MONEY.max();
        assert_eq!(max, Micros(9_999_999_999_999_900));
        assert!(MONEY.fits(max));
        assert!(!MONEY.fits(Micros(max.0 + 100)), "one unit past the limit");
        assert!(MONEY.fits(Micros(-max.0)));
        assert!(MONEY.fits(Micros(1_234_500)), "1.2345");
        assert!(!MONEY.fits(Micros(1_234_560)), "1.23456 would be rounded");
        assert!(!MONEY.fits(Micros(i64::MAX)));
    }

    #[test]
    fn text_limits_count_characters_and_refuse_nul() {
        assert!(
            text_fits(&"é".repeat(512), 512),
            "512 characters, 1024 bytes"
        );
        assert!(!text_fits(&"é".repeat(513), 512));
        assert!(!text_fits("a\0b", 512));
        assert_eq!(truncate_to("aé", 2), "a");
    }

    #[test]
    fn every_code_the_server_records_fits_its_column() {
        for rule in crate::rules::RuleCode::ALL {
            assert!(rule.as_str().len() <= CODE_CHARS, "{}", rule.as_str());
        }
    }
}
