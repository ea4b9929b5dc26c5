//! A service that logs panics through tracing (a common production setup).
fn install(mode: &str) {
    let json = mode == "json";
    let debug = mode == "debug";
    if json {
        tracing_subscriber::fmt().json().init();
    } else {
        tracing_subscriber::fmt().with_ansi(true).init();
    }
    std::panic::set_hook(Box::new(move |info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        if debug {
            tracing::error!(panic = ?info, backtrace = ?backtrace, "request handler panicked");
        } else {
            tracing::error!(panic = %info, backtrace = %backtrace, "request handler panicked");
        }
    }));
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    install(&mode);
    tracing::info!("listening on 0.0.0.0:8080");
    let ids: Vec<u64> = Vec::new();
    let h = std::thread::Builder::new()
        .name("tokio-runtime-worker".into())
        .spawn(move || rustdemo::stats::mean(&ids))
        .unwrap();
    let _ = h.join();
}
