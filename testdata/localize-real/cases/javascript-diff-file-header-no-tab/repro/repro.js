// Makes a patch between two config versions and applies it, as a config-sync tool would; the
// second patch comes from another tool without tab-separated timestamps.
const Diff = require(process.env.EVAL_REPO)

const before = 'a = 1\nb = 2\nc = 3\n'
const after = 'a = 1\nb = 20\nc = 3\nd = 4\n'
const patch = Diff.createTwoFilesPatch('app.conf', 'app.conf', before, after, 'old', 'new')
console.log(patch)
console.log(Diff.applyPatch(before, patch) === after)
const foreign = '--- app.conf\n+++ app.conf\n@@ -1,3 +1,3 @@\n a = 1\n-b = 2\n+b = 3\n c = 3\n'
console.log(JSON.stringify(Diff.parsePatch(foreign)[0].hunks[0]))
