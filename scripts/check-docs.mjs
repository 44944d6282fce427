// Docs that stay true: every backend type in the registry record
// (src/backends/registry.ts) has a row in the backend table of docs/models.md, so a new
// backend cannot ship undocumented. Run by `npm run lint`. It reads both files
// as text and imports nothing from src/ (the docs are not readable from the
// workerd tests, and this needs no build).
import { readFileSync } from "node:fs";

const read = (path) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
const fail = (message) => {
  console.error(`check-docs: ${message}`);
  process.exit(1);
};

const record = read("src/backends/registry.ts").match(/export const backends = \{([^}]*)\}/);
if (!record) fail("no `export const backends = { ... }` record in src/backends/registry.ts");
const types = [...record[1].matchAll(/^\s*(\w+)\s*[:,]/gm)].map((m) => m[1]);

// The table whose header row starts with `| backend_type |`; its rows start with `| \`type\``.
const table = read("docs/models.md").match(/^\| backend_type\b.*\n(?:\|.*(?:\n|$))*/m);
if (!table) fail("no table with a `backend_type` header column in docs/models.md");
const documented = new Set([...table[0].matchAll(/^\|\s*`(\w+)`/gm)].map((m) => m[1]));

const missing = types.filter((type) => !documented.has(type));
if (types.length === 0 || missing.length > 0) {
  fail(
    `docs/models.md's backend table has no row for ${missing.join(", ") || "any backend"}; src/backends/registry.ts registers ${types.join(", ")}.`,
  );
}
