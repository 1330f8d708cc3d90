"""Bucket policies parsed: a PutBucketPolicy document checked as AWS checks it (MalformedPolicy
with AWS's messages; NotImplemented for keys this server cannot know) and compiled into the
statements service/policy.py evaluates."""
from __future__ import annotations

import functools
import ipaddress
import json
import re
from typing import Any

from s3server.errors import S3Error
from s3server.service.policy import Condition, Policy, Statement
from s3server.service.policylang import (
    ALLOW,
    BUCKET_ACTIONS,
    DENY,
    EXISTING_TAG,
    KNOWN_ACTIONS,
    MAX_POLICY_BYTES,
    NEGATED,
    OBJECT_ACTIONS,
    OPERATORS,
    VERSIONS,
    check_key,
    malformed,
    parse_date,
    wildcard_pattern,
)
from s3server.service.policyvars import Template


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
    if (variables and "${" in bucket_part) or not wildcard_pattern(bucket_part).fullmatch(bucket):
        raise malformed("Policy has invalid resource")
    return Template.of("arn:aws:s3:::" + m.group(2), variables)


def _action(value: str) -> re.Pattern:
    low = value.lower()
    if low == "*":
        return wildcard_pattern("*")
    if not low.startswith("s3:") or not re.fullmatch(r"s3:[a-z0-9*?-]+", low):
        raise malformed("Policy has invalid action")
    if "*" not in low and "?" not in low and low not in KNOWN_ACTIONS:
        raise malformed("Policy has invalid action")
    return wildcard_pattern(low)


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
        if low in BUCKET_ACTIONS and wildcard_pattern(rest).fullmatch(bucket):
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
            return tuple(parse_date(t) for t in texts)
        if op in ("ipaddress", "notipaddress"):
            return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in texts)
    except ValueError as exc:
        raise malformed(f"Invalid Condition value for {OPERATORS[op]}") from exc
    if op in ("bool", "null"):
        if any(t.lower() not in ("true", "false") for t in texts):
            raise malformed(f"Invalid Condition value for {OPERATORS[op]}")
        return tuple(t.lower() for t in texts)
    if op in ("stringlike", "stringnotlike", "arnlike", "arnnotlike", "arnequals", "arnnotequals"):
        return tuple(wildcard_pattern(t) for t in texts)
    if op in ("stringequalsignorecase", "stringnotequalsignorecase"):
        return tuple(t.casefold() for t in texts)
    return tuple(texts)


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
            check_key(key, raw_key)
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
