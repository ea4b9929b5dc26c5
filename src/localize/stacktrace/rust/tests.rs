use super::*;

const SHORT: &str = r#"thread 'tokio-runtime-worker' panicked at src/handlers/users.rs:42:38:
called `Option::unwrap()` on a `None` value
stack backtrace:
   0: rust_begin_unwind
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs:578:5
   1: core::panicking::panic
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/panicking.rs:117:5
   2: core::option::Option<T>::unwrap
   3: userd::handlers::users::get_user::{{closure}}
             at ./src/handlers/users.rs:42:38
   4: serde_json::de::from_str
             at /home/me/.cargo/registry/src/index.crates.io-6f17d22bba15001f/serde_json-1.0.96/src/de.rs:2676:5
   5: userd::main
             at ./src/main.rs:9:5
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
"#;

/// The pre-1.73 form, as rustc printed it then (message quoted before the location).
const OLD: &str = r#"thread 'main' panicked at 'index out of bounds: the len is 3 but the index is 7', /home/runner/work/svc/svc/src/lib.rs:5:5
stack backtrace:
   0:     0x55d1c2a3e1a9 - std::backtrace_rs::backtrace::libunwind::trace::h1a2b3c4d5e6f7a8b
                               at /rustc/abc/library/std/src/../../backtrace/src/backtrace/libunwind.rs:93:5
   7:     0x55d1c2a3e2b0 - svc::pick::h0123456789abcdef
                               at /home/runner/work/svc/svc/src/lib.rs:5:5
"#;

fn formats(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/traces/formats")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn in_app(t: &ParsedTrace) -> Vec<(&str, &str, u32)> {
    t.frames
        .iter()
        .filter(|f| f.origin == FrameOrigin::InApp)
        .map(|f| (f.function.as_str(), f.file.as_str(), f.line))
        .collect()
}

#[test]
fn new_format_with_short_backtrace() {
    let t = parse(SHORT).unwrap();
    assert_eq!(t.message, "called `Option::unwrap()` on a `None` value");
    let app = in_app(&t);
    assert_eq!(
        app[0],
        (
            "userd::handlers::users::get_user::{{closure}}",
            "./src/handlers/users.rs",
            42
        )
    );
    assert_eq!(app[1].1, "./src/main.rs");
    assert_eq!(t.frames[0].origin, FrameOrigin::Std);
    assert_eq!(
        t.panic_location,
        Some(Location {
            file: "src/handlers/users.rs".into(),
            line: 42,
            column: Some(38)
        })
    );
    assert!(t
        .frames
        .iter()
        .any(|f| f.origin == FrameOrigin::Dependency && f.function == "serde_json::de::from_str"));
}

#[test]
fn old_format_with_full_backtrace_strips_hashes() {
    let t = parse(OLD).unwrap();
    assert!(t.message.starts_with("index out of bounds"));
    assert_eq!(t.frames.len(), 2);
    assert_eq!(t.frames[1].function, "svc::pick");
    assert_eq!(t.frames[1].origin, FrameOrigin::InApp);
    assert_eq!(t.panic_location.unwrap().line, 5);
}

#[test]
fn log_panics_form_and_a_hook_without_the_thread() {
    let t = parse("ERROR thread 'main' panicked at 'no port': src/config.rs:12\n").unwrap();
    assert_eq!(t.message, "no port");
    assert_eq!(
        (t.frames[0].file.as_str(), t.frames[0].line),
        ("src/config.rs", 12)
    );
    let t = parse("panicked at src/config.rs:12:9:\nno port\n").unwrap();
    assert_eq!(t.message, "no port");
    assert!(looks_like("panicked at src/config.rs:12:9:\nno port\n"));
    assert!(!looks_like("the worker panicked at startup\n"));
}

#[test]
fn real_backtraces_from_rustc_1_95() {
    for text in [
        include_str!("../../../../testdata/traces/rust-unwrap-none.txt"),
        include_str!("../../../../testdata/traces/rust-unwrap-none-full.txt"),
    ] {
        let t = parse(text).unwrap();
        assert_eq!(t.message, "called `Option::unwrap()` on a `None` value");
        let app = in_app(&t);
        assert_eq!(app.len(), 2, "{app:?}");
        assert_eq!(app[0].0, "userd::handlers::receipt_domain");
        assert!(app[0].1.ends_with("src/handlers.rs"));
        assert_eq!(app[0].2, 10);
        assert_eq!(app[1].0, "userd::main");
        assert!(
            !t.frames.iter().any(|f| f.function.contains('[')),
            "{:?}",
            t.frames
        );
    }
}

