"""SigV4/SigV2 verification against requests signed by botocore itself.

Requests are captured from a real boto3 client at ``before-send`` (after signing,
exactly what would go on the wire) and fed to ``authenticate``.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from s3server.auth import sigv4
from s3server.auth.sigv4 import SignedRequest, authenticate
from s3server.errors import S3Error

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SECRETS = {AKID: SECRET, "OTHERKEY": "another-secret"}
REGION = "us-east-1"

KEYS = [
    "plain.txt",
    "a b.txt",
    "a+b.txt",
    "100%.csv",
    "dir//double/slash",
    "./dot/../dotdot/.",
    "ünïcødé/日本語.txt",
    "quote'(paren)@at!*~$&=,;:",
    "tab\tand\nnewline",
]


class _Captured(Exception):
    def __init__(self, request):
        self.request = request


def _client(endpoint="http://localhost:9000", **config):
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=AKID,
        aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 0}, **config))

    def capture(request, **_):
        raise _Captured(request)

    client.meta.events.register("before-send.s3", capture)
    return client


def _wire(prepared) -> SignedRequest:
    """The request as the server sees it: raw path, raw query, lower-case headers."""
    parts = urlsplit(prepared.url)
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    headers.setdefault("host", parts.netloc)
    return SignedRequest(method=prepared.method, raw_path=parts.path, raw_query=parts.query, headers=headers)


def capture(call, *args, **kwargs) -> SignedRequest:
    with pytest.raises(_Captured) as info:
        call(*args, **kwargs)
    return _wire(info.value.request)


def now() -> datetime:
    return datetime.now(timezone.utc)


def auth(req: SignedRequest, **kwargs):
    return authenticate(req, SECRETS.get, kwargs.pop("at", None) or now(), **kwargs)


def code_of(req: SignedRequest, **kwargs) -> str:
    with pytest.raises(S3Error) as info:
        auth(req, **kwargs)
    return info.value.code


def presigned_request(url: str, method: str = "GET", headers: dict | None = None) -> SignedRequest:
    parts = urlsplit(url)
    return SignedRequest(method, parts.path, parts.query, {"host": parts.netloc, **(headers or {})})


# ---------------------------------------------------------------- pure steps

def test_aws_documentation_get_object_example():
    """The GET Object example of the S3 SigV4 docs (Range header, known signature)."""
    headers = {
        "host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9",
        "x-amz-content-sha256": sigv4.EMPTY_SHA256, "x-amz-date": "20130524T000000Z",
    }
    signed = ["host", "range", "x-amz-content-sha256", "x-amz-date"]
    canonical = sigv4.canonical_request("GET", "/test.txt", "", headers, signed, sigv4.EMPTY_SHA256)
    sts = sigv4.string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", canonical)
    key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1")
    assert sigv4.signature(key, sts) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    req = SignedRequest("GET", "/test.txt", "", {**headers, "authorization": (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")})
    at = datetime(2013, 5, 24, 0, 5, tzinfo=timezone.utc)
    secrets = {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}.get
    result = authenticate(req, secrets, at, region="us-east-1")
    assert result.access_key == "AKIAIOSFODNN7EXAMPLE" and result.version == 4 and not result.presigned
    assert result.scope == "20130524/us-east-1/s3/aws4_request" and result.signing_key == key


def test_canonical_query_string_rules():
    assert sigv4.canonical_query_string("uploads") == "uploads="
    assert sigv4.canonical_query_string("prefix=a+b&list-type=2") == "list-type=2&prefix=a%20b"
    assert sigv4.canonical_query_string("prefix=a%2Bb") == "prefix=a%2Bb"
    assert sigv4.canonical_query_string("k=%7e%2f%c3%a9") == "k=~%2F%C3%A9"
    assert sigv4.canonical_query_string("b=2&a=2&a=1") == "a=1&a=2&b=2"
    assert sigv4.canonical_query_string("a=1&X-Amz-Signature=x", exclude=("X-Amz-Signature",)) == "a=1"


def test_canonical_headers_trim_and_collapse():
    assert sigv4.canonical_headers({"a": "  x   y  ", "b": "z"}, ["a", "b"]) == "a:x y\nb:z\n"


# ---------------------------------------------------------------- header auth, real client

@pytest.mark.parametrize("key", KEYS)
def test_put_object_signed_payload(key):
    req = capture(_client().put_object, Bucket="bucket", Key=key, Body=b"hello")
    assert len(req.headers["x-amz-content-sha256"]) == 64
    result = auth(req, region=REGION)
    assert result.version == 4 and result.access_key == AKID
    assert result.payload_hash == req.headers["x-amz-content-sha256"]
    assert result.signature in req.headers["authorization"]


@pytest.mark.parametrize("key", KEYS)
def test_get_object_with_response_overrides(key):
    req = capture(_client().get_object, Bucket="bucket", Key=key, Range="bytes=0-9",
                  ResponseContentDisposition='attachment; filename="a b+c.txt"', VersionId="v1+/=")
    assert auth(req).access_key == AKID


def test_https_put_uses_unsigned_trailer_and_verifies():
    req = capture(_client("https://localhost:9000").put_object, Bucket="bucket", Key="k", Body=b"data")
    assert req.headers["x-amz-content-sha256"] == sigv4.STREAMING_UNSIGNED_TRAILER
    assert auth(req).payload_hash == sigv4.STREAMING_UNSIGNED_TRAILER


@pytest.mark.parametrize("call,kwargs", [
    ("list_objects_v2", {"Bucket": "bucket", "Prefix": "a b/+c%", "Delimiter": "/", "StartAfter": "ü"}),
    ("list_objects", {"Bucket": "bucket", "Prefix": "x", "Marker": "m&n=o"}),
    ("create_multipart_upload", {"Bucket": "bucket", "Key": "a b"}),
    ("upload_part", {"Bucket": "bucket", "Key": "a b", "UploadId": "u/p+id==", "PartNumber": 3, "Body": b"x"}),
    ("list_multipart_uploads", {"Bucket": "bucket"}),
    ("delete_objects", {"Bucket": "bucket", "Delete": {"Objects": [{"Key": "a"}]}}),
    ("put_object_tagging", {"Bucket": "bucket", "Key": "k", "Tagging": {"TagSet": [{"Key": "a", "Value": "b"}]}}),
    ("list_buckets", {}),
    ("head_bucket", {"Bucket": "bucket"}),
    ("copy_object", {"Bucket": "bucket", "Key": "dst", "CopySource": {"Bucket": "src", "Key": "a b+c"}}),
])
def test_operations_with_subresources(call, kwargs):
    req = capture(getattr(_client(), call), **kwargs)
    assert auth(req, region=REGION).access_key == AKID


def test_virtual_host_style():
    req = capture(_client(s3={"addressing_style": "virtual"}).put_object, Bucket="bucket", Key="a b", Body=b"x")
    assert req.headers["host"].startswith("bucket.")
    assert auth(req).access_key == AKID


def test_reencoded_path_is_accepted():
    """A client that signs ``%28`` but sends ``(`` verifies (both decode to the same key)."""
    req = capture(_client().put_object, Bucket="bucket", Key="a(b)", Body=b"x")
    assert "%28" in req.raw_path
    loose = dataclasses.replace(req, raw_path=req.raw_path.replace("%28", "(").replace("%29", ")"))
    assert auth(loose).access_key == AKID


# ---------------------------------------------------------------- header auth, tampering

@pytest.fixture
def signed_put() -> SignedRequest:
    return capture(_client().put_object, Bucket="bucket", Key="a b/c", Body=b"hello",
                   Metadata={"color": "blue"})


def _with_headers(req: SignedRequest, **changes) -> SignedRequest:
    headers = dict(req.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return dataclasses.replace(req, headers=headers)


def test_tampered_method(signed_put):
    assert code_of(dataclasses.replace(signed_put, method="POST")) == "SignatureDoesNotMatch"


def test_tampered_path(signed_put):
    assert code_of(dataclasses.replace(signed_put, raw_path="/bucket/a%20b/d")) == "SignatureDoesNotMatch"


def test_tampered_query(signed_put):
    assert code_of(dataclasses.replace(signed_put, raw_query="acl")) == "SignatureDoesNotMatch"


def test_tampered_signed_header(signed_put):
    assert code_of(_with_headers(signed_put, x_amz_meta_color="red")) == "SignatureDoesNotMatch"


def test_unsigned_extra_amz_header(signed_put):
    with pytest.raises(S3Error) as info:
        auth(_with_headers(signed_put, x_amz_acl="public-read"))
    assert info.value.code == "AccessDenied" and info.value.fields["HeadersNotSigned"] == "x-amz-acl"


def test_wrong_secret(signed_put):
    with pytest.raises(S3Error) as info:
        authenticate(signed_put, {AKID: "not-the-secret"}.get, now())
    err = info.value
    assert err.code == "SignatureDoesNotMatch" and err.status == 403
    assert err.fields["AWSAccessKeyId"] == AKID
    assert err.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert err.fields["CanonicalRequest"].startswith("PUT\n/bucket/a%20b/c\n")


def test_unknown_access_key(signed_put):
    with pytest.raises(S3Error) as info:
        authenticate(signed_put, {}.get, now())
    assert info.value.code == "InvalidAccessKeyId" and info.value.fields["AWSAccessKeyId"] == AKID


def test_tampered_date_header(signed_put):
    later = (now() + timedelta(seconds=1)).strftime(sigv4.AMZ_DATE_FORMAT)
    if later == signed_put.headers["x-amz-date"]:
        later = (now() + timedelta(seconds=2)).strftime(sigv4.AMZ_DATE_FORMAT)
    assert code_of(_with_headers(signed_put, x_amz_date=later)) == "SignatureDoesNotMatch"


def test_credential_date_must_match(signed_put):
    tomorrow = (now() + timedelta(days=1)).strftime(sigv4.AMZ_DATE_FORMAT)
    assert code_of(_with_headers(signed_put, x_amz_date=tomorrow)) == "AuthorizationHeaderMalformed"


def test_clock_skew(signed_put):
    with pytest.raises(S3Error) as info:
        auth(signed_put, at=now() + timedelta(minutes=16))
    err = info.value
    assert err.code == "RequestTimeTooSkewed" and err.status == 403
    assert err.fields["RequestTime"] == signed_put.headers["x-amz-date"]
    assert err.fields["MaxAllowedSkewMilliseconds"] == "900000"
    assert "ServerTime" in err.fields
    assert auth(signed_put, at=now() + timedelta(minutes=14)).access_key == AKID


def test_skew_is_checked_before_signature(signed_put):
    """A stale request with a bad signature reports the skew, not the signature."""
    bad = _with_headers(signed_put, x_amz_meta_color="red")
    assert code_of(bad, at=now() - timedelta(hours=1)) == "RequestTimeTooSkewed"


def test_missing_date(signed_put):
    with pytest.raises(S3Error) as info:
        auth(_with_headers(signed_put, x_amz_date=None))
    assert info.value.code == "AccessDenied"
    assert "valid Date or x-amz-date" in info.value.message
    assert code_of(_with_headers(signed_put, x_amz_date="yesterday")) == "AccessDenied"


def test_date_header_instead_of_x_amz_date():
    request = AWSRequest(method="GET", url="http://localhost:9000/bucket/k",
                         headers={"Date": "Mon, 01 Jan 2001 00:00:00 GMT"})
    S3SigV4Auth(Credentials(AKID, SECRET), "s3", REGION).add_auth(request)
    req = _wire(request.prepare())
    assert "x-amz-date" not in req.headers and "date" in req.headers
    assert auth(req).access_key == AKID


def test_missing_content_sha256(signed_put):
    with pytest.raises(S3Error) as info:
        auth(_with_headers(signed_put, x_amz_content_sha256=None))
    assert info.value.code == "InvalidRequest"
    assert info.value.message == "Missing required header for this request: x-amz-content-sha256"


def test_invalid_content_sha256(signed_put):
    assert code_of(_with_headers(signed_put, x_amz_content_sha256="nonsense")) == "InvalidArgument"


def test_wrong_region(signed_put):
    with pytest.raises(S3Error) as info:
        auth(signed_put, region="eu-west-1")
    assert info.value.code == "AuthorizationHeaderMalformed" and info.value.fields["Region"] == "eu-west-1"


@pytest.mark.parametrize("header,code", [
    ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/s3/aws4_request", "AuthorizationHeaderMalformed"),
    ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/us-east-1/s3, SignedHeaders=host, Signature=00",
     "AuthorizationHeaderMalformed"),
    ("Bearer abc", "InvalidArgument"),
    ("AWS4-ECDSA-P256-SHA256 Credential=x", "InvalidArgument"),
])
def test_malformed_authorization(signed_put, header, code):
    assert code_of(_with_headers(signed_put, authorization=header)) == code


def test_wrong_service_and_terminator(signed_put):
    for old, new in (("/s3/", "/ec2/"), ("aws4_request", "aws5_request")):
        header = signed_put.headers["authorization"].replace(old, new)
        assert code_of(_with_headers(signed_put, authorization=header)) == "AuthorizationHeaderMalformed"


def test_host_must_be_signed(signed_put):
    header = signed_put.headers["authorization"].replace("SignedHeaders=host;", "SignedHeaders=")
    with pytest.raises(S3Error) as info:
        auth(_with_headers(signed_put, authorization=header))
    assert info.value.code == "AccessDenied" and "host" in info.value.fields["HeadersNotSigned"]


def test_anonymous_request():
    assert auth(SignedRequest("GET", "/bucket/key", "list-type=2", {"host": "localhost"})) is None


def test_header_and_query_auth_together(signed_put):
    both = dataclasses.replace(signed_put, raw_query="X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert code_of(both) == "InvalidArgument"


# ---------------------------------------------------------------- presigned (query) auth

V4 = {"signature_version": "s3v4"}


def test_default_boto3_presign_is_verified():
    """boto3 presigns with SigV2 in us-east-1 unless s3v4 is configured: both must work."""
    url = _client().generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "a b"})
    assert auth(presigned_request(url)).presigned


@pytest.mark.parametrize("key", KEYS)
def test_presigned_get(key):
    url = _client(**V4).generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": key}, ExpiresIn=300)
    result = auth(presigned_request(url), region=REGION)
    assert result.presigned and result.version == 4 and result.payload_hash == sigv4.UNSIGNED_PAYLOAD
    assert len(result.signing_key) == 32


def test_presigned_with_operation_params():
    url = _client(**V4).generate_presigned_url(
        "upload_part", Params={"Bucket": "bucket", "Key": "a b", "UploadId": "id+/=", "PartNumber": 2})
    req = presigned_request(url, "PUT")
    assert auth(req).presigned
    assert code_of(dataclasses.replace(req, method="GET")) == "SignatureDoesNotMatch"
    tampered = dataclasses.replace(req, raw_query=req.raw_query.replace("partNumber=2", "partNumber=3"))
    assert code_of(tampered) == "SignatureDoesNotMatch"


def test_presigned_list_with_space_in_prefix():
    url = _client(**V4).generate_presigned_url("list_objects_v2", Params={"Bucket": "bucket", "Prefix": "a b"})
    assert auth(presigned_request(url)).access_key == AKID


def test_presigned_expired():
    url = _client(**V4).generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    req = presigned_request(url)
    with pytest.raises(S3Error) as info:
        auth(req, at=now() + timedelta(seconds=120))
    err = info.value
    assert err.code == "AccessDenied" and err.message == "Request has expired"
    assert err.fields["X-Amz-Expires"] == "60" and "Expires" in err.fields and "ServerTime" in err.fields


@pytest.mark.parametrize("expires", ["0", "604801", "-5", "abc"])
def test_presigned_expires_out_of_range(expires):
    url = _client(**V4).generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    req = presigned_request(url.replace("X-Amz-Expires=60", f"X-Amz-Expires={expires}"))
    assert code_of(req) == "AuthorizationQueryParametersError"


def test_presigned_max_week_accepted():
    url = _client(**V4).generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=604800)
    assert auth(presigned_request(url), at=now() + timedelta(days=6)).presigned


def test_presigned_tampering():
    url = _client(**V4).generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    req = presigned_request(url)
    assert code_of(dataclasses.replace(req, raw_path="/b/other")) == "SignatureDoesNotMatch"
    assert code_of(dataclasses.replace(req, raw_query=req.raw_query.replace("AKIDEXAMPLE", "OTHERKEY"))) \
        == "SignatureDoesNotMatch"
    assert code_of(dataclasses.replace(req, raw_query=req.raw_query.replace("AKIDEXAMPLE", "NOPE"))) \
        == "InvalidAccessKeyId"
    assert code_of(dataclasses.replace(req, raw_query=req.raw_query.replace("X-Amz-Algorithm=", "X-Amz-Foo="))) \
        == "AuthorizationQueryParametersError"
    assert code_of(presigned_request(url, headers={"x-amz-acl": "public-read"})) == "AccessDenied"
    assert code_of(req, region="eu-west-1") == "AuthorizationQueryParametersError"


def test_presigned_put_with_signed_header():
    url = _client(**V4).generate_presigned_url("put_object", Params={"Bucket": "b", "Key": "k", "ContentType": "text/x"})
    assert "content-type" in url.lower()
    assert auth(presigned_request(url, "PUT", {"content-type": "text/x"})).presigned
    assert code_of(presigned_request(url, "PUT", {"content-type": "text/y"})) == "SignatureDoesNotMatch"


# ---------------------------------------------------------------- SigV2

V2 = {"signature_version": "s3"}


@pytest.mark.parametrize("key", KEYS)
def test_sigv2_header(key):
    req = capture(_client(**V2).put_object, Bucket="bucket", Key=key, Body=b"x", Metadata={"m": "v"},
                  ContentType="text/plain")
    assert req.headers["authorization"].startswith("AWS ")
    result = auth(req)
    assert result.version == 2 and result.access_key == AKID and not result.presigned


def test_sigv2_subresources_and_tampering():
    req = capture(_client(**V2).upload_part, Bucket="bucket", Key="a b", UploadId="up+id", PartNumber=1, Body=b"x")
    assert auth(req).version == 2
    assert code_of(dataclasses.replace(req, raw_query=req.raw_query.replace("partNumber=1", "partNumber=2"))) \
        == "SignatureDoesNotMatch"
    assert code_of(dataclasses.replace(req, method="POST")) == "SignatureDoesNotMatch"
    assert code_of(_with_headers(req, x_amz_meta_new="1")) == "SignatureDoesNotMatch"
    with pytest.raises(S3Error) as info:
        authenticate(req, {}.get, now())
    assert info.value.code == "InvalidAccessKeyId"
    assert code_of(req, at=now() + timedelta(hours=1)) == "RequestTimeTooSkewed"


def test_sigv2_virtual_host():
    req = capture(_client(**V2, s3={"addressing_style": "virtual"}).get_object, Bucket="bucket", Key="k")
    assert req.raw_path == "/k"
    assert auth(req, vhost_bucket="bucket").version == 2
    assert code_of(req) == "SignatureDoesNotMatch"


def test_sigv2_presigned():
    url = _client(**V2).generate_presigned_url("get_object", Params={
        "Bucket": "bucket", "Key": "a b+c", "ResponseContentDisposition": "attachment"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    req = presigned_request(url)
    result = auth(req)
    assert result.version == 2 and result.presigned
    assert code_of(req, at=now() + timedelta(seconds=120)) == "AccessDenied"
    assert code_of(dataclasses.replace(req, raw_path="/bucket/other")) == "SignatureDoesNotMatch"


def test_sigv2_malformed_header(signed_put):
    assert code_of(_with_headers(signed_put, authorization="AWS nocolon")) == "InvalidArgument"
