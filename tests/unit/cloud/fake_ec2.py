#!/usr/bin/env python3
"""A local EC2 Query API endpoint for the cloud tests (python3 stdlib only).

Usage: fake_ec2.py <conformance-aws-dir>. Prints "PORT <n>" once listening on 127.0.0.1.

Every request is checked against the operation shapes in ec2-subset.json:
Action and Version, each flattened parameter name resolved through the input
shape (lists as Name.N, structures as Name.Member, EC2 wire names from
queryName/locationName), scalar types and enums, required members; unknown
parameters are rejected. The SigV4 Authorization header must be present and
well formed, and when the test told us the secret (POST /_control
{"secret": ...}) the signature is recomputed and must match.

Answers are the documented XML from ec2-responses/: served verbatim in
"documented" mode, otherwise used as templates filled from a small in-memory
EC2 (instances launched by RunInstances/CreateFleet). CreateFleet and
DescribeInstanceTypes have no documented sample; their XML is built from the
output shape's wire names.

Control (JSON): POST /_control {"mode": "documented"|"stateful", "secret": s,
  "fail": [{"action": "CreateFleet"|"*", "error": "InsufficientInstanceCapacity"|
            "RequestLimitExceeded"|"http500"|<any code>, "times": n,
            "instance_type": "m5.large", "market": "spot"|"on-demand"}],
  "fleet_no_capacity": ["m5.large", ...]}   # spot pools CreateFleet reports in errorSet
GET /_requests -> [{"action":..., "params": {...}}]; GET /_stats -> counters.
"""
import copy
import datetime
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AWS_DIR = sys.argv[1]
MODEL = json.load(open(os.path.join(AWS_DIR, "ec2-subset.json")))
SHAPES = MODEL["shapes"]
OPERATIONS = MODEL["operations"]
API_VERSION = MODEL["metadata"]["apiVersion"]
RESP_DIR = os.path.join(AWS_DIR, "ec2-responses")
NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
ET.register_namespace("", NS)

lock = threading.Lock()
state = {"mode": "stateful", "secret": None, "fail": [], "fleet_no_capacity": []}
instances = {}  # id -> dict
requests_log = []
stats = {"requests": 0, "rejected": 0, "signature_checked": 0}
counter = [0]


def kebab(action):
    return re.sub(r"(?<!^)([A-Z])", r"-\1", action).lower()


def documented_file(action):
    """The documented sample for an action: aws-docs first, then botocore."""
    for path in (os.path.join(RESP_DIR, "aws-docs", kebab(action) + ".xml"),
                 os.path.join(RESP_DIR, "botocore", "ec2-" + kebab(action) + ".xml")):
        if os.path.exists(path):
            return path
    return None


# ---------- request validation against the model ----------

