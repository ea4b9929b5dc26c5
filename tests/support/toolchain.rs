//! The sandbox the tests' check commands run in: bubblewrap, with the Rust toolchain that builds
//! these tests and its already-fetched CARGO_HOME mounted read-only (what an operator writes in
//! healbot.yaml's `validation.caches`), so `cargo check --offline` works inside without network.

use healbot::config::secrets::Redactor;
use healbot::config::validation::{ValidationFile, ValidationSettings};
use healbot::config::yaml::parse_strict;
use healbot::fix::Sandbox;
use std::path::{Path, PathBuf};

/// `validation:` settings parsed from `yaml` as healbot.yaml would have them.
pub fn settings(yaml: &str) -> ValidationSettings {
    let file: ValidationFile = parse_strict(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
    ValidationSettings::from_file(file, Path::new("/"), &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
}

/// The `caches:` and `path:` lines for the Rust toolchain of this build.
pub fn rust_yaml() -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let cargo = PathBuf::from(cargo);
    let resolved = std::fs::canonicalize(&cargo).unwrap_or_else(|_| cargo.clone());
    let bin = cargo.parent().expect("cargo's folder").to_path_buf();
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| home().join(".cargo"));
    let mut caches = vec![format!(
        "{{path: {}, env: CARGO_HOME}}",
        cargo_home.display()
    )];
    if resolved.file_name().is_some_and(|n| n == "rustup") {
        // A rustup proxy: it finds the toolchain under RUSTUP_HOME.
        let rustup_home = std::env::var("RUSTUP_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| home().join(".rustup"));
        caches.push(format!(
            "{{path: {}, env: RUSTUP_HOME}}",
            rustup_home.display()
        ));
    } else if !bin.starts_with(&cargo_home) {
        // The toolchain itself (bin/, lib/), e.g. ~/.rustup/toolchains/<name>.
        let root = bin.parent().expect("the toolchain's folder");
        caches.push(format!("{{path: {}}}", root.display()));
    }
    format!(
        "caches: [{}]\npath: [{}]\n",
        caches.join(", "),
        bin.display()
    )
}

/// Bubblewrap with the Rust toolchain; no secrets to scrub.
pub fn rust() -> Sandbox {
    Sandbox::new(settings(&rust_yaml()), Redactor::default())
}
