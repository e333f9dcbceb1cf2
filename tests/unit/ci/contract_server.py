#!/usr/bin/env python3
"""Local contract servers for the GitHub and GitLab runner APIs (python3 stdlib only).

Usage: contract_server.py github <conformance-dir> <app-id> <app-public-key.pem> <plain-token>
       contract_server.py gitlab <conformance-dir> <api-token> <registration-token>
Prints "PORT <n>" once listening on 127.0.0.1 (or on $FIRERUN_TEST_BIND, e.g.
a test host's address in its own network namespace).

GitHub: routes, methods, path/query parameters and request bodies come from
github/rest-runners-subset.json (every operation in it, so new ones are served
too). Rejected: unknown path -> 404, method not in the path item -> 405, bad
Accept / X-GitHub-Api-Version -> 400/415, no User-Agent -> 403, missing or
wrong Authorization -> 401 (App endpoints want an RS256 App JWT whose
signature is checked with `openssl dgst` against the App's public key, iat/exp
within GitHub's limits and iss = app id; the others want the plain token or an
unexpired installation token this server issued), body not JSON -> 400, body
or query not matching the schema (required fields, types, minItems/maxItems,
unknown fields) -> 422. Installation tokens, JIT runners, runner lists (Link
pagination), get and delete are stateful; other operations answer with their
documented example. The encoded JIT config names this server
(`server_url`, from the Host the client used) and a per-runner `credential`;
the runner presents it at POST /broker/session (Authorization: RemoteAuth
<credential>), standing in for GitHub's runner broker: 200 marks the runner
online, an unknown credential is 401. The stand-in runner image
calls it from its VM over the guest network, as a real runner would.

GitLab: routes from the table in gitlab/api/ENDPOINTS.md (prefix /api/v4);
every listed endpoint has a handler. User-auth endpoints need PRIVATE-TOKEN or
Authorization: Bearer (JOB-TOKEN for job lookups) -> else 401; body fields are
checked per endpoint (required, types, enums, unknown fields) -> 400 as GitLab
documents; legacy registration with a wrong token -> 403, disabled -> 410.
Responses are the documented JSON with generated ids/tokens.

Control (JSON):
  POST /_control {"fail": [{"status": 500|429|403, "times": n, "path": regex,
                            "retry_after": s, "reset_in": s}],
                  "down_for": s,            # close the listener for s seconds (connection refused)
                  "token_ttl": s,           # GitHub installation token lifetime
                  "omit_link": bool,        # GitHub: no Link header on runner lists
                  "runners": [{"scope": "repos/o/r"|"orgs/o", "name": n, "busy": b}],
                  "jobs": [{"project_id": p, "id": j, "status": s, "tag_list": [...]}],
                  "registration_disabled": bool}
  GET /_requests -> accepted and rejected requests [{method, path, query, headers, body, status, response, client}]
  GET /_state -> runners and counters.
"""
import base64
import copy
import datetime
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FLAVOR = sys.argv[1]
CONF = sys.argv[2]

lock = threading.Lock()
state = {"fail": [], "token_ttl": 3600, "omit_link": False, "registration_disabled": False}
log = []
counters = {"injected": 0, "tokens_issued": 0}


