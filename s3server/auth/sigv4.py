"""AWS Signature Version 4 for S3, as small pure steps.

    canonical_request() -> string_to_sign() -> signing_key() -> signature()

``authenticate`` parses the header or presigned-query form, checks the date,
scope and expiry the way S3 does, then compares signatures in constant time.
SigV2 requests are recognised here and verified by ``auth.sigv2``.

No HTTP framework: the caller hands in a ``SignedRequest`` built from the raw
wire path (gunicorn's RAW_URI), the raw query string and lower-cased headers.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping
from urllib.parse import quote, unquote_to_bytes

from s3server.auth import sigv2
from s3server.errors import S3Error
from s3server.timefmt import iso_time, parse_http_date

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = (STREAMING_PAYLOAD, STREAMING_PAYLOAD_TRAILER, STREAMING_UNSIGNED_TRAILER)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_PRESIGN_EXPIRES = 604800  # 7 days
SERVICE = "s3"
TERMINATOR = "aws4_request"

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}\Z")
_SIGNATURE_HEX = re.compile(r"[0-9a-f]{64}\Z")
_PRESIGN_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
_PRESIGN_REQUIRED = (
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",
    "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires",
)
_CREDENTIAL_FORMAT = 'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
_CONTENT_SHA256_VALUES = (
    "UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, "
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value."
)
# x-amz-* headers that may travel unsigned alongside a presigned URL.
_PRESIGN_UNSIGNED_OK = frozenset({"x-amz-content-sha256"})


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str               # percent-encoded path exactly as sent (RAW_URI without the query)
    raw_query: str              # query string as sent, "" if none
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ","


@dataclass(frozen=True)
class AuthResult:
    access_key: str
    version: int                # 4 or 2
    presigned: bool
    payload_hash: str           # x-amz-content-sha256 as signed (verbatim), or UNSIGNED-PAYLOAD
    amz_date: str               # "YYYYMMDDTHHMMSSZ" (v4; v2: the request date in the same format, or "")
    scope: str                  # "YYYYMMDD/region/s3/aws4_request" (v4; "" for v2)
    signing_key: bytes          # v4 derived key, for aws-chunked chunk signatures (b"" for v2)
    signature: str              # the request's (seed) signature


# ---------------------------------------------------------------- pure steps

def uri_encode(value: str | bytes, safe: str = "") -> str:
    """AWS URI encoding: RFC 3986 unreserved kept, every other byte %XX (upper hex).
    Short values are cached: most query names and values repeat from request to request (the
    credential scope, the algorithm, the signed headers), and ``quote`` costs microseconds."""
    if len(value) <= 128:
        return _uri_encode_short(value, safe)
    return quote(value, safe="-_.~" + safe)


@functools.lru_cache(maxsize=4096)
def _uri_encode_short(value: str | bytes, safe: str) -> str:
    return quote(value, safe="-_.~" + safe)


def parse_query(raw_query: str, *, plus_is_space: bool = True) -> list[tuple[bytes, bytes]]:
    """Decode a raw query string into (name, value) byte pairs, order kept.

    ``+`` means space, as for S3 itself and the servers clients test against
    (MinIO decodes with Go's url.ParseQuery); a literal plus arrives as ``%2B``.
    """
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if plus_is_space:
            name, value = name.replace("+", " "), value.replace("+", " ")
        pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


@functools.lru_cache(maxsize=64)
def _parsed(raw_query: str) -> tuple[tuple[bytes, bytes], ...]:
    """``parse_query`` once per request: authentication reads the query three times."""
    return tuple(parse_query(raw_query))


def canonical_query_string(raw_query: str, *, exclude: Iterable[str] = ()) -> str:
    """Each name and value decoded then re-encoded by AWS rules, sorted by name then value."""
    skip = {name.encode() for name in exclude}
    encoded = sorted(
        (uri_encode(name), uri_encode(value))
        for name, value in _parsed(raw_query)
        if name not in skip
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_uri(raw_path: str) -> str:
    """S3's canonical URI is the path as sent: encoded once, never normalised."""
    return raw_path or "/"


def reencoded_uri(raw_path: str) -> str:
    """The raw path decoded and encoded again by AWS rules (``(`` -> ``%28``...).

    Tried when the as-sent form does not verify: clients differ on which
    characters they escape, and both forms decode to the same key.
    """
    return uri_encode(unquote_to_bytes(raw_path or "/"), safe="/")


def _trim(value: str) -> str:
    return " ".join(value.split())


def canonical_headers(headers: Mapping[str, str], signed: Iterable[str]) -> str:
    """``name:trimmed value\\n`` for every signed header, in SignedHeaders order."""
    return "".join(f"{name}:{_trim(headers.get(name, ''))}\n" for name in signed)


def canonical_request(method: str, uri: str, query: str, headers: Mapping[str, str],
                      signed_headers: list[str], payload_hash: str) -> str:
    return "\n".join((
        method.upper(), uri, query,
        canonical_headers(headers, signed_headers),
        ";".join(signed_headers), payload_hash,
    ))


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join((ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()))


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


@functools.lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """The derived key changes once a day per credential: cache it (four HMACs per request saved).
    Revocation is unaffected: the credential itself is looked up on every request."""
    k_date = _hmac(("AWS4" + secret).encode("utf-8"), date)
    return _hmac(_hmac(_hmac(k_date, region), service), TERMINATOR)


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def chunk_string_to_sign(amz_date: str, scope: str, previous_signature: str, chunk_sha256_hex: str) -> str:
    """String to sign of one aws-chunked chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""
    return "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous_signature,
                      EMPTY_SHA256, chunk_sha256_hex))


def trailer_string_to_sign(amz_date: str, scope: str, previous_signature: str, trailer_sha256_hex: str) -> str:
    """String to sign of the trailing headers; the hash is over ``name:value\\n`` lines."""
    return "\n".join(("AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous_signature, trailer_sha256_hex))


def chunk_signature(key: bytes, to_sign: str) -> str:
    return signature(key, to_sign)


def signatures_equal(expected: str, provided: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), provided.encode("utf-8", "replace"))


# ---------------------------------------------------------------- authenticate

def authenticate(req: SignedRequest, secret_for: Callable[[str], str | None], now: datetime, *,
                 max_skew: int = 900, region: str | None = None,
                 vhost_bucket: str | None = None) -> AuthResult | None:
    """Verify the request's signature; None for an anonymous request.

    ``secret_for(access_key)`` returns the secret or None for an unknown key.
    ``now`` is timezone-aware UTC. ``region``, when set, must match the
    credential scope. ``vhost_bucket`` is the bucket taken from the Host header
    on virtual-host requests (SigV2 signs ``/bucket/key``).
    """
    query_names = {name.decode("utf-8", "replace") for name, _ in _parsed(req.raw_query)}
    authorization = req.headers.get("authorization")
    presigned_v4 = any(p in query_names for p in _PRESIGN_PARAMS)
    presigned_v2 = "AWSAccessKeyId" in query_names or "Signature" in query_names
    if authorization is not None and (presigned_v4 or presigned_v2):
        raise S3Error(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
            "string parameter or the Authorization header should be specified",
            argument_name="Authorization", argument_value=authorization)
    if presigned_v4:
        return _authenticate_presigned(req, secret_for, now, max_skew, region)
    if presigned_v2:
        return _from_v2(sigv2.authenticate_query(req, secret_for, now, vhost_bucket=vhost_bucket), presigned=True)
    if authorization is None:
        return None
    scheme = authorization.split(" ", 1)[0]
    if scheme == ALGORITHM:
        return _authenticate_header(req, authorization, secret_for, now, max_skew, region)
    if scheme == "AWS":
        return _from_v2(sigv2.authenticate_header(req, secret_for, now, max_skew=max_skew,
                                                  vhost_bucket=vhost_bucket), presigned=False)
    raise S3Error("InvalidArgument", "Unsupported Authorization Type",
                  argument_name="Authorization", argument_value=authorization)


def _from_v2(v2: sigv2.V2Auth, *, presigned: bool) -> AuthResult:
    return AuthResult(access_key=v2.access_key, version=2, presigned=presigned,
                      payload_hash=UNSIGNED_PAYLOAD,
                      amz_date=v2.date.strftime(AMZ_DATE_FORMAT) if v2.date else "",
                      scope="", signing_key=b"", signature=v2.signature)


@dataclass(frozen=True)
class _Credential:
    access_key: str
    date: str
    region: str
    service: str
    terminator: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def _parse_credential(value: str, error: Callable[[str], S3Error]) -> _Credential:
    # The access key itself never contains "/", so split from the right.
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        raise error(f"the Credential is mal-formed; {_CREDENTIAL_FORMAT}")
    return _Credential(*parts)


def _check_scope(cred: _Credential, amz_date: str, region: str | None, error: Callable[..., S3Error]) -> None:
    if cred.date != amz_date[:8]:
        raise error("Invalid credential date. Date is not the same as X-Amz-Date.")
    if region is not None and cred.region != region:
        raise error(f"the region '{cred.region}' is wrong; expecting '{region}'", region=region)
    if cred.service != SERVICE:
        raise error(f'incorrect service "{cred.service}". This endpoint belongs to "{SERVICE}".')
    if cred.terminator != TERMINATOR:
        raise error(f'incorrect terminal "{cred.terminator}". This endpoint uses "{TERMINATOR}".')


@functools.lru_cache(maxsize=256)
def _parse_amz_date(value: str) -> datetime | None:
    """X-Amz-Date -> aware UTC datetime (None if malformed). Cached: requests arriving in the
    same second carry the same string, and strptime was ~15% of verifying a signature."""
    try:
        return datetime.strptime(value, AMZ_DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _parse_http_date(value: str) -> datetime | None:
    parsed = _parse_amz_date(value)
    return parsed if parsed is not None else parse_http_date(value)


def check_skew(request_time: datetime, raw_request_time: str, now: datetime, max_skew: int) -> None:
    """RequestTimeTooSkewed when the request date is more than ``max_skew`` seconds off."""
    if abs((now - request_time).total_seconds()) > max_skew:
        raise S3Error("RequestTimeTooSkewed", request_time=raw_request_time, server_time=iso_time(now),
                      max_allowed_skew_milliseconds=str(max_skew * 1000))


def _header_error(detail: str, **fields: object) -> S3Error:
    return S3Error("AuthorizationHeaderMalformed", f"The authorization header is malformed; {detail}", **fields)


def _query_error(detail: str, **fields: object) -> S3Error:
    return S3Error("AuthorizationQueryParametersError", f"Error parsing the X-Amz-Credential parameter; {detail}",
                   **fields)


def _parse_authorization(value: str) -> tuple[_Credential, list[str], str]:
    fields: dict[str, str] = {}
    for part in value[len(ALGORITHM):].split(","):
        name, sep, field = part.strip().partition("=")
        if sep:
            fields[name.strip()] = field.strip()
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        raise _header_error("the authorization header requires three components: Credential, SignedHeaders, "
                            "and Signature.")
    cred = _parse_credential(fields["Credential"], _header_error)
    signed = fields["SignedHeaders"].split(";")
    if not all(signed):
        raise _header_error("the SignedHeaders component is mal-formed.")
    return cred, signed, fields["Signature"]


def _check_signed_headers(signed: list[str], headers: Mapping[str, str], *, presigned: bool) -> None:
    signed_set = set(signed)
    missing = sorted(
        name for name in headers
        if name.startswith("x-amz-") and name not in signed_set
        and not (presigned and name in _PRESIGN_UNSIGNED_OK)
    )
    if "host" not in signed_set:
        missing.insert(0, "host")
    if missing:
        raise S3Error("AccessDenied", "There were headers present in the request which were not signed",
                      headers_not_signed=", ".join(missing))


def _validate_payload_hash(value: str) -> None:
    if value == UNSIGNED_PAYLOAD or value in STREAMING_MODES or _SHA256_HEX.match(value):
        return
    if value.startswith("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"):
        raise S3Error("NotImplemented", f"{value} (SigV4a) is not implemented.")
    raise S3Error("InvalidArgument", f"x-amz-content-sha256 must be {_CONTENT_SHA256_VALUES}",
                  argument_name="x-amz-content-sha256", argument_value=value)


def _authenticate_header(req: SignedRequest, authorization: str, secret_for: Callable[[str], str | None],
                         now: datetime, max_skew: int, region: str | None) -> AuthResult:
    cred, signed, provided = _parse_authorization(authorization)
    raw_date = req.headers.get("x-amz-date") or req.headers.get("date")
    request_time = _parse_http_date(raw_date) if raw_date else None
    if request_time is None:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    amz_date = request_time.strftime(AMZ_DATE_FORMAT)
    _check_scope(cred, amz_date, region, _header_error)
    payload_hash = req.headers.get("x-amz-content-sha256")
    if payload_hash is None:
        raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    _validate_payload_hash(payload_hash)
    _check_signed_headers(signed, req.headers, presigned=False)
    check_skew(request_time, raw_date, now, max_skew)
    return _verify(req, cred, signed, provided, amz_date, payload_hash, secret_for,
                   exclude=(), presigned=False)


def _authenticate_presigned(req: SignedRequest, secret_for: Callable[[str], str | None], now: datetime,
                            max_skew: int, region: str | None) -> AuthResult:
    params: dict[str, str] = {}
    for name, value in _parsed(req.raw_query):
        params.setdefault(name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
    if not all(params.get(p) for p in _PRESIGN_REQUIRED):
        raise S3Error("AuthorizationQueryParametersError",
                      "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                      "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise S3Error("AuthorizationQueryParametersError", f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    cred = _parse_credential(params["X-Amz-Credential"], _query_error)
    amz_date = params["X-Amz-Date"]
    request_time = _parse_amz_date(amz_date)
    if request_time is None:
        raise S3Error("AuthorizationQueryParametersError",
                      "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    raw_expires = params["X-Amz-Expires"]
    if not raw_expires.isdigit():
        raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires should be a number")
    expires = int(raw_expires)
    if expires < 1:
        raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGN_EXPIRES:
        raise S3Error("AuthorizationQueryParametersError",
                      "X-Amz-Expires must be less than a week (in seconds) that is; the maximum expires is "
                      f"{MAX_PRESIGN_EXPIRES} seconds")
    _check_scope(cred, amz_date, region, _query_error)
    signed = params["X-Amz-SignedHeaders"].split(";")
    if not all(signed):
        raise S3Error("AuthorizationQueryParametersError", "X-Amz-SignedHeaders is mal-formed.")
    _check_signed_headers(signed, req.headers, presigned=True)
    if request_time - now > timedelta(seconds=max_skew):
        raise S3Error("AccessDenied", "Request is not valid yet")
    if now > request_time + timedelta(seconds=expires):
        raise S3Error("AccessDenied", "Request has expired",
                      **{"X-Amz-Expires": raw_expires,
                         "Expires": iso_time(request_time + timedelta(seconds=expires)),
                         "ServerTime": iso_time(now)})
    # A presigned URL signs no payload unless the client put a hash in the query
    # or signed the header with one.
    payload_hash = params.get("X-Amz-Content-Sha256") or (
        req.headers["x-amz-content-sha256"]
        if "x-amz-content-sha256" in signed and "x-amz-content-sha256" in req.headers
        else UNSIGNED_PAYLOAD)
    _validate_payload_hash(payload_hash)
    return _verify(req, cred, signed, params["X-Amz-Signature"], amz_date, payload_hash, secret_for,
                   exclude=("X-Amz-Signature",), presigned=True)


def _verify(req: SignedRequest, cred: _Credential, signed: list[str], provided: str, amz_date: str,
            payload_hash: str, secret_for: Callable[[str], str | None], *, exclude: tuple[str, ...],
            presigned: bool) -> AuthResult:
    secret = secret_for(cred.access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", **{"AWSAccessKeyId": cred.access_key})
    key = signing_key(secret, cred.date, cred.region, cred.service)
    query = canonical_query_string(req.raw_query, exclude=exclude)
    uris = [canonical_uri(req.raw_path)]
    alternative = reencoded_uri(req.raw_path)
    if alternative != uris[0]:
        uris.append(alternative)
    first_canonical = first_sts = ""
    for uri in uris:
        canonical = canonical_request(req.method, uri, query, req.headers, signed, payload_hash)
        to_sign = string_to_sign(amz_date, cred.scope, canonical)
        if signatures_equal(signature(key, to_sign), provided):
            return AuthResult(access_key=cred.access_key, version=4, presigned=presigned,
                              payload_hash=payload_hash, amz_date=amz_date, scope=cred.scope,
                              signing_key=key, signature=provided)
        if not first_canonical:
            first_canonical, first_sts = canonical, to_sign
    raise S3Error("SignatureDoesNotMatch",
                  **{"AWSAccessKeyId": cred.access_key, "StringToSign": first_sts,
                     "SignatureProvided": provided, "CanonicalRequest": first_canonical})
