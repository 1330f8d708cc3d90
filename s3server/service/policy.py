"""Bucket policies: the JSON access policy language, checked as AWS checks a PutBucketPolicy
document and evaluated as AWS evaluates a request against it. HTTP-free and pure.

What a request is judged on: its principal (every user here is the one identity of its own
account: ``arn:aws:iam::<account id>:user/<name>``), its action (``s3:GetObject``...; see
``OPERATION_ACTIONS``), its resource (``arn:aws:s3:::bucket`` or ``arn:aws:s3:::bucket/key``) and
its condition keys (``CONDITION_KEYS``). An explicit Deny wins; an Allow grants; nothing matching
leaves the default: the bucket's owner (and an admin) may, anyone else may not.

A condition key that exists in AWS but that no request here can carry (a VPC endpoint, an
organization, MFA, a calling service) is absent from every request, exactly as it is absent from
an AWS request that did not come that way; so ``Deny ... StringNotEquals aws:SourceVpce`` denies
everything here, as it denies everything outside that endpoint on AWS. An object's tags
(``s3:ExistingObjectTag/<key>``) are looked up, for policies that name them; the tags a request
brings come with it (api/policykeys.py). Keys whose values this server cannot know (the TLS
version) are refused with NotImplemented when the policy is put, never evaluated as absent: a Deny that silently never applies is the one failure a policy
must not have.
"""
from __future__ import annotations

import functools
import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from s3server.errors import S3Error

MAX_POLICY_BYTES = 20 * 1024
VERSIONS = ("2012-10-17", "2008-10-17")
ALLOW, DENY = "Allow", "Deny"

# -- actions -----------------------------------------------------------------------------------
# S3's IAM actions by the resource they apply to (the Service Authorization Reference's list).
_OBJECT_ACTIONS = """AbortMultipartUpload BypassGovernanceRetention DeleteObject DeleteObjectTagging
DeleteObjectVersion DeleteObjectVersionTagging GetObject GetObjectAcl GetObjectAttributes
GetObjectLegalHold GetObjectRetention GetObjectTagging GetObjectTorrent GetObjectVersion
GetObjectVersionAcl GetObjectVersionAttributes GetObjectVersionForReplication GetObjectVersionTagging
GetObjectVersionTorrent InitiateReplication ListMultipartUploadParts ObjectOwnerOverrideToBucketOwner
PutObject PutObjectAcl PutObjectLegalHold PutObjectRetention PutObjectTagging PutObjectVersionAcl
PutObjectVersionTagging ReplicateDelete ReplicateObject ReplicateTags RestoreObject""".split()
_BUCKET_ACTIONS = """CreateBucket DeleteBucket DeleteBucketPolicy DeleteBucketWebsite
DeleteBucketOwnershipControls GetAccelerateConfiguration GetAnalyticsConfiguration GetBucketAcl
GetBucketCORS GetBucketLocation GetBucketLogging GetBucketNotification GetBucketObjectLockConfiguration
GetBucketOwnershipControls GetBucketPolicy GetBucketPolicyStatus GetBucketPublicAccessBlock
GetBucketRequestPayment GetBucketTagging GetBucketVersioning GetBucketWebsite GetEncryptionConfiguration
GetIntelligentTieringConfiguration GetInventoryConfiguration GetLifecycleConfiguration
GetMetricsConfiguration GetReplicationConfiguration ListBucket ListBucketMultipartUploads
ListBucketVersions PutAccelerateConfiguration PutAnalyticsConfiguration PutBucketAcl PutBucketCORS
PutBucketLogging PutBucketNotification PutBucketObjectLockConfiguration PutBucketOwnershipControls
PutBucketPolicy PutBucketPublicAccessBlock PutBucketRequestPayment PutBucketTagging PutBucketVersioning
PutBucketWebsite PutEncryptionConfiguration PutIntelligentTieringConfiguration PutInventoryConfiguration
PutLifecycleConfiguration PutMetricsConfiguration PutReplicationConfiguration
GetBucketMetadataTableConfiguration CreateBucketMetadataTableConfiguration
DeleteBucketMetadataTableConfiguration GetBucketAbac PutBucketAbac""".split()
_ACCOUNT_ACTIONS = """ListAllMyBuckets GetAccountPublicAccessBlock PutAccountPublicAccessBlock
CreateJob ListJobs ListAccessPoints ListStorageLensConfigurations""".split()
OBJECT_ACTIONS = frozenset("s3:" + a.lower() for a in _OBJECT_ACTIONS)
BUCKET_ACTIONS = frozenset("s3:" + a.lower() for a in _BUCKET_ACTIONS)
KNOWN_ACTIONS = OBJECT_ACTIONS | BUCKET_ACTIONS | frozenset("s3:" + a.lower() for a in _ACCOUNT_ACTIONS)

