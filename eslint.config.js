// Lint: typescript-eslint's recommended rules, plus no `any` in contracts.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "**/.wrangler/", "src/worker-configuration.d.ts", "coverage/", "dist/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-template-curly-in-string": "off",
    },
  },
  {
    // Plain JS runs in Node (scripts/, bench/) or workerd (test fakes): declare the runtime globals it uses.
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: {
      globals: Object.fromEntries(
        [
          "process",
          "console",
          "fetch",
          "setTimeout",
          "clearTimeout",
          "Response",
          "Request",
          "ReadableStream",
          "TextEncoder",
          "URL",
          "performance",
          "AbortSignal",
        ].map((name) => [name, "readonly"]),
      ),
    },
  },
);
