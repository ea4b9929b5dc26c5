// Reads a git-style config and an npmrc, as a CLI's config layer would.
const ini = require(process.env.EVAL_REPO)

const files = [
  '; npmrc\nregistry=https://registry.example\nstrict-ssl=false\n',
  '[server]\nhost = example.com\nport = 8080\n[server.tls]\nenabled = true\nflag\n',
  '[a.b\\.c]\nlist[] = 1\nlist[] = 2\n',
]
for (const text of files) {
  const cfg = ini.parse(text)
  console.log(JSON.stringify(cfg), '->', JSON.stringify(ini.stringify(cfg)))
}
