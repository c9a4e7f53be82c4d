// The declarations and the module must name the same values: a function added to broker.js
// without a type (or a type left behind after a rename) fails here, which tsc cannot see.
import { readFile } from "node:fs/promises";

const module = await import("../../static/broker.js");
const declarations = await readFile(new URL("../../static/broker.d.ts", import.meta.url), "utf8");
const declared = [...declarations.matchAll(/^export declare (?:class|function|const|let) (\w+)/gm)].map((m) => m[1]).sort();
const exported = Object.keys(module).sort();
if (JSON.stringify(declared) !== JSON.stringify(exported)) {
  console.error(`broker.d.ts declares ${declared.join(", ")}\nbroker.js exports ${exported.join(", ")}`);
  process.exit(1);
}
console.log(`broker.d.ts declares every value broker.js exports: ${exported.join(", ")}`);
