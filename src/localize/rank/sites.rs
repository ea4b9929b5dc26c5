//! From a trace to the places it names in the repository: in-app frames that map to a readable
//! file and an existing line, the panic's location line when no frame reaches it, and the
//! frames of a chained exception. Files are read and parsed once per localization.

use super::super::paths::{line_exists, RepoIndex};
use super::super::source::python::PythonSource;
use super::super::source::rust::RustSource;
use super::super::source::SourceLanguage;
use super::super::stacktrace::{Frame, FrameOrigin, ParsedTrace};
use super::{rust, Origin, Site};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// How far a line may have moved since the trace was taken and still be found by its code.
const DRIFT_WINDOW: u32 = 25;

/// A repository file, read and parsed once.
#[derive(Clone)]
pub(super) struct File {
    pub text: Rc<str>,
    pub python: Option<Rc<PythonSource>>,
    pub rust: Option<Rc<RustSource>>,
}

/// The repository's files as ranking reads them.
pub(super) struct Files {
    repo: PathBuf,
    cache: HashMap<String, Option<File>>,
    texts: HashMap<String, Option<Rc<str>>>,
}

impl Files {
    pub fn new(repo: &Path) -> Self {
        Files {
            repo: repo.to_path_buf(),
            cache: HashMap::new(),
            texts: HashMap::new(),
        }
    }

    /// The file at `rel` (relative to the repository), parsed when its language has a source
    /// reader; `None` when it cannot be read as text.
    pub fn get(&mut self, rel: &str) -> Option<File> {
        if let Some(f) = self.cache.get(rel) {
            return f.clone();
        }
        let file = std::fs::read(self.repo.join(rel)).ok().map(|bytes| {
            let text: Rc<str> = String::from_utf8_lossy(&bytes).into();
            let language = SourceLanguage::of_path(Path::new(rel));
            let python = (language == Some(SourceLanguage::Python))
                .then(|| PythonSource::parse(text.to_string()).ok().map(Rc::new))
                .flatten();
            let rust = (language == Some(SourceLanguage::Rust))
                .then(|| RustSource::parse(text.to_string()).ok().map(Rc::new))
                .flatten();
            File { text, python, rust }
        });
        self.cache.insert(rel.to_string(), file.clone());
        file
    }

    /// The text only, for files that are searched but not analysed (read once).
    pub fn text(&mut self, rel: &str) -> Option<Rc<str>> {
        if let Some(Some(f)) = self.cache.get(rel) {
            return Some(f.text.clone());
        }
        if let Some(t) = self.texts.get(rel) {
            return t.clone();
        }
        let text: Option<Rc<str>> = std::fs::read(self.repo.join(rel))
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).into());
        self.texts.insert(rel.to_string(), text.clone());
        text
    }
}

/// The in-app frames that map to a repository line, innermost first, with the panic's
/// location line inside the first of them when no frame names it.
pub(super) fn stack_sites(files: &mut Files, index: &RepoIndex, trace: &ParsedTrace) -> Vec<Site> {
    let mut sites = Vec::new();
    for (i, frame) in trace.frames.iter().enumerate() {
        if frame.origin != FrameOrigin::InApp {
            continue;
        }
        if let Some(site) = frame_site(files, index, frame, i, 2 * i + 1, Origin::Frame) {
            sites.push(site);
        }
    }
    let in_app =
        |file: &str| crate::localize::stacktrace::rust::origin_of(file, "") == FrameOrigin::InApp;
    if let Some(loc) = trace.panic_location.as_ref().filter(|l| in_app(&l.file)) {
        let frame = Frame {
            file: loc.file.clone(),
            line: loc.line,
            column: loc.column,
            function: "<unknown>".into(),
            code: None,
            origin: FrameOrigin::InApp,
            highlight: None,
        };
        let first_in_app = trace
            .frames
            .iter()
            .position(|f| f.origin != FrameOrigin::Std)
            .unwrap_or(0);
        if let Some(mut site) = frame_site(
            files,
            index,
            &frame,
            first_in_app,
            2 * first_in_app,
            Origin::PanicLine,
        ) {
            let named = sites
                .iter()
                .any(|s| s.file == site.file && s.line == site.line);
            if !named {
                if let Some(f) = site.rust.as_ref().and_then(|r| r.enclosing_fn(site.line)) {
                    site.function = f.qualified_name.clone();
                }
                let at = sites
                    .iter()
                    .position(|s| s.depth > site.depth)
                    .unwrap_or(sites.len());
                sites.insert(at, site);
            }
        }
    }
    sites
}

