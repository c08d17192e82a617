//! Traffic Control: allow or block lists on app id, app name, creative,
//! placement, site and sub ids, scoped to offers, advertisers or partners.
//!
//! For each scope and field: an allow list passes only values matching one of its
//! patterns (a missing value included: it matches nothing), a block list refuses
//! values matching any. Every applicable scope must pass. `%` matches any run of
//! characters; matching ignores ASCII case.

use rustc_hash::FxHashMap;

use crate::catalog::source::{RuleScope, TrafficControlList, TrafficControlRow};
use crate::visit::TrackingParams;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Lowercase pieces between `%`s.
    pieces: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
}

impl Pattern {
    fn compile(text: &str) -> Self {
        let lower = text.to_ascii_lowercase();
        Self {
            pieces: lower
                .split('%')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            anchored_start: !lower.starts_with('%'),
            anchored_end: !lower.ends_with('%'),
        }
    }

    fn matches(&self, value_lower: &str) -> bool {
        if self.pieces.is_empty() {
            // "%" alone matches anything; "" cannot be stored (schema).
            return true;
        }
        let mut rest = value_lower;
        let last = self.pieces.len() - 1;
        for (i, piece) in self.pieces.iter().enumerate() {
            if i == 0 && self.anchored_start {
                match rest.strip_prefix(piece.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
                if i == last && self.anchored_end {
                    return rest.is_empty();
                }
                continue;
            }
            if i == last && self.anchored_end {
                return rest.ends_with(piece.as_str());
            }
            match rest.find(piece.as_str()) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

#[derive(Debug, Clone, Default)]
struct FieldFilter {
    field: String,
    allow: Vec<Pattern>,
    block: Vec<Pattern>,
}

impl FieldFilter {
    fn passes(&self, params: &TrackingParams) -> bool {
        let value = params.get(&self.field).map(str::to_ascii_lowercase);
        if !self.allow.is_empty() {
            let Some(v) = &value else { return false };
            if !self.allow.iter().any(|p| p.matches(v)) {
                return false;
            }
        }
        match &value {
            Some(v) => !self.block.iter().any(|p| p.matches(v)),
            None => true,
        }
    }
}

/// All Traffic Control lists of a snapshot, by scope.
#[derive(Debug, Default)]
pub struct TrafficControl {
    by_offer: FxHashMap<i64, Vec<FieldFilter>>,
    by_advertiser: FxHashMap<i64, Vec<FieldFilter>>,
    by_partner: FxHashMap<i64, Vec<FieldFilter>>,
}

impl TrafficControl {
    pub fn compile(rows: &[TrafficControlRow]) -> Self {
        let mut control = TrafficControl::default();
        for row in rows {
            let (map, id) = match (row.scope, row.offer_id, row.advertiser_id, row.partner_id) {
                (RuleScope::Offer, Some(id), _, _) => (&mut control.by_offer, id),
                (RuleScope::Advertiser, _, Some(id), _) => (&mut control.by_advertiser, id),
                (RuleScope::Partner, _, _, Some(id)) => (&mut control.by_partner, id),
                // The schema refuses other combinations.
                _ => continue,
            };
            let filters = map.entry(id).or_default();
            let index = match filters.iter().position(|f| f.field == row.field) {
                Some(i) => i,
                None => {
                    filters.push(FieldFilter {
                        field: row.field.clone(),
                        ..FieldFilter::default()
                    });
                    filters.len() - 1
                }
            };
            let pattern = Pattern::compile(&row.pattern);
            match row.list {
                TrafficControlList::Allow => filters[index].allow.push(pattern),
                TrafficControlList::Block => filters[index].block.push(pattern),
            }
        }
        control
    }

    pub fn is_empty(&self) -> bool {
        self.by_offer.is_empty() && self.by_advertiser.is_empty() && self.by_partner.is_empty()
    }

    pub fn passes(
        &self,
        offer_id: i64,
        advertiser_id: i64,
        partner_id: i64,
        params: &TrackingParams,
    ) -> bool {
        if self.is_empty() {
            return true;
        }
        [
            self.by_offer.get(&offer_id),
            self.by_advertiser.get(&advertiser_id),
            self.by_partner.get(&partner_id),
        ]
        .into_iter()
        .flatten()
        .flatten()
        .all(|filter| filter.passes(params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        scope: RuleScope,
        id: i64,
        list: TrafficControlList,
        field: &str,
        pattern: &str,
    ) -> TrafficControlRow {
        TrafficControlRow {
            scope,
            advertiser_id: (scope == RuleScope::Advertiser).then_some(id),
            offer_id: (scope == RuleScope::Offer).then_some(id),
            partner_id: (scope == RuleScope::Partner).then_some(id),
            list,
            field: field.into(),
            pattern: pattern.into(),
        }
    }

    fn params(query: &str) -> TrackingParams {
        TrackingParams::parse(&format!("oid=1&affid=1&{query}"), true).unwrap()
    }

    #[test]
    fn wildcards_match_like_sql_like() {
        let p = Pattern::compile("com.%.game%");
        assert!(p.matches("com.acme.game"));
        assert!(p.matches("com.acme.games2"));
        assert!(!p.matches("org.acme.game"));
        assert!(Pattern::compile("%casino%").matches("best-casino-app"));
        assert!(Pattern::compile("exact").matches("exact"));
        assert!(!Pattern::compile("exact").matches("exactly"));
        assert!(Pattern::compile("%end").matches("the end"));
        assert!(!Pattern::compile("%end").matches("endless"));
        assert!(Pattern::compile("a%a").matches("aa"));
        assert!(!Pattern::compile("ab%ba").matches("aba"));
    }

    #[test]
    fn block_list_refuses_matches_only() {
        let tc = TrafficControl::compile(&[row(
            RuleScope::Offer,
            1,
            TrafficControlList::Block,
            "app_id",
            "com.bad.%",
        )]);
        assert!(!tc.passes(1, 1, 1, &params("app_id=com.BAD.app")));
        assert!(tc.passes(1, 1, 1, &params("app_id=com.good.app")));
        assert!(
            tc.passes(1, 1, 1, &params("sub1=x")),
            "no value, nothing to block"
        );
        assert!(
            tc.passes(2, 1, 1, &params("app_id=com.bad.app")),
            "other offer unaffected"
        );
    }

    #[test]
    fn allow_list_blocks_everything_else_including_missing_values() {
        let tc = TrafficControl::compile(&[
            row(
                RuleScope::Partner,
                5,
                TrafficControlList::Allow,
                "site",
                "news.example",
            ),
            row(
                RuleScope::Partner,
                5,
                TrafficControlList::Allow,
                "site",
                "%.blog.example",
            ),
        ]);
        assert!(tc.passes(1, 1, 5, &params("site=news.example")));
        assert!(tc.passes(1, 1, 5, &params("site=my.blog.example")));
        assert!(!tc.passes(1, 1, 5, &params("site=other.example")));
        assert!(!tc.passes(1, 1, 5, &params("sub1=x")));
        assert!(tc.passes(1, 1, 6, &params("site=other.example")));
    }

    #[test]
    fn every_scope_must_pass() {
        let tc = TrafficControl::compile(&[
            row(
                RuleScope::Advertiser,
                9,
                TrafficControlList::Block,
                "sub1",
                "spam%",
            ),
            row(RuleScope::Offer, 1, TrafficControlList::Allow, "sub1", "%"),
        ]);
        assert!(!tc.passes(1, 9, 1, &params("sub1=spammy")));
        assert!(tc.passes(1, 9, 1, &params("sub1=fine")));
    }
}
