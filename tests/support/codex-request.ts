/**
 * A request as Codex (`wire_api = "responses"`) posts it to `/v1/responses`,
 * written by hand from the documented shapes (the Responses API reference and
 * /work/shared/TOOLCHAIN.md's notes on what Codex sends): streamed,
 * `store: false`, `reasoning`, `include`, `prompt_cache_key`, function tools, a
 * `namespace` tool (a group of functions under one name) and the hosted
 * `web_search` tool, with a conversation holding a developer message, a
 * reasoning item, a function call and its output. `model` is set by the test.
 */
const schema = (properties: Record<string, unknown>, required: string[]) => ({
  type: "object",
  properties,
  required,
  additionalProperties: false,
});

export function codexRequest(model: string, lastUserText = "Now list the files again please."): Record<string, unknown> {
  return {
    model,
    instructions: "You are Codex, a coding agent running in a terminal. Be concise.",
    input: [
      {
        type: "message",
        role: "developer",
        content: [{ type: "input_text", text: "<permissions instructions>sandbox: read-only</permissions instructions>" }],
      },
      { type: "message", role: "user", content: [{ type: "input_text", text: "<environment_context><cwd>/repo</cwd></environment_context>" }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: "List the files in the repository." }] },
      { type: "reasoning", id: "rs_1", summary: [], content: null, encrypted_content: "gAAAAB-opaque" },
      { type: "function_call", name: "shell", arguments: JSON.stringify({ command: ["ls"] }), call_id: "call_shell_1" },
      { type: "function_call_output", call_id: "call_shell_1", output: "README.md\nsrc" },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "README.md and src." }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: lastUserText }] },
    ],
    tools: [
      {
        type: "function",
        name: "shell",
        description: "Runs a shell command and returns its output.",
        strict: false,
        parameters: schema({ command: { type: "array", items: { type: "string" } }, workdir: { type: "string" } }, ["command"]),
      },
      {
        type: "function",
        name: "update_plan",
        description: "Updates the task plan.",
        strict: false,
        parameters: schema({ plan: { type: "array", items: { type: "object" } } }, ["plan"]),
      },
      {
        type: "namespace",
        name: "mcp__docs__",
        description: "Tools of the MCP server 'docs'.",
        tools: [
          {
            type: "function",
            name: "search",
            description: "Searches the docs.",
            strict: false,
            parameters: schema({ query: { type: "string" } }, ["query"]),
          },
        ],
      },
      { type: "web_search" },
    ],
    tool_choice: "auto",
    parallel_tool_calls: false,
    reasoning: { effort: "medium", summary: "auto" },
    store: false,
    stream: true,
    include: ["reasoning.encrypted_content"],
    prompt_cache_key: "0199c7e2-6a2f-7d10-9a54-5b1f0e6c2d11",
    // Codex 0.171 sends its session, thread and turn ids (seen in tests/e2e/codex.e2e.test.ts).
    client_metadata: { session_id: "0199c7e2-6a2f-7d10-9a54-5b1f0e6c2d11", thread_id: "0199c7e2-6a2f-7d10-9a54-5b1f0e6c2d11" },
  };
}

/** What the gateway names in `x-gateway-not-applied` for this request, in order. */
export const CODEX_NOT_APPLIED = [
  "reasoning",
  "include:reasoning.encrypted_content",
  "prompt_cache_key",
  "client_metadata",
  "input.reasoning",
  "tools.namespace",
  "tools.web_search",
];
