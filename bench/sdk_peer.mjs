// The benchmark's peer: an application waiting for its Extend runs with the official SDK's own helper
// (extend-ai, pinned in tests/sdk_verify), pollUntilDone over client.extractRuns.retrieve, one
// helper per run, all at once, as createAndPoll does after each create.
// Input (argv[2], JSON): {"baseUrl", "apiKey", "ids": [...], "deadlineMs", "out"}. The fake's CA
// comes in through NODE_EXTRA_CA_CERTS. Output: `out` gets {"runs": [{"id", "ok": true, "atMs"} |
// {"id", "ok": false, "error": kind of failure}]} (atMs: wall-clock milliseconds when the helper returned), then
// `out`.done appears; the process then idles until SIGTERM so the bench can read its /proc figures.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { ExtendClient } from "extend-ai";
import { pollUntilDone } from "extend-ai/wrapper/utilities/polling/index.js";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const client = new ExtendClient({ token: input.apiKey, baseUrl: input.baseUrl });
// The SDK's own rule (ExtractRunsWrapper's isTerminalStatus).
const finished = (run) => run.status !== "PENDING" && run.status !== "PROCESSING" && run.status !== "CANCELLING";
const now = () => performance.timeOrigin + performance.now();

const results = new Map();
const helpers = input.ids.map((id) =>
  pollUntilDone(() => client.extractRuns.retrieve(id), finished).then(
    () => results.set(id, { id, ok: true, atMs: now() }),
    (error) => results.set(id, { id, ok: false, error: error.statusCode ? `${error.name} (HTTP ${error.statusCode})` : `${error.name}: ${error.message}`.slice(0, 120) }),
  ),
);
const deadline = new Promise((resolve) => setTimeout(resolve, input.deadlineMs).unref());
await Promise.race([Promise.all(helpers), deadline]);

const runs = input.ids.map((id) => results.get(id) ?? { id, ok: false, error: "still waiting at the deadline" });
writeFileSync(input.out, JSON.stringify({ runs }));
writeFileSync(`${input.out}.done.tmp`, "done\n");
renameSync(`${input.out}.done.tmp`, `${input.out}.done`);
setInterval(() => {}, 1 << 30);
process.on("SIGTERM", () => process.exit(0));
