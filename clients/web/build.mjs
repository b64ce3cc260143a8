// Builds the app into dist/: one hashed JS bundle and one hashed CSS file, index.html, the
// web app manifest and icons, and a service worker that precaches exactly those files.
// Everything the app needs at run time is in dist/; nothing is fetched from a CDN.
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL(".", import.meta.url));
const dist = join(root, "dist");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "assets"), { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: join(root, "src/main.jsx") },
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome120", "firefox128", "safari17"],
  minify: true,
  sourcemap: "linked",
  outdir: join(dist, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  jsx: "automatic",
  jsxImportSource: "preact",
  loader: { ".svg": "file" },
  define: {
    "process.env.NODE_ENV": '"production"',
    global: "globalThis",
    __APP_VERSION__: JSON.stringify(pkg.version),
  },
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => relative(dist, join(process.cwd(), p)));
const js = outputs.find((p) => /^assets\/app-.*\.js$/.test(p));
const css = outputs.find((p) => /^assets\/app-.*\.css$/.test(p));
if (!js || !css) throw new Error(`bundle outputs missing: ${outputs.join(", ")}`);

cpSync(join(root, "public"), dist, { recursive: true });

const html = readFileSync(join(root, "index.html"), "utf8")
  .replace("%APP_JS%", js)
  .replace("%APP_CSS%", css);
writeFileSync(join(dist, "index.html"), html);

// The service worker precaches the app shell: every file in dist except source maps, licence
// texts and the worker itself. Its version is a hash of their contents, so any change installs
// a new worker and replaces the old cache.
function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}
const shell = files(dist)
  .map((p) => relative(dist, p))
  .filter((p) => !p.endsWith(".map") && !p.endsWith(".LEGAL.txt") && p !== "sw.js")
  .sort();
const digest = createHash("sha256");
for (const p of shell) digest.update(p).update(readFileSync(join(dist, p)));
const version = digest.digest("hex").slice(0, 16);
const precache = ["./", ...shell.filter((p) => p !== "index.html")];
const sw = readFileSync(join(root, "src/sw.js"), "utf8")
  .replace("__SW_VERSION__", version)
  .replace("__PRECACHE__", JSON.stringify(precache));
writeFileSync(join(dist, "sw.js"), sw);

const size = (p) => (statSync(join(dist, p)).size / 1024).toFixed(0);
console.log(`built dist/ (shell ${version}): ${js} ${size(js)} KiB, ${css} ${size(css)} KiB`);
