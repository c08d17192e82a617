//! Counter key builders. Cap keys carry their period bucket, computed in the
//! offer's timezone, so a new period starts on a fresh key and the old one
//! simply expires; nothing ever has to reset counters at midnight.

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// What a cap or budget counts. Money metrics are in integer micro-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "cap_metric", rename_all = "lowercase")]
pub enum CapMetric {
    Clicks,
    Impressions,
    Conversions,
    Payout,
    Revenue,
}

impl CapMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            CapMetric::Clicks => "clicks",
            CapMetric::Impressions => "impressions",
            CapMetric::Conversions => "conversions",
            CapMetric::Payout => "payout",
            CapMetric::Revenue => "revenue",
        }
    }
}

/// The period a cap resets on, in the offer's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "cap_period", rename_all = "lowercase")]
pub enum CapPeriod {
    Hour,
    Day,
    Month,
    Total,
}

impl CapPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            CapPeriod::Hour => "hour",
            CapPeriod::Day => "day",
            CapPeriod::Month => "month",
            CapPeriod::Total => "total",
        }
    }
}

/// A counter's identity without its text: building and hashing one costs no
/// allocation, so in-process counters never format a key. `Display` gives the
/// exact text the string keys had (and Redis still uses), and two keys are
/// equal exactly when their texts are, so local and Redis counters agree on
/// what is one counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CounterKey {
    /// `cap:o{offer}:[p{partner}:]{metric}:{period}[:{bucket}]`
    Cap {
        offer_id: i64,
        partner_id: Option<i64>,
        metric: CapMetric,
        /// The period and which one: the local date (and hour) it names, not
        /// its start instant, so an offer whose timezone changes mid-period
        /// keeps the same counter, as its Redis key does.
        bucket: PeriodBucket,
    },
    /// `rec:...` or `rl:...`, see [`recency_key`] and [`rate_key`].
    Visitor {
        kind: VisitorKind,
        offer_id: i64,
        ip: IpAddr,
        /// FNV-1a of the user agent for the IP+UA variants.
        ua_hash: Option<u64>,
        /// The span's whole milliseconds, as the text has them, split so the
        /// key stays 8-byte aligned (a u128 would pad every entry) while any
        /// `Duration` still fits: equal exactly when the printed spans are.
        span: SpanMillis,
    },
    /// `dup:o{offer}:{identifier}:{hash:016x}`, the duplicate click filter.
    Duplicate {
        offer_id: i64,
        identifier: &'static str,
        hash: u64,
    },
    /// Any other text, for tests and ad hoc counters.
    Named(Arc<str>),
}

/// `Duration::as_millis` without its u128: whole seconds and the remaining
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanMillis {
    secs: u64,
    millis: u16,
}

impl SpanMillis {
    pub fn of(span: Duration) -> Self {
        SpanMillis {
            secs: span.as_secs(),
            // subsec_millis is below 1000, so this never saturates.
            millis: u16::try_from(span.subsec_millis()).unwrap_or(u16::MAX),
        }
    }

    pub fn as_millis(self) -> u128 {
        u128::from(self.secs) * 1000 + u128::from(self.millis)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VisitorKind {
    Recency,
    Rate,
}

impl VisitorKind {
    fn prefix(self) -> &'static str {
        match self {
            VisitorKind::Recency => "rec",
            VisitorKind::Rate => "rl",
        }
    }
}

/// Which period a cap key counts, as named in the offer's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodBucket {
    /// The offset is part of the hour because on the night clocks go back
    /// the same local hour happens twice and each is its own hour.
    Hour {
        date: NaiveDate,
        hour: u8,
        utc_offset_secs: i32,
    },
    Day(NaiveDate),
    /// Any day of the month; only year and month are shown.
    Month {
        year: i32,
        month: u8,
    },
    Total,
}

impl PeriodBucket {
    pub fn period(self) -> CapPeriod {
        match self {
            PeriodBucket::Hour { .. } => CapPeriod::Hour,
            PeriodBucket::Day(_) => CapPeriod::Day,
            PeriodBucket::Month { .. } => CapPeriod::Month,
            PeriodBucket::Total => CapPeriod::Total,
        }
    }
}

