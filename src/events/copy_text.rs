//! Postgres COPY text format: tab-separated, `\N` for NULL, backslash escapes.
//!
//! Encoding runs on the runtime thread that also serves redirects, once per
//! event: numbers, ids and timestamps are written without the formatting
//! machinery (with it, a click's row cost more than its routing decision).

use std::fmt::Display;
use std::fmt::Write;
use std::net::IpAddr;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::routing::TransactionId;

pub(super) struct CopyRow<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> CopyRow<'a> {
    pub fn new(out: &'a mut String) -> Self {
        Self { out, first: true }
    }

    fn separator(&mut self) {
        if !self.first {
            self.out.push('\t');
        }
        self.first = false;
    }

    pub fn text(&mut self, value: Option<&str>) -> &mut Self {
        self.separator();
        match value {
            None => self.out.push_str("\\N"),
            Some(v) => escape_into(v, self.out),
        }
        self
    }

    /// For values whose text form never needs escaping (amounts, addresses).
    pub fn plain(&mut self, value: Option<impl Display>) -> &mut Self {
        self.separator();
        match value {
            None => self.out.push_str("\\N"),
            // Writing to a String cannot fail.
            Some(v) => {
                let _ = write!(self.out, "{v}");
            }
        }
        self
    }

    /// A hit's check verdicts as `jsonb`; none: NULL, which keeps the
    /// common row small.
    pub fn checks(&mut self, verdicts: &[crate::checks::CheckVerdict]) -> &mut Self {
        if verdicts.is_empty() {
            return self.text(None);
        }
        let mut json = String::new();
        crate::checks::verdict::to_json(verdicts, &mut json);
        self.text(Some(&json))
    }

    pub fn number(&mut self, value: Option<impl itoa::Integer>) -> &mut Self {
        self.separator();
        match value {
            None => self.out.push_str("\\N"),
            Some(v) => self.out.push_str(itoa::Buffer::new().format(v)),
        }
        self
    }

    pub fn id(&mut self, value: TransactionId) -> &mut Self {
        self.separator();
        self.out.push_str(value.to_hex().as_str());
        self
    }

    /// IPv4 by hand: `IpAddr`'s `Display` (built for padding) cost as much
    /// as the rest of a click's row.
    pub fn ip(&mut self, value: IpAddr) -> &mut Self {
        match value {
            IpAddr::V4(v4) => {
                self.separator();
                let mut number = itoa::Buffer::new();
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.out.push('.');
                    }
                    self.out.push_str(number.format(octet));
                }
                self
            }
            IpAddr::V6(_) => self.plain(Some(value)),
        }
    }

    pub fn flag(&mut self, value: bool) -> &mut Self {
        self.separator();
        self.out.push(if value { 't' } else { 'f' });
        self
    }

    /// RFC 3339 in UTC with nanoseconds (Postgres rounds them to its
    /// microseconds, as it did with `to_rfc3339`'s text).
    pub fn timestamp(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.separator();
        let year = value.year();
        if !(0..=9999).contains(&year) {
            self.out.push_str(&value.to_rfc3339());
            return self;
        }
        let mut text = *b"0000-00-00T00:00:00.000000000+00:00";
        digits(&mut text[0..4], year as u32);
        digits(&mut text[5..7], value.month());
        digits(&mut text[8..10], value.day());
        digits(&mut text[11..13], value.hour());
        digits(&mut text[14..16], value.minute());
        // A leap second shows as second 59 with more than a second of nanos.
        let nanos = value.nanosecond();
        digits(&mut text[17..19], value.second() + nanos / 1_000_000_000);
        digits(&mut text[20..29], nanos % 1_000_000_000);
        // Only ASCII digits and punctuation.
        self.out
            .push_str(std::str::from_utf8(&text).unwrap_or_default());
        self
    }

    pub fn end(&mut self) {
        self.out.push('\n');
    }
}

/// Writes `value`'s last `out.len()` decimal digits, zero-padded.
fn digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Copies clean runs whole: escapes are rare, and pushing char by char cost
/// more than the rest of the row.
fn escape_into(value: &str, out: &mut String) {
    let mut clean_from = 0;
    for (at, byte) in value.bytes().enumerate() {
        let escaped = match byte {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            _ => continue,
        };
        // Escapes are ASCII, so `at` is on a character boundary.
        out.push_str(&value[clean_from..at]);
        out.push_str(escaped);
        clean_from = at + 1;
    }
    out.push_str(&value[clean_from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_nulls() {
        let mut out = String::new();
        CopyRow::new(&mut out)
            .text(Some("a\tb\\c\nd"))
            .text(None)
            .plain(Some(42))
            .end();
        assert_eq!(out, "a\\tb\\\\c\\nd\t\\N\t42\n");
    }

    #[test]
    fn clean_runs_around_escapes_and_multibyte_text() {
        let mut out = String::new();
        CopyRow::new(&mut out)
            .text(Some("é\\ü\r"))
            .text(Some(""))
            .text(Some("plain"))
            .end();
        assert_eq!(out, "é\\\\ü\\r\t\tplain\n");
    }

    #[test]
    fn fast_values_read_as_the_formatted_ones() {
        let at: DateTime<Utc> = "2026-12-03T07:05:09.000120300Z".parse().unwrap();
        let mut out = String::new();
        CopyRow::new(&mut out)
            .timestamp(at)
            .number(Some(-42i64))
            .number(None::<i64>)
            .id(TransactionId(0xab))
            .flag(true)
            .flag(false)
            .ip("192.0.2.10".parse().unwrap())
            .ip("2001:db8::1".parse().unwrap())
            .end();
        assert_eq!(
            out,
            "2026-12-03T07:05:09.000120300+00:00\t-42\t\\N\t000000000000000000000000000000ab\tt\tf\t192.0.2.10\t2001:db8::1\n"
        );
        let parsed: DateTime<Utc> = out[..35].parse().unwrap();
        assert_eq!(parsed, at);
    }

    #[test]
    fn timestamps_match_rfc3339_across_the_clock() {
        for at in [
            "1999-12-31T23:59:59Z",
            "2026-01-01T00:00:00.5Z",
            "2026-06-15T12:34:56.999999999Z",
        ] {
            let at: DateTime<Utc> = at.parse().unwrap();
            let mut out = String::new();
            CopyRow::new(&mut out).timestamp(at);
            assert_eq!(out.parse::<DateTime<Utc>>().unwrap(), at, "{out}");
        }
    }
}
