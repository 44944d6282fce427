/**
 * Codex end to end: the real `codex exec` (@openai/codex, a custom provider
 * with `wire_api = "responses"` on `wrangler dev`'s /v1) finishes a small
 * tool-using task through the gateway. The fake upstream first answers with a
 * call of Codex's own `exec_command` tool (`ls`, which Codex runs in its
 * read-only sandbox), then, once the command's output is in the conversation,
 * with text quoting it. Once on a `responses_api: true` model (the request
 * passes through to the fake's /v1/responses) and once on a plain
 * chat-completions model (translated). What Codex sent is read at the fake and
 * its shape asserted.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { PROJECT_ROOT, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { expectNotInLogs, fakes, gatewayFor, ResponseRecorder, type Tenant } from "./helpers";

const CANARY = `sk-canary-e2e-${crypto.randomUUID().replace(/-/g, "")}`;
const openaiUrl = inject("openaiUrl");
const RUN = String(Date.now() % 1e8);
const UP_NATIVE = `codex-native-${RUN}`;
const UP_CHAT = `codex-chat-${RUN}`;
/** A file in Codex's working directory: the `ls` it runs must list it, and the final answer quote it. */
const MARKER = `marker-${RUN}.txt`;
const CODEX = join(PROJECT_ROOT, "node_modules", ".bin", "codex");

let dev: WranglerDev;
const recorder = new ResponseRecorder();
const { createTenant, registerModel } = gatewayFor(recorder, () => dev);
let tenant: Tenant;
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "codex-e2e-"));
  dev = await startWranglerDev({ upstreamKey: CANARY });
  tenant = await createTenant({ id: "codex-agent", name: "Codex users", grantCanary: true });
  const config = { base_url: `${openaiUrl}/v1`, api_key: "${UPSTREAM_KEY}", max_retries: 0, timeout: 30 };
  // Codex's default model name is an alias of each model, as a user would set it up.
  await registerModel(tenant, {
    id: "native",
    name: "Responses API upstream",
    backend_type: "openai_compatible",
    config: { ...config, model_name: UP_NATIVE, responses_api: true },
    features: ["tools"],
    aliases: ["gpt-5-codex"],
  });
  await registerModel(tenant, {
    id: "translated",
    name: "Chat completions upstream",
    backend_type: "openai_compatible",
    config: { ...config, model_name: UP_CHAT },
    features: ["tools"],
    aliases: ["gpt-5-codex-chat"],
  });
}, 120_000);

