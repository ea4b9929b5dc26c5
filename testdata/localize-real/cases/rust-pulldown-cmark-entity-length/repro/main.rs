// Renders a handful of small Markdown documents (lists, entities, fences, tables, headings,
// links) to HTML with all extensions on, as a site generator would.
use pulldown_cmark::{html, Options, Parser};

const DOCS: &[&str] = &[
    "# Title\n\nSome *emphasis* and `code` &amp; &#65; &#x42; &copy;\n",
    "1. one\n2. two\n   - nested\n\n10) ten\n",
    "```rust\nfn main() {}\n```\n\n~~~\nplain\n~~~\n",
    "| a | b |\n|:--|--:|\n| 1 | 2 |\n| 3 | 4 |\n",
    "Heading\n=======\n\nSub\n---\n",
    "[link](http://example.com \"title\") <http://auto.link> ![img](a.png)\n",
    "> quote\n> more\n\n- [ ] task\n- [x] done\n",
    "Footnote[^1].\n\n[^1]: the note\n",
    "text with trailing entity &#x1F600;",
    "1.\n",
    "***\n___\n",
    "2.",
    "Sub\n-",
    "```",
    "para\n\n***",
    "```\ncode\n```",
];

fn main() {
    let opts = Options::all();
    for doc in DOCS {
        let mut out = String::new();
        html::push_html(&mut out, Parser::new_ext(doc, opts));
        println!("{}", out.len());
    }
}