#[test]
fn char_boundary_slice_debug_and_release_full() {
    for name in ["rust-slice-debug.txt", "rust-slice-release-full.txt"] {
        let t = parse(&formats(name)).unwrap();
        assert!(
            t.message
                .starts_with("end byte index 3 is not a char boundary"),
            "{name}: {}",
            t.message
        );
        let app = in_app(&t);
        assert_eq!(app[0].0, "rustdemo::text::cut", "{name}");
        assert!(
            app[0].1.ends_with("src/lib.rs") && app[0].2 == 4,
            "{name}: {app:?}"
        );
        assert_eq!(app[1].0, "slice::main", "{name}");
        let loc = t.panic_location.unwrap();
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.column),
            ("src/lib.rs", 4, Some(15))
        );
    }
}

#[test]
fn unnamed_thread_and_std_frames_between() {
    let t = parse(&formats("rust-thread-debug.txt")).unwrap();
    assert_eq!(
        t.message,
        "index out of bounds: the len is 0 but the index is 0"
    );
    assert_eq!(
        in_app(&t),
        [
            ("rustdemo::stats::first", "./src/lib.rs", 19),
            ("thread::main::{{closure}}", "./src/bin/thread.rs", 4)
        ]
    );
}

#[test]
fn panic_inside_a_registry_crate() {
    for name in ["rust-dep-debug.txt", "rust-dep-same-line.txt"] {
        let t = parse(&formats(name)).unwrap();
        assert_eq!(t.message, "invalid or out-of-range date", "{name}");
        let loc = t.panic_location.as_ref().unwrap();
        assert_eq!(origin_of(&loc.file, ""), FrameOrigin::Dependency);
        assert_eq!(t.frames[3].origin, FrameOrigin::Dependency, "{name}");
        assert_eq!(in_app(&t)[0], ("dep::expiry", "./src/bin/dep.rs", 4));
    }
}

#[test]
fn without_a_backtrace_the_panic_location_is_the_frame() {
    let t = parse(&formats("rust-expect-nobt.txt")).unwrap();
    assert_eq!(t.message, "config has a port");
    assert_eq!(
        (t.frames.len(), t.frames[0].file.as_str(), t.frames[0].line),
        (1, "src/bin/expect.rs", 6)
    );
    // Log lines after a panic without a backtrace are not its message.
    let t =
        parse("thread 'main' panicked at src/main.rs:2:5:\nboom\n\nINFO shutting down\n").unwrap();
    assert_eq!(t.message, "boom");
}

#[test]
fn anyhow_error_with_stack_backtrace() {
    let t = parse(&formats("rust-anyhow-debug.txt")).unwrap();
    assert_eq!(t.exception, "error");
    assert!(
        t.message
            .starts_with("cannot read config /nonexistent/app.toml"),
        "{}",
        t.message
    );
    assert!(
        t.message.contains("No such file or directory"),
        "{}",
        t.message
    );
    assert_eq!(t.frames[0].origin, FrameOrigin::Dependency);
    assert_eq!(
        in_app(&t)[0],
        ("anyerr::read_config", "./src/bin/anyerr.rs", 3)
    );
}

#[test]
fn a_tracing_panic_hook_in_text_json_and_debug_form() {
    for name in [
        "rust-tracing-ansi.txt",
        "rust-tracing-json.txt",
        "rust-tracing-debug.txt",
    ] {
        let t = super::super::parse_trace(&formats(name)).unwrap();
        assert_eq!(t.language, TraceLanguage::Rust, "{name}");
        let loc = t.panic_location.as_ref().unwrap();
        assert_eq!((loc.file.as_str(), loc.line), ("src/lib.rs", 15), "{name}");
        // The hook's own frames (`hooked::install::{{closure}}`) are gone.
        let app = in_app(&t);
        assert_eq!(app[0].0, "rustdemo::stats::mean", "{name}: {app:?}");
        assert!(app[0].1.ends_with("src/lib.rs") && app[0].2 == 15, "{name}");
        if name != "rust-tracing-debug.txt" {
            assert_eq!(t.message, "attempt to divide by zero", "{name}");
        }
    }
}

#[test]
fn origins_of_std_registry_git_and_vendored_paths() {
    for (path, origin) in [
        ("/rustc/59807616e1fa/library/core/src/panicking.rs", FrameOrigin::Std),
        (
            "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/option.rs",
            FrameOrigin::Std,
        ),
        (
            "/usr/local/cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.35.1/src/runtime/park.rs",
            FrameOrigin::Dependency,
        ),
        (
            "~/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/chrono-0.4.45/src/lib.rs",
            FrameOrigin::Dependency,
        ),
        ("/opt/ch/registry/src/index.crates.io-1949cf8c6b5b557f/x-1.0.0/src/lib.rs", FrameOrigin::Dependency),
        ("/home/u/.cargo/git/checkouts/h2-3a0b6a2e2b5a7c1d/1f2d3a4/src/lib.rs", FrameOrigin::Dependency),
        ("vendor/serde/src/de.rs", FrameOrigin::Dependency),
        ("C:\\Users\\dev\\svc\\src\\main.rs", FrameOrigin::InApp),
        ("./src/main.rs", FrameOrigin::InApp),
    ] {
        assert_eq!(origin_of(path, "app::f"), origin, "{path}");
    }
}
