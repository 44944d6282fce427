#!/usr/bin/env node
/**
 * `npm start`: run the gateway locally.
 * 1. Creates `.dev.vars` (git-ignored) with random secrets when it is missing.
 * 2. Applies the D1 migrations to the local database.
 * 3. Starts `wrangler dev` (workerd with embedded Durable Object and D1 storage in .wrangler/).
 * 4. Creates a development tenant `dev` with an admin and a user key (kept in
 *    `.dev-tenant.json`, git-ignored, reused while they still work) and prints
 *    what a person needs to connect an MCP client.
 * 5. Finds a local Ollama (localhost:11434) and LM Studio (localhost:1234) while
 *    wrangler starts, and registers their models in the `dev` tenant
 *    (./discover.mjs); `npm start -- --no-discover` skips it.
 * 6. Fires the cron trigger every minute, as Cloudflare does in production
 *    (`wrangler dev` fires none by itself): the health watchdog, which re-arms
 *    tenants whose alarm went missing. The checks themselves run from each
 *    tenant's Durable Object alarm, which `wrangler dev` runs on its own.
 * Extra arguments go to `wrangler dev` (e.g. `npm start -- --port 8788`).
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { setInterval } from "node:timers";
import { discoverLocalModels } from "./discover.mjs";

const VARS = ".dev.vars";
const TENANT_FILE = ".dev-tenant.json";
const discover = !process.argv.includes("--no-discover");
const args = process.argv.slice(2).filter((arg) => arg !== "--no-discover");
const portArg = args.indexOf("--port");
const port = portArg >= 0 ? Number(args[portArg + 1]) : Number(process.env.PORT ?? 8787);
const base = `http://localhost:${port}`;

if (!existsSync(VARS)) {
  writeFileSync(
    VARS,
    [
      "# Local secrets for `wrangler dev`, made by `npm start`. Never commit this file.",
      `ADMIN_TOKEN=${randomBytes(24).toString("hex")}`,
      `SECRETS_KEY=${randomBytes(32).toString("base64")}`,
      "ALLOWED_PRIVATE_HOSTS=localhost,127.0.0.1",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  console.log(`Created ${VARS} with a random operator token and encryption key.`);
}
const vars = Object.fromEntries(
  readFileSync(VARS, "utf8")
    .split("\n")
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1).trim()]),
);

const migrate = spawnSync("wrangler", ["d1", "migrations", "apply", "mcp-gateway", "--local"], {
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, CI: "true" },
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

// Asked while wrangler dev starts (after the synchronous migrations, which would stall the timeouts):
// an absent server costs nothing a person notices.
const discovered = discover ? discoverLocalModels() : Promise.resolve([]);

const portArgs = portArg >= 0 ? [] : ["--port", String(port)];
// --local: no remote bindings, so no Cloudflare account is needed (Workers AI is then unavailable).
// PUBLIC_URL (OAuth issuer and token audience) must be the URL clients use: this port.
// --test-scheduled: exposes /__scheduled, through which this script fires the cron (below).
const scheduledArgs = args.includes("--test-scheduled") ? [] : ["--test-scheduled"];
// CLOUDFLARE_CF_FETCH_ENABLED=false: miniflare would fetch workers.cloudflare.com/cf.json for a sample
// Request.cf on each start (a failed lookup when offline); the gateway reads nothing from it.
const dev = spawn("wrangler", ["dev", "--local", "--var", `PUBLIC_URL:${base}`, ...scheduledArgs, ...portArgs, ...args], {
  stdio: "inherit",
  env: { CLOUDFLARE_CF_FETCH_ENABLED: "false", ...process.env },
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));

await waitForHealth();
fireCronEveryMinute();
try {
  const keys = await devTenant();
  const local = await registerLocal(keys.admin, await discovered);
  console.log(`
────────────────────────────────────────────────────────────────────────
 MCP model gateway is running at ${base}

   MCP endpoint     ${base}/mcp
   Tenant           dev
   Admin key        ${keys.admin}
   User key         ${keys.user}
   Operator token   ${vars.ADMIN_TOKEN}   (from ${VARS})

 Connect an MCP client (MCP Inspector, Claude, Cursor) to ${base}/mcp
 with the header  Authorization: Bearer <admin or user key>.
 Health checks run on their own (${vars.HEALTH_CHECK_INTERVAL_S === "0" ? "at every fired cron" : `every ${vars.HEALTH_CHECK_INTERVAL_S ?? 60} s per model`}; docs/health.md).
${local.length > 0 ? localSummary(local, keys.user) : registerHint(keys.admin)}
────────────────────────────────────────────────────────────────────────
`);
} catch (error) {
  console.error(`Could not set up the dev tenant: ${error instanceof Error ? error.message : error}`);
}

/** Register what the local servers list; a model already registered (an earlier start) is kept as it is. */
async function registerLocal(adminKey, models) {
  const lines = [];
  for (const { server, registration } of models) {
    const res = await call("POST", "/api/v1/models", adminKey, registration);
    if (res.status === 201 || res.status === 409) {
      const model = res.status === 201 ? res.body : (await call("GET", `/api/v1/models/${registration.id}`, adminKey)).body;
      lines.push({ server, id: registration.id, capabilities: model?.capabilities ?? [], status: model?.status ?? "?" });
    } else {
      lines.push({ server, id: registration.id, error: res.body?.error?.message ?? `HTTP ${res.status}` });
    }
  }
  return lines;
}

