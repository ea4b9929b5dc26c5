// Validates ServiceMonitor, PrometheusRule and HTTPRoute objects (a JSON array on stdin) with
// the validators the @kubernetes-models packages generate from prometheus-operator's and the
// Gateway API's Go types: types, required fields, enums and patterns (a duration such as
// `30 seconds` fails). They do not refuse unknown fields. Called by validate.py.
//
//   node validate-crds.mjs NODE_MODULES < objects.json
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const nodeModules = resolve(process.argv[2]);
const models = {
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
  "monitoring.coreos.com/v1/PrometheusRule":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule.js",
  "gateway.networking.k8s.io/v1/HTTPRoute":
    "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute.js",
};

const objects = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const obj of objects) {
  const id = `${obj.apiVersion}/${obj.kind}`;
  const name = `${obj.kind}/${obj.metadata?.name}`;
  const file = models[id];
  if (!file) {
    console.log(`FAIL ${name}: no schema for ${id}`);
    failed++;
    continue;
  }
  const module = await import(pathToFileURL(join(nodeModules, file)).href);
  const Model = module[obj.kind];
  try {
    new Model(obj).validate();
    console.log(`ok   ${name} (${file.split("/")[1]} model)`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
