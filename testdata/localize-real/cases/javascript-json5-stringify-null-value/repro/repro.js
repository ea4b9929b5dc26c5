// Reads hand-edited JSON5 settings and writes them back, as an editor plugin would. A
// SyntaxError from JSON5 is the expected rejection of a bad file.
const JSON5 = require(process.env.EVAL_REPO)

const files = ["{name: 'demo', port: 8080, tags: ['a', 'b',], /* c */ nested: {x: .5}}", "[1, 2", '{"a": null}']
for (const text of files) {
  try {
    const value = JSON5.parse(text)
    console.log('parsed', value, '->', JSON5.stringify(value, null, 2))
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e
    console.log('rejected:', e.message)
  }
}
