//! Go panics and goroutine dumps: `panic: …` (or `fatal error: …`), then `goroutine N [state]:`
//! blocks of `function(args)` lines each followed by a tab-indented `/path/file.go:LINE +0x…`.
//! With `GOTRACEBACK=all` (or a SIGQUIT dump) every goroutine is printed; the one that
//! panicked is the `[running]` one after the `panic:` line (the first printed, when none is
//! marked). Its frames are printed innermost first.

use super::{Frame, FrameOrigin, ParsedTrace, TraceError, TraceLanguage};
use regex::Regex;
use std::sync::OnceLock;

struct Res {
    panic: Regex,
    goroutine: Regex,
    location: Regex,
}

fn res() -> &'static Res {
    static RES: OnceLock<Res> = OnceLock::new();
    RES.get_or_init(|| Res {
        panic: Regex::new(r"^(?:panic|fatal error): (?P<msg>.*)$").expect("static regex compiles"),
        goroutine: Regex::new(r"^goroutine \d+(?: [^\[]*)?\[(?P<state>[^\]]*)\]:\s*$")
            .expect("static regex compiles"),
        location: Regex::new(r"^\s+(?P<file>\S+\.(?:go|s)):(?P<line>\d+)(?: \+0x[0-9a-f]+)?\s*$")
            .expect("static regex compiles"),
    })
}

/// Whether the text holds a Go panic or goroutine dump.
pub(crate) fn looks_like(text: &str) -> bool {
    let r = res();
    text.lines().any(|l| r.goroutine.is_match(l.trim_end()))
        && text.lines().any(|l| r.location.is_match(l.trim_end()))
}

/// Parses the panic and the stack of the goroutine that raised it.
pub fn parse(text: &str) -> Result<ParsedTrace, TraceError> {
    let r = res();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut message = String::new();
    let mut exception = "panic".to_string();
    let mut panic_at = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = r.panic.captures(line) {
            exception = line.split(':').next().unwrap_or("panic").to_string();
            message = c["msg"].trim_end_matches(" [recovered]").to_string();
            panic_at = Some(i);
            break;
        }
    }
    let headers: Vec<(usize, bool)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let c = r.goroutine.captures(l)?;
            Some((i, c["state"].starts_with("running")))
        })
        .collect();
    let after_panic = |i: usize| panic_at.is_none_or(|p| i > p);
    let chosen = headers
        .iter()
        .find(|(i, running)| *running && after_panic(*i))
        .or_else(|| headers.iter().find(|(i, _)| after_panic(*i)))
        .or_else(|| headers.first())
        .map(|(i, _)| *i);
    let mut frames = Vec::new();
    let mut i = chosen.map_or(0, |h| h + 1);
    while i + 1 < lines.len() {
        if r.goroutine.is_match(lines[i]) || lines[i].trim().is_empty() && !frames.is_empty() {
            break; // only the goroutine that panicked
        }
        if let Some(at) = r.location.captures(lines[i + 1]) {
            let function = strip_args(lines[i].trim());
            frames.push(Frame {
                file: at["file"].to_string(),
                line: at["line"].parse().unwrap_or(0),
                column: None,
                origin: origin_of(&at["file"], &function),
                function,
                code: None,
                highlight: None,
            });
            i += 2;
        } else {
            i += 1;
        }
    }
    if frames.is_empty() {
        return Err(TraceError::NoFrames {
            language: TraceLanguage::Go,
        });
    }
    Ok(ParsedTrace {
        language: TraceLanguage::Go,
        exception,
        message,
        frames,
        panic_location: None,
        chained: Vec::new(),
    })
}

/// `main.(*Server).handle(0xc000010000, {0x0, 0x0})` → `main.(*Server).handle`.
fn strip_args(line: &str) -> String {
    let line = line.strip_prefix("created by ").unwrap_or(line);
    let line = line.split(" in goroutine ").next().unwrap_or(line);
    match line.rfind('(') {
        Some(open) if line.ends_with(')') || line.ends_with("...)") => line[..open].to_string(),
        _ => line.to_string(),
    }
}

