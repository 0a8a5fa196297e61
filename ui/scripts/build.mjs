// Builds the dashboard: the API client generated from the protos (protoc + protoc-gen-es), a
// type check, and one bundle (esbuild), written with index.html and app.css to --out.
//   node scripts/build.mjs --out DIR [--protoc protoc] [--proto ../proto]
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ui = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const out = resolve(args.out ?? join(ui, "dist"));
const protoc = args.protoc ?? "protoc";
const protoRoot = resolve(args.proto ?? join(ui, "..", "proto"));

const gen = join(ui, "src", "gen");
rmSync(gen, { recursive: true, force: true });
mkdirSync(gen, { recursive: true });
const protos = readdirSync(join(protoRoot, "slipway", "v1"))
  .filter((f) => f.endsWith(".proto"))
  .map((f) => join(protoRoot, "slipway", "v1", f));
execFileSync(
  protoc,
  [
    `-I${protoRoot}`,
    `-I${join(protoRoot, "third_party")}`,
    `--plugin=protoc-gen-es=${join(ui, "node_modules", ".bin", "protoc-gen-es")}`,
    `--es_out=${gen}`,
    "--es_opt=target=ts",
    ...protos,
  ],
  { stdio: "inherit" },
);

execFileSync(process.execPath, [join(ui, "node_modules", "typescript", "bin", "tsc"), "-p", ui], { stdio: "inherit" });

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(ui, "src", "main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  outfile: join(out, "app.js"),
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(ui, "index.html"), join(out, "index.html"));
copyFileSync(join(ui, "src", "app.css"), join(out, "app.css"));
console.log(`dashboard built in ${out}`);
