//! `external_labels`: the labels that name this outrider (its pod, namespace,
//! node) on everything it sends out of process: the alerts posted to
//! Alertmanager, the lines of `events.jsonl` and `/api/v1/alerts`. They are
//! not added to `/metrics`, where Prometheus adds its own target labels.
//!
//! Values are expanded from the environment as Prometheus expands its own
//! external labels (Go's `os.Expand`): `$NAME` and `${NAME}` take the
//! variable's value, `$$` is a literal `$`, and an unset or empty variable
//! expands to nothing. A label whose value expands to nothing is left out,
//! as Prometheus does (an empty label is no label). As in Prometheus, a
//! label the alert already has (from its series or its rule) wins over an
//! external label of the same name.

use std::collections::BTreeMap;

use tracing::warn;

/// The expanded external labels, ready to attach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExternalLabels(BTreeMap<String, String>);

impl ExternalLabels {
    /// Expands the configured values with `lookup` (the environment, in
    /// `from_env`); a label whose value expands to nothing is dropped.
    pub fn expand(
        configured: &BTreeMap<String, String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> ExternalLabels {
        let mut labels = BTreeMap::new();
        for (name, template) in configured {
            let value = expand(template, |variable| {
                let value = lookup(variable).unwrap_or_default();
                if value.is_empty() {
                    warn!(label = %name, variable, "external label refers to an unset or empty environment variable");
                }
                value
            });
            if !value.is_empty() {
                labels.insert(name.clone(), value);
            }
        }
        ExternalLabels(labels)
    }

    /// Expands the configured values from this process's environment.
    pub fn from_env(configured: &BTreeMap<String, String>) -> ExternalLabels {
        Self::expand(configured, |name| std::env::var(name).ok())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Adds each external label that is in neither `labels` nor `taken`
    /// (the rule's own labels, say, when `labels` holds only the series').
    pub fn attach(&self, labels: &mut BTreeMap<String, String>, taken: &BTreeMap<String, String>) {
        for (name, value) in &self.0 {
            if !labels.contains_key(name) && !taken.contains_key(name) {
                labels.insert(name.clone(), value.clone());
            }
        }
    }
}

/// Checks the configured label names, as Prometheus does: a label name is
/// `[a-zA-Z_][a-zA-Z0-9_]*`, and names starting with `__` are reserved.
pub fn validate(configured: &BTreeMap<String, String>) -> Result<(), String> {
    for name in configured.keys() {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "external_labels: {name:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"
            ));
        }
        if name.starts_with("__") {
            return Err(format!(
                "external_labels: {name:?} starts with __, which is reserved"
            ));
        }
    }
    Ok(())
}

/// Go's `os.Expand` with Prometheus's mapping: `$$` is `$`, every other
/// name goes to `lookup`. Bad syntax (`${`, `${}`) is eaten as Go eats it;
/// a `$` followed by no name stays.
pub fn expand(text: &str, mut lookup: impl FnMut(&str) -> String) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut j = 0;
    while j < bytes.len() {
        if bytes[j] == b'$' && j + 1 < bytes.len() {
            out.push_str(&text[copied..j]);
            let (name, width) = shell_name(&text[j + 1..]);
            match name {
                Some("$") => out.push('$'),
                Some(name) => out.push_str(&lookup(name)),
                // Valid syntax, but no name: the dollar stays.
                None if width == 0 => out.push('$'),
                // Bad syntax: eaten.
                None => {}
            }
            j += width;
            copied = j + 1;
        }
        j += 1;
    }
    out.push_str(&text[copied.min(text.len())..]);
    out
}

fn is_special(c: u8) -> bool {
    matches!(
        c,
        b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9'
    )
}