_CONFIGS = {"Analytics": "Analytics", "Metrics": "Metrics", "Inventory": "Inventory",
            "IntelligentTiering": "IntelligentTiering"}
# operation -> the action a request of it needs (the Service Authorization Reference and the API
# reference's "Permissions" of each operation); a delete of a setting needs its Put action.
OPERATION_ACTIONS: dict[str, str] = {
    "HeadBucket": "ListBucket", "ListObjects": "ListBucket", "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "ListMultipartUploads": "ListBucketMultipartUploads",
    "GetBucketLocation": "GetBucketLocation", "CreateBucket": "CreateBucket", "DeleteBucket": "DeleteBucket",
    "GetBucketVersioning": "GetBucketVersioning", "PutBucketVersioning": "PutBucketVersioning",
    "GetBucketAcl": "GetBucketAcl", "PutBucketAcl": "PutBucketAcl",
    "GetBucketTagging": "GetBucketTagging", "PutBucketTagging": "PutBucketTagging",
    "DeleteBucketTagging": "PutBucketTagging",
    "GetBucketPolicy": "GetBucketPolicy", "PutBucketPolicy": "PutBucketPolicy",
    "DeleteBucketPolicy": "DeleteBucketPolicy", "GetBucketPolicyStatus": "GetBucketPolicyStatus",
    "GetBucketCors": "GetBucketCORS", "PutBucketCors": "PutBucketCORS", "DeleteBucketCors": "PutBucketCORS",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration", "PutBucketEncryption": "PutEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketWebsite": "GetBucketWebsite", "PutBucketWebsite": "PutBucketWebsite",
    "DeleteBucketWebsite": "DeleteBucketWebsite",
    "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock", "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketOwnershipControls": "GetBucketOwnershipControls",
    "PutBucketOwnershipControls": "PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "GetBucketLogging": "GetBucketLogging", "PutBucketLogging": "PutBucketLogging",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketRequestPayment": "GetBucketRequestPayment", "PutBucketRequestPayment": "PutBucketRequestPayment",
    "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
    "PutBucketAccelerateConfiguration": "PutAccelerateConfiguration",
    "GetBucketReplication": "GetReplicationConfiguration", "PutBucketReplication": "PutReplicationConfiguration",
    "DeleteBucketReplication": "PutReplicationConfiguration",
    **{f"{verb}Bucket{name}Configuration": f"{'Get' if verb == 'Get' else 'Put'}{name}Configuration"
       for name in _CONFIGS for verb in ("Get", "Put", "Delete")},
    **{f"ListBucket{name}Configurations": f"Get{name}Configuration" for name in _CONFIGS},
    # objects
    "PutObject": "PutObject", "PostObject": "PutObject", "CopyObject": "PutObject",
    "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject", "UploadPartCopy": "PutObject",
    "CompleteMultipartUpload": "PutObject", "AbortMultipartUpload": "AbortMultipartUpload",
    "ListParts": "ListMultipartUploadParts",
    "GetObject": "GetObject", "HeadObject": "GetObject", "SelectObjectContent": "GetObject",
    "GetObjectAttributes": "GetObjectAttributes", "DeleteObject": "DeleteObject",
    "GetObjectTagging": "GetObjectTagging", "PutObjectTagging": "PutObjectTagging",
    "DeleteObjectTagging": "DeleteObjectTagging",
    "GetObjectAcl": "GetObjectAcl", "PutObjectAcl": "PutObjectAcl",
    "GetObjectRetention": "GetObjectRetention", "PutObjectRetention": "PutObjectRetention",
    "GetObjectLegalHold": "GetObjectLegalHold", "PutObjectLegalHold": "PutObjectLegalHold",
    "GetObjectTorrent": "GetObjectTorrent", "RestoreObject": "RestoreObject",
}
# ... and the one a request for a version (``?versionId=``) needs instead
VERSION_ACTIONS = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion",
                   "GetObjectTagging": "GetObjectVersionTagging", "PutObjectTagging": "PutObjectVersionTagging",
                   "DeleteObjectTagging": "DeleteObjectVersionTagging", "GetObjectAcl": "GetObjectVersionAcl",
                   "PutObjectAcl": "PutObjectVersionAcl", "GetObjectAttributes": "GetObjectVersionAttributes"}
