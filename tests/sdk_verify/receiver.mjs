// An independent webhook receiver for the black-box tests, written the way an application writes its
// Extend webhook handler: 200 only for a request the official SDK (extend-ai, pinned in package.json)
// verifies with client.webhooks.verifyAndParse(rawBody, headers, secret), 400 for anything else. It
// also fails on purpose part of the time: request n (0-based) with n % FAIL_EVERY == 0 gets a 503
// before it is looked at.
// Usage: node receiver.mjs PORT SECRET LOG FAIL_EVERY. Listens on 127.0.0.1:PORT and prints
// "listening" once it does. Appends one JSON line per request to LOG before answering it:
// {"n", "answer", "eventId" (when verified), "error" (when refused), "headers", "body_base64"}.
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";
import { ExtendClient } from "extend-ai";

const [port, secret, log, failEvery] = process.argv.slice(2);
const client = new ExtendClient({ token: "sk_unused_for_verification" });
let count = 0;

const server = createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const raw = Buffer.concat(chunks);
    const entry = { n: count++, headers: request.headers, body_base64: raw.toString("base64") };
    if (entry.n % Number(failEvery) === 0) {
      entry.answer = 503;
    } else {
      try {
        const event = client.webhooks.verifyAndParse(raw.toString("utf8"), request.headers, secret);
        entry.answer = 200;
        entry.eventId = event.eventId;
      } catch (error) {
        entry.answer = 400;
        entry.error = `${error.name}: ${error.message}`;
      }
    }
    appendFileSync(log, JSON.stringify(entry) + "\n");
    response.writeHead(entry.answer, { "content-type": "text/plain" });
    response.end(entry.answer === 200 ? "ok" : "refused");
  });
});
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("listening\n"));
