#!/usr/bin/env node
/**
 * `npm run deploy`: one command from a Cloudflare login to a gateway that serves.
 * It finds out what already exists, then does only what is missing:
 * 1. the Worker secrets ADMIN_TOKEN (the operator token) and SECRETS_KEY (the
 *    key that encrypts tenant secrets), generated when unset and uploaded with
 *    the deploy (`--secrets-file`, a temporary file outside the repository,
 *    removed at once); the operator token is shown once, SECRETS_KEY never;
 * 2. the D1 database and KV namespace: wrangler (>= 4.45) creates bindings that
 *    have no id on the first deploy and finds them again on later ones;
 * 3. the D1 migrations (before the deploy when the database exists, so new
 *    code never meets an old schema; right after the first deploy otherwise);
 * 4. the deploy itself;
 * 5. PUBLIC_URL, set to the deployed workers.dev URL when unset (as a Worker
 *    secret, so later deploys keep it; `PUBLIC_URL=https://… npm run deploy`
 *    sets your own domain instead).
 * Then it prints the MCP URL, the operator token (when it made one) and the next command.
 *
 * Under Workers Builds (the "Deploy to Cloudflare" button runs this script
 * there, with WORKERS_CI set) it generates no secret and prints none: the
 * button's form set them.
 *
 * `npm run deploy -- --dry-run` needs no account: it prints the plan for a
 * fresh account (every wrangler call it would make, secrets elided) and builds
 * the bundle with `wrangler deploy --dry-run`. Extra arguments go to `wrangler deploy`.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const DATABASE = "mcp-gateway";
const args = process.argv.slice(2);
const dryRun = args.includes("--dry-run");
const passThrough = args.filter((arg) => arg !== "--dry-run");

/** One wrangler call; `quiet` keeps its output to ourselves (it is parsed, or only its exit status matters). */
function wrangler(commandArgs, { quiet = false, input } = {}) {
  const result = spawnSync("wrangler", commandArgs, {
    encoding: "utf8",
    input,
    stdio: [input === undefined ? "ignore" : "pipe", quiet ? "pipe" : "inherit", quiet ? "pipe" : "inherit"],
    // Non-interactive: wrangler never waits on a prompt (the migrations' confirmation included).
    env: { ...process.env, CI: "true" },
  });
  if (result.error) throw result.error;
  return { ok: result.status === 0, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

function must(step, result) {
  if (!result.ok) {
    console.error(`\n${step} failed.${result.stderr ? `\n${result.stderr.trim()}` : ""}`);
    process.exit(1);
  }
  return result;
}

const generated = () => ({ ADMIN_TOKEN: `op_${randomBytes(24).toString("base64url")}`, SECRETS_KEY: randomBytes(32).toString("base64") });

if (dryRun) {
  printPlan();
  // The bundle, checked as a deploy would build it (no account needed).
  must("wrangler deploy --dry-run", wrangler(["deploy", "--dry-run", "--outdir", "dist", ...passThrough]));
  process.exit(0);
}

must("wrangler whoami (log in first: npx wrangler login)", wrangler(["whoami"], { quiet: true }));
const secrets = existingSecrets();
const databaseExists = wrangler(["d1", "info", DATABASE, "--json"], { quiet: true }).ok;

// In Workers Builds the secrets come from the button's form, and build logs are no place for a token.
const inBuilds = Boolean(process.env.WORKERS_CI);
const fresh = inBuilds ? {} : Object.fromEntries(Object.entries(generated()).filter(([name]) => !secrets.has(name)));
if (databaseExists) must("D1 migrations", wrangler(["d1", "migrations", "apply", DATABASE, "--remote"]));

const secretsDir = mkdtempSync(join(tmpdir(), "mcp-gateway-deploy-"));
let deployed;
try {
  const secretsFile = join(secretsDir, "secrets.json");
  const secretsArgs = Object.keys(fresh).length > 0 ? ["--secrets-file", secretsFile] : [];
  if (secretsArgs.length > 0) writeFileSync(secretsFile, JSON.stringify(fresh), { mode: 0o600 });
  deployed = must("wrangler deploy", wrangler(["deploy", ...secretsArgs, ...passThrough], { quiet: true }));
} finally {
  rmSync(secretsDir, { recursive: true, force: true });
}
process.stdout.write(deployed.stdout);
const workerUrl = deployed.stdout.match(/https:\/\/[a-z0-9.-]+\.workers\.dev/i)?.[0];

if (!databaseExists) must("D1 migrations", wrangler(["d1", "migrations", "apply", DATABASE, "--remote"]));

let publicUrl = process.env.PUBLIC_URL?.replace(/\/+$/, "") || undefined;
if (!secrets.has("PUBLIC_URL") || publicUrl) {
  publicUrl ??= workerUrl;
  if (!publicUrl) {
    console.error("\nThe deploy printed no workers.dev URL: set PUBLIC_URL yourself (PUBLIC_URL=https://… npm run deploy).");
    process.exit(1);
  }
  must("wrangler secret put PUBLIC_URL", wrangler(["secret", "put", "PUBLIC_URL"], { quiet: true, input: `${publicUrl}\n` }));
}
const base = publicUrl ?? workerUrl ?? "<PUBLIC_URL>";
const token = fresh.ADMIN_TOKEN;

console.log(`
────────────────────────────────────────────────────────────────────────
 MCP model gateway deployed

   MCP endpoint     ${base}/mcp
   Operator token   ${token ? `${token}\n                    (shown this once: keep it in your password manager)` : "already set (not shown; `wrangler secret put ADMIN_TOKEN` replaces it)"}

 Next: create a tenant and its admin key
   curl -X POST ${base}/api/v1/tenants -H "Authorization: Bearer <operator token>" \\
     -H "content-type: application/json" -d '{"id":"acme","name":"Acme"}'
   curl -X POST ${base}/api/v1/tenants/acme/keys -H "Authorization: Bearer <operator token>" \\
     -H "content-type: application/json" -d '{"role":"admin"}'
────────────────────────────────────────────────────────────────────────
`);

/** The names of the Worker's secrets; none when the Worker does not exist yet. */
function existingSecrets() {
  const listed = wrangler(["secret", "list", "--format", "json"], { quiet: true });
  if (!listed.ok) return new Set();
  try {
    return new Set(JSON.parse(listed.stdout).map((secret) => secret.name));
  } catch {
    return new Set();
  }
}

function printPlan() {
  const steps = [
    ["wrangler whoami", "check the Cloudflare login"],
    ["wrangler secret list --format json", "which secrets are set (a fresh account: none)"],
    [`wrangler d1 info ${DATABASE} --json`, "whether the database exists (a fresh account: no)"],
    [
      `wrangler deploy --secrets-file <temporary file: ADMIN_TOKEN, SECRETS_KEY>${passThrough.length ? ` ${passThrough.join(" ")}` : ""}`,
      "deploy; creates the D1 database and the KV namespace (bindings without ids) and uploads the generated secrets",
    ],
    [`wrangler d1 migrations apply ${DATABASE} --remote`, "the D1 migrations (before the deploy when the database already exists)"],
    ["wrangler secret put PUBLIC_URL  (stdin: the deployed workers.dev URL)", "when PUBLIC_URL is unset"],
  ];
  console.log("Dry run: on a fresh account `npm run deploy` would run\n");
  for (const [command, why] of steps) console.log(`  ${command}\n      ${why}`);
  console.log("\nthen print the MCP URL, the operator token (once) and the next command. Now building the bundle:\n");
}
