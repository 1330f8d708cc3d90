"""Routing is data: request -> (bucket, key) -> AWS operation name.

Two steps, both pure:
1. ``split_target``: path-style (``/bucket/key``) or virtual-hosted-style
   (``bucket.<domain>/key``), decided once from the configured domain. The key
   comes from the raw (percent-encoded) path, decoded exactly once: ``//``, ``.``
   and ``..`` stay as they are, since S3 keys are opaque.
2. ``OPERATIONS``: one table from (method, resource kind, query flags, header)
   to the operation. The first row whose conditions all hold wins, so specific
   rows come before general ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping
from urllib.parse import unquote

from s3server.errors import S3Error


@dataclass(frozen=True)
class Target:
    bucket: str | None
    key: str | None
    vhost: bool = False

    @property
    def kind(self) -> str:
        if self.bucket is None:
            return "service"
        return "object" if self.key else "bucket"


@dataclass(frozen=True)
class Route:
    method: str
    kind: str                         # service | bucket | object
    query: tuple[str, ...] = ()       # query parameters that must be present
    header: str | None = None         # header that must be present (lower-case)
    operation: str = ""


def _r(method, kind, operation, query=(), header=None) -> Route:
    return Route(method, kind, tuple(query), header, operation)


# Sub-resources of operations this server does not implement. Each has its own row, so that a
# request for one never falls through to the plain operation of its method (a PUT ?legal-hold is
# not a PutObject that stores the XML as the object, a DELETE ?analytics&id= not a DeleteBucket).
# The list follows botocore's S3 model; unset.py answers some of them as AWS answers a bucket
# where nothing was configured, the others are 501 NotImplemented.
CONFIG_LISTS = (("analytics", "Analytics"), ("metrics", "Metrics"), ("inventory", "Inventory"),
                 ("intelligent-tiering", "IntelligentTiering"))
_UNSUPPORTED_BUCKET = (
    ("GET", "abac", "GetBucketAbac"), ("PUT", "abac", "PutBucketAbac"),
    ("GET", "metadataTable", "GetBucketMetadataTableConfiguration"),
    ("POST", "metadataTable", "CreateBucketMetadataTableConfiguration"),
    ("DELETE", "metadataTable", "DeleteBucketMetadataTableConfiguration"),
    ("GET", "metadataConfiguration", "GetBucketMetadataConfiguration"),
    ("POST", "metadataConfiguration", "CreateBucketMetadataConfiguration"),
    ("DELETE", "metadataConfiguration", "DeleteBucketMetadataConfiguration"),
    ("PUT", "metadataInventoryTable", "UpdateBucketMetadataInventoryTableConfiguration"),
    ("PUT", "metadataJournalTable", "UpdateBucketMetadataJournalTableConfiguration"),
    ("PUT", "metadataAnnotationTable", "UpdateBucketMetadataAnnotationTableConfiguration"),
    ("GET", "session", "CreateSession"),
    ("GET", "default-storage-class", "GetBucketDefaultStorageClass"),
    ("PUT", "default-storage-class", "PutBucketDefaultStorageClass"),
    ("DELETE", "default-storage-class", "DeleteBucketDefaultStorageClass"),
)
_UNSUPPORTED_OBJECT = (
    ("GET", "retention", "GetObjectRetention"), ("PUT", "retention", "PutObjectRetention"),
    ("GET", "legal-hold", "GetObjectLegalHold"), ("PUT", "legal-hold", "PutObjectLegalHold"),
    ("GET", "torrent", "GetObjectTorrent"),
    ("POST", "restore", "RestoreObject"),
    ("POST", "select", "SelectObjectContent"),
    ("GET", ("annotation", "annotationName"), "GetObjectAnnotation"), ("GET", "annotation", "ListObjectAnnotations"),
    ("PUT", "annotation", "PutObjectAnnotation"),
    ("DELETE", "annotation", "DeleteObjectAnnotation"),
    ("PUT", "renameObject", "RenameObject"),
    ("PUT", "encryption", "UpdateObjectEncryption"),
    ("GET", "part", "GetPart"),
)

OPERATIONS: tuple[Route, ...] = (
    _r("GET", "service", "ListBuckets"),
    # bucket sub-resources
    _r("GET", "bucket", "ListMultipartUploads", ["uploads"]),
    _r("GET", "bucket", "GetBucketLocation", ["location"]),
    _r("GET", "bucket", "ListObjectVersions", ["versions"]),
    _r("GET", "bucket", "GetBucketVersioning", ["versioning"]),
    _r("GET", "bucket", "GetBucketAcl", ["acl"]),
    _r("GET", "bucket", "GetBucketTagging", ["tagging"]),
    _r("GET", "bucket", "GetBucketPolicy", ["policy"]),
    _r("GET", "bucket", "GetBucketCors", ["cors"]),
    _r("GET", "bucket", "GetBucketLifecycleConfiguration", ["lifecycle"]),
    _r("GET", "bucket", "GetBucketEncryption", ["encryption"]),
    _r("GET", "bucket", "GetBucketWebsite", ["website"]),
    _r("GET", "bucket", "GetObjectLockConfiguration", ["object-lock"]),
    _r("GET", "bucket", "GetPublicAccessBlock", ["publicAccessBlock"]),
    _r("GET", "bucket", "GetBucketOwnershipControls", ["ownershipControls"]),
    _r("GET", "bucket", "GetBucketLogging", ["logging"]),
    _r("GET", "bucket", "GetBucketNotificationConfiguration", ["notification"]),
    _r("GET", "bucket", "GetBucketRequestPayment", ["requestPayment"]),
    _r("GET", "bucket", "GetBucketAccelerateConfiguration", ["accelerate"]),
    _r("GET", "bucket", "GetBucketReplication", ["replication"]),
    _r("GET", "bucket", "GetBucketPolicyStatus", ["policyStatus"]),
    *(_r("GET", "bucket", f"GetBucket{name}Configuration", [sub, "id"]) for sub, name in CONFIG_LISTS),
    *(_r("GET", "bucket", f"ListBucket{name}Configurations", [sub]) for sub, name in CONFIG_LISTS),
    *(_r(method, "bucket", op, [sub]) for method, sub, op in _UNSUPPORTED_BUCKET),
    _r("GET", "bucket", "ListObjectsV2", ["list-type"]),
    _r("GET", "bucket", "ListObjects"),
    _r("HEAD", "bucket", "HeadBucket"),
    _r("PUT", "bucket", "PutBucketVersioning", ["versioning"]),
    _r("PUT", "bucket", "PutBucketAcl", ["acl"]),
    _r("PUT", "bucket", "PutBucketTagging", ["tagging"]),
    _r("PUT", "bucket", "PutBucketPolicy", ["policy"]),
    _r("PUT", "bucket", "PutBucketCors", ["cors"]),
    _r("PUT", "bucket", "PutBucketLifecycleConfiguration", ["lifecycle"]),
    _r("PUT", "bucket", "PutBucketEncryption", ["encryption"]),
    _r("PUT", "bucket", "PutBucketWebsite", ["website"]),
    _r("PUT", "bucket", "PutObjectLockConfiguration", ["object-lock"]),
    _r("PUT", "bucket", "PutPublicAccessBlock", ["publicAccessBlock"]),
    _r("PUT", "bucket", "PutBucketOwnershipControls", ["ownershipControls"]),
    _r("PUT", "bucket", "PutBucketLogging", ["logging"]),
    _r("PUT", "bucket", "PutBucketNotificationConfiguration", ["notification"]),
    _r("PUT", "bucket", "PutBucketRequestPayment", ["requestPayment"]),
    _r("PUT", "bucket", "PutBucketAccelerateConfiguration", ["accelerate"]),
    _r("PUT", "bucket", "PutBucketReplication", ["replication"]),
    *(_r("PUT", "bucket", f"PutBucket{name}Configuration", [sub]) for sub, name in CONFIG_LISTS),
    _r("PUT", "bucket", "CreateBucket"),
    _r("DELETE", "bucket", "DeleteBucketTagging", ["tagging"]),
    _r("DELETE", "bucket", "DeleteBucketPolicy", ["policy"]),
    _r("DELETE", "bucket", "DeleteBucketCors", ["cors"]),
    _r("DELETE", "bucket", "DeleteBucketLifecycle", ["lifecycle"]),
    _r("DELETE", "bucket", "DeleteBucketEncryption", ["encryption"]),
    _r("DELETE", "bucket", "DeleteBucketWebsite", ["website"]),
    _r("DELETE", "bucket", "DeletePublicAccessBlock", ["publicAccessBlock"]),
    _r("DELETE", "bucket", "DeleteBucketOwnershipControls", ["ownershipControls"]),
    _r("DELETE", "bucket", "DeleteBucketReplication", ["replication"]),
    *(_r("DELETE", "bucket", f"DeleteBucket{name}Configuration", [sub]) for sub, name in CONFIG_LISTS),
    _r("DELETE", "bucket", "DeleteBucket"),
    _r("POST", "bucket", "DeleteObjects", ["delete"]),
    # objects
    _r("PUT", "object", "UploadPartCopy", ["partNumber", "uploadId"], "x-amz-copy-source"),
    _r("PUT", "object", "UploadPart", ["partNumber", "uploadId"]),
    _r("PUT", "object", "PutObjectAcl", ["acl"]),
    _r("PUT", "object", "PutObjectTagging", ["tagging"]),
    _r("PUT", "object", "CopyObject", (), "x-amz-copy-source"),
    *(_r(method, "object", op, [sub] if isinstance(sub, str) else sub) for method, sub, op in _UNSUPPORTED_OBJECT),
    _r("PUT", "object", "PutObject"),
    _r("GET", "object", "ListParts", ["uploadId"]),
    _r("GET", "object", "GetObjectAcl", ["acl"]),
    _r("GET", "object", "GetObjectTagging", ["tagging"]),
    _r("GET", "object", "GetObjectAttributes", ["attributes"]),
    _r("GET", "object", "GetObject"),
    _r("HEAD", "object", "HeadObject"),
    _r("DELETE", "object", "AbortMultipartUpload", ["uploadId"]),
    _r("DELETE", "object", "DeleteObjectTagging", ["tagging"]),
    _r("DELETE", "object", "DeleteObject"),
    _r("POST", "object", "CreateMultipartUpload", ["uploads"]),
    _r("POST", "object", "CompleteMultipartUpload", ["uploadId"]),
)


# object operations that address one version of an object (``?versionId=``); buckets here are
# unversioned, so each object's only version is "null"
VERSION_ADDRESSED = frozenset({"GetObject", "HeadObject", "DeleteObject", "GetObjectAttributes",
                               "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging",
                               "GetObjectAcl", "PutObjectAcl"})


# Every sub-resource name of the AWS S3 API (botocore's model and the API reference): a query
# parameter that selects an operation. A request naming one that its matching row does not name
# is never taken for that row (``PUT /b?default-storage-class`` is not a CreateBucket): it is 501
# NotImplemented (``unrouted_sub_resource``), and nothing is done. Parameters that only qualify an
# operation (``versionId``, ``uploadId``, ``partNumber``, ``id``, ``list-type``, ``prefix``...) are
# not in it. tests/unit/test_routing.py checks it against the installed botocore's model.
SUB_RESOURCES = frozenset({
    "abac", "accelerate", "acl", "analytics", "annotation", "attributes", "cors", "default-storage-class",
    "delete", "encryption", "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location",
    "logging", "metadataAnnotationTable", "metadataConfiguration", "metadataInventoryTable",
    "metadataJournalTable", "metadataTable", "metrics", "notification", "object-lock", "ownershipControls",
    "part", "policy", "policyStatus", "publicAccessBlock", "renameObject", "replication", "requestPayment",
    "restore", "retention", "select", "session", "tagging", "torrent", "uploads", "versioning", "versions",
    "website",
    # older or console-only sub-resources of the API reference that botocore no longer models
    "replicationMetrics", "storageClassAnalysis", "storagelens", "objectLambda", "mfa-delete",
})


def match(method: str, kind: str, query: Mapping[str, object], headers: Mapping[str, str]) -> str | None:
    """The operation for a request, or None when no row matches: MethodNotAllowed, or
    NotImplemented when the request names a sub-resource (``unrouted_sub_resource``)."""
    named = SUB_RESOURCES.intersection(query) if query else ()
    for route in OPERATIONS:
        if route.method != method or route.kind != kind:
            continue
        if any(q not in query for q in route.query):
            continue
        if route.header and route.header not in headers:
            continue
        if named and not all(n in route.query for n in named):
            continue                          # e.g. ?tagging&versioning: no row names both
        return route.operation
    return None


def unrouted_sub_resource(query: Mapping[str, object]) -> str | None:
    """The sub-resource a request that matched no row names, if any (answered 501)."""
    named = sorted(SUB_RESOURCES.intersection(query)) if query else []
    return named[0] if named else None


def decode_path(raw_path: str) -> str:
    """Percent-decode a raw path once, as UTF-8; undecodable bytes are a client error."""
    try:
        path = unquote(raw_path, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise S3Error("InvalidArgument", "The request path is not valid UTF-8.") from exc
    if "\x00" in path:            # no key or bucket holds one (service/common.py validate_key)
        raise S3Error("InvalidArgument", "Object key names may not contain the NUL character (0x00).")
    return path


def split_target(raw_path: str, host: str, domain: str) -> Target:
    """(bucket, key) from the raw request path and Host header.

    ``domain`` set (e.g. ``s3.example.com`` or ``localhost``): a Host of
    ``<bucket>.<domain>`` selects virtual-hosted-style; a Host equal to the domain
    (or anything else) is path-style.
    """
    host = (host or "").lower()
    if host.startswith("[") and "]" in host:          # IPv6 literal
        hostname = host[: host.index("]") + 1]
    else:
        hostname = host.split(":", 1)[0]
    domain = domain.lower().strip(".")
    path = raw_path or "/"
    if not path.startswith("/"):
        path = "/" + path
    if domain and hostname.endswith("." + domain) and hostname != domain:
        bucket = hostname[: -len(domain) - 1]
        key = decode_path(path[1:])
        return Target(bucket, key or None, vhost=True)
    rest = path[1:]
    if not rest:
        return Target(None, None)
    bucket_raw, sep, key_raw = rest.partition("/")
    bucket = decode_path(bucket_raw)
    key = decode_path(key_raw) if sep else ""
    return Target(bucket, key or None)