/// The frames of the chain's other exceptions, after every other place.
pub(super) fn chained_sites(
    files: &mut Files,
    index: &RepoIndex,
    trace: &ParsedTrace,
) -> Vec<Site> {
    let mut out = Vec::new();
    let mut k = 0;
    for link in &trace.chained {
        for frame in link
            .frames
            .iter()
            .filter(|f| f.origin == FrameOrigin::InApp)
        {
            let Some(mut site) = frame_site(files, index, frame, 0, usize::MAX, Origin::Chained)
            else {
                continue;
            };
            site.score = 0.3 * 0.7f64.powi(k);
            site.reasons.push(format!(
                "frame of the chained {}{}",
                link.exception,
                if link.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", super::short(&link.message, 80))
                }
            ));
            out.push(site);
            k += 1;
        }
    }
    out
}

fn frame_site(
    files: &mut Files,
    index: &RepoIndex,
    frame: &Frame,
    frame_index: usize,
    depth: usize,
    origin: Origin,
) -> Option<Site> {
    let file = index.resolve(&frame.file)?;
    let f = files.get(&file)?;
    if !line_exists(&f.text, frame.line) {
        // A line past the end: the path matched the wrong file.
        return None;
    }
    let mut site = Site {
        frame: frame_index,
        depth,
        origin,
        line: frame.line,
        info: None,
        function: frame.function.clone(),
        source: None,
        rust: None,
        none_name: None,
        panic: None,
        in_closure: frame.function.contains("{{closure}}") || frame.function.contains("{closure"),
        score: 0.0,
        factor: 1.0,
        expression: None,
        reasons: Vec::new(),
        file,
    };
    check_drift(&mut site, &f.text, frame.code.as_deref());
    if let Some(src) = f.python {
        site.info = src.enclosing_function(site.line);
        // `<module>`, `<listcomp>`, `<lambda>` name no `def` to compare with.
        let named = !frame.function.starts_with('<');
        match &site.info {
            Some(info) => {
                let same = frame.function == info.name
                    || frame.function == info.qualified_name
                    || frame.function.ends_with(&format!(".{}", info.name));
                if named && !same {
                    site.factor *= 0.7;
                    site.reasons.push(format!(
                        "the trace says `{}` but the line is in `{}` here",
                        frame.function, info.name
                    ));
                }
                site.function = info.qualified_name.clone();
            }
            None if named => site.factor *= 0.8,
            None => {}
        }
        site.source = Some(src);
    } else if let Some(src) = f.rust {
        match src.enclosing_fn(site.line) {
            Some(f) => {
                if !rust::same_fn(&frame.function, f) && frame.function != "<unknown>" {
                    site.factor *= 0.7;
                    site.reasons.push(format!(
                        "the trace says `{}` but the line is in `{}` here",
                        frame.function, f.name
                    ));
                }
                site.function = f.qualified_name.clone();
            }
            None => site.factor *= 0.8,
        }
        site.rust = Some(src);
    }
    Some(site)
}

/// Traces come from deployed code; the repository may have moved on. Find the printed code
/// nearby, or rank the frame lower.
fn check_drift(site: &mut Site, text: &str, code: Option<&str>) {
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let at = |n: u32| lines.get((n as usize).wrapping_sub(1)).map(|l| l.trim());
    if at(site.line) == Some(code) {
        return;
    }
    let found = (1..=DRIFT_WINDOW).find_map(|d| {
        [site.line.checked_add(d), site.line.checked_sub(d)]
            .into_iter()
            .flatten()
            .find(|&n| n > 0 && at(n) == Some(code))
    });
    match found {
        Some(n) => {
            site.reasons.push(format!(
                "the code moved from line {} to {n} since the trace",
                site.line
            ));
            site.line = n;
        }
        None => {
            site.factor *= 0.6;
            site.reasons
                .push("the repository's line differs from the trace's".into());
        }
    }
}
