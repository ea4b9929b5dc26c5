"""Renders documentation pages with a table of contents, as a static site generator would."""
import markdown

pages = [
    "# Intro\n\ntext\n\n## Setup\n\n## Usage\n\n# Reference\n",
    "# A_\n\n# A_\n\n# A_\n",
    "# Top\n### Deep\n## Mid\n# Next\n",
]
for text in pages:
    md = markdown.Markdown(extensions=["toc", "tables", "fenced_code"])
    html = md.convert(text)
    print(len(html), [t["id"] for t in md.toc_tokens])
