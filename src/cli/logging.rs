//! Where healbot's own log lines go and in which shape: `--log-format text|json` on every
//! command, filtered by `HEALBOT_LOG`. JSON is the server's default (log collectors read it),
//! text everyone else's (a person reads it).

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A subscriber writing to stderr in `format`, at `HEALBOT_LOG` or else `default_level`.
pub fn dispatch(format: LogFormat, default_level: &str) -> tracing::Dispatch {
    let filter =
        EnvFilter::try_from_env("HEALBOT_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => tracing::Dispatch::new(builder.json().finish()),
        LogFormat::Text => tracing::Dispatch::new(builder.finish()),
    }
}