# the root user of the bucket's account may always do these, whatever the policy says (AWS: so a
# policy that denies everyone can still be read, replaced and removed); here: the owner and admins
OWNER_ALWAYS = frozenset({"s3:getbucketpolicy", "s3:putbucketpolicy", "s3:deletebucketpolicy"})


def action_for(operation: str, version_id: str | None = None) -> str | None:
    """``s3:<Action>`` (lower case) that a request of ``operation`` needs; None for requests
    that need none of a bucket's (ListBuckets) or are judged key by key (DeleteObjects)."""
    action = OPERATION_ACTIONS.get(operation)
    if action is None:
        return None
    if version_id is not None and operation in VERSION_ACTIONS:
        action = VERSION_ACTIONS[operation]
    return "s3:" + action.lower()


# -- condition keys ----------------------------------------------------------------------------
# keys requests here carry (when the request has the thing they describe)
CONDITION_KEYS = frozenset("""aws:securetransport aws:sourceip aws:currenttime aws:epochtime aws:useragent
aws:referer aws:principalaccount aws:principalarn aws:principaltype aws:username aws:resourceaccount
aws:requestedregion aws:viaawsservice aws:principalisawsservice s3:resourceaccount
s3:prefix s3:delimiter s3:max-keys s3:versionid s3:x-amz-acl s3:x-amz-grant-read s3:x-amz-grant-write
s3:x-amz-grant-read-acp s3:x-amz-grant-write-acp s3:x-amz-grant-full-control s3:x-amz-copy-source
s3:x-amz-metadata-directive s3:x-amz-server-side-encryption s3:x-amz-server-side-encryption-aws-kms-key-id
s3:x-amz-server-side-encryption-customer-algorithm s3:x-amz-storage-class s3:x-amz-content-sha256
s3:x-amz-website-redirect-location s3:signatureversion s3:authtype s3:signatureage s3:if-match
s3:if-none-match s3:object-lock-mode s3:object-lock-retain-until-date s3:object-lock-legal-hold
""".split())
# keys that exist in AWS but that no request here can carry: always absent
ABSENT_KEYS = frozenset("""aws:sourcevpce aws:sourcevpc aws:vpcsourceip aws:sourcearn aws:sourceaccount
aws:sourceorgid aws:sourceorgpaths aws:principalorgid aws:principalorgpaths aws:principalservicename
aws:principalservicenameslist aws:multifactorauthage aws:multifactorauthpresent aws:federatedprovider
aws:tokenissuetime aws:calledvia aws:calledviafirst aws:calledvialast aws:sourceidentity aws:userid
aws:ec2instancesourcevpc aws:ec2instancesourceprivateipv4 aws:tagkeys aws:isMcpServiceAction
s3:dataaccesspointarn s3:dataaccesspointaccount s3:accesspointnetworkorigin s3:accessgrantsinstancearn
s3:x-amz-server-side-encryption-context s3:locationconstraint s3:object-lock-remaining-retention-days
""".lower().split())
ABSENT_KEY_PREFIXES = ("aws:principaltag/", "aws:resourcetag/", "aws:requesttag/")
# an object's tags, looked up (only for policies that name them) for the actions AWS gives them to
EXISTING_TAG = "s3:existingobjecttag/"
EXISTING_TAG_ACTIONS = frozenset("s3:" + a.lower() for a in """GetObject GetObjectVersion GetObjectAcl
GetObjectVersionAcl GetObjectTagging GetObjectVersionTagging PutObjectTagging PutObjectVersionTagging
DeleteObjectTagging DeleteObjectVersionTagging PutObjectAcl PutObjectVersionAcl GetObjectAttributes
GetObjectVersionAttributes GetObjectRetention GetObjectLegalHold PutObjectRetention PutObjectLegalHold
RestoreObject""".split())
# the tags a request brings (x-amz-tagging, a form's tagging field, PutObjectTagging's body)
REQUEST_TAG = "s3:requestobjecttag/"
REQUEST_TAG_KEYS = "s3:requestobjecttagkeys"
# keys whose values this server cannot know: refused rather than judged absent
UNKNOWABLE_KEY_PREFIXES = ("s3:tlsversion", "s3:existingjobpriority", "s3:existingjoboperation",
                           "s3:jobsuspendedcause", "s3:requestjob")

