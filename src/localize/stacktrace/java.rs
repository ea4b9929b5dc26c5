//! Java and Kotlin stack traces: `pkg.Exception: message`, `\tat pkg.Class.method(File.java:N)`
//! frames, `Caused by:` chains and `... N more` elisions (the last N frames of the exception
//! printed before, restored), `Suppressed:` blocks (left out). The root cause (the last
//! `Caused by`) is where the fault started, so its frames are the trace's; the wrappers are
//! kept as the chain.

use super::{ChainedException, Frame, FrameOrigin, ParsedTrace, TraceError, TraceLanguage};
use regex::Regex;
use std::sync::OnceLock;

struct Res {
    header: Regex,
    frame: Regex,
}

fn res() -> &'static Res {
    static RES: OnceLock<Res> = OnceLock::new();
    RES.get_or_init(|| Res {
        header: Regex::new(
            r"^(?:Exception in thread .*? |Caused by: )?(?P<exc>[a-zA-Z_$][\w$]*(?:\.[\w$]+)*(?:Exception|Error|Throwable|Failure))(?:: (?P<msg>.*))?$",
        )
        .expect("static regex compiles"),
        frame: Regex::new(
            r"^\s+at (?:[\w.$/@-]+/)?(?P<func>[\w$.<>-]+)\((?P<loc>[^)]*)\)(?: ~?\[.*\])?\s*$",
        )
        .expect("static regex compiles"),
    })
}

/// Whether the text holds a Java or Kotlin stack trace.
pub(crate) fn looks_like(text: &str) -> bool {
    let r = res();
    text.lines().any(|l| {
        r.frame.captures(l).is_some_and(|c| {
            let loc = &c["loc"];
            loc.contains(".java:")
                || loc.contains(".kt:")
                || loc == "Native Method"
                || loc == "Unknown Source"
        })
    })
}

/// Parses the trace; frames come from the innermost cause.
pub fn parse(text: &str) -> Result<ParsedTrace, TraceError> {
    let r = res();
    let more = more_re();
    // (exception, message, frames) per link of the cause chain.
    let mut chain: Vec<(String, String, Vec<Frame>)> = Vec::new();
    // The indentation of a `Suppressed:` block being skipped.
    let mut suppressed: Option<usize> = None;
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        let indent = line.len() - line.trim_start().len();
        if let Some(depth) = suppressed {
            if indent > depth || line.trim().is_empty() {
                continue;
            }
            suppressed = None;
        }
        if line.trim_start().starts_with("Suppressed: ") {
            suppressed = Some(indent);
            continue;
        }
        if let Some(c) = r.frame.captures(line) {
            if let Some(frame) = frame(&c["func"], &c["loc"]) {
                match chain.last_mut() {
                    Some(link) => link.2.push(frame),
                    None => chain.push((String::new(), String::new(), vec![frame])),
                }
            }
        } else if let Some(c) = more.captures(line) {
            // `... 3 more`: this link's outermost frames are the previous link's last 3.
            let n: usize = c["n"].parse().unwrap_or(0);
            let k = chain.len();
            if k >= 2 {
                let prev = &chain[k - 2].2;
                let tail: Vec<Frame> = prev[prev.len().saturating_sub(n)..].to_vec();
                chain[k - 1].2.extend(tail);
            }
        } else if let Some(c) = r.header.captures(line.trim_start()) {
            chain.push((
                c["exc"].to_string(),
                c.name("msg").map_or("", |m| m.as_str()).to_string(),
                Vec::new(),
            ));
        }
    }
    chain.retain(|l| !l.2.is_empty());
    let Some((exception, message, frames)) = chain.pop() else {
        return Err(TraceError::NoFrames {
            language: TraceLanguage::Java,
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
        language: TraceLanguage::Java,
        exception,
        message,
        frames,
        panic_location: None,
        chained,
    })
}

fn more_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\s+\.\.\. (?P<n>\d+) more\s*$").expect("static regex compiles"))
}

