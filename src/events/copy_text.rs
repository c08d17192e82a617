//! Postgres COPY text format: tab-separated, `\N` for NULL, backslash escapes.

use std::fmt::Display;
use std::fmt::Write;

pub(super) struct CopyRow<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> CopyRow<'a> {
    pub fn new(out: &'a mut String) -> Self {
        Self { out, first: true }
    }

    fn separator(&mut self) {
        if !self.first {
            self.out.push('\t');
        }
        self.first = false;
    }

    pub fn text(&mut self, value: Option<&str>) -> &mut Self {
        self.separator();
        match value {
            None => self.out.push_str("\\N"),
            Some(v) => {
                for c in v.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '\t' => self.out.push_str("\\t"),
                        '\n' => self.out.push_str("\\n"),
                        '\r' => self.out.push_str("\\r"),
                        c => self.out.push(c),
                    }
                }
            }
        }
        self
    }

    /// For values whose text form never needs escaping (numbers, ids, timestamps).
    pub fn plain(&mut self, value: Option<impl Display>) -> &mut Self {
        self.separator();
        match value {
            None => self.out.push_str("\\N"),
            // Writing to a String cannot fail.
            Some(v) => {
                let _ = write!(self.out, "{v}");
            }
        }
        self
    }

    pub fn end(&mut self) {
        self.out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_nulls() {
        let mut out = String::new();
        CopyRow::new(&mut out)
            .text(Some("a\tb\\c\nd"))
            .text(None)
            .plain(Some(42))
            .end();
        assert_eq!(out, "a\\tb\\\\c\\nd\t\\N\t42\n");
    }
}