class Reject(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


# ---------------------------------------------------------------- schema checks
class Schema:
    def __init__(self, root):
        self.root = root

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/")
            node = self.root
            for part in ref[2:].split("/"):
                node = node[part]
        return node

    def check(self, value, schema, where):
        schema = self.resolve(schema)
        if value is None:
            if schema.get("nullable"):
                return
            raise Reject(422, f"{where} must not be null")
        kind = schema.get("type")
        if "enum" in schema and value not in schema["enum"]:
            raise Reject(422, f"{where} is not one of {schema['enum']}")
        if kind == "object" or (kind is None and "properties" in schema):
            if not isinstance(value, dict):
                raise Reject(422, f"{where} must be an object")
            props = schema.get("properties", {})
            for req in schema.get("required", []):
                if req not in value:
                    raise Reject(422, f"{where}.{req} is missing")
            for key, item in value.items():
                if key not in props:
                    if schema.get("additionalProperties") in (None, False) and props:
                        raise Reject(422, f"{where}.{key} is not a known field")
                    continue
                self.check(item, props[key], f"{where}.{key}")
        elif kind == "array":
            if not isinstance(value, list):
                raise Reject(422, f"{where} must be an array")
            if len(value) < schema.get("minItems", 0):
                raise Reject(422, f"{where} needs at least {schema['minItems']} items")
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                raise Reject(422, f"{where} allows at most {schema['maxItems']} items")
            for i, item in enumerate(value):
                self.check(item, schema.get("items", {}), f"{where}[{i}]")
        elif kind == "string":
            if not isinstance(value, str):
                raise Reject(422, f"{where} must be a string")
        elif kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise Reject(422, f"{where} must be an integer")
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise Reject(422, f"{where} must be a number")
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise Reject(422, f"{where} must be a boolean")


def now():
    return int(time.time())


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- GitHub
class GitHub:
    def __init__(self, app_id, public_key, token):
        self.spec = json.load(open(os.path.join(CONF, "github", "rest-runners-subset.json")))
        self.schema = Schema(self.spec)
        self.app_id, self.public_key, self.plain_token = app_id, public_key, token
        self.tokens = {}  # token -> expiry
        self.runners = {}  # scope -> {id: runner}
        self.jit_credentials = {}  # JIT credential -> (scope, runner id)
        self.next_id = 100
        self.routes = []
        for template, item in self.spec["paths"].items():
            names = re.findall(r"\{([^}]+)\}", template)
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
            self.routes.append((re.compile(pattern), template, names, item))

    def params(self, op, item):
        out = []
        for p in item.get("parameters", []) + op.get("parameters", []):
            out.append(self.schema.resolve(p))
        return out

    def example(self, op):
        for code, resp in sorted(op["responses"].items()):
            if not code.startswith("2"):
                continue
            resp = self.schema.resolve(resp)
            content = resp.get("content", {}).get("application/json")
            if not content:
                return int(code), None
            ex = next(iter(content.get("examples", {}).values()), None)
            ex = self.schema.resolve(ex) if ex else None
            return int(code), copy.deepcopy(ex["value"]) if ex else {}
        raise Reject(500, "operation has no success response")

    def check_jwt(self, jwt):
        parts = jwt.split(".")
        if len(parts) != 3:
            raise Reject(401, "A JSON web token could not be decoded")

        def b64(s):
            if "=" in s:
                raise ValueError("padding")
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

        try:
            header, payload, signature = json.loads(b64(parts[0])), json.loads(b64(parts[1])), b64(parts[2])
        except Exception:
            raise Reject(401, "A JSON web token could not be decoded")
        if header.get("alg") != "RS256":
            raise Reject(401, "JWT alg must be RS256")
        iat, exp, iss = payload.get("iat"), payload.get("exp"), payload.get("iss")
        if not isinstance(iat, int) or not isinstance(exp, int):
            raise Reject(401, "JWT iat/exp must be integers")
        t = now()
        if iat > t + 5 or exp <= t or exp - iat > 660 or exp > t + 600 + 5:
            raise Reject(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(iss) != self.app_id:
            raise Reject(401, "'Issuer' claim ('iss') must be the App id")
        with tempfile.NamedTemporaryFile() as sig, tempfile.NamedTemporaryFile() as data:
            sig.write(signature)
            sig.flush()
            data.write((parts[0] + "." + parts[1]).encode())
            data.flush()
            ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.public_key, "-signature", sig.name,
                                 data.name], capture_output=True).returncode == 0
        if not ok:
            raise Reject(401, "JWT signature does not verify with the App's public key")

    def handle(self, method, path, query, headers, body, base):
        if path == "/broker/session":
            return self.broker_session(method, headers)
        for regex, template, names, item in self.routes:
            m = regex.match(path)
            if m:
                break
        else:
            raise Reject(404, "Not Found")
        op = item.get(method.lower())
        if not op:
            raise Reject(405, "Method Not Allowed")
        if headers.get("accept") != "application/vnd.github+json":
            raise Reject(415, "Accept must be application/vnd.github+json")
        if headers.get("x-github-api-version") != "2022-11-28":
            raise Reject(400, "X-GitHub-Api-Version must be a supported version (2022-11-28)")
        if not headers.get("user-agent"):
            raise Reject(403, "Request forbidden by administrative rules. Please make sure your request has a "
                              "User-Agent header")
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise Reject(401, "Requires authentication")
        bearer = auth[len("Bearer "):]
        if template.startswith("/app/"):
            self.check_jwt(bearer)
        else:
            with lock:
                expiry = self.tokens.get(bearer)
            if bearer != self.plain_token and (expiry is None or expiry <= now()):
                raise Reject(401, "Bad credentials")
        values = dict(zip(names, [urllib.parse.unquote(v) for v in m.groups()]))
        parsed_query = urllib.parse.parse_qs(query, keep_blank_values=True)
        declared = {p["name"]: p for p in self.params(op, item)}
        for name, value in values.items():
            if declared[name]["schema"].get("type") == "integer" and not re.fullmatch(r"[0-9]+", value):
                raise Reject(404, "Not Found")
        for name, value in parsed_query.items():
            p = declared.get(name)
            if not p or p["in"] != "query":
                raise Reject(422, f"unknown query parameter {name}")
            if len(value) != 1:
                raise Reject(422, f"query parameter {name} repeated")
            if p["schema"].get("type") == "integer" and not re.fullmatch(r"[0-9]+", value[0]):
                raise Reject(422, f"query parameter {name} must be an integer")
        request_body = op.get("requestBody")
        data = None
        if body:
            if not request_body:
                raise Reject(422, "this operation takes no body")
            if headers.get("content-type", "").split(";")[0] != "application/json":
                raise Reject(415, "Content-Type must be application/json")
            try:
                data = json.loads(body)
            except ValueError:
                raise Reject(400, "Problems parsing JSON")
            schema = self.schema.resolve(request_body)["content"]["application/json"]["schema"]
            self.schema.check(data, schema, "body")
        elif request_body and request_body.get("required"):
            raise Reject(422, "Invalid request. No body given.")
        handler = getattr(self, "op_" + op["operationId"].split("/")[1].replace("-", "_"), None)
        if handler is None:
            return self.example(op) + ({},)
        return handler(op, values, {k: v[0] for k, v in parsed_query.items()}, data, base)

    # stateful operations
    def scope(self, values):
        return f"orgs/{values['org']}" if "org" in values else f"repos/{values['owner']}/{values['repo']}"

    def op_create_installation_access_token(self, op, values, query, data, base):
        code, body = self.example(op)
        token = "ghs_" + secrets.token_hex(18)
        with lock:
            expiry = now() + int(state["token_ttl"])
            self.tokens[token] = expiry
            counters["tokens_issued"] += 1
        body["token"], body["expires_at"] = token, iso(expiry)
        return code, body, {}

    def add_runner(self, scope, name, labels, busy=False, group=1):
        with lock:
            existing = self.runners.setdefault(scope, {})
            if any(r["name"] == name for r in existing.values()):
                raise Reject(409, "Already exists - A runner with the same name already exists.")
            self.next_id += 1
            runner = {"id": self.next_id, "name": name, "os": "unknown", "status": "offline", "busy": busy,
                      "ephemeral": True, "runner_group_id": group,
                      "labels": [{"id": i + 1, "name": l, "type": "custom"} for i, l in enumerate(labels)]}
            existing[runner["id"]] = runner
            return runner

    def op_generate_runner_jitconfig_for_repo(self, op, values, query, data, base):
        code, body = self.example(op)
        runner = self.add_runner(self.scope(values), data["name"], data["labels"], group=data["runner_group_id"])
        credential = secrets.token_hex(16)
        with lock:
            self.jit_credentials[credential] = (self.scope(values), runner["id"])
        config = {"runner": runner["name"], "labels": data["labels"], "work_folder": data.get("work_folder", "_work"),
                  "server_url": base, "credential": credential}
        body["runner"] = {k: v for k, v in runner.items() if k != "runner_group_id"}
        body["encoded_jit_config"] = base64.b64encode(json.dumps(config).encode()).decode()
        return code, body, {}

    op_generate_runner_jitconfig_for_org = op_generate_runner_jitconfig_for_repo

    def op_list_self_hosted_runners_for_repo(self, op, values, query, data, base):
        per_page = min(int(query.get("per_page", 30)), 100)
        page = max(int(query.get("page", 1)), 1)
        with lock:
            runners = sorted(self.runners.get(self.scope(values), {}).values(), key=lambda r: r["id"])
        if "name" in query:
            runners = [r for r in runners if r["name"] == query["name"]]
        last = max(1, (len(runners) + per_page - 1) // per_page)
        chunk = runners[(page - 1) * per_page: page * per_page]
        headers = {}
        if page < last and not state["omit_link"]:
            link = base + "/" + self.scope(values) + "/actions/runners?per_page=%d&page=%d"
            headers["Link"] = f'<{link % (per_page, page + 1)}>; rel="next", <{link % (per_page, last)}>; rel="last"'
        return 200, {"total_count": len(runners),
                     "runners": [{k: v for k, v in r.items() if k != "runner_group_id"} for r in chunk]}, headers

    op_list_self_hosted_runners_for_org = op_list_self_hosted_runners_for_repo

    def find_runner(self, values):
        with lock:
            runner = self.runners.get(self.scope(values), {}).get(int(values["runner_id"]))
        if not runner:
            raise Reject(404, "Not Found")
        return runner

    def op_get_self_hosted_runner_for_repo(self, op, values, query, data, base):
        runner = self.find_runner(values)
        return 200, {k: v for k, v in runner.items() if k != "runner_group_id"}, {}

    op_get_self_hosted_runner_for_org = op_get_self_hosted_runner_for_repo

    def op_delete_self_hosted_runner_from_repo(self, op, values, query, data, base):
        runner = self.find_runner(values)
        if runner["busy"]:
            raise Reject(422, "Bad request - Runner \"%s\" is still running a job\"" % runner["name"])
        with lock:
            self.runners[self.scope(values)].pop(runner["id"], None)
        return 204, None, {}

    op_delete_self_hosted_runner_from_org = op_delete_self_hosted_runner_from_repo

    def broker_session(self, method, headers):
        if method != "POST":
            raise Reject(405, "Method Not Allowed")
        auth = headers.get("authorization", "")
        with lock:
            where = self.jit_credentials.get(auth[len("RemoteAuth "):]) if auth.startswith("RemoteAuth ") else None
            runner = self.runners.get(where[0], {}).get(where[1]) if where else None
            if not runner:
                raise Reject(401, "Runner credential is not valid")
            runner["status"] = "online"
        return 200, {"session_id": secrets.token_hex(8), "runner": runner["name"]}, {}

    def control(self, update):
        for r in update.get("runners", []):
            self.add_runner(r["scope"], r["name"], r.get("labels", ["self-hosted"]), r.get("busy", False))

    def snapshot(self):
        return {"runners": {s: list(v.values()) for s, v in self.runners.items()}}

    @staticmethod
    def error_body(status, message):
        return {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}

    @staticmethod
    def rate_limit_headers(status, retry_after, reset_in):
        h = {}
        if retry_after is not None:
            h["Retry-After"] = str(retry_after)
        if reset_in is not None:
            h["x-ratelimit-remaining"] = "0"
            h["x-ratelimit-reset"] = str(now() + int(reset_in))
        return h


# ---------------------------------------------------------------- GitLab
RUNNER_FIELDS = {"description": str, "paused": bool, "locked": bool, "run_untagged": bool, "tag_list": (list, str),
                 "access_level": str, "maximum_timeout": int, "maintenance_note": str}


class GitLab:
    def __init__(self, api_token, registration_token):
        api = os.path.join(CONF, "gitlab", "api")
        self.api_token, self.registration_token = api_token, registration_token
        self.responses = {n[: -len(".response.json")]: json.load(open(os.path.join(api, n)))
                          for n in os.listdir(api) if n.endswith(".response.json")}
        self.endpoints = []
        for line in open(os.path.join(api, "ENDPOINTS.md")):
            m = re.match(r"^\|\s*\d+\s*\|\s*`(GET|POST|PUT|DELETE|PATCH) ([^`\s]+)`[^|]*\|\s*([^|]*)\|", line)
            if m:
                method, path, auth = m.groups()
                pattern = "^/api/v4" + re.sub(r":[a-z_]+", "([^/]+)", path) + "$"
                self.endpoints.append((method, path, re.compile(pattern), not auth.strip().startswith("no ")))
        self.runners = {}  # id -> runner
        self.jobs = {}  # (project, job) -> job
        self.next_id = 9171

    HANDLERS = {
        ("POST", "/user/runners"): "create_user_runner",
        ("POST", "/runners"): "register_runner",
        ("DELETE", "/runners"): "delete_by_token",
        ("DELETE", "/runners/:id"): "delete_by_id",
        ("POST", "/runners/verify"): "verify_runner",
        ("GET", "/projects/:id/jobs/:job_id"): "get_job",
        ("GET", "/runners/:id"): "get_runner",
    }

    def handle(self, method, path, query, headers, body, base):
        matches = [e for e in self.endpoints if e[2].match(path)]
        if not matches:
            raise Reject(404, "404 Not Found")
        endpoint = next((e for e in matches if e[0] == method), None)
        if not endpoint:
            raise Reject(405, "405 Method Not Allowed")
        method, template, regex, user_auth = endpoint
        values = regex.match(path).groups()
        if user_auth:
            presented = headers.get("private-token")
            if presented is None and headers.get("authorization", "").startswith("Bearer "):
                presented = headers["authorization"][len("Bearer "):]
            if presented is None and template.startswith("/projects/"):
                presented = headers.get("job-token")
            if presented != self.api_token:
                raise Reject(401, "401 Unauthorized")
        data = {}
        if body:
            ctype = headers.get("content-type", "").split(";")[0]
            if ctype == "application/json":
                try:
                    data = json.loads(body)
                except ValueError:
                    raise Reject(400, "400 Bad request - body is not valid JSON")
                if not isinstance(data, dict):
                    raise Reject(400, "400 Bad request - body must be an object")
            elif ctype == "application/x-www-form-urlencoded":
                data = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
            else:
                raise Reject(415, "415 Unsupported Media Type")
        for v in values:
            if not re.fullmatch(r"[0-9]+", v) and not (template.startswith("/projects/") and v == values[0]):
                raise Reject(404, "404 Not Found")
        name = self.HANDLERS.get((method, template))
        if not name:
            raise Reject(501, f"contract server has no handler for {method} {template}")
        return getattr(self, name)(values, data)

    @staticmethod
    def fields(data, required, optional):
        for key, kind in required.items():
            if key not in data:
                raise Reject(400, f"{key} is missing")
        for key, value in data.items():
            kind = required.get(key, optional.get(key))
            if kind is None:
                raise Reject(400, f"{key} does not have a valid value (unknown parameter)")
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise Reject(400, f"{key} is invalid")
            if kind is not int and not isinstance(value, kind if isinstance(kind, tuple) else (kind,)):
                raise Reject(400, f"{key} is invalid")
            if key == "tag_list" and isinstance(value, list) and not all(isinstance(t, str) for t in value):
                raise Reject(400, "tag_list is invalid")
            if key == "access_level" and value not in ("not_protected", "ref_protected"):
                raise Reject(400, "access_level does not have a valid value")

    def new_runner(self, data, token, runner_type):
        with lock:
            self.next_id += 1
            tags = data.get("tag_list", [])
            if isinstance(tags, str):
                tags = [t for t in tags.split(",") if t]
            runner = {"id": self.next_id, "token": token, "description": data.get("description", ""),
                      "tag_list": tags, "run_untagged": data.get("run_untagged", True), "runner_type": runner_type}
            self.runners[runner["id"]] = runner
        body = copy.deepcopy(self.responses["create-user-runner"])
        body.update({"id": runner["id"], "token": token})
        return 201, body, {}

    def create_user_runner(self, values, data):
        self.fields(data, {"runner_type": str}, dict(RUNNER_FIELDS, group_id=int, project_id=int))
        kind = data["runner_type"]
        if kind not in ("instance_type", "group_type", "project_type"):
            raise Reject(400, "runner_type does not have a valid value")
        if kind == "group_type" and "group_id" not in data:
            raise Reject(400, "group_id is missing")
        if kind == "project_type" and "project_id" not in data:
            raise Reject(400, "project_id is missing")
        return self.new_runner(data, "glrt-" + secrets.token_hex(10), kind)

    def register_runner(self, values, data):
        self.fields(data, {"token": str}, dict(RUNNER_FIELDS, info=dict))
        if state["registration_disabled"]:
            raise Reject(410, "410 Gone - runner registration disallowed")
        if data["token"] != self.registration_token:
            raise Reject(403, "403 Forbidden - invalid token supplied")
        data = {k: v for k, v in data.items() if k != "token"}
        return self.new_runner(data, secrets.token_hex(15), "instance_type")

    def runner_by_token(self, data):
        with lock:
            return next((r for r in self.runners.values() if r["token"] == data["token"]), None)

    def delete_by_token(self, values, data):
        self.fields(data, {"token": str}, {})
        runner = self.runner_by_token(data)
        if not runner:
            raise Reject(403, "403 Forbidden")
        with lock:
            self.runners.pop(runner["id"], None)
        return 204, None, {}

    def delete_by_id(self, values, data):
        self.fields(data, {}, {})
        with lock:
            if self.runners.pop(int(values[0]), None) is None:
                raise Reject(404, "404 Runner Not Found")
        return 204, None, {}

    def verify_runner(self, values, data):
        self.fields(data, {"token": str}, {"system_id": str})
        runner = self.runner_by_token(data)
        if not runner or (data["token"].startswith("glrt-") and "system_id" not in data):
            raise Reject(403, "403 Forbidden")
        body = copy.deepcopy(self.responses["verify-runner"])
        body.update({"id": runner["id"], "token": runner["token"]})
        return 200, body, {}

    def get_job(self, values, data):
        self.fields(data, {}, {})
        key = (urllib.parse.unquote(values[0]), int(values[1]))
        with lock:
            job = self.jobs.get(key)
        if not job:
            raise Reject(404, "404 Not found")
        return 200, job, {}

    def get_runner(self, values, data):
        self.fields(data, {}, {})
        with lock:
            runner = self.runners.get(int(values[0]))
        if not runner:
            raise Reject(404, "404 Not found")
        body = copy.deepcopy(self.responses["get-runner"])
        body.update({k: runner[k] for k in ("id", "description", "tag_list", "runner_type")})
        return 200, body, {}

    def control(self, update):
        for j in update.get("jobs", []):
            job = copy.deepcopy(self.responses["get-job"])
            job.update({k: v for k, v in j.items() if k != "project_id"})
            with lock:
                self.jobs[(str(j["project_id"]), j["id"])] = job

    def snapshot(self):
        return {"runners": list(self.runners.values())}

    @staticmethod
    def error_body(status, message):
        return {"message": message} if status != 400 else {"error": message}

    @staticmethod
    def rate_limit_headers(status, retry_after, reset_in):
        h = {"RateLimit-Remaining": "0"} if status == 429 else {}
        if retry_after is not None:
            h["Retry-After"] = str(retry_after)
        if reset_in is not None:
            h["RateLimit-Reset"] = str(now() + int(reset_in))
        return h


if FLAVOR == "github":
    api = GitHub(sys.argv[3], sys.argv[4], sys.argv[5])
else:
    api = GitLab(sys.argv[3], sys.argv[4])


# ---------------------------------------------------------------- HTTP plumbing
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=None):
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if url.path.startswith("/_"):
            return self.control(url.path, body)
        entry = {"method": self.command, "path": url.path, "query": url.query, "headers": headers,
                 "body": body.decode("utf-8", "replace"), "client": self.client_address[0]}
        try:
            with lock:
                rule = next((r for r in state["fail"] if r["times"] > 0 and re.search(r.get("path", ""), url.path)),
                            None)
                if rule:
                    rule["times"] -= 1
                    counters["injected"] += 1
            if rule:
                status = rule["status"]
                extra = api.rate_limit_headers(status, rule.get("retry_after"), rule.get("reset_in"))
                message = "API rate limit exceeded" if status in (403, 429) else "Internal Server Error"
                raise Reject(status, message, extra)
            base = "http://" + self.headers.get("Host", "127.0.0.1")
            status, payload, extra = api.handle(self.command, url.path, url.query, headers, body, base)
        except Reject as e:
            status, payload, extra = e.status, api.error_body(e.status, e.message), e.headers
        entry["status"] = status
        entry["response"] = payload
        with lock:
            log.append(entry)
        self.send(status, payload, extra)

    def control(self, path, body):
        if path == "/_control" and self.command == "POST":
            update = json.loads(body or b"{}")
            with lock:
                for key in ("token_ttl", "omit_link", "registration_disabled"):
                    if key in update:
                        state[key] = update[key]
                for rule in update.get("fail", []):
                    state["fail"].append(dict(rule))
            api.control(update)
            self.send(200, {"ok": True})
            if update.get("down_for"):
                threading.Thread(target=go_down, args=(float(update["down_for"]),), daemon=True).start()
        elif path == "/_requests":
            with lock:
                self.send(200, list(log))
        elif path == "/_state":
            with lock:
                self.send(200, dict(api.snapshot(), **counters))
        else:
            self.send(404, {"message": "unknown control path"})

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = dispatch


server = None
port = 0


def serve():
    global server
    server = ThreadingHTTPServer((os.environ.get("FIRERUN_TEST_BIND", "127.0.0.1"), port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()


def go_down(seconds):
    time.sleep(0.05)  # let the control response leave first
    server.shutdown()
    server.server_close()
    time.sleep(seconds)
    serve()


serve()
port = server.server_address[1]
print(f"PORT {port}", flush=True)
threading.Event().wait()