impl CounterKey {
    /// An ad hoc key with the given text.
    pub fn named(text: &str) -> Self {
        CounterKey::Named(Arc::from(text))
    }
}

impl From<&str> for CounterKey {
    fn from(text: &str) -> Self {
        CounterKey::named(text)
    }
}

impl From<String> for CounterKey {
    fn from(text: String) -> Self {
        CounterKey::Named(Arc::from(text))
    }
}

impl fmt::Display for CounterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CounterKey::Cap {
                offer_id,
                partner_id,
                metric,
                bucket,
            } => {
                write!(f, "cap:o{offer_id}:")?;
                if let Some(partner_id) = partner_id {
                    write!(f, "p{partner_id}:")?;
                }
                write!(f, "{}:{}", metric.as_str(), bucket.period().as_str())?;
                write_bucket(f, *bucket)
            }
            CounterKey::Visitor {
                kind,
                offer_id,
                ip,
                ua_hash,
                span,
            } => {
                let span_ms = span.as_millis();
                write!(f, "{}:o{offer_id}:w{span_ms}:ip={ip}", kind.prefix())?;
                if let Some(hash) = ua_hash {
                    write!(f, ":ua={hash:016x}")?;
                }
                Ok(())
            }
            CounterKey::Duplicate {
                offer_id,
                identifier,
                hash,
            } => write!(f, "dup:o{offer_id}:{identifier}:{hash:016x}"),
            CounterKey::Named(text) => f.write_str(text),
        }
    }
}

/// The bucket's suffix, formatted by chrono exactly as the string keys were.
/// Only the Redis path and logs pay for it.
fn write_bucket(f: &mut fmt::Formatter<'_>, bucket: PeriodBucket) -> fmt::Result {
    match bucket {
        PeriodBucket::Total => Ok(()),
        PeriodBucket::Day(date) => write!(f, ":{}", date.format("%Y-%m-%d")),
        PeriodBucket::Month { year, month } => {
            match NaiveDate::from_ymd_opt(year, u32::from(month), 1) {
                Some(first) => write!(f, ":{}", first.format("%Y-%m")),
                // Built only from a real date, so this cannot happen; an
                // error here would panic `to_string`.
                None => write!(f, ":{year:04}-{month:02}"),
            }
        }
        PeriodBucket::Hour {
            date,
            hour,
            utc_offset_secs,
        } => {
            let local = date.and_hms_opt(u32::from(hour), 0, 0);
            let offset = FixedOffset::east_opt(utc_offset_secs);
            // `%z` prints only the fixed offset, so formatting through a
            // FixedOffset gives the same text the offer's Tz did.
            match (local, offset) {
                (Some(local), Some(offset)) => match offset.from_local_datetime(&local) {
                    LocalResult::Single(at) => write!(f, ":{}", at.format("%Y-%m-%dT%H%z")),
                    // Only at the ends of chrono's range; `%z` by hand there.
                    _ => write_hour_by_hand(f, date, hour, utc_offset_secs),
                },
                _ => write_hour_by_hand(f, date, hour, utc_offset_secs),
            }
        }
    }
}

/// Unreachable in practice (buckets come from real local times); an error
/// instead would make `to_string` panic.
fn write_hour_by_hand(
    f: &mut fmt::Formatter<'_>,
    date: NaiveDate,
    hour: u8,
    utc_offset_secs: i32,
) -> fmt::Result {
    let sign = if utc_offset_secs < 0 { '-' } else { '+' };
    let minutes = utc_offset_secs.unsigned_abs() / 60;
    write!(
        f,
        ":{}T{hour:02}{sign}{:02}{:02}",
        date.format("%Y-%m-%d"),
        minutes / 60,
        minutes % 60
    )
}

/// The key of the cap counter for the period containing `now`, and when that
/// period ends (`None` for totals), e.g. `cap:o12:p3:clicks:day:2026-11-21`.
pub fn cap_key(
    offer_id: i64,
    partner_id: Option<i64>,
    metric: CapMetric,
    period: CapPeriod,
    tz: Tz,
    now: DateTime<Utc>,
) -> (CounterKey, Option<DateTime<Utc>>) {
    let (bucket, expires_at) = period_bucket(period, tz, now);
    let key = CounterKey::Cap {
        offer_id,
        partner_id,
        metric,
        bucket,
    };
    (key, expires_at)
}

