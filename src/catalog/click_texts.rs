//! Which of a click's free-text values (`sub1`..`sub5`, `source_id`) something
//! needs. A partner's postback URL is the only reader of them after the
//! redirect, so the click index keeps just the ones that URL mentions.

use super::url_template::{Macro, UrlTemplate};

/// A set over the six texts: bit `i` is `sub{i+1}` for `i < 5`, bit 5 is `source_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClickTexts(u8);

impl ClickTexts {
    pub const NONE: Self = Self(0);
    pub const ALL: Self = Self(0b11_1111);
    /// The position of `source_id`; subs take 0..5.
    pub const SOURCE_ID: usize = 5;
    pub const COUNT: usize = 6;

    /// The texts a partner postback template expands. A template that does not
    /// parse (the catalog should have refused it) is taken to need all of them.
    pub fn of_postback_url(url: Option<&str>) -> Self {
        let Some(url) = url else {
            return Self::NONE;
        };
        let Ok(template) = UrlTemplate::parse(url) else {
            return Self::ALL;
        };
        let mut texts = Self::NONE;
        for i in 0..5 {
            if template.uses(Macro::Sub(i)) {
                texts.0 |= 1 << i;
            }
        }
        if template.uses(Macro::SourceId) {
            texts.0 |= 1 << Self::SOURCE_ID;
        }
        texts
    }

    pub fn from_bits(bits: u8) -> Self {
        Self(bits & Self::ALL.0)
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn contains(self, i: usize) -> bool {
        i < Self::COUNT && self.0 & (1 << i) != 0
    }

    pub fn covers(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postback_url_needs_the_texts_it_mentions() {
        let texts = ClickTexts::of_postback_url(Some(
            "https://p.example/pb?a={sub2}&s={source_id}&t={transaction_id}",
        ));
        assert!(texts.contains(1));
        assert!(texts.contains(ClickTexts::SOURCE_ID));
        assert!(!texts.contains(0));
        assert_eq!(ClickTexts::of_postback_url(None), ClickTexts::NONE);
        assert_eq!(
            ClickTexts::of_postback_url(Some("https://p.example/pb?c={conversion_id}")),
            ClickTexts::NONE
        );
        assert!(ClickTexts::ALL.covers(texts));
        assert!(!texts.covers(ClickTexts::ALL));
    }
}
