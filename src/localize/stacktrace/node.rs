//! Node.js errors: `TypeError: message` followed by `    at fn (/path/file.js:L:C)` or
//! `    at /path/file.js:L:C` frames, innermost first; `file://` URLs for ES modules; async
//! frames (`at async fn (…)`, `at async Promise.all (index 1)`); frames without a file
//! (`at JSON.parse (<anonymous>)`) and `... N lines matching cause stack trace ...` skipped.
//! An error's `[cause]: …` block is its root cause: its frames are the trace's, the wrapper
//! is kept as the chain. The uncaught-exception banner (`/app/x.js:12`, the code line and a
//! `^` marker) may precede it.

use super::{ChainedException, Frame, FrameOrigin, ParsedTrace, TraceError, TraceLanguage};
use regex::Regex;
use std::sync::OnceLock;

struct Res {
    header: Regex,
    named: Regex,
    bare: Regex,
}

fn res() -> &'static Res {
    static RES: OnceLock<Res> = OnceLock::new();
    RES.get_or_init(|| Res {
        header: Regex::new(
            r"^(?:Uncaught )?(?P<exc>[A-Z]\w*(?:Error|Exception)|Error)(?: \[\w+\])?: (?P<msg>.*)$",
        )
        .expect("static regex compiles"),
        named: Regex::new(
            r"^\s+at (?:async )?(?P<func>.+?) \((?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\)(?: \{)?\s*$",
        )
        .expect("static regex compiles"),
        bare: Regex::new(
            r"^\s+at (?:async )?(?P<file>[^ ()]+?):(?P<line>\d+):(?P<col>\d+)(?: \{)?\s*$",
        )
        .expect("static regex compiles"),
    })
}

/// Whether the text holds a Node.js stack.
pub(crate) fn looks_like(text: &str) -> bool {
    let r = res();
    text.lines().any(|l| {
        let file = r
            .named
            .captures(l)
            .or_else(|| r.bare.captures(l))
            .map(|c| c["file"].to_string());
        file.is_some_and(|f| {
            [".js", ".mjs", ".cjs", ".ts"]
                .iter()
                .any(|e| f.ends_with(e))
                || f.starts_with("node:")
        })
    })
}

pub fn parse(text: &str) -> Result<ParsedTrace, TraceError> {
    let r = res();
    // (exception, message, frames) per error; a `[cause]:` starts the next one.
    let mut chain: Vec<(String, String, Vec<Frame>)> =
        vec![("Error".into(), String::new(), Vec::new())];
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        let t = line.trim_start();
        let link = chain.len() - 1;
        if let Some(c) = r.named.captures(line) {
            chain[link]
                .2
                .push(frame(&c["file"], &c["line"], &c["col"], &c["func"]));
        } else if let Some(c) = r.bare.captures(line) {
            chain[link]
                .2
                .push(frame(&c["file"], &c["line"], &c["col"], "<anonymous>"));
        } else if t.starts_with("at ") || t.starts_with("... ") {
            // An async or native frame without a file, or elided frames.
        } else if let Some(cause) = t.strip_prefix("[cause]: ") {
            let (exc, msg) = match r.header.captures(cause) {
                Some(c) => (c["exc"].to_string(), c["msg"].to_string()),
                None => ("Error".to_string(), cause.to_string()),
            };
            chain.push((exc, msg, Vec::new()));
        } else if chain[link].2.is_empty() {
            if let Some(c) = r.header.captures(t) {
                chain[link].0 = c["exc"].to_string();
                chain[link].1 = c["msg"].to_string();
            }
        } else if chain.len() == 1 && !t.starts_with('}') && !t.contains(": ") {
            break; // the first stack only
        }
    }
    chain.retain(|l| !l.2.is_empty());
    let Some((exception, message, frames)) = chain.pop() else {
        return Err(TraceError::NoFrames {
            language: TraceLanguage::Node,
        });
    };
    let chained = chain
        .into_iter()
        .rev()
        .map(|(exception, message, frames)| ChainedException {
            exception,
            message,
            frames,
        })
        .collect();
    Ok(ParsedTrace {
        language: TraceLanguage::Node,
        exception,
        message,
        frames,
        panic_location: None,
        chained,
    })
}

fn frame(file: &str, line: &str, col: &str, func: &str) -> Frame {
    let file = file.strip_prefix("file://").unwrap_or(file);
    Frame {
        origin: origin_of(file),
        file: file.to_string(),
        line: line.parse().unwrap_or(0),
        column: col.parse().ok(),
        function: func.strip_prefix("new ").unwrap_or(func).to_string(),
        code: None,
        highlight: None,
    }
}

/// Node's own modules (`node:internal/…`) and `node_modules` are not the service's code.
pub(crate) fn origin_of(file: &str) -> FrameOrigin {
    if file.starts_with("node:") || file.starts_with("internal/") || !file.contains('/') {
        FrameOrigin::Std
    } else if file.contains("/node_modules/") {
        FrameOrigin::Dependency
    } else {
        FrameOrigin::InApp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPRESS: &str = "/app/src/routes/users.js:14
  const domain = user.profile.email.split('@')[1];
                              ^

TypeError: Cannot read properties of undefined (reading 'email')
    at getDomain (/app/src/routes/users.js:14:31)
    at /app/src/routes/users.js:22:20
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)
    at next (/app/node_modules/express/lib/router/route.js:149:13)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)

Node.js v20.11.1
";

    #[test]
    fn express_handler() {
        assert!(looks_like(EXPRESS));
        let t = parse(EXPRESS).unwrap();
        assert_eq!(t.exception, "TypeError");
        assert_eq!(
            t.message,
            "Cannot read properties of undefined (reading 'email')"
        );
        assert_eq!(t.frames.len(), 5);
        assert_eq!(t.frames[0].function, "getDomain");
        assert_eq!((t.frames[0].line, t.frames[0].column), (14, Some(31)));
        assert_eq!(t.frames[1].function, "<anonymous>");
        assert_eq!(t.frames[2].origin, FrameOrigin::Dependency);
        assert_eq!(t.frames[4].origin, FrameOrigin::Std);
    }

    #[test]
    fn esm_file_urls_and_async_frames() {
        let t = parse(
            "TypeError: x is not a function\n    at async main (file:///srv/app/index.mjs:5:3)\n",
        )
        .unwrap();
        assert_eq!(t.frames[0].file, "/srv/app/index.mjs");
        assert_eq!(t.frames[0].function, "main");
        assert_eq!(t.frames[0].origin, FrameOrigin::InApp);
    }
}
