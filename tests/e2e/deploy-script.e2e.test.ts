/**
 * `npm run deploy` (scripts/deploy.mjs) against a fake `wrangler` on PATH that
 * records every call and keeps an account's state (tests/support/fake-wrangler.mjs):
 * what it runs on a fresh account, that a second run only deploys and migrates,
 * that the dry run needs no account, and that no secret is written into the
 * repository or printed beyond the operator token shown once.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/wrangler-dev";

const dir = mkdtempSync(join(tmpdir(), "fake-wrangler-"));
const bin = join(dir, "bin");
const state = join(dir, "state.json");
const log = join(dir, "calls.jsonl");
execFileSync("mkdir", ["-p", bin]);
copyFileSync(join(PROJECT_ROOT, "tests/support/fake-wrangler.mjs"), join(bin, "wrangler"));
chmodSync(join(bin, "wrangler"), 0o755);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Call {
  args: string[];
  stdin?: string;
  secretsFile?: { path: string; names: string[]; values: string[] };
}

function deploy(...args: string[]): { stdout: string; calls: Call[] } {
  rmSync(log, { force: true });
  const run = spawnSync(process.execPath, [join(PROJECT_ROOT, "scripts/deploy.mjs"), ...args], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
    env: {
      ...process.env,
      PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH}`,
      FAKE_WRANGLER_STATE: state,
      FAKE_WRANGLER_LOG: log,
      PUBLIC_URL: "",
    },
  });
  expect(run.status, run.stderr).toBe(0);
  const calls = existsSync(log)
    ? readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Call)
    : [];
  return { stdout: run.stdout + run.stderr, calls };
}

const gitStatus = () => execFileSync("git", ["status", "--porcelain"], { cwd: PROJECT_ROOT, encoding: "utf8" });
/** Files of the repository (tracked, or untracked and not ignored) that contain `value`. */
const inRepo = (value: string) => spawnSync("git", ["grep", "--untracked", "-l", "-F", value], { cwd: PROJECT_ROOT, encoding: "utf8" }).stdout.trim();

describe("npm run deploy", () => {
  it("the dry run needs no account: it prints the plan and only builds the bundle", () => {
    const { stdout, calls } = deploy("--dry-run");
    expect(calls.map((c) => c.args)).toEqual([["deploy", "--dry-run", "--outdir", "dist"]]);
    for (const step of [
      "wrangler whoami",
      "wrangler deploy --secrets-file",
      "wrangler d1 migrations apply mcp-gateway --remote",
      "wrangler secret put PUBLIC_URL",
    ]) {
      expect(stdout).toContain(step);
    }
  });

  it("on a fresh account: generates the two secrets into the deploy, migrates the provisioned database, sets PUBLIC_URL; then a second run only migrates and deploys", () => {
    const before = gitStatus();
    const first = deploy();
    expect(first.calls.map((c) => c.args.slice(0, 3).join(" "))).toEqual([
      "whoami",
      "secret list --format",
      "d1 info mcp-gateway",
      "deploy --secrets-file " + first.calls[3]!.secretsFile!.path,
      "d1 migrations apply",
      "secret put PUBLIC_URL",
    ]);
    expect(first.calls[4]!.args).toEqual(["d1", "migrations", "apply", "mcp-gateway", "--remote"]);
    const handed = first.calls[3]!.secretsFile!;
    expect(handed.names).toEqual(["ADMIN_TOKEN", "SECRETS_KEY"]);
    const [adminToken, secretsKey] = handed.values as [string, string];
    expect(adminToken).toMatch(/^op_[A-Za-z0-9_-]{32}$/);
    expect(Buffer.from(secretsKey, "base64")).toHaveLength(32);
    // The secrets file lived outside the repository, and is gone.
    expect(handed.path.startsWith(PROJECT_ROOT)).toBe(false);
    expect(existsSync(handed.path)).toBe(false);
    expect(first.calls[5]!.stdin).toBe("https://mcp-model-gateway.acme.workers.dev");

    // What a person needs: the MCP URL, the operator token once, the next command. Never the encryption key.
    expect(first.stdout).toContain("MCP endpoint     https://mcp-model-gateway.acme.workers.dev/mcp");
    expect(first.stdout).toContain(adminToken);
    expect(first.stdout).toContain("curl -X POST https://mcp-model-gateway.acme.workers.dev/api/v1/tenants");
    expect(first.stdout).not.toContain(secretsKey);
    // Nothing written into the repository.
    expect(gitStatus()).toBe(before);
    expect(inRepo(adminToken)).toBe("");
    expect(inRepo(secretsKey)).toBe("");

    const second = deploy();
    expect(second.calls.map((c) => c.args)).toEqual([
      ["whoami"],
      ["secret", "list", "--format", "json"],
      ["d1", "info", "mcp-gateway", "--json"],
      ["d1", "migrations", "apply", "mcp-gateway", "--remote"],
      ["deploy"],
    ]);
    expect(second.stdout).not.toContain(adminToken);
    expect(second.stdout).toContain("already set (not shown");
    expect(second.stdout).toContain("MCP endpoint     https://mcp-model-gateway.acme.workers.dev/mcp");
  });
});