/// One computed period: the bucket for every instant in `[from, until)`.
struct Bucket {
    tz: Tz,
    period: CapPeriod,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    bucket: PeriodBucket,
}

thread_local! {
    /// Converting to local time costs more than the rest of a cap check, and
    /// the answer only changes once per period: remember the last few per thread.
    static BUCKETS: std::cell::RefCell<Vec<Bucket>> = const { std::cell::RefCell::new(Vec::new()) };
}

const BUCKET_MEMORY: usize = 16;

fn period_bucket(
    period: CapPeriod,
    tz: Tz,
    now: DateTime<Utc>,
) -> (PeriodBucket, Option<DateTime<Utc>>) {
    let cached = BUCKETS.with(|buckets| {
        buckets
            .borrow()
            .iter()
            .find(|b| {
                b.tz == tz && b.period == period && b.from <= now && b.until.is_none_or(|u| now < u)
            })
            .map(|b| (b.bucket, b.until))
    });
    if let Some(hit) = cached {
        return hit;
    }
    let (bucket, until) = compute_bucket(period, tz, now);
    let from = period_start(period, tz, now).unwrap_or(DateTime::<Utc>::MIN_UTC);
    BUCKETS.with(|buckets| {
        let mut buckets = buckets.borrow_mut();
        if buckets.len() >= BUCKET_MEMORY {
            buckets.remove(0);
        }
        buckets.push(Bucket {
            tz,
            period,
            from,
            until,
            bucket,
        });
    });
    (bucket, until)
}

fn compute_bucket(
    period: CapPeriod,
    tz: Tz,
    now: DateTime<Utc>,
) -> (PeriodBucket, Option<DateTime<Utc>>) {
    let local = now.with_timezone(&tz);
    match period {
        CapPeriod::Total => (PeriodBucket::Total, None),
        CapPeriod::Hour => {
            let bucket = PeriodBucket::Hour {
                date: local.date_naive(),
                // Hours are 0..24, so this never saturates.
                hour: u8::try_from(local.hour()).unwrap_or(u8::MAX),
                utc_offset_secs: local.offset().fix().local_minus_utc(),
            };
            (bucket, Some(hour_end(local)))
        }
        CapPeriod::Day => {
            let date = local.date_naive();
            let expires_at = date.succ_opt().map(|next| local_day_start(tz, next));
            (PeriodBucket::Day(date), expires_at)
        }
        CapPeriod::Month => {
            let date = local.date_naive();
            let bucket = PeriodBucket::Month {
                year: date.year(),
                // Months are 1..=12, so this never saturates.
                month: u8::try_from(date.month()).unwrap_or(u8::MAX),
            };
            let expires_at = first_of_next_month(date).map(|next| local_day_start(tz, next));
            (bucket, expires_at)
        }
    }
}

/// When the period containing `now` began (`None` for totals): the lower
/// bound for restoring its counter from the event tables.
pub fn period_start(period: CapPeriod, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&tz);
    match period {
        CapPeriod::Total => None,
        CapPeriod::Hour => Some(hour_end(local) - TimeDelta::hours(1)),
        CapPeriod::Day => Some(local_day_start(tz, local.date_naive())),
        CapPeriod::Month => {
            let first = NaiveDate::from_ymd_opt(local.year(), local.month(), 1)?;
            Some(local_day_start(tz, first))
        }
    }
}

