// Copies the API reference's browser bundle (swagger-ui-dist, a devDependency pinned in package.json)
// into public/vendor/swagger-ui/, where the Worker's static assets serve it: /docs then works with no
// internet and `wrangler dev` / `wrangler deploy` need no build step. The copies are committed; run
// this again (`npm run vendor:docs`) after changing the swagger-ui-dist version.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(root, "package.json"));
const source = path.dirname(require.resolve("swagger-ui-dist/package.json"));
const { version } = JSON.parse(readFileSync(path.join(source, "package.json"), "utf8"));
const target = path.join(root, "public", "vendor", "swagger-ui");

// The bundle (UI + its dependencies), its stylesheet, and the licences that must travel with them.
const files = ["swagger-ui-bundle.js", "swagger-ui-bundle.js.LICENSE.txt", "swagger-ui.css", "LICENSE", "NOTICE"];

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
for (const file of files) copyFileSync(path.join(source, file), path.join(target, file));
writeFileSync(path.join(target, "VERSION"), `swagger-ui-dist ${version}\n`);
console.log(`copied swagger-ui-dist ${version} (${files.length} files) to ${path.relative(root, target)}/`);
