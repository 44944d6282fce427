/**
 * `npm start` (scripts/dev.mjs) finding local model servers: with a fake Ollama
 * and a fake LM Studio (the fake OpenAI-compatible upstream) it registers their
 * models in the dev tenant with the right capabilities and says so; with
 * `--no-discover` it registers nothing and prints how to add a model; an absent
 * server costs no noticeable time. Each run is in a temp folder of its own (links
 * to the project's config and sources), so the checkout's .dev.vars and local
 * state are untouched.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, inject, it } from "vitest";
import { freePort, PROJECT_ROOT } from "../support/wrangler-dev";

const running: { child: ChildProcess; dir: string }[] = [];

afterEach(() => {
  for (const { child, dir } of running.splice(0)) {
    if (child.pid && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `npm start` in a temp folder until its banner; returns the output and the folder. */
async function start(args: string[], env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "npm-start-"));
  for (const entry of ["wrangler.toml", "src", "migrations", "package.json", "node_modules"])
    symlinkSync(join(PROJECT_ROOT, entry), join(dir, entry));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      join(PROJECT_ROOT, "scripts/dev.mjs"),
      "--port",
      String(port),
      "--inspector-port",
      String(await freePort()),
      "--show-interactive-dev-session=false",
      ...args,
    ],
    {
      cwd: dir,
      detached: true,
      env: {
        ...process.env,
        ...env,
        PATH: `${dirname(process.execPath)}:${join(PROJECT_ROOT, "node_modules/.bin")}:${process.env.PATH}`,
        CI: "true",
      },
    },
  );
  running.push({ child, dir });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 90_000;
  while (!/MCP model gateway is running[\s\S]*─{20,}\n/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`npm start did not come up:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const keys = JSON.parse(readFileSync(join(dir, ".dev-tenant.json"), "utf8")) as { admin: string };
  const models = async () => {
    const res = await fetch(`http://localhost:${port}/api/v1/models`, { headers: { authorization: `Bearer ${keys.admin}` } });
    return ((await res.json()) as { models: { id: string; backend_type: string; capabilities: string[]; config: Record<string, unknown> }[] }).models;
  };
  return { output, models };
}

describe("npm start", () => {
  it("registers the models of a local Ollama and LM Studio, embedding models as embedding, and prints them", { timeout: 120_000 }, async () => {
    const ollama = inject("ollamaUrl");
    const lmStudio = inject("openaiUrl");
    const { output, models } = await start([], { DISCOVER_OLLAMA_URL: ollama, DISCOVER_LMSTUDIO_URL: lmStudio });
    const byId = Object.fromEntries((await models()).map((m) => [m.id, m]));
    expect(byId["llama3.2"]).toMatchObject({
      backend_type: "ollama",
      capabilities: ["chat", "completion"],
      config: { base_url: ollama, model_name: "llama3.2:latest" },
    });
    expect(byId["nomic-embed-text"]).toMatchObject({ backend_type: "ollama", capabilities: ["embedding"] });
    expect(byId["qwen2.5-0.5b"]).toMatchObject({ backend_type: "ollama", config: { model_name: "qwen2.5:0.5b" } });
    expect(byId["gpt-fake"]).toMatchObject({
      backend_type: "openai_compatible",
      capabilities: ["chat", "completion"],
      config: { base_url: `${lmStudio}/v1` },
    });
    expect(byId["fake-embed"]).toMatchObject({ backend_type: "openai_compatible", capabilities: ["embedding"] });
    expect(output).toContain("Local models registered in tenant dev");
    expect(output).toMatch(/nomic-embed-text\s+Ollama, embedding/);
    expect(output).toMatch(/gpt-fake\s+LM Studio, chat, completion/);
    expect(output).toContain('"model":"llama3.2"');
  });

  it("--no-discover registers nothing and prints how to add a model", { timeout: 120_000 }, async () => {
    const { output, models } = await start(["--no-discover"], { DISCOVER_OLLAMA_URL: inject("ollamaUrl") });
    expect(await models()).toEqual([]);
    expect(output).toContain("Register a model:");
    expect(output).not.toContain("Local models registered");
    expect(output).not.toContain("--no-discover");
  });

  it("an absent server is found absent at once, silently", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    process.env.DISCOVER_OLLAMA_URL = closed;
    process.env.DISCOVER_LMSTUDIO_URL = closed;
    const { discoverLocalModels } = await import("../../scripts/discover.mjs");
    const started = performance.now();
    expect(await discoverLocalModels()).toEqual([]);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
