/**
 * Headers for the gateway's own HTML pages (consent, status): no scripts at
 * all, inline styles only, forms only to this origin, never framed, never
 * cached, no referrer leaking URLs.
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};
