//! The fix templates hold on real compilers: every Rust template's expected patches (each test
//! case's `after`) go into one library crate, a module per case, and `cargo check --offline`
//! must accept it (no dependencies, so no registry is needed). A case that does not compile
//! is named with the compiler's first error.

use healbot::fix::template::TemplateLanguage;
use std::process::Command;

#[test]
fn rust_template_patches_pass_cargo_check() {
    let templates = healbot::fix::embedded_templates().expect("the built-in templates load");
    let dir = tempfile::tempdir().unwrap();
    let mut lib = String::from("#![allow(warnings)]\n");
    // (first line, last line, template / case) of each module in lib.rs.
    let mut spans: Vec<(usize, usize, String)> = Vec::new();
    for t in templates
        .iter()
        .filter(|t| t.language == TemplateLanguage::Rust)
    {
        for case in &t.tests {
            let Some(after) = &case.after else { continue };
            let first = lib.lines().count() + 1;
            lib.push_str(&format!("mod case_{} {{\n{after}\n}}\n", spans.len()));
            spans.push((
                first,
                lib.lines().count(),
                format!("{} / {}", t.id, case.name),
            ));
        }
    }
    assert!(spans.len() >= 20, "only {} Rust cases", spans.len());
    std::fs::write(dir.path().join("lib.rs"), &lib).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"template_cases\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[lib]\npath = \"lib.rs\"\n\n[workspace]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--quiet", "--message-format", "short"])
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    if out.status.success() {
        return;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut failing: Vec<String> = Vec::new();
    for line in stderr.lines().filter(|l| l.contains(": error")) {
        let at: Option<usize> = line.split(':').nth(1).and_then(|n| n.parse().ok());
        let case = at.and_then(|n| spans.iter().find(|(a, b, _)| (*a..=*b).contains(&n)));
        let name = case.map_or("?", |(_, _, name)| name.as_str());
        failing.push(format!("{name}: {line}"));
    }
    panic!(
        "Rust template patches that do not compile:\n{}\n{stderr}",
        failing.join("\n")
    );
}