class Invalid(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def wire_name(member_name, member):
    if "queryName" in member:
        return member["queryName"]
    name = member.get("locationName", member_name)
    return name[0].upper() + name[1:]


def check_scalar(shape_name, value, key):
    shape = SHAPES[shape_name]
    t = shape["type"]
    if t in ("integer", "long"):
        if not re.fullmatch(r"-?\d+", value):
            raise Invalid("InvalidParameterValue", f"{key}: '{value}' is not an integer")
        v = int(value)
        if "min" in shape and v < shape["min"]:
            raise Invalid("InvalidParameterValue", f"{key}: {v} below minimum {shape['min']}")
        if "max" in shape and v > shape["max"]:
            raise Invalid("InvalidParameterValue", f"{key}: {v} above maximum {shape['max']}")
    elif t == "boolean":
        if value not in ("true", "false"):
            raise Invalid("InvalidParameterValue", f"{key}: '{value}' is not true/false")
    elif t in ("double", "float"):
        try:
            float(value)
        except ValueError:
            raise Invalid("InvalidParameterValue", f"{key}: '{value}' is not a number")
    elif t == "timestamp":
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
            raise Invalid("InvalidParameterValue", f"{key}: '{value}' is not an ISO 8601 timestamp")
    elif t == "string":
        if "enum" in shape and value not in shape["enum"]:
            raise Invalid("InvalidParameterValue", f"{key}: '{value}' is not one of {shape['enum']}")
    elif t == "blob":
        pass
    else:
        raise Invalid("InvalidParameterValue", f"{key}: a {t} needs sub-keys")


def resolve(shape_name, parts, key, seen):
    """Walks one flattened key through the model; records structure paths for required checks."""
    shape = SHAPES[shape_name]
    t = shape["type"]
    if t == "structure":
        if not parts:
            raise Invalid("InvalidParameterValue", f"{key}: a structure needs a member")
        by_wire = {wire_name(n, m): (n, m) for n, m in shape["members"].items()}
        if parts[0] not in by_wire:
            raise Invalid("UnknownParameter", f"The parameter {key} is not recognized")
        seen.append((shape_name, parts[0]))
        return resolve(by_wire[parts[0]][1]["shape"], parts[1:], key, seen)
    if t == "list":
        if not parts or not re.fullmatch(r"[1-9]\d*", parts[0]):
            raise Invalid("InvalidParameterValue", f"{key}: list items are numbered from 1")
        return resolve(shape["member"]["shape"], parts[1:], key, seen)
    if t == "map":
        raise Invalid("UnknownParameter", f"{key}: maps are not used by EC2")
    if parts:
        raise Invalid("UnknownParameter", f"The parameter {key} is not recognized")
    return shape_name


def validate(params):
    action = params.pop("Action", None)
    version = params.pop("Version", None)
    if action not in OPERATIONS:
        raise Invalid("InvalidAction", f"The action {action} is not valid for this web service.")
    if version != API_VERSION:
        raise Invalid("NoSuchVersion", f"An invalid or unsupported version {version} was specified.")
    input_shape = OPERATIONS[action]["input"]["shape"]
    for key, value in params.items():
        scalar = resolve(input_shape, key.split("."), key, [])
        check_scalar(scalar, value, key)
    # List members are named Name.N without their list wrapper's name: check from the top.
    check_required_lists(input_shape, "", set(params))
    return action


def check_required_lists(shape_name, prefix, keys):
    shape = SHAPES[shape_name]
    if shape["type"] == "structure":
        for req in shape.get("required", []):
            p = prefix + wire_name(req, shape["members"][req])
            if not any(k == p or k.startswith(p + ".") for k in keys):
                raise Invalid("MissingParameter", f"The request must contain the parameter {p}")
        for n, m in shape["members"].items():
            p = prefix + wire_name(n, m)
            if any(k.startswith(p + ".") for k in keys):
                check_required_lists(m["shape"], p + ".", keys)
    elif shape["type"] == "list":
        member = shape["member"]["shape"]
        idx = sorted({k[len(prefix):].split(".")[0] for k in keys if k.startswith(prefix)})
        for i in idx:
            if SHAPES[member]["type"] == "structure":
                check_required_lists(member, f"{prefix}{i}.", keys)


AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([A-Za-z0-9]+)/(\d{8})/([a-z0-9-]+)/ec2/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})")


