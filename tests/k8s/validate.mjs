// validate.mjs — checks Kubernetes manifests against the Kubernetes API's own schemas
// (kubernetes-models: the OpenAPI definitions compiled to validators) and extracts what the
// agent itself must check (ConfigMap files) for the calling script.
//
// Usage: node validate.mjs OUT_DIR MANIFEST.yaml...
// For each document: apiVersion/kind must be a known API type and the object must validate
// (required fields, types, enums). Every ConfigMap key ending in .json is written to
// OUT_DIR/<configmap>/<key> for sponged --check / spongectl validate. Prints one line per object;
// exits 1 on the first class of error, with the JSON path the schema names.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

const [outDir, ...files] = process.argv.slice(2);
if (!outDir || files.length === 0) {
  console.error("usage: node validate.mjs OUT_DIR MANIFEST.yaml...");
  process.exit(2);
}

// apiVersion "apps/v1" → module "kubernetes-models/apps/v1/DaemonSet"; core "v1" → "v1/Service".
async function modelFor(apiVersion, kind) {
  const path = `kubernetes-models/${apiVersion}/${kind}`;
  try {
    const mod = await import(path);
    return mod[kind];
  } catch {
    return null;
  }
}

let failures = 0;
const seen = [];
for (const file of files) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      console.error(`${file}: YAML error: ${doc.errors[0].message}`);
      failures++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    const where = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    const Model = await modelFor(obj.apiVersion, obj.kind);
    if (!Model) {
      console.error(`${where}: unknown apiVersion/kind ${obj.apiVersion}/${obj.kind}`);
      failures++;
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (e) {
      console.error(`${where}: ${e.message}`);
      failures++;
      continue;
    }
    if (obj.kind === "ConfigMap") {
      const dir = join(outDir, obj.metadata.name);
      mkdirSync(dir, { recursive: true });
      for (const [key, value] of Object.entries(obj.data ?? {}))
        if (key.endsWith(".json")) writeFileSync(join(dir, key), value);
    }
    seen.push(obj);
    console.log(`${where}: valid ${obj.apiVersion} ${obj.kind}`);
  }
}
writeFileSync(join(outDir, "objects.json"), JSON.stringify(seen));
process.exit(failures ? 1 : 0);
