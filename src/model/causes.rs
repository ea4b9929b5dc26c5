//! An error with its chain of sources as one line, for logs. Errors keep what caused them as
//! their `source()`; many also repeat it in their message (the message is what a person
//! reads), so a cause whose text the line already holds is not written twice.

use std::error::Error;
use std::fmt;

/// `error: cause: deeper cause`, each cause once.
pub struct Causes<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            next = cause.source();
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("reading the manifest: {0}")]
        Repeats(#[source] std::io::Error),
        #[error("reading the manifest")]
        Hides(#[source] std::io::Error),
    }

    fn io() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "rollout.yaml is gone")
    }

    #[test]
    fn a_cause_is_written_once() {
        let e = Outer::Repeats(io());
        assert_eq!(
            Causes(&e).to_string(),
            "reading the manifest: rollout.yaml is gone"
        );
        let e = Outer::Hides(io());
        assert_eq!(
            Causes(&e).to_string(),
            "reading the manifest: rollout.yaml is gone"
        );
    }
}
