"""Bucket CORS through boto3 and a browser's requests (unsigned OPTIONS preflights, requests
with an Origin), on both metadata backends. The configuration round trip is also compared
with moto in tests/conformance/scenarios/buckets.py; moto's preflight is not AWS's (it
authenticates it and lets the last rule win), so preflights are checked against the S3 User
Guide's rules here."""
from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError

from tests.sigv4util import sign

RULES = [
    {"ID": "uploads", "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
     "AllowedMethods": ["PUT", "POST"], "AllowedHeaders": ["content-type", "x-amz-*"],
     "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]


def code(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def preflight(system, bucket, key, origin=None, method=None, headers=None):
    h = {}
    if origin is not None:
        h["Origin"] = origin
    if method is not None:
        h["Access-Control-Request-Method"] = method
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return requests.options(f"{system.endpoint}/{bucket}/{key}", headers=h)


def test_configuration_round_trip(s3, bucket):
    assert code(lambda: s3.get_bucket_cors(Bucket=bucket)) == "NoSuchCORSConfiguration"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    s3.delete_bucket_cors(Bucket=bucket)
    assert code(lambda: s3.get_bucket_cors(Bucket=bucket)) == "NoSuchCORSConfiguration"
    s3.delete_bucket_cors(Bucket=bucket)                   # deleting none is fine


def test_preflight_of_an_allowed_upload(system, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    r = preflight(system, bucket, "photos/cat.jpg", "https://app.example.com", "PUT",
                  "Content-Type, X-Amz-Meta-Owner")
    assert r.status_code == 200, r.text
    h = r.headers
    assert h["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert h["Access-Control-Allow-Methods"] == "PUT, POST"
    assert h["Access-Control-Allow-Headers"] == "content-type, x-amz-meta-owner"
    assert h["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert h["Access-Control-Max-Age"] == "600" and h["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in h["Vary"]
    r = preflight(system, bucket, "k", "https://cdn.example.org", "POST")     # the wildcard origin
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "https://cdn.example.org"
    r = preflight(system, bucket, "k", "https://anyone.test", "GET")           # second rule: "*"
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers


@pytest.mark.parametrize("origin,method,headers", [
    ("https://evil.example.net", "PUT", None),                 # origin not listed
    ("https://app.example.com", "DELETE", None),               # method not allowed for it
    ("https://app.example.com", "PUT", "authorization"),       # a header not allowed
    ("https://example.org", "PUT", None),                      # "*.example.org" needs a subdomain
])
def test_preflights_no_rule_allows_are_forbidden(system, s3, bucket, origin, method, headers):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    r = preflight(system, bucket, "k", origin, method, headers)
    assert r.status_code == 403 and b"<Code>AccessForbidden</Code>" in r.content
    assert "Access-Control-Allow-Origin" not in r.headers


def test_preflight_errors(system, s3, bucket):
    r = preflight(system, bucket, "k", "https://app.example.com", "PUT")     # no configuration
    assert r.status_code == 403 and b"CORS is not enabled for this bucket" in r.content
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    r = preflight(system, bucket, "k", None, "PUT")
    assert r.status_code == 400 and b"Origin request header needed" in r.content
    r = preflight(system, bucket, "k", "https://app.example.com", None)
    assert r.status_code == 400 and b"<Code>BadRequest</Code>" in r.content
    r = preflight(system, bucket, "k", "https://app.example.com", "PATCH")
    assert r.status_code == 400
    r = preflight(system, bucket + "-missing", "k", "https://app.example.com", "PUT")
    assert r.status_code == 403 and b"<Code>AccessForbidden</Code>" in r.content


def test_cross_origin_requests_carry_the_headers(system, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"})
    r = requests.put(url, data=b"from the browser", headers={"Origin": "https://app.example.com"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "up.txt"})
    r = requests.get(get_url, headers={"Origin": "https://elsewhere.test"})
    assert r.content == b"from the browser" and r.headers["Access-Control-Allow-Origin"] == "*"
    r = requests.get(get_url)                                          # no Origin: no CORS headers
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    r = requests.delete(s3.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "up.txt"}),
                        headers={"Origin": "https://app.example.com"})   # DELETE: no rule allows it
    assert r.status_code == 204 and "Access-Control-Allow-Origin" not in r.headers
    # errors carry them too, so the page can read them: the object is gone now, and a bad signature
    r = requests.get(get_url, headers={"Origin": "https://x.test"})
    assert r.status_code == 404 and b"NoSuchKey" in r.content and r.headers["Access-Control-Allow-Origin"] == "*"
    bad = system.client(secret_key="wrong").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    r = requests.get(bad, headers={"Origin": "https://x.test"})
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content
    assert r.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("rule,error", [
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}, "InvalidRequest"),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["get"]}, "InvalidRequest"),
    ({"AllowedOrigins": ["https://*.*.example.com"], "AllowedMethods": ["GET"]}, "InvalidRequest"),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}, "InvalidRequest"),
    ({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["x-amz-*"]}, "InvalidRequest"),
])
def test_invalid_rules_are_refused_and_change_nothing(s3, bucket, rule, error):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert code(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})) == error
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES


@pytest.mark.parametrize("body", [
    b"<CORSConfiguration/>",
    b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
    b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>"
    b"<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule></CORSConfiguration>",
    b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>"
    b"<Colour>red</Colour></CORSRule></CORSConfiguration>",
    b"<Other/>",
    b"<CORSConfiguration>" + b"<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>"
    b"</CORSRule>" * 101 + b"</CORSConfiguration>",
    b"<CORSConfiguration>",
])
def test_malformed_configurations(system, s3, bucket, body):
    url = f"{system.endpoint}/{bucket}?cors"
    r = requests.put(url, data=body, headers=sign("PUT", url, body))
    assert r.status_code == 400 and b"<Code>MalformedXML</Code>" in r.content, r.content
    assert code(lambda: s3.get_bucket_cors(Bucket=bucket)) == "NoSuchCORSConfiguration"


def test_only_the_owner_configures_cors(system, s3, bucket):
    from tests.adminutil import new_user
    eve = new_user(system, "cors-eve")
    other = system.client(access_key=eve["access_key"], secret_key=eve["secret_key"])
    rules = {"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]}
    assert code(lambda: other.put_bucket_cors(Bucket=bucket, CORSConfiguration=rules)) == "AccessDenied"
    assert code(lambda: other.get_bucket_cors(Bucket=bucket)) == "AccessDenied"
    assert code(lambda: other.delete_bucket_cors(Bucket=bucket)) == "AccessDenied"
    assert code(lambda: s3.get_bucket_cors(Bucket=bucket)) == "NoSuchCORSConfiguration"
