//! Compiled parts that many offers have alike, kept once per snapshot.
//!
//! A network's offers mostly share their targeting (a few geo and device
//! settings reused across thousands of offers) and their effective rules (the
//! global rows, unless an advertiser or offer row says otherwise). Each
//! compiled `CompiledTargeting` or `EffectiveRules` is about a kilobyte, so a
//! catalog of 100k offers held one per offer spent hundreds of megabytes on
//! copies. `Shared` hands out one `Arc` per distinct value instead, and a
//! reload starts from the previous snapshot's table, so it compiles only the
//! specs it has not seen.

use std::sync::Arc;

use chrono_tz::Tz;
use rustc_hash::FxHashMap;

use crate::rules::settings::EffectiveRules;
use crate::targeting::{CompiledTargeting, TargetingSpec};

#[derive(Debug, Default, Clone)]
pub struct Shared {
    /// By the spec's JSON text (canonical: jsonb from Postgres, sorted keys
    /// from a file) and the timezone its day parting is read in.
    targeting: FxHashMap<(Tz, Box<str>), Arc<CompiledTargeting>>,
    rules: FxHashMap<EffectiveRules, Arc<EffectiveRules>>,
    currencies: FxHashMap<Box<str>, Arc<str>>,
}

impl Shared {
    /// The compiled spec of `json`, compiled once for each distinct text.
    pub fn targeting(
        &mut self,
        json: &serde_json::Value,
        timezone: Tz,
    ) -> Result<Arc<CompiledTargeting>, String> {
        let key = (timezone, json.to_string().into_boxed_str());
        if let Some(compiled) = self.targeting.get(&key) {
            return Ok(compiled.clone());
        }
        let spec: TargetingSpec = serde_json::from_value(json.clone())
            .map_err(|e| format!("targeting is not valid: {e}"))?;
        let compiled =
            CompiledTargeting::compile(&spec, timezone).map_err(|e| format!("targeting: {e}"))?;
        let compiled = Arc::new(compiled);
        self.targeting.insert(key, compiled.clone());
        Ok(compiled)
    }

    pub fn rules(&mut self, rules: EffectiveRules) -> Arc<EffectiveRules> {
        self.rules
            .entry(rules)
            .or_insert_with(|| Arc::new(rules))
            .clone()
    }

    pub fn currency(&mut self, code: &str) -> Arc<str> {
        if let Some(shared) = self.currencies.get(code) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(code);
        self.currencies.insert(code.into(), shared.clone());
        shared
    }

    /// Drops the entries this snapshot no longer uses, so edits over a long
    /// run do not pile up specs nobody has.
    pub fn retain_used(&mut self) {
        self.targeting.retain(|_, t| Arc::strong_count(t) > 1);
        self.rules.retain(|_, r| Arc::strong_count(r) > 1);
        self.currencies.retain(|_, c| Arc::strong_count(c) > 1);
        self.targeting.shrink_to_fit();
        self.rules.shrink_to_fit();
    }

    pub fn distinct(&self) -> (usize, usize) {
        (self.targeting.len(), self.rules.len())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::catalog::{ApprovalStatus, Catalog, Origin, file};

    const TWO_ALIKE: &str = r#"
advertisers: [{ id: 1, name: A }]
partners: [{ id: 1, name: P }, { id: 2, name: Q }]
offers:
  - { id: 1, advertiser_id: 1, name: O1, offer_url: "https://a.example/1", targeting: { countries: { include: [US] } } }
  - { id: 2, advertiser_id: 1, name: O2, offer_url: "https://a.example/2", targeting: { countries: { include: [US] } } }
  - { id: 3, advertiser_id: 1, name: O3, offer_url: "https://a.example/3", targeting: { countries: { include: [DE] } } }
offer_approvals:
  - { offer_id: 1, partner_id: 2, status: pending }
  - { offer_id: 1, partner_id: 1 }
  - { offer_id: 1, partner_id: 2, status: rejected }
"#;

    #[test]
    fn offers_with_the_same_spec_share_one_compiled_targeting_and_rule_table() {
        let catalog =
            Catalog::build(file::parse(TWO_ALIKE, "t").unwrap(), Origin::Test, 1).unwrap();
        let (one, two, three) = (
            catalog.offer(1).unwrap(),
            catalog.offer(2).unwrap(),
            catalog.offer(3).unwrap(),
        );
        assert!(Arc::ptr_eq(&one.targeting, &two.targeting));
        assert!(!Arc::ptr_eq(&one.targeting, &three.targeting));
        assert!(Arc::ptr_eq(&one.rules, &three.rules));
        assert_eq!(catalog.shared().distinct(), (2, 1));
    }

    #[test]
    fn the_last_approval_row_for_a_pair_wins() {
        let catalog =
            Catalog::build(file::parse(TWO_ALIKE, "t").unwrap(), Origin::Test, 1).unwrap();
        assert_eq!(catalog.approval(1, 1), Some(ApprovalStatus::Approved));
        assert_eq!(catalog.approval(1, 2), Some(ApprovalStatus::Rejected));
        assert_eq!(catalog.approval(2, 1), None);
    }

    #[test]
    fn a_reload_reuses_the_specs_the_served_snapshot_compiled() {
        let first = Catalog::build(file::parse(TWO_ALIKE, "t").unwrap(), Origin::Test, 1).unwrap();
        let mut source = file::parse(TWO_ALIKE, "t").unwrap();
        source.shared = first.shared().clone();
        let second = Catalog::build(source, Origin::Test, 2).unwrap();
        assert!(Arc::ptr_eq(
            &first.offer(1).unwrap().targeting,
            &second.offer(2).unwrap().targeting
        ));
    }
}