fn is_name_char(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// The name after a `$` and how many bytes it spans (Go's `getShellName`).
/// `rest` is not empty.
fn shell_name(rest: &str) -> (Option<&str>, usize) {
    let bytes = rest.as_bytes();
    if bytes[0] == b'{' {
        if bytes.len() > 2 && is_special(bytes[1]) && bytes[2] == b'}' {
            return (Some(&rest[1..2]), 3);
        }
        return match rest[1..].find('}') {
            Some(0) => (None, 2),
            Some(end) => (Some(&rest[1..end + 1]), end + 2),
            None => (None, 1),
        };
    }
    if is_special(bytes[0]) {
        return (Some(&rest[0..1]), 1);
    }
    let width = bytes.iter().take_while(|c| is_name_char(**c)).count();
    if width == 0 {
        (None, 0)
    } else {
        (Some(&rest[..width]), width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(name: &str) -> String {
        match name {
            "POD_NAME" => "app-7d9f".to_owned(),
            "NS" => "shop".to_owned(),
            _ => String::new(),
        }
    }

    #[test]
    fn expands_as_prometheus_does() {
        // Cases as Go's os.Expand with Prometheus's mapping answers them.
        for (input, expected) in [
            ("${POD_NAME}", "app-7d9f"),
            ("$POD_NAME", "app-7d9f"),
            ("pod-$POD_NAME.x", "pod-app-7d9f.x"),
            ("${NS}/${POD_NAME}", "shop/app-7d9f"),
            ("$NS$POD_NAME", "shopapp-7d9f"),
            ("${UNSET}", ""),
            ("a${UNSET}b", "ab"),
            ("$$", "$"),
            ("$$POD_NAME", "$POD_NAME"),
            ("cost: 5$", "cost: 5$"),
            ("$ x", "$ x"),
            ("${}", ""),
            ("a${POD_NAME", "aPOD_NAME"),
            ("${1}", ""),
            ("plain", "plain"),
            ("", ""),
            ("é$NS€", "éshop€"),
        ] {
            assert_eq!(expand(input, env), expected, "{input:?}");
        }
    }

    #[test]
    fn empty_values_are_dropped_and_set_ones_kept() {
        let configured = BTreeMap::from([
            ("pod".to_owned(), "${POD_NAME}".to_owned()),
            ("namespace".to_owned(), "$NS".to_owned()),
            ("node".to_owned(), "${NODE_NAME}".to_owned()),
            ("cluster".to_owned(), "eu-1".to_owned()),
        ]);
        let labels = ExternalLabels::expand(&configured, |n| Some(env(n)));
        assert_eq!(
            labels.as_map(),
            &BTreeMap::from([
                ("cluster".to_owned(), "eu-1".to_owned()),
                ("namespace".to_owned(), "shop".to_owned()),
                ("pod".to_owned(), "app-7d9f".to_owned()),
            ])
        );
    }

    #[test]
    fn labels_already_there_win() {
        let labels = ExternalLabels(BTreeMap::from([
            ("pod".to_owned(), "p1".to_owned()),
            ("team".to_owned(), "sre".to_owned()),
            ("namespace".to_owned(), "shop".to_owned()),
        ]));
        let mut alert = BTreeMap::from([("pod".to_owned(), "from-series".to_owned())]);
        let rule = BTreeMap::from([("team".to_owned(), "payments".to_owned())]);
        labels.attach(&mut alert, &rule);
        assert_eq!(alert["pod"], "from-series");
        assert!(
            !alert.contains_key("team"),
            "the rule's team is added later and wins"
        );
        assert_eq!(alert["namespace"], "shop");
    }

    #[test]
    fn names_are_checked() {
        let one = |name: &str| validate(&BTreeMap::from([(name.to_owned(), "v".to_owned())]));
        assert!(one("pod").is_ok());
        assert!(one("_x9").is_ok());
        assert!(one("9x").unwrap_err().contains("\"9x\""));
        assert!(one("a-b").is_err());
        assert!(one("").is_err());
        assert!(one("__name__").unwrap_err().contains("reserved"));
    }

    proptest! {
        #[test]
        fn any_text_expands_without_panic(text in "\\PC{0,40}") {
            let _ = expand(&text, |_| "v".to_owned());
        }

        #[test]
        fn text_without_a_dollar_is_unchanged(text in "[^$]{0,40}") {
            prop_assert_eq!(expand(&text, |_| "v".to_owned()), text);
        }

        #[test]
        fn a_braced_name_is_its_value(prefix in "[^$]{0,10}", name in "[A-Za-z_][A-Za-z0-9_]{0,10}", suffix in "[^$]{0,10}") {
            let text = format!("{prefix}${{{name}}}{suffix}");
            prop_assert_eq!(expand(&text, |n| format!("<{n}>")), format!("{prefix}<{name}>{suffix}"));
        }
    }
}
