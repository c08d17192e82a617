//! Payout and revenue of one conversion.

use crate::catalog::money::Micros;
use crate::catalog::source::PayoutModel;

/// Postgres keeps money to 4 decimals; rounding here keeps the counters (in
/// micros) equal to what the rows sum to.
const STORED_UNIT: i64 = 100;

/// Flat: the configured amount. Percent: that percentage of the postback's
/// `amount`, zero when the postback carries none.
pub fn price(model: PayoutModel, configured: Micros, amount: Option<Micros>) -> Micros {
    let raw = match model {
        PayoutModel::Flat => configured,
        PayoutModel::Percent => amount.map_or(Micros::ZERO, |a| a.percent_of(configured)),
    };
    round_to_stored(raw)
}

fn round_to_stored(value: Micros) -> Micros {
    let rem = value.0.rem_euclid(STORED_UNIT);
    let down = value.0 - rem;
    Micros(if rem * 2 >= STORED_UNIT {
        down.saturating_add(STORED_UNIT)
    } else {
        down
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_ignores_the_amount() {
        assert_eq!(
            price(
                PayoutModel::Flat,
                Micros(2_500_000),
                Some(Micros(99_000_000))
            ),
            Micros(2_500_000)
        );
    }

    #[test]
    fn percent_takes_a_share_of_the_amount() {
        // 12.5% of 200 = 25
        assert_eq!(
            price(
                PayoutModel::Percent,
                Micros(12_500_000),
                Some(Micros(200_000_000))
            ),
            Micros(25_000_000)
        );
        assert_eq!(
            price(PayoutModel::Percent, Micros(12_500_000), None),
            Micros::ZERO
        );
    }

    #[test]
    fn rounds_to_what_postgres_stores() {
        // 10% of 0.123456 = 0.0123456 → 0.0123
        assert_eq!(
            price(
                PayoutModel::Percent,
                Micros(10_000_000),
                Some(Micros(123_456))
            ),
            Micros(12_300)
        );
    }
}