_OPERATORS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
              "StringLike", "StringNotLike", "NumericEquals", "NumericNotEquals", "NumericLessThan",
              "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals",
              "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
              "DateGreaterThanEquals", "Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals",
              "ArnLike", "ArnNotEquals", "ArnNotLike", "Null")
OPERATORS = {op.lower(): op for op in _OPERATORS}
NEGATED = frozenset({"stringnotequals", "stringnotequalsignorecase", "stringnotlike", "numericnotequals",
                     "datenotequals", "notipaddress", "arnnotequals", "arnnotlike"})


def malformed(message: str) -> S3Error:
    return S3Error("MalformedPolicy", message)


@dataclass(frozen=True)
class Condition:
    operator: str               # lower case, without IfExists and set qualifier
    key: str                    # lower case
    values: tuple[Any, ...]     # parsed for the operator (numbers, datetimes, networks, regexes...)
    if_exists: bool = False
    qualifier: str = ""         # "", "forallvalues", "foranyvalue"
    templates: tuple | None = None   # values with policy variables: resolved per request (``values`` unused)


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: str
    principals: tuple[tuple[str, ...], ...] | None      # ("*",), ("account", id), ("user", id, name), ("none",)
    not_principal: bool
    actions: tuple[re.Pattern, ...]
    not_action: bool
    resources: tuple["Template", ...]
    not_resource: bool
    conditions: tuple[Condition, ...]
    public: bool                # an Allow to everyone that no condition narrows to known callers


@dataclass(frozen=True)
class Request:
    """What one request is judged on."""
    action: str                 # "s3:getobject"
    resource: str               # "arn:aws:s3:::bucket" or "arn:aws:s3:::bucket/key"
    account: str                # the caller's 12-digit account id
    user_name: str
    context: Mapping[str, str | list[str]]     # condition key (lower case) -> value(s)


@dataclass(frozen=True)
class Policy:
    text: str
    statements: tuple[Statement, ...]
    uses_existing_tags: bool = False        # a condition or variable names s3:ExistingObjectTag/...

    @property
    def is_public(self) -> bool:
        return any(st.public for st in self.statements)

    def decide(self, request: Request, *, public_grants: bool = True) -> str | None:
        """DENY when a Deny statement matches, else ALLOW when an Allow statement does, else None.
        ``public_grants=False`` (RestrictPublicBuckets, for callers outside the owner's account)
        ignores the Allows of public statements."""
        allowed = False
        for st in self.statements:
            if st.effect == ALLOW and (allowed or (st.public and not public_grants)):
                continue
            if _applies(st, request):
                if st.effect == DENY:
                    return DENY
                allowed = True
        return ALLOW if allowed else None


# -- parsing -----------------------------------------------------------------------------------
def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _strings(value: Any, what: str) -> list[str]:
    """A field that holds a string or a non-empty list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise malformed(f"Policy has invalid {what}")


def _principals(value: Any) -> tuple[tuple[str, ...], ...]:
    bad = malformed("Invalid principal in policy")
    if value == "*":
        return (("*",),)
    if not isinstance(value, dict) or not value:
        raise bad
    out = []
    for kind, ids in value.items():
        if kind not in ("AWS", "CanonicalUser", "Service", "Federated"):
            raise bad
        for pid in (ids if isinstance(ids, list) else [ids]):
            if not isinstance(pid, str) or not pid:
                raise bad
            out.append(_principal(kind, pid, bad))
    if not out:
        raise bad
    return tuple(out)


_ACCOUNT = re.compile(r"[0-9]{12}")
_IAM_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):(root|user/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)|"
                      r"role/[\w+=,.@/-]+|assumed-role/[\w+=,.@/-]+|federated-user/[\w+=,.@-]+)")
_CLOUDFRONT_OAI = re.compile(r"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity [A-Z0-9]+")
_CANONICAL = re.compile(r"[0-9a-f]{64}|[0-9a-f]{96}")       # accounts; CloudFront origin access identities


def _principal(kind: str, pid: str, bad: S3Error) -> tuple[str, ...]:
    if kind == "AWS":
        if pid == "*":
            return ("*",)
        if _ACCOUNT.fullmatch(pid):
            return ("account", pid)
        if _CLOUDFRONT_OAI.fullmatch(pid):
            return ("none",)                # a CloudFront origin access identity: none here
        m = _IAM_ARN.fullmatch(pid)
        if m is None:
            raise bad
        if m.group(2) == "root":
            return ("account", m.group(1))
        if m.group(3) is not None:
            return ("user", m.group(1), m.group(3))
        return ("none",)                    # roles: none here
    if kind == "CanonicalUser":
        if not _CANONICAL.fullmatch(pid):
            raise bad
        return ("account", f"{int(pid, 16):012d}") if len(pid) == 64 and int(pid, 16) < 10 ** 12 else ("none",)
    if kind == "Service":
        if not re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?", pid):
            raise bad
        return ("none",)                    # no AWS service calls this server
    return ("none",)                        # federated identities: none here


_RESOURCE = re.compile(r"arn:(aws[a-z-]*|\*):s3:::(.+)", re.DOTALL)


def _resource(value: str, bucket: str, variables: bool) -> "Template":
    """A resource ARN of this bucket (or of its objects); wildcards allowed, and policy variables
    after the bucket's name."""
    if value == "*":
        return Template.of("*", False)
    m = _RESOURCE.fullmatch(value)
    if m is None:
        raise malformed("Policy has invalid resource")
    bucket_part, slash, _ = m.group(2).partition("/")
    if (variables and "${" in bucket_part) or not _glob(bucket_part).fullmatch(bucket):
        raise malformed("Policy has invalid resource")
    return Template.of("arn:aws:s3:::" + m.group(2), variables)


