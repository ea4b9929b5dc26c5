// Renders README snippets to HTML, as a package index page would.
const { marked } = require(process.env.EVAL_REPO)

const docs = [
  'plain *text* with a [link](https://example.com "t") and `code`',
  '| a | b |\n|---|--:|\n| 1 | 2 |\n|   |\n',
  '# Install\n\n```sh\nnpm i demo\n```\n\n- one\n- two\n',
]
for (const md of docs) {
  console.log(marked.parse(md, { mangle: false, headerIds: true }))
}
