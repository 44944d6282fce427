/**
 * Run the gateway under `wrangler dev` for end-to-end tests (Node side).
 *
 * - Storage lives in a fresh temp dir (`--persist-to`), isolated from the
 *   developer's `.wrangler/state`; D1 migrations are applied to it first.
 * - Vars and secrets come from a generated env file (`--env-file`), so the
 *   project's `.dev.vars` is never read: ADMIN_TOKEN and SECRETS_KEY are random
 *   per run, ALLOWED_PRIVATE_HOSTS lets models point at 127.0.0.1, and
 *   UPSTREAM_KEY is a canary Worker secret that must never leak.
 * - The child runs in its own process group; `stop()` kills the whole group
 *   (wrangler, esbuild and workerd).
 * - stdout/stderr are kept in `logs()` so tests can assert on them, and are
 *   printed when startup fails, or when a test fails while the instance runs
 *   (tests/support/e2e-failure-logs.ts); a passing run prints none of it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface WranglerDevOptions {
  /** Value of the canary Worker secret UPSTREAM_KEY. */
  upstreamKey?: string;
  /** Extra vars/secrets written to the env file. */
  vars?: Record<string, string>;
  /** Milliseconds to wait for GET /health. */
  startupTimeoutMs?: number;
  /** Another wrangler config than the project's (the benchmark's floors, a tuned copy). */
  config?: string;
  /** More Workers run beside the gateway (`wrangler dev -c <config> -c <extra> …`), e.g. a backend Worker it binds. */
  extraConfigs?: string[];
  /** Apply the project's D1 migrations before starting (default true; a config without D1 says false). */
  migrations?: boolean;
  /**
   * Another checkout of the project to run from (the benchmark's baseline): its own
   * node_modules (wrangler) and working directory. Default: this one.
   */
  root?: string;
  /**
   * Whether wrangler writes its debug log files (default true: `debugLogs()` reads them).
   * wrangler appends to them every line a Worker logs, and a debug copy of the inspector's
   * message for it, one file write each: about a millisecond of wrangler's CPU per line
   * (docs/observability.md). The benchmark turns them off (`WRANGLER_WRITE_LOGS=false`).
   */
  debugLogFiles?: boolean;
}

export interface WranglerDev {
  /** Base URL, e.g. http://127.0.0.1:43123 (no trailing slash). */
  readonly url: string;
  readonly adminToken: string;
  readonly upstreamKey: string;
  readonly persistDir: string;
  /** The port of wrangler's inspector (Chrome DevTools protocol: CPU profiles of the Worker). */
  readonly inspectorPort: number;
  /** Everything wrangler dev (and the migrations step) printed so far, across restarts. */
  logs(): string;
  /** wrangler's own debug log files (WRANGLER_LOG_PATH) of this instance, concatenated. */
  debugLogs(): Promise<string>;
  /** Kill wrangler dev and its children; keep the persist dir. */
  stop(): Promise<void>;
  /** Stop, then start again on the same persist dir (and the same port when it is free). */
  restart(): Promise<void>;
  /** Stop and delete the persist dir. */
  dispose(): Promise<void>;
}

/** A Node >= 22 binary: the one running us if recent enough, else the project's pinned one. */
export function nodeBinary(): string {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 22) return process.execPath;
  const pinned = join(PROJECT_ROOT, "node_modules/.bin/node");
  if (existsSync(pinned)) return pinned;
  throw new Error(`wrangler needs Node >= 22; running on ${process.version} and node_modules/.bin/node is missing`);
}

/** A free TCP port on 127.0.0.1 (asks the kernel, then releases it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolveFree(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveFree(true)));
  });
}

/** Environment for wrangler child processes: offline, non-interactive, Node 24 first on PATH. */
function childEnv(root: string, logDir: string, debugLogFiles = true): NodeJS.ProcessEnv {
  const bin = join(root, "node_modules/.bin");
  return {
    ...process.env,
    // wrangler's own debug log files go to the temp dir, not ~/.config/.wrangler/logs.
    WRANGLER_LOG_PATH: logDir,
    ...(!debugLogFiles && { WRANGLER_WRITE_LOGS: "false" }),
    PATH: `${bin}:${process.env.PATH ?? ""}`,
    CI: "1",
    WRANGLER_SEND_METRICS: "false",
    // No fetch of workers.cloudflare.com/cf.json (offline: a failed lookup in every log).
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_ERROR_REPORTS: "false",
    CLOUDFLARE_INCLUDE_PROCESS_ENV: "false",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
  };
}

/** wrangler's entry in a checkout's node_modules. */
function wranglerIn(root: string): string {
  return join(root, "node_modules/wrangler/bin/wrangler.js");
}

/** Run a wrangler command of checkout `root` to completion, appending its output to `sink`. */
function runWrangler(root: string, args: string[], sink: { text: string }, logDir: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(nodeBinary(), [wranglerIn(root), ...args], {
      cwd: root,
      env: childEnv(root, logDir),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    track(child);
    const append = (chunk: Buffer) => {
      sink.text += chunk.toString("utf8");
    };
    child.stdout.on("data", append);
    child.stderr.on("data", append);
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolveRun();
      else reject(new Error(`wrangler ${args.slice(0, 3).join(" ")} failed (code ${code}, signal ${signal}):\n${sink.text}`));
    });
  });
}

