// Verifies callback requests with the official Extend SDK (extend-ai, pinned in package.json), the
// way an application's webhook handler would: client.webhooks.verifyAndParse(rawBody, headers, secret).
// Input (argv[2], a JSON file): {"secret": "wss_...", "requests": [{"headers": {...}, "body_base64": "..."}]}.
// Output (stdout, JSON): {"results": [{"ok": true, "eventId": "...", "eventType": "..."} | {"ok": false, "error": "..."}]}.
// The SDK rejects timestamps older than 300 s, so run this soon after the requests arrived.
import { readFileSync } from "node:fs";
import { ExtendClient } from "extend-ai";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const client = new ExtendClient({ token: "sk_unused_for_verification" });
const results = input.requests.map(({ headers, body_base64 }) => {
  // What Express's raw body parser hands a handler: the bytes as received, decoded as UTF-8.
  const body = Buffer.from(body_base64, "base64").toString("utf8");
  try {
    const event = client.webhooks.verifyAndParse(body, headers, input.secret);
    return { ok: true, eventId: event.eventId, eventType: event.eventType };
  } catch (error) {
    return { ok: false, error: `${error.name}: ${error.message}` };
  }
});
process.stdout.write(JSON.stringify({ results }) + "\n");
