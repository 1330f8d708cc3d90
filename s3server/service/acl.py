"""ACLs as AWS handles them in a bucket with ACLs disabled ("bucket owner enforced" Object
Ownership, the default of every new AWS bucket since April 2023): the bucket owner owns every
object in it and has full control, and nobody else has any access. Reading an ACL answers just
that. An ACL that says no more than that (the ``private``, ``bucket-owner-full-control`` and
``bucket-owner-read`` canned ACLs, or a grant of FULL_CONTROL to the owner alone) is accepted and
changes nothing, so that clients which send one by default (rclone sends ``private``) keep
working. An ACL granting anyone else anything is refused (AccessControlListNotSupported; on
CreateBucket InvalidBucketAclWithObjectOwnership) instead of being silently dropped: an object
its uploader believes public-read must not quietly stay private. HTTP-free, no I/O."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from s3server.errors import S3Error

CANNED = frozenset({"private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
                    "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write"})
# canned ACLs that grant no one but the bucket owner (who also owns every object) anything
OWNER_ONLY = frozenset({"private", "bucket-owner-read", "bucket-owner-full-control"})
GRANT_HEADERS = ("x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp",
                 "x-amz-grant-write", "x-amz-grant-write-acp")
PERMISSIONS = frozenset({"FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP"})
GRANTEE_TYPES = {"CanonicalUser": "ID", "Group": "URI", "AmazonCustomerByEmail": "EmailAddress"}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_GRANTEE = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*"([^"]*)"\s*(?:,|$)', re.IGNORECASE)
NOT_ALLOWED = "AccessControlListNotSupported"


@dataclass(frozen=True)
class Grant:
    grantee_type: str          # CanonicalUser | Group | AmazonCustomerByEmail
    grantee: str               # the ID, URI or email address
    permission: str


def has_acl_headers(headers: Mapping[str, str]) -> bool:
    return "x-amz-acl" in headers or any(h in headers for h in GRANT_HEADERS)


def check_acl_headers(headers: Mapping[str, str], owner_id: str, *, refusal: str = NOT_ALLOWED) -> None:
    """Refuse a request whose ``x-amz-acl`` / ``x-amz-grant-*`` headers would grant anyone but
    the owner (canonical id ``owner_id``) anything; a request without them passes."""
    canned = headers.get("x-amz-acl")
    grants = [(h, headers[h]) for h in GRANT_HEADERS if h in headers]
    if canned is None and not grants:
        return
    if canned is not None and grants:
        raise S3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
    if canned is not None:
        if canned not in CANNED:
            raise S3Error("InvalidArgument", f"Invalid canned ACL: {canned}",
                          argument_name="x-amz-acl", argument_value=canned)
        if canned not in OWNER_ONLY:
            raise S3Error(refusal)
        return
    for name, value in grants:
        grantees = _header_grantees(name, value)
        if name != "x-amz-grant-full-control" or any(g != ("id", owner_id) for g in grantees):
            raise S3Error(refusal)


def _header_grantees(name: str, value: str) -> list[tuple[str, str]]:
    """``id="...", uri="..."`` -> [("id", "..."), ("uri", "...")] (kinds lower-cased);
    InvalidArgument otherwise."""
    out, pos = [], 0
    while pos < len(value):
        m = _GRANTEE.match(value, pos)
        if m is None or m.end() == pos:
            raise S3Error("InvalidArgument", f"Invalid {name} header", argument_name=name, argument_value=value)
        out.append((m.group(1).lower(), m.group(2)))
        pos = m.end()
    if not out:
        raise S3Error("InvalidArgument", f"Invalid {name} header", argument_name=name, argument_value=value)
    return out


def check_policy(grants: list[Grant], owner_id: str, policy_owner: str | None) -> None:
    """An AccessControlPolicy body (PutBucketAcl / PutObjectAcl): accepted only if it is the
    ACL in force, FULL_CONTROL for the owner and nothing else."""
    if policy_owner not in (None, owner_id):
        raise S3Error(NOT_ALLOWED)
    if not grants or any(g != Grant("CanonicalUser", owner_id, "FULL_CONTROL") for g in grants):
        raise S3Error(NOT_ALLOWED)
