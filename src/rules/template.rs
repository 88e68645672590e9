//! Alert text templates: the subset of Prometheus' template language that
//! reads the same in outrider and in the generated Prometheus rules:
//! `{{ $labels.NAME }}`, `{{ $value }}`, `{{ $value | humanize }}` and
//! `{{ $value | humanizePercentage }}`.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Label(String),
    Value(ValueFormat),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ValueFormat {
    Plain,
    Humanize,
    Percentage,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| format!("template {text:?}: unclosed {{{{"))?;
            let action = rest[start + 2..start + end].trim();
            let (operand, function) = match action.split_once('|') {
                Some((operand, function)) => (operand.trim(), Some(function.trim())),
                None => (action, None),
            };
            let part = if let Some(label) = operand.strip_prefix("$labels.") {
                if label.is_empty() || function.is_some() {
                    return Err(format!("template {text:?}: cannot use {{{{ {action} }}}}"));
                }
                Part::Label(label.to_owned())
            } else if operand == "$value" {
                Part::Value(match function {
                    None => ValueFormat::Plain,
                    Some("humanize") => ValueFormat::Humanize,
                    Some("humanizePercentage") => ValueFormat::Percentage,
                    Some(other) => {
                        return Err(format!(
                            "template {text:?}: unknown function {other:?} (humanize, humanizePercentage)"
                        ));
                    }
                })
            } else {
                return Err(format!(
                    "template {text:?}: unknown {{{{ {action} }}}} (use $labels.NAME or $value)"
                ));
            };
            parts.push(part);
            rest = &rest[start + end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The labels the template reads, in order of appearance.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Label(name) => Some(name.as_str()),
            _ => None,
        })
    }

    pub fn render(&self, labels: &BTreeMap<String, String>, value: f64) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Label(name) => out.push_str(labels.get(name).map_or("", String::as_str)),
                Part::Value(ValueFormat::Plain) => out.push_str(&go_value(value)),
                Part::Value(ValueFormat::Humanize) => out.push_str(&humanize(value)),
                Part::Value(ValueFormat::Percentage) => {
                    out.push_str(&format!("{}%", significant4(value * 100.0)));
                }
            }
        }
        out
    }
}

/// A float as Go's `fmt` prints it with `%v`, which is how Prometheus
/// renders `{{ $value }}`: the shortest digits that read back exactly, in
/// exponent form (`1.5e+06`, `1e-05`) when the exponent is under -4 or at
/// least 6.
pub fn go_value(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("{:e} always has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponents are integers");
    if value != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        value.to_string()
    }
}

/// Four significant digits, trailing zeros dropped (Go's `%.4g` without
/// the exponent form).
fn significant4(value: f64) -> String {
    let digits = if value == 0.0 {
        1
    } else {
        value.abs().log10().floor() as i32 + 1
    };
    let decimals = (4 - digits).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// SI prefixes as Prometheus' `humanize`: 1234567 → 1.235M.
pub fn humanize(value: f64) -> String {
    if !value.is_finite() || value == 0.0 {
        return value.to_string();
    }
    let prefixes = [
        (1e24, "Y"),
        (1e21, "Z"),
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
        (1.0, ""),
        (1e-3, "m"),
        (1e-6, "u"),
        (1e-9, "n"),
    ];
    for (size, prefix) in prefixes {
        if value.abs() >= size {
            return format!("{}{prefix}", significant4(value / size));
        }
    }
    significant4(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_and_values() {
        let t = Template::parse("{{ $labels.mountpoint }} has {{ $value | humanizePercentage }} left ({{$value | humanize}}B, raw {{ $value }})").unwrap();
        let labels = BTreeMap::from([("mountpoint".to_owned(), "/var".to_owned())]);
        assert_eq!(
            t.render(&labels, 0.1234),
            "/var has 12.34% left (123.4mB, raw 0.1234)"
        );
        assert_eq!(humanize(1_234_567.0), "1.235M");
        for (value, go) in [
            (1.5e6, "1.5e+06"),
            (123_456.0, "123456"),
            (1_234_567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (0.0, "0"),
            (1e21, "1e+21"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(go_value(value), go, "{value}");
        }
        assert_eq!(humanize(2048.0), "2.048k");
    }

    #[test]
    fn refuses_what_it_cannot_render() {
        for bad in [
            "{{ $labels. }}",
            "{{ .Value }}",
            "{{ $value | printf }}",
            "{{ $value",
            "{{ $labels.x | humanize }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