def check_signature(handler, body):
    auth = handler.headers.get("Authorization", "")
    m = AUTH_RE.fullmatch(auth)
    if not m:
        raise Invalid("IncompleteSignature", "Authorization header missing or malformed")
    akid, date, region, signed, signature = m.groups()
    amz_date = handler.headers.get("X-Amz-Date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or not amz_date.startswith(date):
        raise Invalid("IncompleteSignature", "X-Amz-Date missing or inconsistent with the credential scope")
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names or names != sorted(names):
        raise Invalid("IncompleteSignature", "SignedHeaders must be sorted and include host and x-amz-date")
    if state["secret"] is None:
        return
    canonical_headers = ""
    for n in names:
        v = handler.headers.get_all(n) or []
        canonical_headers += n + ":" + ",".join(" ".join(x.split()) for x in v) + "\n"
    creq = "\n".join(["POST", "/", "", canonical_headers, signed, hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{region}/ec2/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + state["secret"]).encode()
    for part in (date, region, "ec2", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    stats["signature_checked"] += 1
    if not hmac.compare_digest(expected, signature):
        raise Invalid("SignatureDoesNotMatch", "The request signature we calculated does not match")


# ---------- responses ----------

def error_xml(code, message):
    tree = ET.parse(os.path.join(RESP_DIR, "aws-docs", "error-response.xml"))
    root = tree.getroot()
    root.find("Errors/Error/Code").text = code
    root.find("Errors/Error/Message").text = message
    root.find("RequestID").text = "fake-" + str(counter[0])
    return ET.tostring(root, encoding="unicode")


def q(tag):
    return f"{{{NS}}}{tag}"


def sub(parent, tag, text=None):
    e = ET.SubElement(parent, q(tag))
    if text is not None:
        e.text = str(text)
    return e


def set_text(item, tag, text):
    e = item.find(q(tag))
    if e is None:
        e = sub(item, tag)
    e.text = text


def fill_instance(item, inst):
    set_text(item, "instanceId", inst["id"])
    set_text(item, "instanceType", inst["type"])
    item.find(q("instanceState")).find(q("name")).text = inst["state"]
    item.find(q("instanceState")).find(q("code")).text = {"pending": "0", "running": "16", "shutting-down": "32",
                                                             "terminated": "48"}.get(inst["state"], "0")
    item.find(q("placement")).find(q("availabilityZone")).text = inst["az"]
    set_text(item, "launchTime", inst["launch"])
    lc = item.find(q("instanceLifecycle"))
    if inst["market"] == "spot":
        set_text(item, "instanceLifecycle", "spot")
    elif lc is not None:
        item.remove(lc)
    ts = item.find(q("tagSet"))
    if ts is not None:
        item.remove(ts)
    ts = sub(item, "tagSet")
    for k, v in sorted(inst["tags"].items()):
        t = sub(ts, "item")
        sub(t, "key", k)
        sub(t, "value", v)


def instance_template():
    # The botocore RunInstances sample is well formed (the docs' Example 15 is not).
    root = ET.parse(os.path.join(RESP_DIR, "botocore", "ec2-run-instances.xml")).getroot()
    for e in root.iter():
        if e.tag.startswith("{"):
            e.tag = q(e.tag.split("}", 1)[1])
    return root


def launch(itype, market, count, tags, az="us-east-1a"):
    out = []
    for _ in range(count):
        counter[0] += 1
        iid = "i-%017x" % counter[0]
        inst = {"id": iid, "type": itype, "market": market, "state": "pending", "az": az, "tags": dict(tags),
                "launch": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        instances[iid] = inst
        out.append(inst)
    return out


def parse_tags(params, prefix):
    """TagSpecification.N.Tag.M.Key for ResourceType=instance, or Tag.M.Key."""
    tags = {}
    for k, v in params.items():
        m = re.fullmatch(re.escape(prefix) + r"(\d+)\.Key", k)
        if m:
            tags[v] = params.get(f"{prefix}{m.group(1)}.Value", "")
    return tags


def instance_tags(params):
    for k, v in params.items():
        m = re.fullmatch(r"TagSpecification\.(\d+)\.ResourceType", k)
        if m and v == "instance":
            return parse_tags(params, f"TagSpecification.{m.group(1)}.Tag.")
    return {}


def list_values(params, prefix):
    return [params[k] for k in sorted((k for k in params if re.fullmatch(re.escape(prefix) + r"\d+", k)),
                                      key=lambda k: int(k[len(prefix):]))]


def filters(params):
    out = {}
    i = 1
    while f"Filter.{i}.Name" in params:
        out[params[f"Filter.{i}.Name"]] = list_values(params, f"Filter.{i}.Value.")
        i += 1
    return out


def run_instances(params):
    count = int(params["MaxCount"])
    market = "spot" if params.get("InstanceMarketOptions.MarketType") == "spot" else "on-demand"
    root = instance_template()
    iset = root.find(q("instancesSet"))
    template = iset.find(q("item"))
    iset.remove(template)
    for inst in launch(params.get("InstanceType", "m1.small"), market, count, instance_tags(params)):
        item = copy.deepcopy(template)
        fill_instance(item, inst)
        iset.append(item)
    return ET.tostring(root, encoding="unicode")


def describe_instances(params):
    tree = ET.parse(os.path.join(RESP_DIR, "aws-docs", "describe-instances.xml"))
    root = tree.getroot()
    rset = root.find(q("reservationSet"))
    res_template = rset.find(q("item"))
    inst_template = res_template.find(q("instancesSet")).find(q("item"))
    for r in list(rset):
        rset.remove(r)
    ids = list_values(params, "InstanceId.")
    fl = filters(params)
    chosen = []
    for inst in instances.values():
        if ids and inst["id"] not in ids:
            continue
        if "instance-state-name" in fl and inst["state"] not in fl["instance-state-name"]:
            continue
        if any(name.startswith("tag:") and inst["tags"].get(name[4:]) not in vals for name, vals in fl.items()):
            continue
        chosen.append(inst)
    for iid in ids:
        if iid not in instances:
            raise Invalid("InvalidInstanceID.NotFound", f"The instance ID '{iid}' does not exist")
    start = int(params.get("NextToken", "0") or 0)
    size = int(params.get("MaxResults", "1000"))
    page = chosen[start:start + size]
    for inst in page:
        res = copy.deepcopy(res_template)
        iset = res.find(q("instancesSet"))
        for i in list(iset):
            iset.remove(i)
        item = copy.deepcopy(inst_template)
        fill_instance(item, inst)
        iset.append(item)
        rset.append(res)
    nt = root.find(q("nextToken"))
    if nt is not None:
        root.remove(nt)
    if start + size < len(chosen):
        sub(root, "nextToken", str(start + size))
    return ET.tostring(root, encoding="unicode")


def terminate_instances(params):
    ids = list_values(params, "InstanceId.")
    for iid in ids:
        if iid not in instances:
            raise Invalid("InvalidInstanceID.NotFound", f"The instance ID '{iid}' does not exist")
    root = ET.parse(os.path.join(RESP_DIR, "aws-docs", "terminate-instances.xml")).getroot()
    iset = root.find(q("instancesSet"))
    template = iset.find(q("item"))
    for i in list(iset):
        iset.remove(i)
    for iid in ids:
        item = copy.deepcopy(template)
        item.find(q("instanceId")).text = iid
        item.find(q("previousState")).find(q("name")).text = instances[iid]["state"]
        item.find(q("currentState")).find(q("name")).text = "shutting-down"
        instances[iid]["state"] = "shutting-down"
        iset.append(item)
    return ET.tostring(root, encoding="unicode")


def create_tags(params):
    ids = list_values(params, "ResourceId.")
    tags = parse_tags(params, "Tag.")
    for iid in ids:
        if iid in instances:
            instances[iid]["tags"].update(tags)
    return open(os.path.join(RESP_DIR, "aws-docs", "create-tags.xml")).read()


# name, vcpus, MiB, arch, current generation
CATALOG = [
    ("c5.large", 2, 4096, "x86_64", True), ("m5.large", 2, 8192, "x86_64", True),
    ("r5.large", 2, 16384, "x86_64", True), ("c5.xlarge", 4, 8192, "x86_64", True),
    ("m5.xlarge", 4, 16384, "x86_64", True), ("m5.2xlarge", 8, 32768, "x86_64", True),
    ("m6g.large", 2, 8192, "arm64", True), ("m6g.xlarge", 4, 16384, "arm64", True),
    ("m4.large", 2, 8192, "x86_64", False), ("t2.micro", 1, 1024, "x86_64", False),
]


def describe_instance_types(params):
    fl = filters(params)
    names = list_values(params, "InstanceType.")
    chosen = []
    for name, vcpus, mib, arch, current in CATALOG:
        if names and name not in names:
            continue
        if "processor-info.supported-architecture" in fl and arch not in fl["processor-info.supported-architecture"]:
            continue
        if "current-generation" in fl and ("true" if current else "false") not in fl["current-generation"]:
            continue
        if "instance-type" in fl and not any(re.fullmatch(re.escape(p).replace(r"\*", ".*"), name)
                                             for p in fl["instance-type"]):
            continue
        chosen.append((name, vcpus, mib, arch, current))
    start = int(params.get("NextToken", "0") or 0)
    size = int(params.get("MaxResults", "100"))
    root = ET.Element(q("DescribeInstanceTypesResponse"))
    sub(root, "requestId", "fake-types")
    tset = sub(root, "instanceTypeSet")
    for name, vcpus, mib, arch, current in chosen[start:start + size]:
        item = sub(tset, "item")
        sub(item, "instanceType", name)
        sub(item, "currentGeneration", "true" if current else "false")
        uc = sub(item, "supportedUsageClasses")
        sub(uc, "item", "on-demand")
        sub(uc, "item", "spot")
        pi = sub(item, "processorInfo")
        sa = sub(pi, "supportedArchitectures")
        sub(sa, "item", arch)
        vi = sub(item, "vCpuInfo")
        sub(vi, "defaultVCpus", vcpus)
        mi = sub(item, "memoryInfo")
        sub(mi, "sizeInMiB", mib)
    if start + size < len(chosen):
        sub(root, "nextToken", str(start + size))
    return ET.tostring(root, encoding="unicode")


def create_fleet(params):
    if params.get("Type") != "instant":
        raise Invalid("InvalidParameterValue", "fake_ec2 only serves instant fleets")
    market = params.get("TargetCapacitySpecification.DefaultTargetCapacityType", "on-demand")
    count = int(params["TargetCapacitySpecification.TotalTargetCapacity"])
    types = list_values_suffix(params, "LaunchTemplateConfigs.1.Overrides.", ".InstanceType")
    root = ET.Element(q("CreateFleetResponse"))
    sub(root, "requestId", "fake-fleet")
    sub(root, "fleetId", "fleet-%08x" % (counter[0] + 1))
    eset = sub(root, "errorSet")
    fset = sub(root, "fleetInstanceSet")
    winner = None
    for t in types:
        if market == "spot" and t in state["fleet_no_capacity"]:
            item = sub(eset, "item")
            lto = sub(item, "launchTemplateAndOverrides")
            ov = sub(lto, "overrides")
            sub(ov, "instanceType", t)
            sub(item, "lifecycle", market)
            sub(item, "errorCode", "InsufficientInstanceCapacity")
            sub(item, "errorMessage", f"There is no Spot capacity available that matches your request ({t}).")
        elif winner is None:
            winner = t
    if winner is not None:
        launched = launch(winner, market, count, instance_tags(params))
        item = sub(fset, "item")
        lto = sub(item, "launchTemplateAndOverrides")
        ov = sub(lto, "overrides")
        sub(ov, "instanceType", winner)
        sub(ov, "availabilityZone", "us-east-1a")
        sub(item, "lifecycle", market)
        ids = sub(item, "instanceIds")
        for inst in launched:
            sub(ids, "item", inst["id"])
        sub(item, "instanceType", winner)
    return ET.tostring(root, encoding="unicode")


def list_values_suffix(params, prefix, suffix):
    keys = [k for k in params if re.fullmatch(re.escape(prefix) + r"\d+" + re.escape(suffix), k)]
    keys.sort(key=lambda k: int(k[len(prefix):-len(suffix)]))
    return [params[k] for k in keys]


# EC2's idempotency: a launch repeated with the same ClientToken returns the
# first launch's answer and launches nothing; the same token with other
# parameters is IdempotentParameterMismatch.
launches_by_token = {}


def idempotent(action, params, handler):
    token = params.get("ClientToken")
    if not token:
        return handler(params)
    same = {k: v for k, v in params.items() if k not in ("Version",)}
    seen = launches_by_token.get((action, token))
    if seen:
        if seen[0] != same:
            raise Invalid("IdempotentParameterMismatch", "ClientToken reused with different parameters")
        stats["idempotent_replays"] = stats.get("idempotent_replays", 0) + 1
        return seen[1]
    body = handler(params)
    launches_by_token[(action, token)] = (same, body)
    return body


HANDLERS = {"RunInstances": run_instances, "DescribeInstances": describe_instances,
            "TerminateInstances": terminate_instances, "CreateTags": create_tags,
            "DescribeInstanceTypes": describe_instance_types, "CreateFleet": create_fleet}


def injected_failure(action, params):
    for f in state["fail"]:
        if f.get("times", 1) <= 0:
            continue
        if f.get("action", "*") not in ("*", action):
            continue
        if "instance_type" in f and params.get("InstanceType") != f["instance_type"]:
            continue
        if "market" in f:
            market = "spot" if params.get("InstanceMarketOptions.MarketType") == "spot" or \
                params.get("TargetCapacitySpecification.DefaultTargetCapacityType") == "spot" else "on-demand"
            if market != f["market"]:
                continue
        f["times"] = f.get("times", 1) - 1
        return f["error"]
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="text/xml;charset=UTF-8"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            if self.path == "/_requests":
                return self.reply(200, json.dumps(requests_log), "application/json")
            if self.path == "/_stats":
                return self.reply(200, json.dumps(stats), "application/json")
        self.reply(404, "")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            if self.path == "/_control":
                update = json.loads(body)
                if update.pop("reset", False):
                    instances.clear()
                    requests_log.clear()
                    launches_by_token.clear()
                    state["fail"] = []
                    state["fleet_no_capacity"] = []
                state.update(update)
                return self.reply(200, "{}", "application/json")
            if self.path == "/_validate":
                # Model check only, for tests that probe the validator itself.
                try:
                    params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
                    validate(params)
                    return self.reply(200, "ok", "text/plain")
                except (Invalid, ValueError) as e:
                    code = e.code if isinstance(e, Invalid) else "MalformedQueryString"
                    return self.reply(400, code + ": " + str(e), "text/plain")
            stats["requests"] += 1
            try:
                if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    raise Invalid("InvalidParameterValue", "Content-Type must be application/x-www-form-urlencoded")
                check_signature(self, body)
                try:
                    pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
                except ValueError:
                    raise Invalid("MalformedQueryString", "could not parse the form body")
                params = dict(pairs)
                if len(params) != len(pairs):
                    raise Invalid("InvalidParameterValue", "a parameter appears twice")
                action = validate(params)
                requests_log.append({"action": action, "params": params})
                failure = injected_failure(action, params)
                if failure == "http500":
                    return self.reply(500, "<html>Internal Server Error</html>", "text/html")
                if failure == "http500_after_launch":
                    # The launch happened, the answer was lost (a timeout, a proxy's 502).
                    if action in ("RunInstances", "CreateFleet"):
                        idempotent(action, params, HANDLERS[action])
                    else:
                        HANDLERS[action](params)
                    return self.reply(500, "<html>Internal Server Error</html>", "text/html")
                if failure:
                    status = 503 if failure == "RequestLimitExceeded" else 500 if failure.startswith("Insufficient") else 400
                    return self.reply(status, error_xml(failure, "injected by the test"))
                if state["mode"] == "documented":
                    path = documented_file(action)
                    if not path:
                        raise Invalid("InvalidAction", f"no documented response for {action}")
                    return self.reply(200, open(path, "rb").read())
                if action in ("RunInstances", "CreateFleet"):
                    return self.reply(200, idempotent(action, params, HANDLERS[action]))
                return self.reply(200, HANDLERS[action](params))
            except Invalid as e:
                stats["rejected"] += 1
                status = 401 if e.code in ("IncompleteSignature", "SignatureDoesNotMatch") else 400
                return self.reply(status, error_xml(e.code, e.message))


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("PORT", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
