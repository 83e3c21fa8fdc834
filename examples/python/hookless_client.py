"""Talking to hooklessd over its Unix socket with the standard library only.

urllib and requests cannot dial a Unix socket as they come; http.client can, given a connection
whose connect() opens an AF_UNIX socket instead of a TCP one.
"""

import http.client
import json
import os
import socket

# The daemon's socket: $HOOKLESS_SOCKET, else the packaged default.
DEFAULT_SOCKET = os.environ.get("HOOKLESS_SOCKET", "/run/hookless/hookless.sock")


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection to a Unix socket; the host name only fills the Host header."""

    def __init__(self, socket_path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class HooklessError(Exception):
    """hooklessd refused a request: `status` is the HTTP status, `code` and `message` its error."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def call(method, path, body=None, socket_path=DEFAULT_SOCKET):
    """One call of the control API: returns (status, parsed JSON body or None)."""
    conn = UnixHTTPConnection(socket_path)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {} if payload is None else {"content-type": "application/json"}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        text = response.read()
        return response.status, (json.loads(text) if text else None)
    finally:
        conn.close()


def watch(run_ids, sinks=None, context=None, deadline=None, socket_path=DEFAULT_SOCKET):
    """Hands runs to hookless; it delivers each one to `sinks` (default: the config's
    default_sinks) when it finishes, with `context` in every event. Registering an ID again changes
    nothing, so retrying is safe. Returns the runs' records."""
    registrations = []
    for run_id in run_ids:
        registration = {"id": run_id}
        if sinks:
            registration["sinks"] = list(sinks)
        if context is not None:
            registration["context"] = context
        if deadline:
            registration["deadline"] = deadline
        registrations.append(registration)
    status, body = call("POST", "/v1/runs", {"runs": registrations}, socket_path)
    if status not in (200, 201):
        error = (body or {}).get("error", {})
        raise HooklessError(status, error.get("code"), error.get("message"))
    return body["runs"]
