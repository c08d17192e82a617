//! The texts a click keeps (only those its partner's postback URL mentions),
//! packed into its chunk's byte buffer, so a click whose partner wants none
//! costs nothing here and one that wants `sub1` costs its bytes plus five.
//!
//! An entry is `[slot, kept, present]` then, for each present text in order,
//! its length (`u16`, little endian) and its bytes. `kept` says which texts
//! were asked for; `present` which of those the click had (`None` and `Some("")`
//! stay apart, as in the click row). Lookups scan a chunk's entries: postbacks
//! are rare next to clicks, and a chunk holds at most `CHUNK` of them.

use crate::catalog::ClickTexts;

/// A kept text longer than a `u16` can say; the click is kept wide instead.
/// Column limits (512 characters) make it unreachable in practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a click text is longer than {} bytes", u16::MAX)]
pub(super) struct TooLong;

/// The texts of one click as the index gives them back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Texts {
    pub kept: ClickTexts,
    pub subs: [Option<String>; 5],
    pub source_id: Option<String>,
}

fn text<'a>(
    i: usize,
    subs: &'a [Option<String>; 5],
    source_id: Option<&'a str>,
) -> Option<&'a str> {
    match subs.get(i) {
        Some(sub) => sub.as_deref(),
        None => source_id,
    }
}

/// The bytes `append` writes for these texts.
pub(super) fn entry_len(
    keep: ClickTexts,
    subs: &[Option<String>; 5],
    source_id: Option<&str>,
) -> usize {
    if keep.is_empty() {
        return 0;
    }
    let texts = (0..ClickTexts::COUNT).filter(|&i| keep.contains(i));
    3 + texts
        .filter_map(|i| text(i, subs, source_id))
        .map(|value| 2 + value.len())
        .sum::<usize>()
}

/// Appends the entry of the click in `slot`; writes nothing when `keep` is empty.
pub(super) fn append(
    out: &mut Vec<u8>,
    slot: u8,
    keep: ClickTexts,
    subs: &[Option<String>; 5],
    source_id: Option<&str>,
) -> Result<(), TooLong> {
    if keep.is_empty() {
        return Ok(());
    }
    let mut present = 0u8;
    let mut lengths = [0u16; ClickTexts::COUNT];
    for (i, length) in lengths.iter_mut().enumerate() {
        if keep.contains(i)
            && let Some(value) = text(i, subs, source_id)
        {
            *length = u16::try_from(value.len()).map_err(|_| TooLong)?;
            present |= 1 << i;
        }
    }
    out.extend_from_slice(&[slot, keep.bits(), present]);
    for (i, length) in lengths.iter().enumerate() {
        if present & (1 << i) != 0 {
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(text(i, subs, source_id).unwrap_or("").as_bytes());
        }
    }
    Ok(())
}

/// The texts kept for the click in `slot`; `Texts::default()` (none kept) when
/// it has no entry.
pub(super) fn find(bytes: &[u8], slot: u8) -> Texts {
    let mut at = 0;
    while let Some(&[entry_slot, kept, present]) = bytes.get(at..at + 3) {
        at += 3;
        let mut texts = Texts {
            kept: ClickTexts::from_bits(kept),
            ..Texts::default()
        };
        for i in 0..ClickTexts::COUNT {
            if present & (1 << i) == 0 {
                continue;
            }
            let Some(&[lo, hi]) = bytes.get(at..at + 2) else {
                return Texts::default();
            };
            let length = usize::from(u16::from_le_bytes([lo, hi]));
            let Some(value) = bytes.get(at + 2..at + 2 + length) else {
                return Texts::default();
            };
            at += 2 + length;
            if entry_slot == slot {
                // Written from a `&str` by `append`.
                let value = String::from_utf8_lossy(value).into_owned();
                match texts.subs.get_mut(i) {
                    Some(sub) => *sub = Some(value),
                    None => texts.source_id = Some(value),
                }
            }
        }
        if entry_slot == slot {
            return texts;
        }
    }
    Texts::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(first: &str) -> [Option<String>; 5] {
        [
            Some(first.to_owned()),
            Some(String::new()),
            None,
            Some("d".into()),
            None,
        ]
    }

    #[test]
    fn only_the_kept_texts_come_back_and_none_stays_apart_from_empty() {
        let mut bytes = Vec::new();
        let keep = ClickTexts::of_postback_url(Some(
            "https://p.example/?a={sub1}&b={sub2}&c={sub3}&s={source_id}",
        ));
        append(&mut bytes, 3, keep, &subs("abc"), Some("src")).unwrap();
        append(&mut bytes, 9, keep, &subs("xyz"), None).unwrap();
        assert_eq!(
            bytes.len(),
            entry_len(keep, &subs("abc"), Some("src")) + entry_len(keep, &subs("xyz"), None)
        );
        let texts = find(&bytes, 9);
        assert_eq!(texts.kept, keep);
        assert_eq!(
            texts.subs,
            [Some("xyz".into()), Some(String::new()), None, None, None]
        );
        assert_eq!(texts.source_id, None);
        assert_eq!(find(&bytes, 3).source_id.as_deref(), Some("src"));
        assert_eq!(find(&bytes, 4), Texts::default());
    }

    #[test]
    fn nothing_is_written_when_the_partner_wants_no_texts() {
        let mut bytes = Vec::new();
        append(&mut bytes, 0, ClickTexts::NONE, &subs("abc"), Some("src")).unwrap();
        assert!(bytes.is_empty());
    }

    #[test]
    fn a_text_too_long_for_its_length_field_is_refused() {
        let mut bytes = Vec::new();
        let long = "x".repeat(usize::from(u16::MAX) + 1);
        assert_eq!(
            append(&mut bytes, 0, ClickTexts::ALL, &subs(&long), None),
            Err(TooLong)
        );
        assert!(bytes.is_empty());
    }
}
