#!/usr/bin/env node
/**
 * Prints which folders of src/ import which at runtime, and fails when folders
 * import each other in a loop. Type-only imports are left out: they vanish from
 * the bundle and cannot form a loop at runtime. Also fails when any file but
 * the tenant client (src/tenants/client.ts) reads the `TENANTS` binding: the
 * client is the one door to a tenant's Durable Object.
 *
 *   node scripts/import-graph.mjs          # loops only (run by `npm run lint`)
 *   node scripts/import-graph.mjs --graph  # every folder -> folder edge too
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(process.argv.find((a) => !a.startsWith("-") && a !== process.argv[0] && a !== process.argv[1]) ?? "src");

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.ts$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Relative module specifiers this file needs at runtime. */
function runtimeImports(path) {
  const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, false);
  const specifiers = [];
  for (const node of source.statements) {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      if (clause?.isTypeOnly) continue;
      const named = clause?.namedBindings;
      const allTypes =
        clause && !clause.name && named && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      if (!allTypes) specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && !node.isTypeOnly) {
      specifiers.push(node.moduleSpecifier.text);
    }
  }
  return specifiers.filter((s) => s.startsWith("."));
}

/** The folder a file belongs to: its first path segment under src/ (a file at the top stands for itself). */
function folderOf(path) {
  const parts = relative(root, path).split("/");
  return parts.length > 1 ? `${parts[0]}/` : parts[0];
}

function resolveModule(from, specifier) {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, join(base, "index.ts")]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

const edges = new Map();
const all = files(root);
for (const file of all) {
  const from = folderOf(file);
  for (const specifier of runtimeImports(file)) {
    const target = resolveModule(file, specifier);
    if (!target || !target.startsWith(root)) continue;
    const to = folderOf(target);
    if (to === from) continue;
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from).add(to);
  }
}

// Tarjan's strongly connected components: each component of 2+ folders is a loop.
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const loops = [];
let counter = 0;
function visit(v) {
  index.set(v, counter);
  low.set(v, counter);
  counter += 1;
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!index.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) loops.push(component.sort());
  }
}
const folders = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])])].sort();
for (const folder of folders) if (!index.has(folder)) visit(folder);

if (process.argv.includes("--graph")) {
  for (const folder of folders) console.log(`${folder} -> ${[...(edges.get(folder) ?? [])].sort().join(", ")}`);
}
for (const loop of loops) console.log(`import loop between folders: ${loop.join(" <-> ")}`);
console.log(`${loops.length} folder loops (runtime imports, ${all.length} files in ${relative(process.cwd(), root) || "."})`);

// The one door: only the tenant client holds a tenant's Durable Object stub.
const DOOR = join(root, "tenants", "client.ts");
const sideDoors = all.filter((file) => file !== DOOR && /\bTENANTS\b/.test(readFileSync(file, "utf8")));
for (const file of sideDoors)
  console.log(`${relative(process.cwd(), file)} reads the TENANTS binding: reach the tenant's Durable Object through src/tenants/client.ts`);
process.exit(loops.length > 0 || sideDoors.length > 0 ? 1 : 0);
