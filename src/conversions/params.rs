//! The parameters of `GET /postback` and `GET /pixel`, parsed strictly: a
//! postback that could mean two things is refused, not guessed at.

use crate::catalog::money::Micros;
use crate::routing::TransactionId;

const MAX_QUERY_BYTES: usize = 8 * 1024;
/// What the columns of `order_id`, `adv1`..`adv5` and `adv_event_id` hold.
const MAX_VALUE_BYTES: usize = crate::columns::TOKEN_CHARS;
const MAX_PARAMS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostbackParamError {
    #[error("missing parameter `{0}`")]
    Missing(&'static str),
    #[error("`transaction_id` must be 32 lowercase hex characters")]
    BadTransactionId,
    #[error("`amount` must be a non-negative decimal with at most 4 decimals, got `{0}`")]
    BadAmount(String),
    #[error("`amount` must be at most {max}, got `{0}`", max = crate::columns::MONEY.max())]
    AmountTooLarge(String),
    #[error("parameter `{0}` is repeated")]
    Repeated(String),
    #[error("parameter `{0}` is longer than {MAX_VALUE_BYTES} bytes")]
    TooLong(String),
    #[error("parameter `{0}` contains a control character")]
    ForbiddenCharacter(String),
    #[error("query string longer than {MAX_QUERY_BYTES} bytes")]
    QueryTooLong,
    #[error("more than {MAX_PARAMS} parameters")]
    TooManyParameters,
}

impl PostbackParamError {
    /// Stable machine-readable code for HTTP bodies.
    pub fn code(&self) -> &'static str {
        match self {
            PostbackParamError::Missing(_) => "missing_parameter",
            PostbackParamError::BadTransactionId => "invalid_transaction_id",
            PostbackParamError::BadAmount(_) => "invalid_amount",
            PostbackParamError::AmountTooLarge(_) => "amount_out_of_range",
            PostbackParamError::Repeated(_) => "repeated_parameter",
            PostbackParamError::TooLong(_) => "parameter_too_long",
            PostbackParamError::ForbiddenCharacter(_) => "forbidden_character",
            PostbackParamError::QueryTooLong => "query_too_long",
            PostbackParamError::TooManyParameters => "too_many_parameters",
        }
    }

    /// The parameter at fault, where there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            PostbackParamError::Missing(name) => Some(name),
            PostbackParamError::BadTransactionId => Some("transaction_id"),
            PostbackParamError::BadAmount(_) | PostbackParamError::AmountTooLarge(_) => {
                Some("amount")
            }
            PostbackParamError::Repeated(name)
            | PostbackParamError::TooLong(name)
            | PostbackParamError::ForbiddenCharacter(name) => Some(name),
            PostbackParamError::QueryTooLong | PostbackParamError::TooManyParameters => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostbackParams {
    pub transaction_id: TransactionId,
    pub amount: Option<Micros>,
    /// Set: a post-conversion event rather than the conversion itself.
    pub adv_event_id: Option<String>,
    pub order_id: Option<String>,
    pub adv: [Option<String>; 5],
    pub verification_token: Option<String>,
}

impl PostbackParams {
    /// `/postback`: the transaction id comes from the query.
    pub fn parse(raw_query: &str) -> Result<Self, PostbackParamError> {
        Self::parse_with(raw_query, None)
    }

    /// `/pixel`: the transaction id comes from a `transaction_id` parameter
    /// (the landing page passes on the click id it was sent with: it works on
    /// any site), else from the `sy_tid` cookie (the latest click this browser
    /// made on the tracking site, which may be another offer's).
    pub fn parse_for_pixel(
        raw_query: &str,
        cookie_tid: Option<&str>,
    ) -> Result<Self, PostbackParamError> {
        Self::parse_with(raw_query, cookie_tid)
    }

    fn parse_with(raw_query: &str, cookie_tid: Option<&str>) -> Result<Self, PostbackParamError> {
        if raw_query.len() > MAX_QUERY_BYTES {
            return Err(PostbackParamError::QueryTooLong);
        }
        let mut raw = RawPostback::default();
        let mut seen: Vec<std::borrow::Cow<'_, str>> = Vec::with_capacity(8);
        for (count, (name, value)) in form_urlencoded::parse(raw_query.as_bytes()).enumerate() {
            if count >= MAX_PARAMS {
                return Err(PostbackParamError::TooManyParameters);
            }
            if value.len() > MAX_VALUE_BYTES {
                return Err(PostbackParamError::TooLong(name.into_owned()));
            }
            if seen.contains(&name) {
                return Err(PostbackParamError::Repeated(name.into_owned()));
            }
            // Values end up in partner postback URLs (encoded) and logs: a line
            // break is never legitimate in any of them.
            if value.chars().any(char::is_control) {
                return Err(PostbackParamError::ForbiddenCharacter(name.into_owned()));
            }
            raw.assign(&name, value.into_owned());
            seen.push(name);
        }
        let tid_text = raw
            .transaction_id
            .take()
            .or_else(|| cookie_tid.map(str::to_owned))
            .ok_or(PostbackParamError::Missing("transaction_id"))?;
        let transaction_id =
            TransactionId::parse(&tid_text).ok_or(PostbackParamError::BadTransactionId)?;
        let amount = match raw.amount.as_deref() {
            None | Some("") => None,
            Some(text) => {
                let bad = || PostbackParamError::BadAmount(text.to_owned());
                let amount = Micros::parse(text).map_err(|_| bad())?;
                // Its column is `numeric(14, 4)`: more decimals would be rounded
                // away, and a larger value would fail the whole batch it is in.
                let stored = Micros(amount.0 - amount.0 % 100);
                if amount < Micros::ZERO || stored != amount {
                    return Err(bad());
                }
                if !crate::columns::MONEY.fits(amount) {
                    return Err(PostbackParamError::AmountTooLarge(text.to_owned()));
                }
                Some(amount)
            }
        };
        Ok(Self {
            transaction_id,
            amount,
            adv_event_id: raw.adv_event_id.filter(|v| !v.is_empty()),
            order_id: raw.order_id.filter(|v| !v.is_empty()),
            adv: raw.adv,
            verification_token: raw.verification_token,
        })
    }
}

#[derive(Default)]
struct RawPostback {
    transaction_id: Option<String>,
    amount: Option<String>,
    adv_event_id: Option<String>,
    order_id: Option<String>,
    adv: [Option<String>; 5],
    verification_token: Option<String>,
}

impl RawPostback {
    /// Unknown parameters are ignored: advertisers append their own.
    fn assign(&mut self, name: &str, value: String) {
        let slot = match name {
            "transaction_id" | "tid" => &mut self.transaction_id,
            "amount" => &mut self.amount,
            "adv_event_id" => &mut self.adv_event_id,
            "order_id" => &mut self.order_id,
            "adv1" => &mut self.adv[0],
            "adv2" => &mut self.adv[1],
            "adv3" => &mut self.adv[2],
            "adv4" => &mut self.adv[3],
            "adv5" => &mut self.adv[4],
            "verification_token" => &mut self.verification_token,
            _ => return,
        };
        *slot = Some(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_every_field() {
        let p = PostbackParams::parse(&format!(
            "transaction_id={TID}&amount=12.50&adv_event_id=purchase&order_id=o-1&adv2=x&verification_token=secret123&extra=1"
        ))
        .unwrap();
        assert_eq!(p.transaction_id.to_string(), TID);
        assert_eq!(p.amount, Some(Micros(12_500_000)));
        assert_eq!(p.adv_event_id.as_deref(), Some("purchase"));
        assert_eq!(p.order_id.as_deref(), Some("o-1"));
        assert_eq!(p.adv[1].as_deref(), Some("x"));
        assert_eq!(p.verification_token.as_deref(), Some("secret123"));
    }

    #[test]
    fn refuses_ambiguous_or_malformed_input() {
        let cases = [
            ("amount=1".to_owned(), "missing_parameter"),
            ("transaction_id=xyz".to_owned(), "invalid_transaction_id"),
            (
                format!("transaction_id={}", TID.to_uppercase()),
                "invalid_transaction_id",
            ),
            (format!("transaction_id={TID}&amount=abc"), "invalid_amount"),
            (format!("transaction_id={TID}&amount=-1"), "invalid_amount"),
            (
                format!("transaction_id={TID}&amount=1.00001"),
                "invalid_amount",
            ),
            (
                format!("transaction_id={TID}&amount=99999999999"),
                "amount_out_of_range",
            ),
            (
                format!("transaction_id={TID}&amount=10000000000"),
                "amount_out_of_range",
            ),
            (
                format!("transaction_id={TID}&transaction_id={TID}"),
                "repeated_parameter",
            ),
            (
                format!("transaction_id={TID}&order_id=a%0D%0Ab"),
                "forbidden_character",
            ),
        ];
        for (query, code) in cases {
            assert_eq!(
                PostbackParams::parse(&query).unwrap_err().code(),
                code,
                "{query}"
            );
        }
    }

    #[test]
    fn the_largest_amount_its_column_holds_is_accepted() {
        let p =
            PostbackParams::parse(&format!("transaction_id={TID}&amount=9999999999.9999")).unwrap();
        assert_eq!(p.amount, Some(crate::columns::MONEY.max()));
        let p = PostbackParams::parse(&format!("transaction_id={TID}&amount=1.2340000")).unwrap();
        assert_eq!(p.amount, Some(Micros(1_234_000)));
    }

    #[test]
    fn pixel_takes_the_transaction_id_from_the_cookie() {
        let p = PostbackParams::parse_for_pixel("amount=3", Some(TID)).unwrap();
        assert_eq!(p.transaction_id.to_string(), TID);
        let passed = "0123456789abcdef0123456789abcdef";
        let p = PostbackParams::parse_for_pixel(&format!("transaction_id={passed}"), Some(TID))
            .unwrap();
        assert_eq!(
            p.transaction_id.to_string(),
            passed,
            "the page's click id wins"
        );
        let p = PostbackParams::parse_for_pixel(&format!("transaction_id={passed}"), None).unwrap();
        assert_eq!(p.transaction_id.to_string(), passed);
        assert_eq!(
            PostbackParams::parse_for_pixel("", Some("nothex"))
                .unwrap_err()
                .code(),
            "invalid_transaction_id"
        );
    }
}
