//! Series selectors in PromQL's syntax: `name{label="v", l2!="v", l3=~"re",
//! l4!~"re"}`. Baselines and rules use them to pick the series they watch.
//! Regexes are anchored, as in PromQL.

use std::fmt;

use crate::metric::Labels;

#[derive(Clone, Debug)]
pub enum MatchOp {
    Equal(String),
    NotEqual(String),
    Regex(regex::Regex),
    NotRegex(regex::Regex),
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
}

impl Matcher {
    fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal(v) => value == v,
            MatchOp::NotEqual(v) => value != v,
            MatchOp::Regex(r) => r.is_match(value),
            MatchOp::NotRegex(r) => !r.is_match(value),
        }
    }
}

/// A parsed selector; `text` keeps what the user wrote, for messages.
#[derive(Clone, Debug)]
pub struct Selector {
    pub text: String,
    pub metric: Option<String>,
    pub matchers: Vec<Matcher>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector {text:?}: {reason} at character {position}")]
pub struct SelectorError {
    pub text: String,
    pub position: usize,
    pub reason: String,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    fn skip_spaces(&mut self) {
        let trimmed = self.rest().trim_start();
        self.position = self.text.len() - trimmed.len();
    }

    fn error(&self, reason: impl Into<String>) -> SelectorError {
        SelectorError {
            text: self.text.to_owned(),
            position: self.position,
            reason: reason.into(),
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.position += token.len();
            true
        } else {
            false
        }
    }

    fn name(&mut self, allow_colon: bool) -> Option<&'a str> {
        let rest = self.rest();
        let mut chars = rest.char_indices();
        match chars.next() {
            Some((_, c)) if is_name_start(c) && (allow_colon || c != ':') => {}
            _ => return None,
        }
        let end = chars
            .find(|&(_, c)| !is_name_char(c) || (!allow_colon && c == ':'))
            .map_or(rest.len(), |(i, _)| i);
        self.position += end;
        Some(&rest[..end])
    }

    /// A string as PromQL reads it: double- or single-quoted with the
    /// escapes of Go's `strconv.Unquote` (any other escape is an error, so
    /// `"5\d\d"` is refused rather than read as `5dd`), or a backtick raw
    /// string, taken as written.
    fn quoted(&mut self) -> Result<String, SelectorError> {
        let start = self.position;
        let quote = match self.rest().chars().next() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return Err(self.error("expected a quoted value")),
        };
        self.position += 1;
        if quote == '`' {
            let rest = self.rest();
            let Some(end) = rest.find('`') else {
                self.position = start;
                return Err(self.error("unterminated raw string"));
            };
            self.position += end + 1;
            return Ok(rest[..end].to_owned());
        }
        // Bytes, since `\x` and octal escapes write bytes, as in Go; the
        // whole must still be UTF-8.
        let mut value: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.rest().chars().next() else {
                self.position = start;
                return Err(self.error("unterminated quoted string"));
            };
            match c {
                '\n' => {
                    return Err(self.error("a quoted string cannot hold a newline; write \\n"));
                }
                '\\' => self.escape(quote, &mut value)?,
                c if c == quote => {
                    self.position += 1;
                    break;
                }
                c => {
                    let mut buffer = [0; 4];
                    value.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                    self.position += c.len_utf8();
                }
            }
        }
        String::from_utf8(value).map_err(|_| {
            self.position = start;
            self.error("the string's escapes do not make valid UTF-8")
        })
    }

    /// One escape sequence at the cursor (on its backslash) inside a string
    /// opened by `quote`, appended to `value`.
    fn escape(&mut self, quote: char, value: &mut Vec<u8>) -> Result<(), SelectorError> {
        let after = &self.rest()[1..];
        let Some(c) = after.chars().next() else {
            return Err(self.error("escape sequence not terminated"));
        };
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            // Only the quote that opened the string: `\'` inside "..." is
            // an error in PromQL.
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(byte) = simple {
            value.push(byte);
            self.position += 2;
            return Ok(());
        }
        // (digits after the letter, how many, radix, largest value)
        let (skip, count, radix, max) = match c {
            '0'..='7' => (0, 3, 8, 0xff),
            'x' => (1, 2, 16, 0xff),
            'u' => (1, 4, 16, 0x10_ffff),
            'U' => (1, 8, 16, 0x10_ffff),
            other => {
                return Err(self.error(format!(
                    "unknown escape sequence \\{other} in a quoted string (PromQL knows \\a \\b \\f \\n \\r \\t \\v \\\\ \\{quote} \\xHH \\uHHHH \\UHHHHHHHH and octal \\ooo); for a regex escape such as \\d write \\\\d, or put the regex in backticks"
                )));
            }
        };
        let digits = after
            .get(skip..skip + count)
            .filter(|d| d.chars().all(|d| d.is_digit(radix)))
            .ok_or_else(|| {
                self.error(format!(
                    "escape sequence \\{c} needs {count} digits of base {radix}"
                ))
            })?;
        let code = u32::from_str_radix(digits, radix)
            .ok()
            .filter(|&code| code <= max)
            .ok_or_else(|| self.error(format!("escape sequence \\{c}{digits} is out of range")))?;
        if radix == 8 || c == 'x' {
            value.push(code as u8);
        } else {
            let c = char::from_u32(code).ok_or_else(|| {
                self.error(format!(
                    "escape sequence \\{c}{digits} is not a Unicode code point"
                ))
            })?;
            let mut buffer = [0; 4];
            value.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
        }
        self.position += 1 + skip + count;
        Ok(())
    }
}

