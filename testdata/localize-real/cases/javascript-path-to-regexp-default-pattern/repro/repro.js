// Builds and matches the routes of a small web app, as a router would.
const { match, compile } = require(process.env.EVAL_REPO)

const routes = ['/users/:id', '/files/:path*', '/shop{/:category}?/items']
for (const route of routes) {
  const m = match(route, { decode: decodeURIComponent })
  console.log(route, JSON.stringify(m('/users/42')), JSON.stringify(m('/files/a/b.txt')))
}
const toPath = compile('/users/:id/posts/:post')
console.log(toPath({ id: 42, post: 'hello' }))
