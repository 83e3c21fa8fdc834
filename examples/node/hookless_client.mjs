// Talking to hooklessd over its Unix socket with nothing but node:http. fetch() cannot dial a Unix
// socket; http.request() can, with `socketPath`.
import { request } from "node:http";

// The daemon's socket: $HOOKLESS_SOCKET, else the packaged default.
export const defaultSocket = process.env.HOOKLESS_SOCKET || "/run/hookless/hookless.sock";

// One call of the control API: resolves to { status, body } with the JSON body parsed, or rejects
// when the daemon cannot be reached.
export function callHookless(method, path, body, socketPath = defaultSocket) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload === undefined ? {} : { "content-type": "application/json" },
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

// Hands a run to hookless: it polls Extend and delivers the finished run to `sinks` (default: the
// config's default_sinks), with `context` handed back in every event. Registering the same ID again
// changes nothing, so it is safe to retry. Answers the run's record.
export async function watchRun(id, { sinks, context, deadline, socketPath } = {}) {
  const registration = { id };
  if (sinks) registration.sinks = sinks;
  if (context) registration.context = context;
  if (deadline) registration.deadline = deadline;
  const { status, body } = await callHookless("POST", "/v1/runs", registration, socketPath);
  if (status !== 200 && status !== 201) {
    throw new Error(`hookless refused ${id}: ${body?.error?.code}: ${body?.error?.message}`);
  }
  return body;
}
