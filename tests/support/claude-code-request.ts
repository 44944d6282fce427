/**
 * A request as Claude Code 2.1.x posts it to `/v1/messages?beta=true`, written
 * by hand from the documented shapes (docs.anthropic.com/en/api/messages and
 * /work/shared/TOOLCHAIN.md's notes on what it sends): streamed, system prompt
 * blocks with cache_control, client tools with JSON Schemas, `thinking`,
 * `context_management`, `output_config.effort`, `metadata`, and a conversation
 * with a thinking block, a tool call and its result. `model` is set by the test.
 */
export const CLAUDE_CODE_HEADERS = {
  "anthropic-version": "2023-06-01",
  "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,fine-grained-tool-streaming-2025-05-14",
  "anthropic-dangerous-direct-browser-access": "true",
  "x-app": "cli",
  "user-agent": "claude-cli/2.1.0 (external, sdk-cli)",
};

const schema = (properties: Record<string, unknown>, required: string[]) => ({
  $schema: "http://json-schema.org/draft-07/schema#",
  type: "object",
  properties,
  required,
  additionalProperties: false,
});

export function claudeCodeRequest(model: string): Record<string, unknown> {
  return {
    model,
    max_tokens: 32000,
    stream: true,
    system: [
      { type: "text", text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: "ephemeral" } },
      {
        type: "text",
        text: "You are an interactive CLI tool that helps users with software engineering tasks.",
        cache_control: { type: "ephemeral" },
      },
    ],
    tools: [
      {
        name: "Bash",
        description: "Executes a given bash command",
        input_schema: schema({ command: { type: "string" }, timeout: { type: "number" } }, ["command"]),
      },
      {
        name: "Read",
        description: "Reads a file from the local filesystem",
        input_schema: schema({ file_path: { type: "string" }, offset: { type: "number" }, limit: { type: "number" } }, ["file_path"]),
      },
      {
        name: "mcp__ide__getDiagnostics",
        description: "Get language diagnostics from VS Code",
        input_schema: schema({ uri: { type: "string" } }, []),
        cache_control: { type: "ephemeral" },
      },
    ],
    messages: [
      { role: "user", content: [{ type: "text", text: "list the files" }] },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "I should run ls.", signature: "EqQBCkYIBxgCKkA" },
          { type: "tool_use", id: "toolu_01A", name: "Bash", input: { command: "ls" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_01A", content: "README.md\nsrc" },
          { type: "text", text: "now summarize", cache_control: { type: "ephemeral" } },
        ],
      },
    ],
    thinking: { type: "adaptive" },
    context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
    output_config: { effort: "high" },
    metadata: { user_id: "user_abc_account__session_123" },
  };
}
