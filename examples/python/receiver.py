#!/usr/bin/env python3
"""The application's webhook endpoint, standard library only: hookless POSTs each finished run
here, signed the way Extend signs its webhooks. Answer 2xx once the event is handled; anything else
(or no answer) and hookless retries.

    EXTEND_WEBHOOK_SECRET=wss_... PORT=8080 python3 receiver.py

Each verified event is printed as one JSON line: {"eventId", "eventType", "runId", "status", "context"}.
"""

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("EXTEND_WEBHOOK_SECRET", "")
PORT = int(os.environ.get("PORT", "8080"))
TOLERANCE = 300  # seconds: refuse older (or far future) timestamps, so a captured request cannot be replayed


def verify(raw_body: bytes, headers, secret: str, now=None) -> bool:
    """x-extend-request-signature is the lowercase hex HMAC-SHA256 of "v0:{timestamp}:{raw body}",
    keyed by the whole signing secret (wss_ prefix included)."""
    timestamp = headers.get("x-extend-request-timestamp", "")
    signature = headers.get("x-extend-request-signature", "")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > TOLERANCE:
        return False
    message = b"v0:" + timestamp.encode() + b":" + raw_body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class Receiver(BaseHTTPRequestHandler):
    seen = set()  # deliveries can repeat (a retry, a restart): handle each eventId once

    def do_POST(self):
        raw_body = self.rfile.read(int(self.headers.get("content-length", "0")))
        # Verify the raw body, exactly as received, before parsing it.
        if not verify(raw_body, self.headers, SECRET):
            print("refused a request: bad signature or timestamp", file=sys.stderr, flush=True)
            self.send_response(400)
            self.end_headers()
            return
        event = json.loads(raw_body)
        if event["eventId"] not in self.seen:
            self.seen.add(event["eventId"])
            run = event["payload"]  # the run as Extend returned it
            print(json.dumps({
                "eventId": event["eventId"],
                "eventType": event["eventType"],
                "runId": run["id"],
                "status": run.get("status"),
                "context": event.get("hookless", {}).get("context"),
            }, separators=(",", ":")), flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format, *args):  # keep stdout for the events
        pass


if __name__ == "__main__":
    if not SECRET:
        sys.exit("set EXTEND_WEBHOOK_SECRET to the sink's signing secret (wss_...)")
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Receiver)
    # PORT=0 picks a free port; this line says which.
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", file=sys.stderr, flush=True)
    server.serve_forever()
