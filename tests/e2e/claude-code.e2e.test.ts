/**
 * Claude Code itself (`claude -p`, headless, @anthropic-ai/claude-code 2.1.x)
 * pointed at `wrangler dev` with ANTHROPIC_BASE_URL, finishing a small
 * tool-using task end to end: the fake upstream asks for the Read tool on a
 * file in the working directory, Claude Code runs it and sends the result,
 * the fake answers with the file's words as the final text. Once on a native
 * `anthropic` model (the request passed through to the fake Anthropic API) and
 * once on a translated Ollama model. What Claude Code sent is checked at the
 * fakes. Telemetry, update checks and other non-essential traffic are off;
 * HOME and the working directory are temp dirs.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { PROJECT_ROOT, startWranglerDev, type WranglerDev } from "../support/wrangler-dev";
import { expectNotInLogs, fakes, gatewayFor, ResponseRecorder, type Tenant } from "./helpers";

const CANARY = `sk-canary-e2e-${crypto.randomUUID().replace(/-/g, "")}`;
const RUN = String(Date.now() % 1e8);
const UP_CLAUDE = `claude-e2e-${RUN}`;
const UP_OLLAMA = `llama3.2-e2e-cc-${RUN}`;
const CLAUDE = join(PROJECT_ROOT, "node_modules/.bin/claude");

let dev: WranglerDev;
const recorder = new ResponseRecorder();
const { createTenant, registerModel } = gatewayFor(recorder, () => dev);
let tenant: Tenant;
let home: string;

interface ClaudeResult {
  type: string;
  subtype: string;
  is_error: boolean;
  result: string;
  num_turns: number;
}

/** Run `claude -p` in a fresh working directory holding note.txt; its JSON result. */
async function claude(model: string, word: string): Promise<{ result: ClaudeResult; stderr: string }> {
  const cwd = await mkdtemp(join(tmpdir(), "claude-code-cwd-"));
  const file = join(cwd, "note.txt");
  await writeFile(file, `The secret word is ${word}.\n`);
  const task = `What is the secret word in note.txt? [call Read ${JSON.stringify({ file_path: file })}]`;
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: home,
    ANTHROPIC_BASE_URL: dev.url,
    ANTHROPIC_API_KEY: tenant.userKey,
    ANTHROPIC_MODEL: model,
    ANTHROPIC_SMALL_FAST_MODEL: model,
    ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
    ANTHROPIC_DEFAULT_SONNET_MODEL: model,
    ANTHROPIC_DEFAULT_OPUS_MODEL: model,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    DISABLE_TELEMETRY: "1",
    DISABLE_AUTOUPDATER: "1",
    DISABLE_ERROR_REPORTING: "1",
  };
  try {
    return await new Promise((resolve, reject) => {
      execFile(
        CLAUDE,
        ["-p", task, "--output-format", "json", "--max-turns", "3"],
        { cwd, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error && !stdout) return reject(new Error(`claude failed: ${error.message}\n${stderr}`));
          try {
            resolve({ result: JSON.parse(stdout) as ClaudeResult, stderr });
          } catch {
            reject(new Error(`claude printed no JSON result: ${stdout}\n${stderr}`));
          }
        },
      );
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "claude-code-home-"));
  await fakes.ollama.control("pull", { model: UP_OLLAMA });
  dev = await startWranglerDev({ upstreamKey: CANARY });
  tenant = await createTenant({ id: "claude-code", name: "Claude Code users", grantCanary: true });
  await registerModel(tenant, {
    id: "cc-native",
    name: "Claude on the fake Anthropic API",
    backend_type: "anthropic",
    config: { base_url: inject("anthropicUrl"), model_name: UP_CLAUDE, api_key: "${UPSTREAM_KEY}", max_retries: 0, timeout: 30 },
  });
  await registerModel(tenant, {
    id: "cc-ollama",
    name: "Llama on the fake Ollama",
    backend_type: "ollama",
    config: { base_url: inject("ollamaUrl"), model_name: UP_OLLAMA, max_retries: 0, timeout: 30 },
    features: ["tools"],
  });
}, 120_000);

afterAll(async () => {
  if (process.env.E2E_PRINT_LOGS && dev) console.log(`--- wrangler dev output ---\n${dev.logs()}`);
  await dev?.dispose();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("Claude Code through the gateway", () => {
  it("on a native anthropic model: the task finishes; the fake got Claude Code's request as it sent it", async () => {
    const { result } = await claude("cc-native", "banana");
    expect(result, JSON.stringify(result)).toMatchObject({ type: "result", subtype: "success", is_error: false });
    expect(result.result).toContain("banana");

    const sent = (await fakes.anthropic.requests(UP_CLAUDE)).filter((r) => r.path === "/v1/messages");
    const withTools = sent.filter((r) => Array.isArray(r.body.tools) && (r.body.tools as unknown[]).length > 0);
    expect(withTools.length).toBeGreaterThanOrEqual(2); // the turn that called Read, and the turn that answered
    const [first] = withTools;
    // The upstream got the model's own key (never the tenant key), and Claude Code's version and beta flags.
    expect(first!.headers["x-api-key"]).toBe(CANARY);
    expect(first!.headers["anthropic-version"]).toBe("2023-06-01");
    expect(first!.headers["anthropic-beta"]).toMatch(/claude-code-/);
    expect(first!.body).toMatchObject({ model: UP_CLAUDE, stream: true, max_tokens: expect.any(Number) });
    expect((first!.body.tools as { name: string }[]).map((t) => t.name)).toContain("Read");
    // Claude Code's own fields arrive as it wrote them (a translated model would have left these hints out).
    expect(Object.keys(first!.body)).toEqual(
      expect.arrayContaining(["system", "messages", "tools", "metadata", "thinking", "context_management", "output_config"]),
    );
    expect(first!.headers["anthropic-beta"]).toMatch(/context-management-/);
    const last = withTools.at(-1)!.body.messages as { role: string; content: { type: string; content?: unknown }[] }[];
    const results = last.at(-1)!.content.filter((b) => b.type === "tool_result");
    expect(JSON.stringify(results)).toContain("banana");
    await expectNotInLogs(dev, [CANARY, tenant.userKey]);
    expect(recorder.text()).not.toContain(CANARY);
  }, 180_000);

  it("on a translated Ollama model: the task finishes; Claude Code's tools reach Ollama in its own wire format", async () => {
    const { result } = await claude("cc-ollama", "cherry");
    expect(result, JSON.stringify(result)).toMatchObject({ type: "result", subtype: "success", is_error: false });
    expect(result.result).toContain("cherry");

    const sent = (await fakes.ollama.requests(UP_OLLAMA)).filter((r) => r.path === "/api/chat");
    const withTools = sent.filter((r) => Array.isArray(r.body.tools) && (r.body.tools as unknown[]).length > 0);
    expect(withTools.length).toBeGreaterThanOrEqual(2);
    const tools = withTools[0]!.body.tools as { type: string; function: { name: string } }[];
    expect(tools.map((t) => t.function.name)).toContain("Read");
    const messages = withTools.at(-1)!.body.messages as { role: string; content: string }[];
    expect(messages.some((m) => m.role === "tool" && m.content.includes("cherry"))).toBe(true);
    await expectNotInLogs(dev, [CANARY, tenant.userKey]);
  }, 180_000);
});
