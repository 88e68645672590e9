//! Error messages with their causes.

/// An error with its causes, which say what actually went wrong (hyper's
/// "client error (Connect)" alone does not). A cause whose text the message
/// already holds is not repeated.
pub fn describe_error(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    #[test]
    fn joins_causes_once() {
        let error = Layer {
            text: "client error (Connect)",
            cause: Some(Box::new(Layer {
                text: "connection refused",
                cause: Some(Box::new(Layer {
                    text: "refused",
                    cause: None,
                })),
            })),
        };
        assert_eq!(
            describe_error(&error),
            "client error (Connect): connection refused"
        );
    }
}
