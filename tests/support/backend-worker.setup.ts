/** Vitest globalSetup of the workers project: the fake upstream of the example backend Worker, on the port its bundle was configured with. */
import type { TestProject } from "vitest/node";
import { UPSTREAM_PORT_VAR } from "./backend-worker";
import { startFakeOpenAI } from "./fake-openai";

export default async function setup(project: TestProject) {
  const port = Number(process.env[UPSTREAM_PORT_VAR]);
  if (!port) throw new Error(`${UPSTREAM_PORT_VAR} is unset: vitest.config.ts bundles the example backend and chooses its port`);
  const upstream = await startFakeOpenAI(port);
  project.provide("backendUpstreamUrl", upstream.url);
  return () => upstream.close();
}
