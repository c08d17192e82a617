//! `os` entries name a family (`Windows`) or a family with a version prefix
//! (`Windows XP`, `Windows RT 8.1`, `iOS 17`): uap-core reports some versions
//! as words, which no numeric `os_versions` range can select.

use smallvec::SmallVec;

use super::sets::NameSet;
use crate::visit::device::Version;

/// Family and version names rarely pass this; longer ones spill to the heap.
const KEY_BYTES: usize = 64;

/// True when `names` holds the family itself, or the family followed by a
/// space and the version's leading whole parts (`major`, `major.minor`,
/// `major.minor.patch`). Whole parts only: `iOS 1` does not select iOS 17.
pub(crate) fn names_os(names: &NameSet, family: &str, version: &Version) -> bool {
    if names.contains(family) {
        return true;
    }
    let Some(major) = version.major.as_deref() else {
        return false;
    };
    let mut key: SmallVec<[u8; KEY_BYTES]> = SmallVec::new();
    key.extend_from_slice(family.as_bytes());
    key.push(b' ');
    key.extend_from_slice(major.as_bytes());
    if holds(names, &key) {
        return true;
    }
    for part in [&version.minor, &version.patch] {
        let Some(part) = part.as_deref() else {
            return false;
        };
        key.push(b'.');
        key.extend_from_slice(part.as_bytes());
        if holds(names, &key) {
            return true;
        }
    }
    false
}

/// `key` is built from whole `str`s and ASCII, so it is always UTF-8.
fn holds(names: &NameSet, key: &[u8]) -> bool {
    std::str::from_utf8(key).is_ok_and(|key| names.contains(key))
}
