//! Java and Kotlin stack traces: `pkg.Exception: message`, `\tat pkg.Class.method(File.java:N)`
//! frames, `Caused by:` chains and `... N more` elisions. The root cause (the last `Caused by`)
//! is where the fault started, so its frames are the ones kept.

use super::{Frame, FrameOrigin, ParsedTrace, TraceError, TraceLanguage};
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
pub fn looks_like(text: &str) -> bool {
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
    // (exception, message, frames) per link of the cause chain.
    let mut chain: Vec<(String, String, Vec<Frame>)> = Vec::new();
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(c) = r.frame.captures(line) {
            if let Some(frame) = frame(&c["func"], &c["loc"]) {
                match chain.last_mut() {
                    Some(link) => link.2.push(frame),
                    None => chain.push((String::new(), String::new(), vec![frame])),
                }
            }
        } else if let Some(c) = r.header.captures(line.trim_start()) {
            // A `Suppressed:` block belongs to the link before it; a new header starts a link.
            chain.push((
                c["exc"].to_string(),
                c.name("msg").map_or("", |m| m.as_str()).to_string(),
                Vec::new(),
            ));
        }
    }
    let Some((exception, message, frames)) = chain.into_iter().rev().find(|l| !l.2.is_empty())
    else {
        return Err(TraceError::NoFrames {
            language: TraceLanguage::Java,
        });
    };
    Ok(ParsedTrace {
        language: TraceLanguage::Java,
        exception,
        message,
        frames,
    })
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
pub fn origin_of(function: &str) -> FrameOrigin {
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
        assert_eq!(t.frames.len(), 4);
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
