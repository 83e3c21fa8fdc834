// Starts an extract run with the official Extend SDK and hands it to hookless, which tells the
// receiver (receiver.mjs) when it finishes: no polling loop here, no public webhook endpoint.
//
//   EXTEND_API_KEY=sk_... HOOKLESS_SOCKET=/run/hookless/hookless.sock \
//     node start_run.mjs https://example.com/invoice.pdf [SINK]
//
// EXTEND_BASE_URL points the SDK at another host (a regional one, or the simulator in the tests).
import { ExtendClient } from "extend-ai";
import { watchRun } from "./hookless_client.mjs";

const [fileUrl = "https://example.com/invoice.pdf", sink] = process.argv.slice(2);

const extend = new ExtendClient({
  token: process.env.EXTEND_API_KEY,
  ...(process.env.EXTEND_BASE_URL ? { baseUrl: process.env.EXTEND_BASE_URL } : {}),
});

// 1. Start the run as usual. It answers at once, while the run is still PROCESSING.
const run = await extend.extractRuns.create({
  file: { url: fileUrl },
  metadata: { source: "hookless-example-node" },
});
console.log(`created ${run.id} (${run.status})`);

// 2. Hand its ID to hookless. The context comes back in every event of the run.
const answer = await watchRun(run.id, {
  sinks: sink ? [sink] : undefined,
  context: { fileUrl, startedBy: "start_run.mjs" },
});
const record = answer.runs ? answer.runs[0] : answer;
console.log(`hookless is watching ${record.id} (${record.kind}, ${record.state})`);
