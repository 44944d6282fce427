#!/usr/bin/env node
/**
 * A fake `wrangler` for tests of scripts/deploy.mjs: put its folder first on
 * PATH. It records each call (arguments, stdin, the secrets file it was handed)
 * in FAKE_WRANGLER_LOG, one JSON line each, and keeps a Cloudflare account's
 * state in FAKE_WRANGLER_STATE ({worker, database, secrets}) so that a second
 * run sees what the first one made. It answers as wrangler does: the exit
 * status, and for `secret list` and `deploy` the output the script reads.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";

const args = process.argv.slice(2);
const statePath = process.env.FAKE_WRANGLER_STATE;
const state = existsSync(statePath) ? JSON.parse(readFileSync(statePath, "utf8")) : { worker: false, database: false, secrets: {} };
const record = { args };
const save = () => writeFileSync(statePath, JSON.stringify(state));
const log = () => appendFileSync(process.env.FAKE_WRANGLER_LOG, `${JSON.stringify(record)}\n`);
const stdin = () => (process.stdin.isTTY ? "" : readFileSync(0, "utf8"));
const [command, sub] = args;

function fail(message) {
  log();
  process.stderr.write(`✘ [ERROR] ${message}\n`);
  process.exit(1);
}

if (command === "whoami") {
  console.log("You are logged in with an API Token.");
} else if (command === "secret" && sub === "list") {
  if (!state.worker) fail("This Worker does not exist on your account. [code: 10007]");
  console.log(JSON.stringify(Object.keys(state.secrets).map((name) => ({ name, type: "secret_text" }))));
} else if (command === "secret" && sub === "put") {
  if (!state.worker) fail("This Worker does not exist on your account.");
  state.secrets[args[2]] = stdin().trim();
  record.stdin = state.secrets[args[2]];
} else if (command === "d1" && sub === "info") {
  if (!state.database) fail("Couldn't find DB with name 'mcp-gateway'");
  console.log(JSON.stringify({ name: "mcp-gateway", uuid: "5f0c0de0-0000-4000-8000-000000000000" }));
} else if (command === "d1" && sub === "migrations") {
  if (!state.database) fail("Couldn't find a D1 DB with the name or binding 'mcp-gateway' in your wrangler.toml file.");
  console.log("✅ Migrations applied");
} else if (command === "deploy") {
  if (args.includes("--dry-run")) {
    console.log("--dry-run: exiting now.");
  } else {
    const at = args.indexOf("--secrets-file");
    if (at >= 0) {
      const file = args[at + 1];
      const secrets = JSON.parse(readFileSync(file, "utf8"));
      record.secretsFile = { path: file, names: Object.keys(secrets), values: Object.values(secrets) };
      Object.assign(state.secrets, secrets);
    }
    state.worker = true;
    state.database = true; // provisioned: the D1 binding has no id
    console.log(
      "Uploaded mcp-model-gateway\nDeployed mcp-model-gateway triggers (1.02 sec)\n  https://mcp-model-gateway.acme.workers.dev\n  schedule: * * * * *",
    );
  }
} else {
  fail(`the fake wrangler does not know: ${args.join(" ")}`);
}
log();
save();