function localSummary(local, userKey) {
  const width = Math.max(...local.map((m) => m.id.length));
  const rows = local.map((m) =>
    m.error
      ? `   ${m.id.padEnd(width)}  ${m.server}: not registered: ${m.error}`
      : `   ${m.id.padEnd(width)}  ${m.server}, ${m.capabilities.join(", ")} (${m.status})`,
  );
  const chat = local.find((m) => !m.error && m.capabilities.includes("chat"));
  const example = chat
    ? `\n Chat with one:  curl ${base}/v1/chat/completions -H "Authorization: Bearer ${userKey}" \\\n   -H "content-type: application/json" -d '{"model":"${chat.id}","messages":[{"role":"user","content":"Hello"}]}'`
    : "";
  return ` Local models registered in tenant dev (npm start -- --no-discover skips this):\n${rows.join("\n")}${example}`;
}

function registerHint(adminKey) {
  const none = discover
    ? "\n (No Ollama on localhost:11434 nor LM Studio on localhost:1234 was found; start one and run npm start again to register its models.)"
    : "";
  return ` Register a model:  curl -X POST ${base}/api/v1/models \\
   -H "Authorization: Bearer ${adminKey}" -H "content-type: application/json" \\
   -d '{"name":"My model","backend_type":"openai_compatible","config":{"base_url":"http://localhost:11434/v1","model_name":"llama3.2"}}'${none}`;
}

/** The cron trigger of wrangler.toml (`* * * * *`), fired now and then every minute while `wrangler dev` runs. */
function fireCronEveryMinute() {
  const fire = () =>
    fetch(`${base}/__scheduled?cron=${encodeURIComponent("* * * * *")}`)
      .then((response) => response.text())
      .catch(() => {
        // wrangler dev is restarting or gone; the next minute tries again.
      });
  void fire();
  setInterval(fire, 60_000).unref();
}

async function waitForHealth() {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${base}/health did not answer`);
}

async function call(method, path, token, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** The dev tenant and its keys: reused while they work, created when they do not. */
async function devTenant() {
  const operator = vars.ADMIN_TOKEN;
  const created = await call("POST", "/api/v1/tenants", operator, { id: "dev", name: "Development" });
  if (created.status !== 201 && created.status !== 409) throw new Error(`create tenant: ${JSON.stringify(created.body)}`);
  if (existsSync(TENANT_FILE)) {
    const saved = JSON.parse(readFileSync(TENANT_FILE, "utf8"));
    const check = await call("GET", "/api/v1/keys", saved.admin);
    if (check.status === 200) return saved;
  }
  const admin = await call("POST", "/api/v1/tenants/dev/keys", operator, { role: "admin", name: "npm start (admin)" });
  const user = await call("POST", "/api/v1/tenants/dev/keys", operator, { role: "user", name: "npm start (user)" });
  if (admin.status !== 201 || user.status !== 201) throw new Error("could not create dev keys");
  const keys = { admin: admin.body.key, user: user.body.key };
  writeFileSync(TENANT_FILE, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  return keys;
}
