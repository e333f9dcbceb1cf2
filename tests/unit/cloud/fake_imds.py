#!/usr/bin/env python3
"""A local IMDSv2 stand-in for the credentials and spot-interruption tests.

Enforces the v2 session-token protocol (PUT /latest/api/token with a TTL
header; 401 on metadata GETs without a valid token) and serves one role's
credentials, and spot/instance-action once a test sets "spot_action" (the
document's text; null = 404, no interruption scheduled). Tests steer it through
POST /_control (JSON) and read request counters from GET /_stats. Prints "PORT <n>" once listening on 127.0.0.1.
"""
import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLES = "/latest/meta-data/iam/security-credentials/"
state = {
    "role": "firerun-test-role",
    "access_key": "ASIAFAKEIMDS0001",
    "secret": "imds-secret-value-0001",
    "token": "imds-session-token-0001",
    "expiration": "2030-01-01T00:00:00Z",
    "code": "Success",
    "fail_credentials": False,
    "spot_action": None,
}
tokens = set()
stats = {"token_puts": 0, "credential_gets": 0, "unauthorized": 0, "spot_gets": 0}
SPOT_ACTION = "/latest/meta-data/spot/instance-action"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_PUT(self):
        self.read_body()
        if self.path != "/latest/api/token":
            return self.reply(404)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.reply(400, b"missing or invalid X-aws-ec2-metadata-token-ttl-seconds")
        token = secrets.token_urlsafe(24)
        tokens.add(token)
        stats["token_puts"] += 1
        self.reply(200, token.encode())

    def do_POST(self):
        body = self.read_body()
        if self.path != "/_control":
            return self.reply(404)
        update = json.loads(body or b"{}")
        if update.pop("revoke_tokens", False):
            tokens.clear()
        state.update(update)
        self.reply(200, b"ok")

    def do_GET(self):
        if self.path == "/_stats":
            return self.reply(200, json.dumps(stats).encode(), "application/json")
        if not self.path.startswith("/latest/"):
            return self.reply(404)
        if self.headers.get("X-aws-ec2-metadata-token") not in tokens:
            stats["unauthorized"] += 1
            return self.reply(401)
        if self.path == SPOT_ACTION:
            stats["spot_gets"] += 1
            if state["spot_action"] is None:
                return self.reply(404)
            return self.reply(200, state["spot_action"].encode(), "application/json")
        if self.path == ROLES:
            if not state["role"]:
                return self.reply(404)
            return self.reply(200, state["role"].encode())
        if self.path == ROLES + state["role"]:
            stats["credential_gets"] += 1
            if state["fail_credentials"]:
                return self.reply(500, b"internal error")
            doc = {
                "Code": state["code"],
                "LastUpdated": "2029-12-31T18:00:00Z",
                "Type": "AWS-HMAC",
                "AccessKeyId": state["access_key"],
                "SecretAccessKey": state["secret"],
                "Token": state["token"],
                "Expiration": state["expiration"],
            }
            return self.reply(200, json.dumps(doc).encode(), "application/json")
        self.reply(404)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("PORT", server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