/// `com.acme.OrderService.total`, `OrderService.java:42` → a frame. The file is printed without
/// its directory; the package gives it back (`com/acme/OrderService.java`), which the suffix
/// match in [`crate::localize::paths`] then finds under `src/main/java/`.
fn frame(func: &str, loc: &str) -> Option<Frame> {
    let (file, line) = loc.rsplit_once(':')?;
    let line: u32 = line.parse().ok()?;
    let class = func.rsplit_once('.').map_or("", |(c, _)| c);
    let package = class.rsplit_once('.').map_or("", |(p, _)| p);
    let path = if package.is_empty() {
        file.to_string()
    } else {
        format!("{}/{file}", package.replace('.', "/"))
    };
    Some(Frame {
        origin: origin_of(func),
        file: path,
        line,
        column: None,
        function: func.to_string(),
        code: None,
        highlight: None,
    })
}

/// The JDK, Kotlin's runtime and the usual frameworks are not the service's code.
pub(crate) fn origin_of(function: &str) -> FrameOrigin {
    const STD: &[&str] = &[
        "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.",
    ];
    const DEPS: &[&str] = &[
        "org.springframework.",
        "org.apache.",
        "io.netty.",
        "org.eclipse.",
        "com.fasterxml.",
        "org.hibernate.",
        "io.micronaut.",
        "io.ktor.",
        "reactor.",
        "com.google.",
    ];
    if STD.iter().any(|p| function.starts_with(p)) {
        FrameOrigin::Std
    } else if DEPS.iter().any(|p| function.starts_with(p)) {
        FrameOrigin::Dependency
    } else {
        FrameOrigin::InApp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAUSED: &str = "2024-05-02 10:11:12.345 ERROR 1 --- [nio-8080-exec-3] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() threw exception
org.springframework.web.util.NestedServletException: Request processing failed; nested exception is java.lang.IllegalStateException: order lookup failed
\tat org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)
\tat org.springframework.web.servlet.FrameworkServlet.doGet(FrameworkServlet.java:898)
\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:655)
Caused by: java.lang.IllegalStateException: order lookup failed
\tat com.acme.orders.OrderController.get(OrderController.java:31)
\t... 3 more
Caused by: java.lang.NullPointerException: Cannot invoke \"com.acme.orders.Customer.getEmail()\" because \"customer\" is null
\tat com.acme.orders.OrderService.notify(OrderService.java:58)
\tat com.acme.orders.OrderService.place(OrderService.java:40)
\tat com.acme.orders.OrderController.get(OrderController.java:29)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)
\t... 3 more
";

    const KOTLIN: &str = "Exception in thread \"main\" java.lang.ArrayIndexOutOfBoundsException: Index 5 out of bounds for length 2
\tat com.acme.cli.ArgsKt.second(Args.kt:7)
\tat com.acme.cli.MainKt.main(Main.kt:12)
";

    #[test]
    fn innermost_cause_with_elided_frames() {
        assert!(looks_like(CAUSED));
        let t = parse(CAUSED).unwrap();
        assert_eq!(t.exception, "java.lang.NullPointerException");
        assert!(t.message.contains("\"customer\" is null"));
        // Four printed, three restored from `... 3 more`.
        assert_eq!(t.frames.len(), 7);
        assert_eq!(
            t.frames[6].function,
            "javax.servlet.http.HttpServlet.service"
        );
        assert_eq!(t.chained[0].exception, "java.lang.IllegalStateException");
        assert_eq!(t.frames[0].function, "com.acme.orders.OrderService.notify");
        assert_eq!(t.frames[0].file, "com/acme/orders/OrderService.java");
        assert_eq!(t.frames[0].line, 58);
        assert_eq!(t.frames[0].origin, FrameOrigin::InApp);
        assert_eq!(t.frames[3].origin, FrameOrigin::Std);
    }

    #[test]
    fn kotlin_main_thread() {
        let t = parse(KOTLIN).unwrap();
        assert_eq!(t.exception, "java.lang.ArrayIndexOutOfBoundsException");
        assert_eq!(t.frames[0].file, "com/acme/cli/Args.kt");
        assert_eq!(t.frames[1].function, "com.acme.cli.MainKt.main");
    }
}
