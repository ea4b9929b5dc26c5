//! `--format text|json`, the same flag on every listing and report, so scripts read JSON and
//! people read text.

use clap::ValueEnum;

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
}