fn anchored(cursor: &Cursor, pattern: &str) -> Result<regex::Regex, SelectorError> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| cursor.error(format!("invalid regex {pattern:?}: {e}")))
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let mut cursor = Cursor { text, position: 0 };
        cursor.skip_spaces();
        let mut metric = cursor.name(true).map(str::to_owned);
        let mut matchers = Vec::new();
        cursor.skip_spaces();
        if cursor.eat("{") {
            loop {
                cursor.skip_spaces();
                if cursor.eat("}") {
                    break;
                }
                let label = cursor
                    .name(false)
                    .ok_or_else(|| cursor.error("expected a label name"))?
                    .to_owned();
                cursor.skip_spaces();
                let op = if cursor.eat("=~") {
                    "=~"
                } else if cursor.eat("!~") {
                    "!~"
                } else if cursor.eat("!=") {
                    "!="
                } else if cursor.eat("=") {
                    "="
                } else {
                    return Err(cursor.error("expected =, !=, =~ or !~"));
                };
                cursor.skip_spaces();
                let value = cursor.quoted()?;
                let op = match op {
                    "=" => MatchOp::Equal(value),
                    "!=" => MatchOp::NotEqual(value),
                    "=~" => MatchOp::Regex(anchored(&cursor, &value)?),
                    _ => MatchOp::NotRegex(anchored(&cursor, &value)?),
                };
                if label == "__name__" {
                    if let MatchOp::Equal(name) = &op {
                        metric = Some(name.clone());
                        cursor.skip_spaces();
                        if !cursor.eat(",") {
                            cursor.skip_spaces();
                            if cursor.eat("}") {
                                break;
                            }
                            return Err(cursor.error("expected , or }"));
                        }
                        continue;
                    }
                }
                matchers.push(Matcher { label, op });
                cursor.skip_spaces();
                if cursor.eat(",") {
                    continue;
                }
                if cursor.eat("}") {
                    break;
                }
                return Err(cursor.error("expected , or }"));
            }
        }
        cursor.skip_spaces();
        if !cursor.rest().is_empty() {
            return Err(cursor.error("unexpected text after the selector"));
        }
        if metric.is_none() && matchers.is_empty() {
            return Err(cursor.error("a selector needs a metric name or a matcher"));
        }
        Ok(Selector {
            text: text.to_owned(),
            metric,
            matchers,
        })
    }

    /// Whether the selector can match series of this metric name.
    pub fn matches_name(&self, name: &str) -> bool {
        match &self.metric {
            Some(metric) => metric == name,
            None => self
                .matchers
                .iter()
                .filter(|m| m.label == "__name__")
                .all(|m| m.matches(name)),
        }
    }

    /// Whether a series of a name the selector matches has matching labels.
    /// A missing label matches as the empty string, as in PromQL.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .filter(|m| m.label != "__name__")
            .all(|m| {
                let value = labels
                    .iter()
                    .find(|(name, _)| name == m.label.as_str())
                    .map_or("", |(_, v)| v.as_str());
                m.matches(value)
            })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Selector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Selector::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn labels(pairs: &[(&'static str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(n, v)| (Cow::Borrowed(*n), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_all_operators() {
        let s = Selector::parse(
            r#"node_cpu_seconds_total{mode=~"user|system", cpu!="1", x!~'a.*', y="q\"uote"}"#,
        )
        .unwrap();
        assert_eq!(s.metric.as_deref(), Some("node_cpu_seconds_total"));
        assert_eq!(s.matchers.len(), 4);
        assert!(s.matches_name("node_cpu_seconds_total"));
        assert!(!s.matches_name("node_cpu_guest_seconds_total"));
        assert!(s.matches_labels(&labels(&[
            ("mode", "user"),
            ("cpu", "0"),
            ("x", "b"),
            ("y", "q\"uote")
        ])));
        assert!(!s.matches_labels(&labels(&[("mode", "idle"), ("cpu", "0"), ("y", "q\"uote")])));
        // Anchored: "user" does not match "username".
        assert!(!s.matches_labels(&labels(&[("mode", "username"), ("y", "q\"uote")])));
    }

    #[test]
    fn name_only_and_name_matcher_forms() {
        assert!(
            Selector::parse("node_load1")
                .unwrap()
                .matches_labels(&labels(&[]))
        );
        let s = Selector::parse(r#"{__name__="node_load1"}"#).unwrap();
        assert_eq!(s.metric.as_deref(), Some("node_load1"));
        let s = Selector::parse(r#"{__name__=~"node_load.*"}"#).unwrap();
        assert!(s.matches_name("node_load5") && !s.matches_name("up"));
    }

    fn value(text: &str) -> Result<String, SelectorError> {
        let s = Selector::parse(&format!("m{{a={text}}}"))?;
        match &s.matchers[0].op {
            MatchOp::Equal(v) => Ok(v.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strings_follow_promql() {
        assert_eq!(value(r#""a\tb\\c\"d""#).unwrap(), "a\tb\\c\"d");
        assert_eq!(value(r#"'it\'s'"#).unwrap(), "it's");
        assert_eq!(value(r#""\a\b\f\n\r\v""#).unwrap(), "\x07\x08\x0c\n\r\x0b");
        assert_eq!(value(r#""\x41\101\u00e9\U0001F600""#).unwrap(), "AAé😀");
        // \x and octal escapes are bytes, as in Go: these two make é.
        assert_eq!(value(r#""\xc3\xa9""#).unwrap(), "é");
        assert_eq!(value(r#""\303\251""#).unwrap(), "é");
        // Raw strings take backslashes as written, and may span lines.
        assert_eq!(value(r"`5\d\d`").unwrap(), r"5\d\d");
        assert_eq!(value("`a\nb`").unwrap(), "a\nb");
        assert_eq!(value("\"\"").unwrap(), "");
    }

    #[test]
    fn unknown_or_malformed_escapes_are_refused() {
        let error = Selector::parse(r#"http_requests_total{code=~"5\d\d"}"#).unwrap_err();
        assert!(
            error.reason.contains("unknown escape sequence \\d"),
            "{error}"
        );
        assert!(error.reason.contains("backticks"), "{error}");
        assert_eq!(error.position, 28, "the backslash: {error}");
        for (bad, reason) in [
            (r#""\.""#, "unknown escape"),
            (r#""\'""#, "unknown escape"),
            (r#"'\"'"#, "unknown escape"),
            (r#""\x4""#, "needs 2 digits"),
            (r#""\x+1""#, "needs 2 digits"),
            (r#""\u12""#, "needs 4 digits"),
            (r#""\400""#, "out of range"),
            (r#""\ud800""#, "not a Unicode code point"),
            (r#""\U00110000""#, "out of range"),
            (r#""\xff""#, "UTF-8"),
            ("\"a\nb\"", "newline"),
            ("\"abc", "unterminated"),
            ("`abc", "unterminated raw string"),
            (r#""\é""#, "unknown escape"),
        ] {
            let error = value(bad).unwrap_err();
            assert!(error.reason.contains(reason), "{bad}: {error}");
        }
        let error = Selector::parse(r#"m{a="ab\"#).unwrap_err();
        assert!(error.reason.contains("not terminated"), "{error}");
    }

    #[test]
    fn errors_say_where() {
        for bad in [
            "",
            "{}",
            "x{mode}",
            "x{mode=\"a\"",
            "x{mode=~\"(\"}",
            "x{mode=a}",
            "x y",
            "x{1a=\"b\"}",
        ] {
            let error = Selector::parse(bad).unwrap_err();
            assert!(error.to_string().contains("at character"), "{bad}: {error}");
        }
    }
}
