/** The status page's usage section: per-model charts of the last 24 hours and 30 days, and each budget's use. */
import { describe, expect, it } from "vitest";
import { api, createTenant, openaiModel, registerModel, uniqueId } from "./helpers";

describe("status page usage", () => {
  it("charts requests and tokens per model as SVG, and shows each budget's use; a user key sees its own calls", async () => {
    const tenant = await createTenant({ grantCanary: true });
    await registerModel(tenant, openaiModel("gpt", uniqueId("st")));
    await api("PATCH", `/api/v1/keys/${tenant.userKeyId}`, { token: tenant.adminKey, body: { budget: { period: "day", tokens: 1000 } } });
    const chat = (token: string) =>
      api("POST", "/v1/chat/completions", { token, body: { model: "gpt", max_tokens: 10, messages: [{ role: "user", content: "chart me" }] } });
    expect((await chat(tenant.userKey)).status).toBe(200);
    expect((await chat(tenant.adminKey)).status).toBe(200);

    const admin = await api("GET", "/status", { token: tenant.adminKey });
    expect(admin.status).toBe(200);
    expect(admin.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(admin.text).not.toMatch(/<script/i);
    const row = /<tr data-usage-model="gpt">(.*?)<\/tr>/s.exec(admin.text)?.[1] ?? "";
    expect(row.match(/<svg class="usage-chart"/g)).toHaveLength(2);
    expect(row.match(/<rect /g)).toHaveLength(24 + 30);
    expect(row).toMatch(/2 requests, \d+ tokens/);
    expect(admin.text).toMatch(
      new RegExp(`<tr data-budget="${tenant.userKeyId}">.*per day.*1000 tokens.*\\d+ tokens.*<svg class="budget-meter"`, "s"),
    );

    const user = await api("GET", "/status", { token: tenant.userKey });
    expect(/<tr data-usage-model="gpt">(.*?)<\/tr>/s.exec(user.text)?.[1]).toMatch(/1 requests, \d+ tokens/);
  });
});