afterAll(async () => {
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Run `codex exec` on one model in its own CODEX_HOME, HOME and working directory; the last message and what it printed. */
async function codexExec(model: string, task: string): Promise<{ code: number | null; last: string; output: string }> {
  const home = await mkdtemp(join(scratch, "home-"));
  const work = await mkdtemp(join(scratch, "work-"));
  await writeFile(join(work, MARKER), "hello\n");
  await writeFile(
    join(home, "config.toml"),
    [
      `model = "${model}"`,
      `model_provider = "gateway"`,
      `check_for_update_on_startup = false`,
      `[analytics]`,
      `enabled = false`,
      `[model_providers.gateway]`,
      `name = "Model gateway"`,
      `base_url = "${dev.url}/v1"`,
      `env_key = "GATEWAY_KEY"`,
      `wire_api = "responses"`,
      `request_max_retries = 0`,
      `stream_max_retries = 0`,
    ].join("\n"),
  );
  const lastFile = join(scratch, `last-${model}.txt`);
  const child = spawn(CODEX, ["exec", "--skip-git-repo-check", "--sandbox", "read-only", "--output-last-message", lastFile, task], {
    cwd: work,
    env: { PATH: process.env.PATH, HOME: home, CODEX_HOME: home, GATEWAY_KEY: tenant.userKey, NO_COLOR: "1", RUST_LOG: "error" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("close", (exit) => {
      clearTimeout(timer);
      resolve(exit);
    });
  });
  const last = await readFile(lastFile, "utf8").catch(() => "");
  return { code, last, output };
}

const TASK = "List the files in the current directory.";
const LS = { kind: "call_tool", name: "exec_command", arguments: { cmd: "ls" } } as const;

describe("codex exec through the gateway", () => {
  it("on a responses_api model: Codex's requests pass through as sent, it runs the tool call and finishes with the answer", async () => {
    await fakes.openai.script(UP_NATIVE, [LS]);
    const run = await codexExec("gpt-5-codex", TASK);
    expect(run.code, run.output).toBe(0);
    expect(run.last).toContain("tool said:");
    expect(run.last).toContain(MARKER); // the output of the `ls` Codex ran, sent back and quoted
    expect(run.output).not.toContain(CANARY);

    const sent = (await fakes.openai.requests(UP_NATIVE)).filter((r) => r.path === "/v1/responses");
    expect(sent).toHaveLength(2);
    const [first, second] = sent.map((r) => r.body);
    // What Codex 0.171 sends, as it reached the upstream: the fields the gateway would name as hints on a translated
    // model arrive here as they were sent (store: false is Codex's own).
    expect(first).toMatchObject({
      model: UP_NATIVE,
      stream: true,
      store: false,
      tool_choice: "auto",
      parallel_tool_calls: expect.any(Boolean),
      reasoning: expect.any(Object),
      include: ["reasoning.encrypted_content"],
      prompt_cache_key: expect.any(String),
      client_metadata: expect.objectContaining({ session_id: expect.any(String) }),
    });
    expect(first).not.toHaveProperty("previous_response_id");
    const tools = first!.tools as { type: string; name?: string }[];
    expect(tools.find((t) => t.name === "exec_command")).toMatchObject({ type: "function", parameters: { properties: { cmd: { type: "string" } } } });
    expect(tools.map((t) => t.type)).toEqual(expect.arrayContaining(["function", "web_search", "namespace"]));
    const input = first!.input as { type: string; role?: string }[];
    expect(input.filter((i) => i.type === "message").map((i) => i.role)).toEqual(expect.arrayContaining(["developer", "user"]));
    // The second turn carries the call and the command's output back.
    const items = second!.input as { type: string; call_id?: string; output?: string }[];
    expect(items.find((i) => i.type === "function_call")).toMatchObject({ call_id: "call_fake_0", name: "exec_command" });
    expect(items.find((i) => i.type === "function_call_output")?.output).toContain(MARKER);
    expect(sent[0]!.headers.authorization).toBe(`Bearer ${CANARY}`);
  }, 120_000);

  it("on a chat-completions model: Codex's requests are translated, it runs the tool call and finishes with the answer", async () => {
    await fakes.openai.script(UP_CHAT, [LS]);
    const run = await codexExec("gpt-5-codex-chat", TASK);
    expect(run.code, run.output).toBe(0);
    expect(run.last).toContain("tool said:");
    expect(run.last).toContain(MARKER);
    expect(run.output).not.toContain(CANARY);

    const sent = (await fakes.openai.requests(UP_CHAT)).filter((r) => r.path === "/v1/chat/completions").map((r) => r.body);
    expect(sent).toHaveLength(2);
    const [first, second] = sent;
    // Translated: function tools only (web_search and the namespace are hints, left out), the developer messages as system.
    const tools = first!.tools as { type: string; function: { name: string } }[];
    expect(tools.every((t) => t.type === "function")).toBe(true);
    expect(tools.map((t) => t.function.name)).toContain("exec_command");
    expect(first).toMatchObject({ model: UP_CHAT, stream: true });
    expect(first).not.toHaveProperty("reasoning");
    expect(first).not.toHaveProperty("client_metadata");
    const roles = (first!.messages as { role: string }[]).map((m) => m.role);
    expect(roles[0]).toBe("system");
    expect(roles).toContain("user");
    const messages = second!.messages as { role: string; content?: string; tool_calls?: { function: { name: string } }[] }[];
    expect(messages.find((m) => m.role === "assistant")?.tool_calls?.[0]?.function.name).toBe("exec_command");
    expect(messages.at(-1)).toMatchObject({ role: "tool" });
    expect(messages.at(-1)!.content).toContain(MARKER);
  }, 120_000);

  it("leaks neither the upstream secret nor the key into wrangler's logs", async () => {
    await expectNotInLogs(dev, [CANARY, tenant.userKey]);
  });
});
