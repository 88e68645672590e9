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

    /// A double- or single-quoted string with Go-style escapes.
    fn quoted(&mut self) -> Result<String, SelectorError> {
        let quote = match self.rest().chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return Err(self.error("expected a quoted value")),
        };
        self.position += 1;
        let mut value = String::new();
        let mut chars = self.rest().char_indices();
        loop {
            let Some((i, c)) = chars.next() else {
                return Err(self.error("unterminated string"));
            };
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, other)) => value.push(other),
                    None => return Err(self.error("unterminated escape")),
                },
                c if c == quote => {
                    self.position += i + 1;
                    return Ok(value);
                }
                c => value.push(c),
            }
        }
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
