//! Retargeting lists (Invalid User Identifier): the IDFAs/GAIDs an offer accepts.
//! Lists run to millions, so UUID-shaped ids are kept as 128-bit integers (16
//! bytes each instead of a 36-byte string plus its allocation).

use rustc_hash::FxHashSet;

#[derive(Debug, Clone, Default)]
pub struct RetargetingList {
    uuids: FxHashSet<u128>,
    others: FxHashSet<Box<str>>,
}

fn as_uuid(id: &str) -> Option<u128> {
    let mut value: u128 = 0;
    let mut digits = 0;
    for b in id.bytes() {
        if b == b'-' {
            continue;
        }
        let digit = (b as char).to_digit(16)?;
        value = (value << 4) | u128::from(digit);
        digits += 1;
        if digits > 32 {
            return None;
        }
    }
    (digits == 32).then_some(value)
}

impl RetargetingList {
    pub fn insert(&mut self, id: &str) {
        match as_uuid(id) {
            Some(uuid) => {
                self.uuids.insert(uuid);
            }
            None => {
                self.others.insert(id.to_ascii_lowercase().into_boxed_str());
            }
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        match as_uuid(id) {
            Some(uuid) => self.uuids.contains(&uuid),
            None => self.others.contains(id.to_ascii_lowercase().as_str()),
        }
    }

    pub fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_match_whatever_their_case_and_dashes() {
        let mut list = RetargetingList::default();
        list.insert("6d92078a-8246-4ba4-ae5b-76104861e7dc");
        list.insert("device-xyz-123");
        assert!(list.contains("6D92078A-8246-4BA4-AE5B-76104861E7DC"));
        assert!(list.contains("6d92078a82464ba4ae5b76104861e7dc"));
        assert!(!list.contains("6d92078a-8246-4ba4-ae5b-76104861e7dd"));
        assert!(list.contains("DEVICE-XYZ-123"));
        assert_eq!(list.len(), 2);
    }
}
