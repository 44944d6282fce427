/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.16,
 * `conformance server`) against the gateway under `wrangler dev`. The CLI has
 * no option for an Authorization header, so it talks to a loopback proxy that
 * adds a tenant key (tests/support/conformance-proxy.ts).
 *
 * All 32 server scenarios of 0.1.16 were run by hand against the gateway. The
 * suite's client is the 2025-era SDK client (initialize handshake, protocol
 * 2025-11-25); it has no 2026-07-28 scenarios yet.
 *
 * Run here (they apply to any MCP server, or to what this gateway offers):
 *   server-initialize         initialize handshake and result structure
 *   ping                      ping
 *   tools-list                every tool has name, description, inputSchema
 *   resources-list            the model://<id> resources (a model is registered first)
 *   dns-rebinding-protection  foreign Host/Origin refused, localhost accepted
 *
 * Not run, and why:
 *   logging-set-level         the server declares no `logging` capability (logging/setLevel is
 *                             deprecated in 2026-07-28); it correctly answers -32601
 *   completion-complete       no prompts and no completion capability; the scenario completes
 *                             the SDK test prompt `test_prompt_with_arguments`
 *   tools-call-simple-text, tools-call-image, tools-call-audio, tools-call-embedded-resource,
 *   tools-call-mixed-content, tools-call-with-logging, tools-call-error, tools-call-with-progress,
 *   tools-call-sampling, tools-call-elicitation, json-schema-2020-12
 *                             each calls an SDK test tool (`test_simple_text`, `test_image_content`,
 *                             `test_tool_with_progress`, `json_schema_2020_12_tool`, ...) that this
 *                             gateway does not have. Progress, errors and structured output of the
 *                             gateway's own tools are covered by mcp.e2e.test.ts with real clients.
 *   elicitation-sep1034-defaults, elicitation-sep1330-enums
 *                             call SDK test tools that elicit; the gateway never elicits
 *   server-sse-polling, server-sse-multiple-streams
 *                             need an Mcp-Session-Id (stateful server, resumable GET streams);
 *                             the gateway is stateless by design, so the CLI only emits
 *                             warnings and checks nothing (0/0)
 *   resources-read-text, resources-read-binary, resources-templates-read
 *                             read the SDK test resources `test://static-text`, `test://static-binary`,
 *                             `test://template/{id}/data`; model:// reads are tested in mcp.e2e.test.ts
 *   resources-subscribe, resources-unsubscribe
 *                             no `resources.subscribe` capability (stateless server); -32601 is correct
 *   prompts-list, prompts-get-simple, prompts-get-with-args, prompts-get-embedded-resource,
 *   prompts-get-with-image    the gateway offers no prompts (and declares no `prompts` capability)
 */
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type ConformanceProxy, startConformanceProxy } from "../support/conformance-proxy";
import { nodeBinary, PROJECT_ROOT, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { connectLegacy, connectModern, fakes, gatewayFor, ResponseRecorder, timedStreamingChat } from "./helpers";

const CLI = join(PROJECT_ROOT, "node_modules/@modelcontextprotocol/conformance/dist/index.js");

/** Each scenario and the check ids it must report, all SUCCESS. */
const SCENARIOS: [string, string[]][] = [
  ["server-initialize", ["server-initialize"]],
  ["ping", ["ping"]],
  ["tools-list", ["tools-list"]],
  ["resources-list", ["resources-list"]],
  ["dns-rebinding-protection", ["localhost-host-rebinding-rejected", "localhost-host-valid-accepted"]],
];

interface Check {
  id: string;
  status: "SUCCESS" | "FAILURE" | "WARNING" | "INFO" | string;
  errorMessage?: string;
}

interface Run {
  code: number | null;
  output: string;
  checks: Check[];
}

const openaiUrl = inject("openaiUrl");
const recorder = new ResponseRecorder();
let dev: WranglerDev;
const { createTenant, registerModel } = gatewayFor(recorder, () => dev);
let proxy: ConformanceProxy;
let outRoot: string;

/** Run `conformance server --scenario <name>` and collect its exit code, output and checks.json. */
async function conformance(url: string, scenario: string): Promise<Run> {
  const outDir = await mkdtemp(join(outRoot, `${scenario}-`));
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(nodeBinary(), [CLI, "server", "--url", url, "--scenario", scenario, "--output-dir", outDir], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let text = "";
    child.stdout.on("data", (c: Buffer) => (text += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (text += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
    child.on("error", reject);
    child.on("exit", (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, output: text });
    });
  });
  const checks: Check[] = [];
  for (const dir of await readdir(outDir)) {
    const file = join(outDir, dir, "checks.json");
    checks.push(...(JSON.parse(await readFile(file, "utf8").catch(() => "[]")) as Check[]));
  }
  return { code, output, checks };
}

beforeAll(async () => {
  outRoot = await mkdtemp(join(tmpdir(), "mcp-conformance-"));
  dev = await startWranglerDev();
  const tenant = await createTenant({ id: "conformance", name: "Conformance", grantCanary: true });
  await registerModel(tenant, {
    id: "conformance-echo",
    name: "Conformance echo",
    backend_type: "openai_compatible",
    config: { base_url: `${openaiUrl}/v1`, model_name: "gpt-e2e-conformance", api_key: "${UPSTREAM_KEY}" },
  });
  proxy = await startConformanceProxy(dev.url, tenant.userKey);
});

afterAll(async () => {
  await proxy?.close();
  await dev?.dispose();
  if (outRoot) await rm(outRoot, { recursive: true, force: true });
});

describe("MCP conformance suite (through a proxy adding a tenant key)", () => {
  it.each(SCENARIOS)("%s passes", async (scenario, expectedIds) => {
    const forwardedBefore = proxy.forwarded;
    const run = await conformance(`${proxy.url}/mcp`, scenario);
    const failed = run.checks.filter((c) => c.status !== "SUCCESS" && c.status !== "INFO");
    expect(failed, run.output).toEqual([]);
    expect(run.code, run.output).toBe(0);
    expect(
      run.checks
        .filter((c) => c.status === "SUCCESS")
        .map((c) => c.id)
        .sort(),
      run.output,
    ).toEqual([...expectedIds].sort());
    expect(run.output).toMatch(/Passed: (\d+)\/\1, 0 failed/);
    expect(proxy.forwarded).toBeGreaterThan(forwardedBefore);
  });

  it.each([
    ["2025-era", connectLegacy],
    ["2026-07-28", connectModern],
  ] as const)("the proxy relays a %s client's streamed tool call event by event", async (_era, connect) => {
    const delayMs = 200;
    await fakes.openai.script("gpt-e2e-conformance", [{ kind: "slow_stream", delayMs }]);
    // No Authorization header from the client: the proxy adds the tenant key.
    const session = await connect(proxy.url, null, recorder);
    try {
      const { result, progress, resultAt } = await timedStreamingChat(session, "conformance-echo", "through the proxy");
      expect(result.structuredContent?.text).toBe("echo: through the proxy");
      expect(progress.map((p) => p.message).join("")).toBe("echo: through the proxy");
      expect(progress[0]!.at).toBeLessThan(resultAt - 2 * delayMs);
    } finally {
      await session.close();
    }
  });

  it("reports a failure when the gateway refuses the client (no tenant key, no proxy)", async () => {
    // Shows that the exit code and checks above are meaningful: the same CLI
    // against the gateway itself, without credentials, gets 401 and fails.
    const run = await conformance(`${dev.url}/mcp`, "server-initialize");
    expect(run.code).toBe(1);
    expect(run.checks.find((c) => c.id === "server-initialize")?.status).toBe("FAILURE");
    expect(run.output).toContain("unauthenticated");
  });
});
