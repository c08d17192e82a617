//! Where an HTML page sends the browser on its own: a meta refresh, or a
//! simple JavaScript `location` assignment with a string literal. Anything
//! computed (string concatenation, variables, timers calling functions) is not
//! followed: the scanner runs no JavaScript.

use regex::Regex;

/// The patterns, compiled once when the scanner starts.
#[derive(Debug, Clone)]
pub struct PageReader {
    meta: Regex,
    attribute: Regex,
    refresh_url: Regex,
    js_location: Regex,
}

impl PageReader {
    pub fn new() -> Result<Self, regex::Error> {
        Ok(Self {
            meta: Regex::new(r"(?is)<meta\b[^>]*>")?,
            attribute: Regex::new(
                r#"(?is)([a-z][a-z0-9_:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#,
            )?,
            refresh_url: Regex::new(
                r#"(?is)^\s*[0-9.]*\s*[;,]?\s*url\s*=\s*['"]?([^'"]*)['"]?\s*$"#,
            )?,
            // `location = "..."`, `location.href = '...'` (on window, document,
            // top, self or parent) and `location.replace("...")` /
            // `location.assign("...")`. `==` and `!=` comparisons cannot match:
            // a quote must follow the `=`.
            js_location: Regex::new(
                r#"(?s)\blocation(?:\.href)?\s*=\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')|\blocation\.(?:replace|assign)\(\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')\s*\)"#,
            )?,
        })
    }

    /// The page's own way on, if it has one: a meta refresh first (a browser
    /// follows it even with scripts off), then the first `location` assignment.
    pub fn next_hop(&self, html: &str) -> Option<PageHop> {
        self.meta_refresh(html)
            .map(PageHop::MetaRefresh)
            .or_else(|| self.script_location(html).map(PageHop::Script))
    }

    fn meta_refresh(&self, html: &str) -> Option<String> {
        self.meta.find_iter(html).find_map(|tag| {
            let mut refresh = false;
            let mut content = None;
            for attr in self.attribute.captures_iter(tag.as_str()) {
                let name = attr.get(1).map_or("", |m| m.as_str());
                let value = attr
                    .get(2)
                    .or_else(|| attr.get(3))
                    .or_else(|| attr.get(4))
                    .map_or("", |m| m.as_str());
                if name.eq_ignore_ascii_case("http-equiv") {
                    refresh = value.trim().eq_ignore_ascii_case("refresh");
                } else if name.eq_ignore_ascii_case("content") {
                    content = Some(decode_entities(value));
                }
            }
            let content = content.filter(|_| refresh)?;
            let url = self.refresh_url.captures(&content)?.get(1)?.as_str().trim();
            (!url.is_empty()).then(|| url.to_owned())
        })
    }

    fn script_location(&self, html: &str) -> Option<String> {
        self.js_location.captures_iter(html).find_map(|c| {
            let literal = (1..=4).find_map(|i| c.get(i))?.as_str();
            let url = unescape_js(literal);
            (!url.trim().is_empty()).then(|| url.trim().to_owned())
        })
    }
}

/// How a page moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageHop {
    MetaRefresh(String),
    Script(String),
}

impl PageHop {
    pub fn target(&self) -> &str {
        match self {
            PageHop::MetaRefresh(url) | PageHop::Script(url) => url,
        }
    }
}

/// The character references that occur in URLs in attributes.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|end| *end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// JavaScript string escapes that pages put in URLs: `\/`, `\xNN`, `\uNNNN`.
fn unescape_js(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('x') => push_code(&mut out, &mut chars, 2),
            Some('u') => push_code(&mut out, &mut chars, 4),
            Some('n' | 'r' | 't') | None => {}
            Some(other) => out.push(other),
        }
    }
    out
}

fn push_code(out: &mut String, chars: &mut std::str::Chars<'_>, digits: usize) {
    let hex: String = chars.by_ref().take(digits).collect();
    if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next_hop(html: &str) -> Option<PageHop> {
        PageReader::new().unwrap().next_hop(html)
    }

    #[test]
    fn meta_refresh_in_its_common_spellings() {
        for html in [
            r#"<meta http-equiv="refresh" content="0; url=https://a.example/x?a=1&amp;b=2">"#,
            r#"<META CONTENT='0;URL=https://a.example/x?a=1&b=2' HTTP-EQUIV='Refresh'>"#,
            r#"<meta http-equiv=refresh content="1;url='https://a.example/x?a=1&#38;b=2'" />"#,
        ] {
            assert_eq!(
                next_hop(html),
                Some(PageHop::MetaRefresh("https://a.example/x?a=1&b=2".into())),
                "{html}"
            );
        }
        assert_eq!(
            next_hop(r#"<meta name="viewport" content="url=https://a.example/">"#),
            None
        );
    }

    #[test]
    fn script_location_assignments() {
        for html in [
            r#"<script>window.location = "https://a.example/x";</script>"#,
            r#"<script>location.href='https://a.example/x'</script>"#,
            r#"<script>document.location.href = "https:\/\/a.example\/x";</script>"#,
            r#"<script>window.location.replace("https://a.example/x")</script>"#,
            r#"<script>top.location.assign( 'https://a.example\x2fx' );</script>"#,
        ] {
            assert_eq!(
                next_hop(html),
                Some(PageHop::Script("https://a.example/x".into())),
                "{html}"
            );
        }
    }

    #[test]
    fn comparisons_and_computed_urls_are_not_hops() {
        assert_eq!(
            next_hop(r#"<script>if (location.href == "https://a.example/") {}</script>"#),
            None
        );
        assert_eq!(
            next_hop(r#"<script>window.location = base + "/x";</script>"#),
            None
        );
        assert_eq!(next_hop("<html><body>Hello</body></html>"), None);
    }
}