# -- policy variables (Version 2012-10-17): ${key}, ${key, 'default'}, and ${*} ${?} ${$} -------
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


def _template_parts(text: str) -> tuple:
    """``text`` as (literal, key, default) triples: the literal before the variable, its key
    (lower case; "" for ``${*}``, ``${?}``, ``${$}``, whose character is the default; None after
    the last variable) and its default (None: none)."""
    parts, at = [], 0
    for m in _VARIABLE.finditer(text):
        inner = m.group(1).strip()
        if inner in _SPECIAL:                # a literal *, ? or $: key "", the character as default
            parts.append((text[at:m.start()], "", inner))
            at = m.end()
            continue
        key, comma, default = inner.partition(",")
        key = key.strip().lower()
        if comma:
            default = default.strip()
            if len(default) < 2 or default[0] != "'" or default[-1] != "'":
                raise malformed("Policy has an invalid policy variable")
            default = default[1:-1]
        else:
            default = None
        _check_key(key, key)
        parts.append((text[at:m.start()], key, default))
        at = m.end()
    parts.append((text[at:], None, None))
    return tuple(parts)


class Template:
    """A pattern (IAM wildcards) or an exact string, which may hold policy variables."""
    __slots__ = ("parts", "glob", "ignore_case", "regex")

    def __init__(self, parts: tuple, glob: bool, ignore_case: bool = False):
        self.parts, self.glob, self.ignore_case = parts, glob, ignore_case
        self.regex = _compile_parts(parts, (), glob, ignore_case) if len(parts) == 1 else None

    @classmethod
    def of(cls, text: str, variables: bool, glob: bool = True, ignore_case: bool = False) -> "Template":
        return cls(_template_parts(text) if variables and "${" in text else ((text, None, None),), glob,
                   ignore_case)

    def resolve(self, context: Mapping[str, Any]) -> re.Pattern | None:
        """The pattern for one request; None when a variable has no value (the element then
        matches nothing: AWS: the statement is invalid for that request)."""
        if self.regex is not None:
            return self.regex
        values = []
        for _, key, default in self.parts[:-1]:
            if key == "":
                values.append(default)
                continue
            value = context.get(key, default)
            if value is None or isinstance(value, list):
                return None
            values.append(value)
        return _compile_parts(self.parts, tuple(values), self.glob, self.ignore_case)

    def fullmatch(self, value: str, context: Mapping[str, Any]) -> bool:
        found = self.resolve(context)
        return found is not None and found.fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def _compile_parts(parts: tuple, values: tuple, glob: bool, ignore_case: bool = False) -> re.Pattern:
    out = []
    for i, (literal, _, _) in enumerate(parts):
        out.append(_glob(literal).pattern if glob else re.escape(literal))
        if i < len(values) and values[i] is not None:
            out.append(re.escape(values[i]))         # a value's own * and ? are plain characters
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _action(value: str) -> re.Pattern:
    low = value.lower()
    if low == "*":
        return _glob("*")
    if not low.startswith("s3:") or not re.fullmatch(r"s3:[a-z0-9*?-]+", low):
        raise malformed("Policy has invalid action")
    if "*" not in low and "?" not in low and low not in KNOWN_ACTIONS:
        raise malformed("Policy has invalid action")
    return _glob(low)