/// Working back from the instant itself (not through local wall time) means
/// a DST gap or overlap cannot make the hour's start unrepresentable.
fn hour_end(local: DateTime<Tz>) -> DateTime<Utc> {
    let into_hour = TimeDelta::seconds(i64::from(local.minute() * 60 + local.second()))
        + TimeDelta::nanoseconds(i64::from(local.nanosecond()));
    local.with_timezone(&Utc) - into_hour + TimeDelta::hours(1)
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (year, month) = if date.month() == 12 {
        (date.year().checked_add(1)?, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// The first instant of `date` in `tz`. Some zones skip local midnight on
/// DST days (and Samoa once skipped a whole day), so step forward to the
/// first local time that exists; on an overlap the earlier instant wins.
fn local_day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    for quarter_hours in 0..=24 * 4 {
        let candidate = midnight + TimeDelta::minutes(15 * quarter_hours);
        match tz.from_local_datetime(&candidate) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    // No zone has a gap longer than a day; a sane answer beats a panic.
    midnight.and_utc()
}

/// Key for IP Recency (`ua` = `None`) or IP+UA Recency on one offer. The TTL
/// is part of the key so two recency rules on one offer don't collide.
pub fn recency_key(offer_id: i64, ip: IpAddr, ua: Option<&str>, ttl: Duration) -> CounterKey {
    recency_key_hashed(offer_id, ip, ua.map(ua_hash), ttl)
}

/// Key for IP Rate Limit (`ua` = `None`) or IP UA Rate Limit on one offer.
pub fn rate_key(offer_id: i64, ip: IpAddr, ua: Option<&str>, window: Duration) -> CounterKey {
    rate_key_hashed(offer_id, ip, ua.map(ua_hash), window)
}

/// [`recency_key`] with the user agent already hashed by [`ua_hash`]: a hit
/// with several UA rules hashes its (long) user agent once.
pub fn recency_key_hashed(
    offer_id: i64,
    ip: IpAddr,
    ua_hash: Option<u64>,
    ttl: Duration,
) -> CounterKey {
    visitor_key(VisitorKind::Recency, offer_id, ip, ua_hash, ttl)
}

/// [`rate_key`] with the user agent already hashed by [`ua_hash`].
pub fn rate_key_hashed(
    offer_id: i64,
    ip: IpAddr,
    ua_hash: Option<u64>,
    window: Duration,
) -> CounterKey {
    visitor_key(VisitorKind::Rate, offer_id, ip, ua_hash, window)
}

/// User agents are long, attacker-controlled text: keep them out of Redis
/// keys and hash them to a fixed width instead. XXH3, not FNV-1a: a browser's
/// user agent is over a hundred bytes, and byte-at-a-time FNV took a tenth
/// of a whole decision on them. Like FNV it is a specified algorithm, so keys
/// written by one release match the next.
pub fn ua_hash(ua: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(ua.as_bytes())
}

fn visitor_key(
    kind: VisitorKind,
    offer_id: i64,
    ip: IpAddr,
    ua_hash: Option<u64>,
    span: Duration,
) -> CounterKey {
    CounterKey::Visitor {
        kind,
        offer_id,
        ip,
        ua_hash,
        span: SpanMillis::of(span),
    }
}

/// FNV-1a: tiny, fast on short strings and, unlike std's or Fx hashers,
/// fixed forever, so keys written by one release match the next.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = Fnv1a64::default();
    hash.update(bytes);
    hash.finish()
}

/// FNV-1a fed piece by piece: hashing text as it is formatted (`write!`)
/// gives the same value as [`fnv1a64`] of the formatted string, without
/// allocating the string.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Fnv1a64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a64 {
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

impl fmt::Write for Fnv1a64 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.update(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Tz;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test timestamp")
    }

    #[test]
    fn day_bucket_is_the_offers_local_date() {
        let (key, expires) = cap_key(
            12,
            Some(3),
            CapMetric::Clicks,
            CapPeriod::Day,
            New_York,
            utc("2026-11-21T04:30:00Z"),
        );
        assert_eq!(key.to_string(), "cap:o12:p3:clicks:day:2026-11-20");
        assert_eq!(expires, Some(utc("2026-11-21T05:00:00Z")));
    }

    #[test]
    fn offer_level_key_has_no_partner_part() {
        let (key, _) = cap_key(
            12,
            None,
            CapMetric::Payout,
            CapPeriod::Day,
            Tz::UTC,
            utc("2026-11-21T04:30:00Z"),
        );
        assert_eq!(key.to_string(), "cap:o12:payout:day:2026-11-21");
    }

    #[test]
    fn month_rolls_over_into_next_year_in_local_time() {
        let (key, expires) = cap_key(
            1,
            None,
            CapMetric::Revenue,
            CapPeriod::Month,
            New_York,
            utc("2027-01-01T03:00:00Z"),
        );
        assert_eq!(key.to_string(), "cap:o1:revenue:month:2026-12");
        assert_eq!(expires, Some(utc("2027-01-01T05:00:00Z")));
    }

    #[test]
    fn total_never_expires() {
        let (key, expires) = cap_key(
            1,
            None,
            CapMetric::Conversions,
            CapPeriod::Total,
            New_York,
            utc("2026-11-21T04:30:00Z"),
        );
        assert_eq!(key.to_string(), "cap:o1:conversions:total");
        assert_eq!(expires, None);
    }

    #[test]
    fn hour_ends_at_next_local_hour_in_half_hour_zones() {
        let (key, expires) = cap_key(
            1,
            None,
            CapMetric::Clicks,
            CapPeriod::Hour,
            chrono_tz::Asia::Kolkata,
            utc("2026-11-21T04:45:10Z"),
        );
        // 04:45 UTC is 10:15 IST; the hour ends 11:00 IST = 05:30 UTC.
        assert_eq!(key.to_string(), "cap:o1:clicks:hour:2026-11-21T10+0530");
        assert_eq!(expires, Some(utc("2026-11-21T05:30:00Z")));
    }

    #[test]
    fn repeated_local_hour_on_fall_back_gets_two_buckets() {
        let first = cap_key(
            1,
            None,
            CapMetric::Clicks,
            CapPeriod::Hour,
            New_York,
            utc("2026-11-01T05:30:00Z"),
        );
        let second = cap_key(
            1,
            None,
            CapMetric::Clicks,
            CapPeriod::Hour,
            New_York,
            utc("2026-11-01T06:30:00Z"),
        );
        assert_eq!(first.0.to_string(), "cap:o1:clicks:hour:2026-11-01T01-0400");
        assert_eq!(
            second.0.to_string(),
            "cap:o1:clicks:hour:2026-11-01T01-0500"
        );
        assert_eq!(first.1, Some(utc("2026-11-01T06:00:00Z")));
        assert_eq!(second.1, Some(utc("2026-11-01T07:00:00Z")));
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        let spring = cap_key(
            1,
            None,
            CapMetric::Clicks,
            CapPeriod::Day,
            New_York,
            utc("2026-03-07T12:00:00Z"),
        );
        assert_eq!(spring.1, Some(utc("2026-03-08T05:00:00Z")));
        let after_spring = cap_key(
            1,
            None,
            CapMetric::Clicks,
            CapPeriod::Day,
            New_York,
            utc("2026-03-08T12:00:00Z"),
        );
        assert_eq!(after_spring.1, Some(utc("2026-03-09T04:00:00Z")));
        let fall = cap_key(
            1,
            None,
            CapMetric::Clicks,
            CapPeriod::Day,
            New_York,
            utc("2026-11-01T12:00:00Z"),
        );
        assert_eq!(fall.1, Some(utc("2026-11-02T05:00:00Z")));
    }

    #[test]
    fn day_starting_in_a_dst_gap_starts_at_first_valid_local_time() {
        // Santiago springs forward at local midnight: 2026-09-06 00:00 does
        // not exist and the day starts at 01:00 -03 = 04:00 UTC.
        let (_, expires) = cap_key(
            1,
            None,
            CapMetric::Clicks,
            CapPeriod::Day,
            chrono_tz::America::Santiago,
            utc("2026-09-05T12:00:00Z"),
        );
        assert_eq!(expires, Some(utc("2026-09-06T04:00:00Z")));
    }

    #[test]
    fn every_hour_across_dst_weeks_has_a_future_expiry() {
        let zones = [
            New_York,
            chrono_tz::America::Santiago,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Apia,
            chrono_tz::Europe::London,
        ];
        let periods = [CapPeriod::Hour, CapPeriod::Day, CapPeriod::Month];
        for tz in zones {
            for period in periods {
                for start in [
                    "2026-03-01T00:00:00Z",
                    "2026-10-01T00:00:00Z",
                    "2011-12-28T00:00:00Z",
                ] {
                    let mut now = utc(start);
                    for _ in 0..(24 * 4 * 45) {
                        let (_, expires) = cap_key(1, None, CapMetric::Clicks, period, tz, now);
                        let expires = expires.expect("periodic caps expire");
                        assert!(expires > now, "{tz} {period:?} at {now}: {expires}");
                        now += TimeDelta::minutes(15);
                    }
                }
            }
        }
    }

    #[test]
    fn ua_is_hashed_not_embedded() {
        let ip: IpAddr = "203.0.113.7".parse().expect("test ip");
        let ua = "Mozilla/5.0 (X11; Linux x86_64) evil:key*";
        let key = recency_key(5, ip, Some(ua), Duration::from_secs(60));
        let text = key.to_string();
        assert!(text.starts_with("rec:o5:w60000:ip=203.0.113.7:ua="));
        assert!(!text.contains("Mozilla"));
        assert_eq!(key, recency_key(5, ip, Some(ua), Duration::from_secs(60)));
        assert_ne!(
            key,
            recency_key(5, ip, Some("other"), Duration::from_secs(60))
        );
    }

    #[test]
    fn recency_and_rate_keys_never_collide() {
        let ip: IpAddr = "::1".parse().expect("test ip");
        let window = Duration::from_secs(60);
        assert_ne!(
            recency_key(5, ip, None, window),
            rate_key(5, ip, None, window)
        );
        assert_ne!(
            rate_key(5, ip, None, window),
            rate_key(5, ip, None, Duration::from_secs(3600))
        );
    }

    #[test]
    fn visitor_and_duplicate_keys_print_as_the_string_keys_did() {
        // The text the string builders produced, kept here to pin Redis keys.
        fn old(kind: &str, offer_id: i64, ip: IpAddr, ua: Option<&str>, span: Duration) -> String {
            let mut key = format!("{kind}:o{offer_id}:w{}:ip={ip}", span.as_millis());
            if let Some(ua) = ua {
                key.push_str(&format!(":ua={:016x}", ua_hash(ua)));
            }
            key
        }
        for ip in ["203.0.113.7", "::1", "2001:db8::8a2e:370:7334"] {
            let ip: IpAddr = ip.parse().expect("test ip");
            for ua in [None, Some("Mozilla/5.0")] {
                for span in [Duration::from_millis(1500), Duration::from_secs(3600)] {
                    assert_eq!(
                        recency_key(9, ip, ua, span).to_string(),
                        old("rec", 9, ip, ua, span)
                    );
                    assert_eq!(
                        rate_key(-9, ip, ua, span).to_string(),
                        old("rl", -9, ip, ua, span)
                    );
                }
            }
        }
        let odd = Duration::new(u64::MAX, 999_999_999);
        assert_eq!(
            recency_key(1, "::1".parse().expect("test ip"), None, odd).to_string(),
            format!("rec:o1:w{}:ip=::1", odd.as_millis())
        );
        let dup = CounterKey::Duplicate {
            offer_id: 7,
            identifier: "ipua",
            hash: 0xab,
        };
        assert_eq!(dup.to_string(), "dup:o7:ipua:00000000000000ab");
        assert_eq!(CounterKey::named("k1").to_string(), "k1");
    }

    #[test]
    fn streamed_fnv_matches_the_whole_string() {
        use std::fmt::Write as _;
        let mut hash = Fnv1a64::default();
        let ip: IpAddr = "203.0.113.7".parse().expect("test ip");
        let ua = "ua";
        let _ = write!(hash, "{ip}\n{ua}");
        assert_eq!(hash.finish(), fnv1a64(b"203.0.113.7\nua"));
    }

    #[test]
    fn ua_hash_is_stable() {
        // XXH3-64 of the empty input, from the reference implementation.
        assert_eq!(ua_hash(""), 0x2d06_8005_38d3_94c2);
    }

    #[test]
    fn fnv_hash_is_stable() {
        // Published FNV-1a 64 test vector: keys must not change between releases.
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn metric_and_period_serialize_lowercase() {
        assert_eq!(
            serde_json::to_string(&CapMetric::Payout).ok().as_deref(),
            Some("\"payout\"")
        );
        let period: CapPeriod = serde_json::from_str("\"month\"").expect("valid period");
        assert_eq!(period, CapPeriod::Month);
    }
}
