//! Money as integer micro-units, so sums and caps never meet float rounding.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in millionths of the currency unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a decimal amount with at most 6 decimals")]
pub struct MoneyError(String);

impl Micros {
    pub const ZERO: Micros = Micros(0);

    /// Parses "12", "12.5", "0.0001" exactly (Postgres `numeric::text` output included).
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let err = || MoneyError(text.to_owned());
        let trimmed = text.trim();
        let (negative, digits) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let fraction = fraction.trim_end_matches('0');
        if whole.is_empty() || fraction.len() > 6 {
            return Err(err());
        }
        if !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let fraction_micros: i64 = if fraction.is_empty() {
            0
        } else {
            format!("{fraction:0<6}").parse().map_err(|_| err())?
        };
        let value = whole
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(fraction_micros))
            .ok_or_else(err)?;
        Ok(Micros(if negative { -value } else { value }))
    }

    /// `percent` of `self`, where `percent` is itself in micros (12.5% = 12_500_000).
    pub fn percent_of(self, percent: Micros) -> Micros {
        let product = i128::from(self.0) * i128::from(percent.0) / 100_000_000;
        Micros(i64::try_from(product).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let fraction = abs % 1_000_000;
        if fraction == 0 {
            write!(f, "{sign}{}", abs / 1_000_000)
        } else {
            let digits = format!("{fraction:06}");
            write!(
                f,
                "{sign}{}.{}",
                abs / 1_000_000,
                digits.trim_end_matches('0')
            )
        }
    }
}

impl Serialize for Micros {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Int(i) => i.to_string(),
            // YAML/JSON numbers like 2.5 arrive as floats; their shortest text is exact enough.
            Raw::Float(f) => f.to_string(),
            Raw::Text(s) => s,
        };
        Micros::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(Micros::parse("12").unwrap(), Micros(12_000_000));
        assert_eq!(Micros::parse("0.0001").unwrap(), Micros(100));
        assert_eq!(Micros::parse("2.5000").unwrap(), Micros(2_500_000));
        assert!(Micros::parse("1.0000001").is_err());
        assert!(Micros::parse("abc").is_err());
        assert!(Micros::parse(".5").is_err());
    }

    #[test]
    fn displays_without_trailing_zeros() {
        assert_eq!(Micros(2_500_000).to_string(), "2.5");
        assert_eq!(Micros(3_000_000).to_string(), "3");
    }

    #[test]
    fn percent_of_amount() {
        assert_eq!(
            Micros(200_000_000).percent_of(Micros(12_500_000)),
            Micros(25_000_000)
        );
    }
}