/** Instances started and not yet disposed of, for printing their output when a test fails. */
const live = new Set<WranglerDev>();

export function liveWranglerDevs(): readonly WranglerDev[] {
  return [...live];
}

/** Children still running; killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of running) killGroup(c, "SIGKILL");
    });
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveExit) => child.once("exit", () => resolveExit()));
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`wrangler dev exited early (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`wrangler dev did not answer GET /health with 200 within ${timeoutMs} ms (last: ${last})`);
}

export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  const persistDir = await mkdtemp(join(tmpdir(), "mcp-gateway-e2e-"));
  const adminToken = `op_${randomBytes(24).toString("base64url")}`;
  const upstreamKey = options.upstreamKey ?? `sk-canary-e2e-${randomBytes(12).toString("hex")}`;
  const envFile = join(persistDir, "e2e.env");
  const vars: Record<string, string> = {
    ADMIN_TOKEN: adminToken,
    SECRETS_KEY: randomBytes(32).toString("base64"),
    ALLOWED_PRIVATE_HOSTS: "localhost,127.0.0.1",
    UPSTREAM_KEY: upstreamKey,
    ...options.vars,
  };
  // PUBLIC_URL (the OAuth issuer and token audience) depends on the port, so the file is written at each launch.
  const writeVars = (url: string) =>
    writeFile(
      envFile,
      Object.entries({ PUBLIC_URL: url, ...vars })
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join("\n") + "\n",
      { mode: 0o600 },
    );

  const output = { text: "" };
  const logDir = join(persistDir, "wrangler-logs");
  const configArgs = options.config ? ["--config", options.config] : [];
  const root = options.root ?? PROJECT_ROOT;
  try {
    if (options.migrations !== false) {
      await runWrangler(root, ["d1", "migrations", "apply", "mcp-gateway", "--local", "--persist-to", persistDir, ...configArgs], output, logDir);
    }
  } catch (error) {
    await rm(persistDir, { recursive: true, force: true });
    throw error;
  }

  let port = await freePort();
  let inspectorPort = 0;
  let child: ChildProcess | undefined;
  const timeoutMs = options.startupTimeoutMs ?? 60_000;

  const launch = async () => {
    if (!(await portIsFree(port))) port = await freePort();
    inspectorPort = await freePort();
    const url = `http://127.0.0.1:${port}`;
    await writeVars(url);
    output.text += `\n--- wrangler dev on ${url} ---\n`;
    const started = spawn(
      nodeBinary(),
      [
        wranglerIn(root),
        "dev",
        ...configArgs,
        ...(options.extraConfigs ?? []).flatMap((extra) => ["--config", extra]),
        "--local",
        // Exposes /__scheduled?cron=... so tests can fire the health sweep.
        "--test-scheduled",
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
        "--inspector-port",
        String(inspectorPort),
        "--persist-to",
        persistDir,
        "--env-file",
        envFile,
        "--show-interactive-dev-session=false",
        "--log-level",
        "log",
      ],
      { cwd: root, env: childEnv(root, logDir, options.debugLogFiles), stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    track(started);
    child = started;
    const append = (chunk: Buffer) => {
      output.text += chunk.toString("utf8");
    };
    started.stdout?.on("data", append);
    started.stderr?.on("data", append);
    try {
      await waitForHealth(url, started, timeoutMs);
    } catch (error) {
      killGroup(started, "SIGKILL");
      await exited(started);
      const message = error instanceof Error ? error.message : String(error);
      console.error(`${message}\n--- wrangler output ---\n${output.text}`);
      throw new Error(`${message}\n--- wrangler output ---\n${output.text}`, { cause: error });
    }
  };

  const stop = async () => {
    const current = child;
    child = undefined;
    if (!current) return;
    killGroup(current, "SIGTERM");
    const timer = setTimeout(() => killGroup(current, "SIGKILL"), 5_000);
    await exited(current);
    clearTimeout(timer);
    // workerd may outlive wrangler for a moment: make sure nothing of the group survives.
    if (current.pid !== undefined) {
      try {
        process.kill(-current.pid, "SIGKILL");
      } catch {
        // Group gone: expected.
      }
    }
  };

  try {
    await launch();
  } catch (error) {
    await rm(persistDir, { recursive: true, force: true });
    throw error;
  }

  const dev: WranglerDev = {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    adminToken,
    upstreamKey,
    persistDir,
    get inspectorPort() {
      return inspectorPort;
    },
    logs: () => output.text,
    debugLogs: async () => {
      const files = await readdir(logDir).catch(() => [] as string[]);
      const texts = await Promise.all(files.map((f) => readFile(join(logDir, f), "utf8")));
      return texts.join("\n");
    },
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    dispose: async () => {
      live.delete(dev);
      await stop();
      await rm(persistDir, { recursive: true, force: true });
    },
  };
  live.add(dev);
  return dev;
}
