//! Membership structures built at compile time so that a check never allocates:
//! names are lowercased once here, and visit values are folded on the fly.

use rustc_hash::FxHashSet;

/// One dimension's include and exclude sets, with the shared unknown-value rule.
#[derive(Debug, Clone)]
pub(crate) struct Filter<S> {
    pub include: Option<S>,
    pub exclude: Option<S>,
}

impl<S> Filter<S> {
    pub fn is_active(&self) -> bool {
        self.include.is_some() || self.exclude.is_some()
    }

    /// An unknown value fails an include list (we cannot prove it is wanted) but
    /// passes an exclude list (we cannot prove it is unwanted).
    pub fn allows<V: ?Sized>(&self, value: Option<&V>, contains: impl Fn(&S, &V) -> bool) -> bool {
        match value {
            None => self.include.is_none(),
            Some(v) => {
                self.include.as_ref().is_none_or(|s| contains(s, v))
                    && !self.exclude.as_ref().is_some_and(|s| contains(s, v))
            }
        }
    }
}

impl<S> Default for Filter<S> {
    fn default() -> Self {
        Self {
            include: None,
            exclude: None,
        }
    }
}

/// Above this many names a hash lookup beats a linear scan of length-checked compares.
const LINEAR_LIMIT: usize = 16;
/// Longest folded visit value hashed from the stack; longer ones take the slow path.
const FOLD_BUF: usize = 128;

/// Case-insensitive set of names, stored lowercase.
#[derive(Debug, Clone)]
pub(crate) enum NameSet {
    Linear(Vec<Box<str>>),
    Hashed(FxHashSet<Box<str>>),
}

impl NameSet {
    pub fn new<I: IntoIterator<Item = String>>(names: I) -> Self {
        let mut names: Vec<Box<str>> = names.into_iter().map(|n| fold(&n).into()).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() <= LINEAR_LIMIT {
            NameSet::Linear(names)
        } else {
            NameSet::Hashed(names.into_iter().collect())
        }
    }

    pub fn contains(&self, value: &str) -> bool {
        match self {
            NameSet::Linear(names) => names.iter().any(|n| eq_folded(value, n)),
            NameSet::Hashed(names) => {
                let mut buf = [0u8; FOLD_BUF];
                match fold_into(value, &mut buf) {
                    Some(folded) => names.contains(folded),
                    None => names.iter().any(|n| eq_folded(value, n)),
                }
            }
        }
    }
}

/// Lowercases the same way `eq_folded` does (per char), so that both sides agree
/// even where `str::to_lowercase` is context-sensitive (final sigma).
pub(crate) fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// `value` equals the already-folded `folded`, ignoring case, without allocating.
pub(crate) fn eq_folded(value: &str, folded: &str) -> bool {
    if value.is_ascii() {
        value.eq_ignore_ascii_case(folded)
    } else {
        value
            .chars()
            .flat_map(char::to_lowercase)
            .eq(folded.chars())
    }
}

fn fold_into<'a>(value: &str, buf: &'a mut [u8; FOLD_BUF]) -> Option<&'a str> {
    let mut len = 0;
    for c in value.chars().flat_map(char::to_lowercase) {
        let end = len + c.len_utf8();
        c.encode_utf8(buf.get_mut(len..end)?);
        len = end;
    }
    std::str::from_utf8(&buf[..len]).ok()
}

/// ISO alpha-2 codes as one bit each of the 26 x 26 letter pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct CountrySet([u64; 11]);

impl CountrySet {
    pub fn insert(&mut self, code: [u8; 2]) {
        let bit = Self::bit(code);
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    pub fn contains(&self, code: &str) -> bool {
        match parse_country(code) {
            Some(code) => {
                let bit = Self::bit(code);
                self.0[bit / 64] & (1 << (bit % 64)) != 0
            }
            None => false,
        }
    }

    fn bit(code: [u8; 2]) -> usize {
        usize::from(code[0] - b'A') * 26 + usize::from(code[1] - b'A')
    }
}

/// Two ASCII letters, uppercased.
pub(crate) fn parse_country(code: &str) -> Option<[u8; 2]> {
    match code.as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_set_ignores_case_in_both_representations() {
        let few = NameSet::new(["Mobile Safari".to_string(), "São Paulo".to_string()]);
        let many = NameSet::new(
            (0..40)
                .map(|i| format!("City{i}"))
                .chain(["SÃO PAULO".into()]),
        );
        for set in [&few, &many] {
            assert!(set.contains("são paulo"));
            assert!(set.contains("SÃO PAULO"));
            assert!(!set.contains("Sao Paulo"));
        }
        assert!(few.contains("MOBILE SAFARI"));
        assert!(many.contains("city39"));
        assert!(!many.contains("city40"));
        assert!(!many.contains(&"x".repeat(FOLD_BUF + 1)));
    }

    #[test]
    fn country_set_accepts_only_two_letters() {
        let mut set = CountrySet::default();
        set.insert([b'Z', b'Z']);
        set.insert([b'A', b'A']);
        assert!(set.contains("zz") && set.contains("AA"));
        assert!(!set.contains("ZA") && !set.contains("Z") && !set.contains("ZZZ"));
    }
}