/// GOROOT and the module cache are not the service's code.
pub(crate) fn origin_of(path: &str, function: &str) -> FrameOrigin {
    let p = path.replace('\\', "/");
    if p.contains("/go/src/") && !p.contains("/go/src/github.com/")
        || p.contains("/usr/local/go/")
        || p.contains("/usr/lib/go/")
        || p.contains("/usr/lib/go-")
        || p.contains("/goroot/src/")
        || p.contains("/libexec/src/")
        || function.starts_with("runtime.")
        || function.starts_with("net/http.")
    {
        FrameOrigin::Std
    } else if p.contains("/pkg/mod/") || p.contains("/vendor/") {
        FrameOrigin::Dependency
    } else {
        FrameOrigin::InApp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIL: &str = "panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x10 pc=0x6b8e2a]

goroutine 34 [running]:
github.com/acme/orders/internal/api.(*Handler).GetOrder(0xc0001a2000, {0x7f3c48, 0xc0002b4000}, 0xc0002a6100)
\t/app/internal/api/orders.go:57 +0x8a
net/http.HandlerFunc.ServeHTTP(0xc000120480?, {0x7f3c48?, 0xc0002b4000?}, 0x0?)
\t/usr/local/go/src/net/http/server.go:2166 +0x29
github.com/gorilla/mux.(*Router).ServeHTTP(0xc0001c6000, {0x7f3c48, 0xc0002b4000}, 0xc0002a6000)
\t/root/go/pkg/mod/github.com/gorilla/mux@v1.8.1/mux.go:212 +0x1c5
net/http.serverHandler.ServeHTTP({0xc0001a4090?}, {0x7f3c48?, 0xc0002b4000?}, 0x6?)
\t/usr/local/go/src/net/http/server.go:3137 +0x8e
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4

goroutine 1 [IO wait]:
internal/poll.runtime_pollWait(0x7f1d2c6a5e28, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:345 +0x85
";

    const INDEX: &str = "panic: runtime error: index out of range [3] with length 3

goroutine 1 [running]:
main.pick(...)
\t/home/dev/svc/main.go:9
main.main()
\t/home/dev/svc/main.go:14 +0x1d
exit status 2
";

    #[test]
    fn nil_dereference_in_a_handler() {
        assert!(looks_like(NIL));
        let t = parse(NIL).unwrap();
        assert_eq!(
            t.message,
            "runtime error: invalid memory address or nil pointer dereference"
        );
        assert_eq!(
            t.frames.len(),
            5,
            "only the panicking goroutine: {:?}",
            t.frames
        );
        assert_eq!(
            t.frames[0].function,
            "github.com/acme/orders/internal/api.(*Handler).GetOrder"
        );
        assert_eq!(
            (t.frames[0].file.as_str(), t.frames[0].line),
            ("/app/internal/api/orders.go", 57)
        );
        assert_eq!(t.frames[0].origin, FrameOrigin::InApp);
        assert_eq!(t.frames[1].origin, FrameOrigin::Std);
        assert_eq!(t.frames[2].origin, FrameOrigin::Dependency);
        assert_eq!(t.frames[4].function, "net/http.(*Server).Serve");
    }

    #[test]
    fn index_out_of_range_with_inlined_frames() {
        let t = parse(INDEX).unwrap();
        assert!(t.message.starts_with("runtime error: index out of range"));
        assert_eq!(t.frames[0].function, "main.pick");
        assert_eq!(t.frames[0].line, 9);
        assert_eq!(t.frames[1].function, "main.main");
    }

    #[test]
    fn goroutine_dump_without_a_panic() {
        let dump = "goroutine 7 [chan receive, 5 minutes]:\nmain.worker(0xc000010000)\n\t/src/w.go:20 +0x3c\n";
        let t = parse(dump).unwrap();
        assert_eq!(t.message, "");
        assert_eq!(t.frames[0].function, "main.worker");
    }
}
