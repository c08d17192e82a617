//! Conditions on click parameters (sub ids, source id, app id, extra parameters).

use regex::{Regex, RegexBuilder};

use super::TargetingError;
use super::sets::{NameSet, eq_folded, fold};
use super::spec::{ParamCondition, ParamOp};
use crate::visit::TrackingParams;

/// Caps compiled regex size so that one admin typo cannot cost megabytes per offer.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Parameters `TrackingParams::get` never returns: ids and the deep link live
/// elsewhere, so a condition on them would silently never match.
const UNAVAILABLE: [&str; 6] = [
    "oid",
    "offer_id",
    "affid",
    "affiliate_id",
    "partner_id",
    "url",
];

#[derive(Debug, Clone)]
pub(crate) struct ParamRule {
    name: Box<str>,
    test: Test,
    negate: bool,
}

#[derive(Debug, Clone)]
enum Test {
    Equals(Box<str>),
    EqualsFolded(Box<str>),
    In(Vec<Box<str>>),
    InFolded(NameSet),
    Contains(Box<str>),
    Regex(Regex),
    Empty,
}

impl ParamRule {
    pub fn compile(spec: &ParamCondition) -> Result<Self, TargetingError> {
        let name = spec.name.trim();
        if name.is_empty() {
            return Err(TargetingError::EmptyValue {
                field: "params.name",
            });
        }
        if UNAVAILABLE.contains(&name) {
            return Err(TargetingError::UnsupportedParam {
                name: name.to_owned(),
            });
        }
        Ok(Self {
            name: name.into(),
            test: Test::compile(name, spec)?,
            negate: spec.negate,
        })
    }

    pub fn allows(&self, params: &TrackingParams) -> bool {
        self.test.matches(params.get(&self.name)) != self.negate
    }
}

impl Test {
    fn compile(name: &str, spec: &ParamCondition) -> Result<Self, TargetingError> {
        let op = op_name(spec.op);
        let fail_missing = |needs| TargetingError::MissingOperand {
            name: name.to_owned(),
            op,
            needs,
        };
        let fail_extra = |extra| TargetingError::UnexpectedOperand {
            name: name.to_owned(),
            op,
            extra,
        };
        // Refusing stray operands catches `"op":"in","value":"x"` written for `values`.
        match spec.op {
            ParamOp::In if spec.value.is_some() => {
                return Err(fail_extra("`value` (use `values`)"));
            }
            ParamOp::Empty if spec.value.is_some() => return Err(fail_extra("`value`")),
            ParamOp::Equals | ParamOp::Contains | ParamOp::Regex | ParamOp::Empty
                if !spec.values.is_empty() =>
            {
                return Err(fail_extra("`values`"));
            }
            _ => {}
        }
        let value = || spec.value.as_deref().ok_or_else(|| fail_missing("`value`"));
        Ok(match (spec.op, spec.ignore_case) {
            (ParamOp::Equals, false) => Test::Equals(value()?.into()),
            (ParamOp::Equals, true) => Test::EqualsFolded(fold(value()?).into()),
            (ParamOp::In, _) if spec.values.is_empty() => {
                return Err(fail_missing("a non-empty `values` list"));
            }
            (ParamOp::In, false) => {
                Test::In(spec.values.iter().map(|v| v.as_str().into()).collect())
            }
            (ParamOp::In, true) => Test::InFolded(NameSet::new(spec.values.iter().cloned())),
            (ParamOp::Contains, false) => Test::Contains(value()?.into()),
            // Case-insensitive substring search without per-click allocation is what
            // the regex engine already does well.
            (ParamOp::Contains, true) => {
                Test::Regex(build_regex(name, &regex::escape(value()?), true, value()?)?)
            }
            (ParamOp::Regex, ignore_case) => {
                Test::Regex(build_regex(name, value()?, ignore_case, value()?)?)
            }
            (ParamOp::Empty, _) => Test::Empty,
        })
    }

    /// A missing parameter matches only `empty`.
    fn matches(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return matches!(self, Test::Empty);
        };
        match self {
            Test::Equals(expected) => value == &**expected,
            Test::EqualsFolded(expected) => eq_folded(value, expected),
            Test::In(values) => values.iter().any(|v| value == &**v),
            Test::InFolded(values) => values.contains(value),
            Test::Contains(needle) => value.contains(&**needle),
            Test::Regex(re) => re.is_match(value),
            Test::Empty => value.is_empty(),
        }
    }
}

fn build_regex(
    name: &str,
    pattern: &str,
    ignore_case: bool,
    written: &str,
) -> Result<Regex, TargetingError> {
    RegexBuilder::new(pattern)
        .case_insensitive(ignore_case)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| TargetingError::InvalidRegex {
            name: name.to_owned(),
            value: written.to_owned(),
            reason: e.to_string(),
        })
}

fn op_name(op: ParamOp) -> &'static str {
    match op {
        ParamOp::Equals => "equals",
        ParamOp::In => "in",
        ParamOp::Contains => "contains",
        ParamOp::Regex => "regex",
        ParamOp::Empty => "empty",
    }
}
