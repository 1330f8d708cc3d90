"""The conformance harness: run one scenario against one S3 endpoint and record, step by step,
what a client observes, normalised so that two implementations can be compared for equality.

A scenario is a function ``scenario(run)``; ``run`` gives it a boto3 client (``run.s3``), a
bucket-name factory (``run.bucket()``), recorded calls (``run.call``), unrecorded setup calls
(``run.setup``) and hand-signed raw requests (``run.raw``).
"""
from __future__ import annotations

import copy
import re
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

import requests
from botocore.exceptions import ClientError
from lxml import etree

from tests.sigv4util import sign

# the response headers a client reads (x-amz-meta-* and x-amz-checksum-* are matched by prefix)
CLIENT_HEADERS = ("content-range", "content-encoding", "content-disposition",
                  "content-language", "cache-control", "expires", "accept-ranges", "x-amz-mp-parts-count",
                  "x-amz-bucket-region", "location",
                  "x-amz-delete-marker", "x-amz-copy-source-version-id", "x-amz-tagging-count",
                  "x-amz-server-side-encryption")
HEADER_PREFIXES = ("x-amz-meta-", "x-amz-checksum-")
# Content-Type and Content-Length describe the object only on object reads; on XML results they
# describe each implementation's own XML formatting, which is not compared (the parsed body is).
OBJECT_READS = ("GetObject", "HeadObject")
# headers that describe the stored object: only object reads report them (what other operations
# send there is not part of their documented output)
OBJECT_READ_HEADERS = ("content-type", "content-length", "x-amz-storage-class", "last-modified",
                       "x-amz-website-redirect-location")
# headers moto sends where the operation's documented output has no such member (botocore's
# model: PutObjectTaggingOutput is VersionId only, Put{Object,Bucket}AclOutput has no checksum, PutObjectOutput and CopyObjectOutput have no
# TagCount): not compared
UNDOCUMENTED = {"PutObjectTagging": ("x-amz-checksum-",), "PutObjectAcl": ("x-amz-checksum-",),
                "PutBucketAcl": ("x-amz-checksum-",), "PutObject": ("x-amz-tagging-count",),
                "CopyObject": ("x-amz-tagging-count",)}
# operations whose documented output has an ETag header (CopyObject/UploadPartCopy/Complete put it in XML)
ETAG_HEADER_OPS = ("GetObject", "HeadObject", "PutObject", "UploadPart", "raw")
# parsed-body fields whose values are ids chosen by the server: compared by identity within a run
ALIASED = {"UploadId": "upload", "NextUploadIdMarker": "upload", "UploadIdMarker": "upload",
           "ContinuationToken": "token", "NextContinuationToken": "token",
           "RequestId": "request", "HostId": "host", "ID": "owner-id"}
DROPPED = {"DisplayName"}          # moto says "webfile", we say the user's name; AWS no longer sends it


@dataclass
class Scenario:
    name: str
    fn: Callable[["Run"], None]
    group: str
    aws: "AwsDiffers | None" = None


@dataclass
class AwsDiffers:
    """moto is wrong here: ``quote`` is the AWS S3 API reference sentence; ``expect`` turns moto's
    records into the ones AWS documents (what our server must produce)."""
    quote: str
    expect: Callable[[list[dict]], list[dict]]


def as_error(rec: dict, status: int, code: str) -> dict:
    """``rec`` (a recorded step) turned into the error response AWS gives instead."""
    out = {k: rec[k] for k in ("step", "args") if k in rec}
    out.update(status=status, error=code)
    return out


def aws_differs_from_moto(quote: str, expect: Callable[[list[dict]], None]):
    """Mark a scenario where moto deviates from the AWS S3 API reference. ``expect(records)`` edits
    (in place) a copy of moto's records into AWS's documented behaviour."""
    def mark(fn):
        def patched(records):
            records = copy.deepcopy(records)
            expect(records)
            return records
        fn.aws_differs = AwsDiffers(quote, patched)
        return fn
    return mark