def _applies_to_some(action: str, resources: list[str], bucket: str) -> bool:
    """Whether a named action applies to one of the statement's resources (AWS refuses a
    statement where one does not: ``s3:GetObject`` on ``arn:aws:s3:::bucket``)."""
    low = action.lower()
    if low == "*" or "*" in low or "?" in low:
        return True
    for r in resources:
        if r == "*":
            return True
        rest = r.split(":::", 1)[1] if ":::" in r else r
        if low in OBJECT_ACTIONS and ("/" in rest or "*" in rest):
            return True
        if low in BUCKET_ACTIONS and _glob(rest).fullmatch(bucket):
            return True
    return False


def _condition_values(op: str, raw: Any) -> tuple[Any, ...]:
    values = raw if isinstance(raw, list) else [raw]
    if not values or any(isinstance(v, (dict, list)) or v is None for v in values):
        raise malformed("Invalid Condition value")
    texts = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    try:
        if op.startswith("numeric"):
            return tuple(float(t) for t in texts)
        if op.startswith("date"):
            return tuple(_date(t) for t in texts)
        if op in ("ipaddress", "notipaddress"):
            return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in texts)
    except ValueError as exc:
        raise malformed(f"Invalid Condition value for {OPERATORS[op]}") from exc
    if op in ("bool", "null"):
        if any(t.lower() not in ("true", "false") for t in texts):
            raise malformed(f"Invalid Condition value for {OPERATORS[op]}")
        return tuple(t.lower() for t in texts)
    if op in ("stringlike", "stringnotlike", "arnlike", "arnnotlike", "arnequals", "arnnotequals"):
        return tuple(_glob(t) for t in texts)
    if op in ("stringequalsignorecase", "stringnotequalsignorecase"):
        return tuple(t.casefold() for t in texts)
    return tuple(texts)


def _date(text: str) -> datetime:
    text = text.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return datetime.fromtimestamp(float(text), timezone.utc)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _check_key(key: str, raw_key: str) -> None:
    if key.startswith(UNKNOWABLE_KEY_PREFIXES):
        raise S3Error("NotImplemented", f"The condition key {raw_key} is not implemented by this server "
                      "(it cannot know its value, and judging it absent could let a Deny miss).")
    if not (key in CONDITION_KEYS or key in ABSENT_KEYS or key.startswith(ABSENT_KEY_PREFIXES)
            or key == REQUEST_TAG_KEYS
            or any(key.startswith(p) and len(key) > len(p) for p in (EXISTING_TAG, REQUEST_TAG))):
        raise malformed("Policy has an invalid condition key")


_TEMPLATED_OPERATORS = frozenset({"stringequals", "stringnotequals", "stringequalsignorecase",
                                  "stringnotequalsignorecase", "stringlike", "stringnotlike", "arnequals",
                                  "arnlike", "arnnotequals", "arnnotlike"})


def _conditions(block: Any, variables: bool = False) -> tuple[Condition, ...]:
    if not isinstance(block, dict):
        raise malformed("Policy has invalid condition")
    out = []
    for raw_op, keys in block.items():
        name = raw_op.lower()
        qualifier = ""
        if ":" in name:
            qualifier, _, name = name.partition(":")
            if qualifier not in ("forallvalues", "foranyvalue"):
                raise malformed(f"Invalid Condition type : {raw_op}")
        if_exists = name.endswith("ifexists") and name != "ifexists"
        if if_exists:
            name = name[: -len("ifexists")]
        if name not in OPERATORS or (if_exists and name == "null"):
            raise malformed(f"Invalid Condition type : {raw_op}")
        if not isinstance(keys, dict) or not keys:
            raise malformed("Policy has invalid condition")
        for raw_key, raw_values in keys.items():
            key = raw_key.lower()
            _check_key(key, raw_key)
            values = _condition_values(name, raw_values)
            texts = raw_values if isinstance(raw_values, list) else [raw_values]
            templates = None
            if variables and name in _TEMPLATED_OPERATORS and any("${" in str(v) for v in texts):
                glob = name.startswith("arn") or name.endswith("like")
                templates = tuple(Template.of(str(v), True, glob=glob, ignore_case=name.endswith("ignorecase"))
                                  for v in texts)
            out.append(Condition(name, key, values, if_exists, qualifier, templates))
    return tuple(out)


