//! Where healbot's own log lines go and in which shape: `--log-format text|json` on every
//! command, filtered by `HEALBOT_LOG`. JSON is the server's default (log collectors read it),
//! text everyone else's (a person reads it).

use clap::ValueEnum;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::Registry;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A subscriber writing to stderr in `format`, at `HEALBOT_LOG` or else `default_level`.
pub fn dispatch(format: LogFormat, default_level: &str) -> tracing::Dispatch {
    dispatch_with(format, default_level, None)
}

/// [`dispatch`] plus another layer (the OTLP export), under the same level filter.
pub(crate) fn dispatch_with(
    format: LogFormat,
    default_level: &str,
    extra: Option<Box<dyn Layer<Registry> + Send + Sync>>,
) -> tracing::Dispatch {
    let filter =
        EnvFilter::try_from_env("HEALBOT_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![match format {
        LogFormat::Json => lines.json().boxed(),
        LogFormat::Text => lines.boxed(),
    }];
    layers.extend(extra);
    tracing::Dispatch::new(Registry::default().with(layers).with(filter))
}
