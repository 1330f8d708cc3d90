"""Browser-based uploads (PostObject): the form's signed POST policy.

The form carries a base64 JSON policy (expiration + conditions) and its signature: SigV4
(``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date``, ``x-amz-signature``: an HMAC-SHA256 of
the base64 policy with the day's signing key) or SigV2 (``AWSAccessKeyId``, ``signature``: a
base64 HMAC-SHA1 of it with the secret). The policy then has to allow every field of the form, as
the S3 User Guide's "Creating a POST policy" describes: each field (but the signature, the file,
the policy itself and ``x-ignore-*``) needs a condition, and every condition must hold."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from s3server.auth import sigv4
from s3server.errors import S3Error

# fields that need no condition
UNCONDITIONED = frozenset({"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"})


def _denied(detail: str) -> S3Error:
    return S3Error("AccessDenied", f"Invalid according to Policy: {detail}")


@dataclass(frozen=True)
class PostAuth:
    access_key: str
    min_size: int
    max_size: int | None


def verify(fields: dict[str, str], bucket: str, secret_for: Callable[[str], str | None],
           now: datetime) -> PostAuth:
    """The access key whose signature the policy carries, once the policy allows the form;
    AccessDenied / InvalidAccessKeyId / SignatureDoesNotMatch / InvalidArgument otherwise."""
    policy_b64 = fields.get("policy")
    if not policy_b64:
        raise S3Error("AccessDenied", "Anonymous access is not allowed; a POST upload needs a signed policy.")
    if fields.get("x-amz-algorithm") is not None or fields.get("x-amz-signature") is not None:
        access_key = _verify_v4(fields, policy_b64, secret_for)
    elif fields.get("awsaccesskeyid") is not None:
        access_key = _verify_v2(fields, policy_b64, secret_for)
    else:
        raise S3Error("InvalidArgument", "Bucket POST must contain a field named 'x-amz-signature'.",
                      argument_name="x-amz-signature")
    min_size, max_size = check_policy(_decode(policy_b64), fields, bucket, now)
    return PostAuth(access_key, min_size, max_size)


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name)
    if not value:
        raise S3Error("InvalidArgument", f"Bucket POST must contain a field named '{name}'.",
                      argument_name=name)
    return value


def _verify_v4(fields: dict[str, str], policy_b64: str, secret_for: Callable[[str], str | None]) -> str:
    if _required(fields, "x-amz-algorithm") != "AWS4-HMAC-SHA256":
        raise S3Error("InvalidArgument", "Only AWS4-HMAC-SHA256 is supported.", argument_name="x-amz-algorithm",
                      argument_value=fields["x-amz-algorithm"])
    credential = _required(fields, "x-amz-credential")
    _required(fields, "x-amz-date")
    provided = _required(fields, "x-amz-signature")
    parts = credential.rsplit("/", 4)
    if len(parts) != 5 or not all(parts) or parts[3] != sigv4.SERVICE or parts[4] != sigv4.TERMINATOR:
        raise S3Error("InvalidArgument", "The x-amz-credential field is malformed.",
                      argument_name="x-amz-credential", argument_value=credential)
    access_key, date, region = parts[0], parts[1], parts[2]
    secret = secret_for(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", aws_access_key_id=access_key)
    expected = sigv4.signature(sigv4.signing_key(secret, date, region), policy_b64)
    if not sigv4.signatures_equal(expected, provided):
        raise S3Error("SignatureDoesNotMatch", aws_access_key_id=access_key, string_to_sign=policy_b64)
    return access_key


def _verify_v2(fields: dict[str, str], policy_b64: str, secret_for: Callable[[str], str | None]) -> str:
    access_key = fields["awsaccesskeyid"]
    provided = _required(fields, "signature")
    secret = secret_for(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", aws_access_key_id=access_key)
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), policy_b64.encode("utf-8"),
                                         hashlib.sha1).digest()).decode("ascii")
    if not hmac.compare_digest(expected.encode("ascii"), provided.encode("utf-8", "replace")):
        raise S3Error("SignatureDoesNotMatch", aws_access_key_id=access_key, string_to_sign=policy_b64)
    return access_key


def _decode(policy_b64: str) -> dict:
    try:
        doc = json.loads(base64.b64decode(policy_b64, validate=True))
    except (ValueError, UnicodeDecodeError) as exc:
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("conditions"), list) or "expiration" not in doc:
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: the policy needs expiration and conditions.")
    return doc


def _expiration(value) -> datetime:
    try:
        text = str(value).replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def check_policy(doc: dict, fields: dict[str, str], bucket: str, now: datetime) -> tuple[int, int | None]:
    """Every condition holds and every field is covered: (min, max) of content-length-range."""
    if _expiration(doc["expiration"]) <= now:
        raise _denied("Policy expired.")
    values = dict(fields, bucket=bucket)
    covered = {"bucket"}
    min_size, max_size = 0, None
    for cond in doc["conditions"]:
        if isinstance(cond, dict) and len(cond) == 1:
            (name, want), = cond.items()
            name = name.lower()
            op, wanted = "eq", str(want)
        elif isinstance(cond, list) and len(cond) == 3 and str(cond[0]).lower() == "content-length-range":
            try:
                min_size, max_size = int(cond[1]), int(cond[2])
            except (TypeError, ValueError) as exc:
                raise S3Error("InvalidPolicyDocument", "Invalid Policy: Invalid content-length-range.") from exc
            continue
        elif isinstance(cond, list) and len(cond) == 3 and str(cond[0]).lower() in ("eq", "starts-with") \
                and isinstance(cond[1], str) and cond[1].startswith("$"):
            op, name, wanted = str(cond[0]).lower(), cond[1][1:].lower(), str(cond[2])
        else:
            raise S3Error("InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {json.dumps(cond)}")
        covered.add(name)
        value = values.get(name)
        if value is None or not (value == wanted if op == "eq" else _starts_with(name, value, wanted)):
            raise _denied(f"Policy Condition failed: {json.dumps(cond)}")
    extra = [n for n in fields if n not in covered and n not in UNCONDITIONED and not n.startswith("x-ignore-")]
    if extra:
        raise _denied(f"Extra input fields: {', '.join(sorted(extra))}")
    return min_size, max_size


def _starts_with(name: str, value: str, prefix: str) -> bool:
    """``starts-with``; for Content-Type a comma-separated list: every entry must match."""
    if name == "content-type" and "," in value:
        return all(v.strip().startswith(prefix) for v in value.split(","))
    return value.startswith(prefix)