class Registry:
    def __init__(self):
        self.scenarios: list[Scenario] = []

    def __call__(self, group: str, name: str | None = None):
        def add(fn):
            self.add(group, name or fn.__name__, fn)
            return fn
        return add

    def add(self, group: str, name: str, fn: Callable) -> None:
        full = f"{group}.{name}"
        if any(s.name == full for s in self.scenarios):
            raise ValueError(f"duplicate scenario {full}")
        self.scenarios.append(Scenario(full, fn, group, getattr(fn, "aws_differs", None)))


SCENARIOS = Registry()


class StepFailed(AssertionError):
    pass


class Run:
    """One scenario against one endpoint."""

    def __init__(self, s3, endpoint: str, access_key: str, secret_key: str):
        self.s3 = s3
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self.secret_key = secret_key
        self.records: list[dict] = []
        self.buckets: list[str] = []
        self.aliases: dict[str, str] = {}
        self.run_id = uuid.uuid4().hex[:10]
        self.started = dt.datetime.now(dt.timezone.utc)

    # ------------------------------------------------------------------ helpers for scenarios
    def bucket(self, create: bool = True) -> str:
        name = f"cf-{self.run_id}-{len(self.buckets)}"
        self.buckets.append(name)
        if create:
            self.s3.create_bucket(Bucket=name)
        return name

    def setup(self, op: str, **kw) -> dict:
        """An unrecorded call that must succeed."""
        return getattr(self.s3, op)(**kw)

    def call(self, op: str, **kw) -> dict | None:
        """A recorded boto3 call; returns the response (body already read into ``Body``) or None."""
        try:
            resp = getattr(self.s3, op)(**kw)
        except ClientError as exc:
            meta = exc.response.get("ResponseMetadata", {})
            self.records.append({"step": op, "args": self._args(kw), "status": meta.get("HTTPStatusCode"),
                                 "error": exc.response.get("Error", {}).get("Code")})
            return None
        if hasattr(resp.get("Body"), "read"):
            resp["Body"] = resp["Body"].read()
        meta = resp.get("ResponseMetadata", {})
        headers = {k.lower(): v for k, v in meta.get("HTTPHeaders", {}).items()}
        self.records.append({"step": op, "args": self._args(kw), "status": meta.get("HTTPStatusCode"), "error": None,
                             "headers": self._headers(_op_name(op), headers),
                             "body": self.normalise({k: v for k, v in resp.items() if k != "ResponseMetadata"})})
        return resp

    def note(self, label: str, value: Any) -> None:
        """Record a value the scenario derived itself (e.g. the keys seen across pages)."""
        self.records.append({"step": label, "value": self.normalise(value)})

    def raw(self, method: str, path: str, *, query: str = "", body: bytes = b"",
            headers: dict | None = None, label: str | None = None, unsigned_headers: dict | None = None) -> requests.Response:
        """A hand-signed request; records status, S3 error code and the parsed XML body."""
        url = self.endpoint + path + ("?" + query if query else "")
        signed = sign(method, url, body, headers, access_key=self.access_key, secret_key=self.secret_key)
        signed.update(unsigned_headers or {})
        resp = requests.request(method, url, data=body, headers=signed, timeout=30)
        rec: dict = {"step": label or f"raw {method}", "status": resp.status_code, "error": None}
        content = resp.content
        if content.strip().startswith(b"<") and method != "HEAD":
            try:
                root = etree.fromstring(content)
            except etree.XMLSyntaxError:
                root = None
            if root is not None and etree.QName(root).localname == "Error":
                rec["error"] = root.findtext("Code")
            elif root is not None:
                rec["body"] = self.normalise(xml_tree(root))
        is_object = method in ("GET", "HEAD") and resp.status_code < 300 and "body" not in rec
        rec["headers"] = self._headers("GetObject" if is_object else "raw",
                                       {k.lower(): v for k, v in resp.headers.items()})
        if rec["error"]:
            rec.pop("headers")
        self.records.append(rec)
        return resp

    def post_form(self, bucket: str, key: str, content: bytes, *, filename: str = "upload.bin",
                  fields: dict | None = None, conditions: list | None = None, label: str = "post_object") -> None:
        """A browser upload (PostObject) prepared by boto3's generate_presigned_post; records the
        status, S3 error code and parsed XML body (moto sends neither ETag nor Location headers,
        so headers are not compared)."""
        info = self.s3.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=300)
        resp = requests.post(info["url"], data=info["fields"], files={"file": (filename, content)}, timeout=30)
        rec: dict = {"step": label, "status": resp.status_code, "error": None}
        if resp.content.strip().startswith(b"<"):
            root = etree.fromstring(resp.content)
            if etree.QName(root).localname == "Error":
                rec["error"] = root.findtext("Code")
            else:
                rec["body"] = self.normalise(xml_tree(root))
        self.records.append(rec)

    def key_path(self, bucket: str, key: str = "") -> str:
        return "/" + bucket + ("/" + quote(key, safe="/~") if key else "")

    # ------------------------------------------------------------------ normalisation
    def _args(self, kw: dict) -> dict:
        """The request parameters (minus bodies), so that a marker's expect() can read them."""
        return self.normalise({k: v for k, v in kw.items() if k != "Body"})

    def _headers(self, op: str, headers: dict[str, str]) -> dict:
        out = {}
        for name, value in headers.items():
            if name in CLIENT_HEADERS or name.startswith(HEADER_PREFIXES):
                if name.startswith(UNDOCUMENTED.get(op, ())):
                    continue
                out[name] = self.normalise(value)
        if op in ETAG_HEADER_OPS + OBJECT_READS and "etag" in headers:
            out["etag"] = headers["etag"]
        if op in OBJECT_READS:
            for name in OBJECT_READ_HEADERS:
                if name in headers:
                    out[name] = headers[name]
            out["last-modified"] = "last-modified" in headers
        return out

    def alias(self, kind: str, value: str) -> str:
        if value in (None, ""):
            return value
        key = f"{kind}:{value}"
        if key not in self.aliases:
            n = sum(1 for k in self.aliases if k.startswith(kind + ":"))
            self.aliases[key] = f"<{kind}-{n}>"
        return self.aliases[key]

    def normalise(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k in DROPPED:
                    continue
                if k in ALIASED and isinstance(v, str):
                    out[k] = self.alias(ALIASED[k], v)
                elif k == "Location" and isinstance(v, str) and v.startswith("http"):
                    out[k] = "<object-url>"      # path-style here, virtual-hosted on moto: both valid URLs
                else:
                    out[k] = self.normalise(v, k)
            return out
        if isinstance(value, (list, tuple)):
            return [self.normalise(v, key) for v in value]
        if isinstance(value, dt.datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
            if abs((moment - self.started).total_seconds()) < 3600:
                return "<now>"
            return moment.astimezone(dt.timezone.utc).isoformat()
        if isinstance(value, bytes):
            return value if len(value) <= 512 else f"<{len(value)} bytes>"
        if isinstance(value, str):
            if _TIMESTAMP.match(value):
                return "<timestamp>"      # XML dates: moto has second precision, AWS and we milliseconds
            for i, name in sorted(enumerate(self.buckets), key=lambda p: -len(p[1])):
                value = value.replace(name, f"<bucket-{i}>")
            return value.replace(self.endpoint, "<endpoint>")
        return value


_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _op_name(method: str) -> str:
    return "".join(p.capitalize() for p in method.split("_"))


def xml_tree(el) -> Any:
    """An element as {root tag: value}; a value is its text, or a dict of child tag -> value (a list of
    values when the tag repeats). Namespaces are stripped; the order of different tags is not
    significant to S3 clients and is not compared, the order of repeated tags is."""
    return {etree.QName(el).localname: _xml_value(el)}


def _xml_value(el) -> Any:
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        return el.text or ""
    grouped: dict[str, list] = {}
    for c in children:
        grouped.setdefault(etree.QName(c).localname, []).append(_xml_value(c))
    return {tag: values[0] if len(values) == 1 else values for tag, values in grouped.items()}


def run_scenario(scenario: Scenario, s3, endpoint: str, access_key: str, secret_key: str) -> list[dict]:
    run = Run(s3, endpoint, access_key, secret_key)
    scenario.fn(run)
    return run.records


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            _diff(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"   {path}: ours={a!r:.300} expected={b!r:.300}")


def diff_records(ours: list[dict], want: list[dict]) -> str:
    lines = []
    for i in range(max(len(ours), len(want))):
        a = ours[i] if i < len(ours) else None
        b = want[i] if i < len(want) else None
        if a != b:
            lines.append(f"step {i}: {(a or b or {}).get('step')}")
            if a is None or b is None:
                lines.append(f"   ours={a!r:.300} expected={b!r:.300}")
            else:
                _diff(a, b, "", lines)
    return "\n".join(lines)


# ------------------------------------------------------------------ corrections that apply everywhere
CHECKSUM_TYPE_QUOTE = ("x-amz-checksum-type: This header specifies the checksum type of the object, which "
                       "determines how part-level checksums are combined to create an object-level checksum for "
                       "multipart objects. For PutObject uploads, the checksum type is always FULL_OBJECT.")


def add_checksum_type(records: list[dict]) -> list[dict]:
    """moto 5 never reports the checksum type (header, result field, or listing entry) that AWS
    reports next to every object checksum; a single-PUT object's type is FULL_OBJECT."""
    records = copy.deepcopy(records)

    def fix_body(body):
        if isinstance(body, dict):
            if any(k.startswith("Checksum") and k not in ("ChecksumAlgorithm", "ChecksumType", "ChecksumMode",
                                                           "Checksum")        # GetObjectAttributes' container
                   for k in body) and "ChecksumType" not in body:
                body["ChecksumType"] = "FULL_OBJECT"
            if "ChecksumAlgorithm" in body and "Key" in body and "ChecksumType" not in body:
                body["ChecksumType"] = "FULL_OBJECT"
            for v in body.values():
                fix_body(v)
        elif isinstance(body, list):
            for v in body:
                fix_body(v)

    for rec in records:
        if rec.get("step") in ("upload_part", "upload_part_copy"):
            continue                      # a part has no checksum type of its own
        headers = rec.get("headers") or {}
        if any(h.startswith("x-amz-checksum-") for h in headers) and "x-amz-checksum-type" not in headers:
            headers["x-amz-checksum-type"] = "FULL_OBJECT"
        fix_body(rec.get("body"))
    return records


TRANSITION_DEFAULT_QUOTE = ("x-amz-transition-default-minimum-object-size: Indicates which default minimum object "
                            "size behavior is applied to the lifecycle configuration. ... all_storage_classes_128K "
                            "- Objects smaller than 128 KB will not transition to any storage class by default.")
LIFECYCLE_STEPS = ("put_bucket_lifecycle_configuration", "get_bucket_lifecycle_configuration")


def add_transition_default(records: list[dict]) -> list[dict]:
    """moto 5 sends no ``x-amz-transition-default-minimum-object-size`` with a lifecycle
    configuration's Put and Get (boto3's ``TransitionDefaultMinimumObjectSize``); AWS does, and
    its default is ``all_storage_classes_128K``."""
    records = copy.deepcopy(records)
    for rec in records:
        if rec.get("step") in LIFECYCLE_STEPS and rec.get("error") is None and isinstance(rec.get("body"), dict):
            rec["body"].setdefault("TransitionDefaultMinimumObjectSize", "all_storage_classes_128K")
    return records
