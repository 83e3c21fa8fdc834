// The application's webhook endpoint: hookless POSTs each finished run here, signed the way Extend
// signs its webhooks, so the SDK's own verifier checks it. Answer 2xx once the event is handled;
// anything else (or no answer) and hookless retries.
//
//   EXTEND_WEBHOOK_SECRET=wss_... PORT=8080 node receiver.mjs
//
// Each verified event is printed as one JSON line: {"eventId", "eventType", "runId", "status", "context"}.
import { createServer } from "node:http";
import { ExtendClient } from "extend-ai";

const secret = process.env.EXTEND_WEBHOOK_SECRET;
const port = Number(process.env.PORT || 8080);
if (!secret) throw new Error("set EXTEND_WEBHOOK_SECRET to the sink's signing secret (wss_...)");

// Verifying needs no API key; the token is only required by the constructor.
const extend = new ExtendClient({ token: process.env.EXTEND_API_KEY || "unused-for-verification" });
const seen = new Set(); // deliveries can repeat (a retry, a restart): handle each eventId once

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    // Verify the raw body, exactly as received, before parsing it.
    const rawBody = Buffer.concat(chunks).toString("utf8");
    let event;
    try {
      event = extend.webhooks.verifyAndParse(rawBody, req.headers, secret);
    } catch (error) {
      console.error(`refused a request: ${error.message}`);
      res.writeHead(400).end();
      return;
    }
    if (!seen.has(event.eventId)) {
      seen.add(event.eventId);
      // The whole envelope (event.payload is the run as Extend returned it) is in the raw body;
      // hookless adds its own part, with the context given at registration.
      const envelope = JSON.parse(rawBody);
      console.log(
        JSON.stringify({
          eventId: event.eventId,
          eventType: event.eventType,
          runId: event.payload.id,
          status: event.payload.status,
          context: envelope.hookless?.context,
        }),
      );
    }
    res.writeHead(200).end();
  });
});
// PORT=0 picks a free port; the line below says which.
server.listen(port, "127.0.0.1", () => console.error(`listening on http://127.0.0.1:${server.address().port}/`));