# conditions that narrow an Allow to known callers, so that it is not "public" (AWS: "Evaluating
# bucket policies for public access"): fixed values of these keys, and source IP ranges
_NARROWING_KEYS = frozenset({"aws:sourcevpce", "aws:sourcevpc", "aws:sourcearn", "aws:sourceaccount",
                             "aws:sourceorgid", "aws:principalorgid", "aws:principalaccount",
                             "aws:principalarn", "aws:userid", "aws:sourceowner", "s3:dataaccesspointarn",
                             "s3:dataaccesspointaccount", "aws:principalorgpaths"})


def _narrows(c: Condition) -> bool:
    if c.if_exists or c.qualifier or c.operator in NEGATED or c.operator == "null":
        return False
    if c.key == "aws:sourceip" and c.operator == "ipaddress":
        return all(net.prefixlen >= (8 if net.version == 4 else 32) for net in c.values)
    if c.key in _NARROWING_KEYS and c.operator in ("stringequals", "stringequalsignorecase", "arnequals"):
        return True
    if c.key in _NARROWING_KEYS and c.operator in ("stringlike", "arnlike"):
        return not any(re.search(r"(?<!\\)\.", v.pattern) for v in c.values)     # no wildcard
    return False


_FIELDS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
           "Condition"}


def _statement(raw: Any, bucket: str, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise malformed("Policy has an invalid statement")
    for field in raw:
        if field not in _FIELDS:
            raise malformed(f"Unknown field {field}")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise malformed("Statement IDs (SID) must be strings")
    effect = raw.get("Effect")
    if effect is None:
        raise malformed("Missing required field Effect")
    if effect not in (ALLOW, DENY):
        raise malformed(f"Invalid effect: {effect}")
    if ("Principal" in raw) == ("NotPrincipal" in raw):
        raise malformed("Missing required field Principal" if "Principal" not in raw
                        else "Statement cannot have both Principal and NotPrincipal")
    not_principal = "NotPrincipal" in raw
    principals = _principals(raw["NotPrincipal" if not_principal else "Principal"])
    if ("Action" in raw) == ("NotAction" in raw):
        raise malformed("Missing required field Action" if "Action" not in raw
                        else "Statement cannot have both Action and NotAction")
    not_action = "NotAction" in raw
    action_names = _strings(raw["NotAction" if not_action else "Action"], "action")
    actions = tuple(_action(a) for a in action_names)
    if ("Resource" in raw) == ("NotResource" in raw):
        raise malformed("Missing required field Resource" if "Resource" not in raw
                        else "Statement cannot have both Resource and NotResource")
    not_resource = "NotResource" in raw
    resource_names = _strings(raw["NotResource" if not_resource else "Resource"], "resource")
    resources = tuple(_resource(r, bucket, variables) for r in resource_names)
    if not not_action and not not_resource:
        for a in action_names:
            if not _applies_to_some(a, resource_names, bucket):
                raise malformed("Action does not apply to any resource(s) in statement")
    conditions = _conditions(raw["Condition"], variables) if "Condition" in raw else ()
    # an Allow to everyone, or to everyone but some (NotPrincipal), that no condition narrows
    public = (effect == ALLOW and (not_principal or ("*",) in principals)
              and not any(_narrows(c) for c in conditions))
    return Statement(sid, effect, principals, not_principal, actions, not_action, resources, not_resource,
                     conditions, public)


def parse(text: str, bucket: str) -> Policy:
    """A PutBucketPolicy document checked as AWS checks it: MalformedPolicy with AWS's messages."""
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise malformed("Policy exceeds the maximum allowed document size.")
    if not text.lstrip().startswith("{"):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise malformed("This policy contains invalid Json") from exc
    if not isinstance(doc, dict):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    for field in doc:
        if field not in ("Version", "Id", "Statement"):
            raise malformed(f"Unknown field {field}")
    if "Version" in doc and doc["Version"] not in VERSIONS:
        raise malformed("The policy must contain a valid version string")
    if "Statement" not in doc:
        raise malformed("Missing required field Statement")
    raw = doc["Statement"]
    raw_statements = raw if isinstance(raw, list) else [raw]
    if not raw_statements:
        raise malformed("Could not parse the policy: Statement is empty!")
    variables = doc.get("Version") == "2012-10-17"        # 2008-10-17: ${...} is plain text
    statements = tuple(_statement(s, bucket, variables) for s in raw_statements)
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise malformed("Statement IDs (SID) in a single policy must be unique.")
    return Policy(text, statements, EXISTING_TAG in text.lower())


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise malformed(f"This policy contains a duplicate field: {k}")
        out[k] = v
    return out


@functools.lru_cache(maxsize=256)
def compiled(text: str, bucket: str) -> Policy:
    """A stored policy, parsed once per worker (it was checked when it was put); the 256 most
    recently used (at most 20 KB of text each)."""
    return parse(text, bucket)


# -- evaluation --------------------------------------------------------------------------------
def _principal_matches(principals, request: Request) -> bool:
    for p in principals:
        if p[0] == "*" or (p[0] == "account" and p[1] == request.account) or \
                (p[0] == "user" and p[1] == request.account and p[2] == request.user_name):
            return True
    return False


def _applies(st: Statement, request: Request) -> bool:
    if _principal_matches(st.principals, request) == st.not_principal:
        return False
    if any(a.fullmatch(request.action) for a in st.actions) == st.not_action:
        return False
    if any(r.fullmatch(request.resource, request.context) for r in st.resources) == st.not_resource:
        return False
    return all(_holds(c, request.context) for c in st.conditions)


def _holds(c: Condition, context: Mapping[str, str | list[str]]) -> bool:
    raw = context.get(c.key)
    if c.operator == "null":
        return (raw is None) == (c.values[0] == "true")
    if raw is None:
        if c.if_exists or c.qualifier == "forallvalues":
            return True
        if c.qualifier == "foranyvalue":
            return False
        return c.operator in NEGATED
    wanted: tuple = c.values
    test = _TESTS[c.operator]
    if c.templates is not None:              # policy variables: this request's patterns
        patterns = []
        for t in c.templates:
            found = t.resolve(context)
            if found is None:
                return False                 # a variable without a value: the statement does not apply
            patterns.append(found)
        wanted = tuple(patterns)
        negated = c.operator in NEGATED
        test = lambda v, w: any(p.fullmatch(v) for p in w) != negated    # noqa: E731
    values = raw if isinstance(raw, list) else [raw]
    if c.qualifier == "forallvalues":
        return all(test(v, wanted) for v in values)
    return any(test(v, wanted) for v in values)


def _number(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _when(v: str) -> datetime | None:
    try:
        return _date(v)
    except ValueError:
        return None


def _ip(v: str):
    try:
        return ipaddress.ip_address(v)
    except ValueError:
        return None


def _compare(parse_value: Callable, cmp: Callable) -> Callable[[str, tuple], bool]:
    def test(v: str, wanted: tuple) -> bool:
        x = parse_value(v)
        return x is not None and any(cmp(x, w) for w in wanted)
    return test


def _in_networks(v: str, nets: tuple) -> bool:
    ip = _ip(v)
    return ip is not None and any(ip.version == n.version and ip in n for n in nets)


_TESTS: dict[str, Callable[[str, tuple], bool]] = {
    "stringequals": lambda v, w: v in w,
    "stringnotequals": lambda v, w: v not in w,
    "stringequalsignorecase": lambda v, w: v.casefold() in w,
    "stringnotequalsignorecase": lambda v, w: v.casefold() not in w,
    "stringlike": lambda v, w: any(p.fullmatch(v) for p in w),
    "stringnotlike": lambda v, w: not any(p.fullmatch(v) for p in w),
    "arnequals": lambda v, w: any(p.fullmatch(v) for p in w),
    "arnlike": lambda v, w: any(p.fullmatch(v) for p in w),
    "arnnotequals": lambda v, w: not any(p.fullmatch(v) for p in w),
    "arnnotlike": lambda v, w: not any(p.fullmatch(v) for p in w),
    "numericequals": _compare(_number, lambda x, w: x == w),
    "numericnotequals": lambda v, w: (x := _number(v)) is not None and all(x != y for y in w),
    "numericlessthan": _compare(_number, lambda x, w: x < w),
    "numericlessthanequals": _compare(_number, lambda x, w: x <= w),
    "numericgreaterthan": _compare(_number, lambda x, w: x > w),
    "numericgreaterthanequals": _compare(_number, lambda x, w: x >= w),
    "dateequals": _compare(_when, lambda x, w: x == w),
    "datenotequals": lambda v, w: (x := _when(v)) is not None and all(x != y for y in w),
    "datelessthan": _compare(_when, lambda x, w: x < w),
    "datelessthanequals": _compare(_when, lambda x, w: x <= w),
    "dategreaterthan": _compare(_when, lambda x, w: x > w),
    "dategreaterthanequals": _compare(_when, lambda x, w: x >= w),
    "bool": lambda v, w: v.lower() in w,
    "binaryequals": lambda v, w: v in w,
    "ipaddress": _in_networks,
    "notipaddress": lambda v, w: _ip(v) is not None and not _in_networks(v, w),
}
