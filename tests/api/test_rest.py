"""The documented /buckets JSON REST API: docs/clients.md's curl examples run literally (with curl and
as Python HTTP requests), the same objects as S3, JSON errors with their statuses, paging."""
from __future__ import annotations

import hashlib
import http.client
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ADMIN_API

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {ADMIN_API}"}
CURL = shutil.which("curl")


def readme_curl_block() -> str:
    """The bash block of docs/clients.md's curl section, exactly as users read it."""
    text = (ROOT / "docs" / "clients.md").read_text()
    section = text[text.index("## curl (the JSON REST API)"):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def err(r: requests.Response) -> dict:
    assert r.headers["Content-Type"].startswith("application/json"), r.text
    body = r.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]) and body["error"]["message"]
    return body["error"]


@pytest.fixture
def rbucket(system, s3):
    name = f"r-{uuid.uuid4().hex[:20]}"
    r = requests.post(f"{system.endpoint}/buckets", headers=AUTH, json={"bucket_name": name})
    assert r.status_code == 201, r.text
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=o["Key"])
    s3.delete_bucket(Bucket=name)


# --------------------------------------------------------------------------- docs/clients.md, literally
@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_readme_curl_examples_with_curl(system, s3):
    script = readme_curl_block().replace("GATEWAY=http://127.0.0.1:7841", f"GATEWAY={system.endpoint}")
    script = script.replace("YOUR_API_KEY", ADMIN_API)
    assert "test-bucket" in script
    # every command's output on its own line, so the outputs can be told apart
    script = script.replace("\ncurl ", "\necho; curl ").replace('\necho "Hello', '\necho; echo "Hello')
    proc = subprocess.run(["bash", "-e", "-c", script + "\necho"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = [line for line in proc.stdout.split("\n") if line]
    created, uploaded, downloaded, ranged, uploaded_file, listed, buckets, *deleted = out
    assert json.loads(created)["bucket_name"] == "test-bucket"
    assert json.loads(uploaded)["key"] == "hello.txt" and json.loads(uploaded)["size"] == 11
    assert downloaded == "Hello, S3!"
    assert ranged.startswith("Hello") and not ranged.startswith("Hello,")
    readme = (ROOT / "README.md").read_bytes()
    assert json.loads(uploaded_file)["etag"] == hashlib.md5(readme).hexdigest()
    assert [o["key"] for o in json.loads(listed)["objects"]] == ["docs/README.md"]
    assert "test-bucket" in [b["name"] for b in json.loads(buckets)["buckets"]]
    assert [json.loads(d)["deleted"] for d in deleted] == ["hello.txt", "docs/README.md", "test-bucket"]
    assert "test-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_readme_examples_as_http_requests(system):
    gw, bucket = system.endpoint, f"rb-{uuid.uuid4().hex[:16]}"
    # Create a bucket
    r = requests.post(f"{gw}/buckets", headers={**AUTH, "Content-Type": "application/json"},
                      data='{"bucket_name": "%s"}' % bucket)
    assert r.status_code == 201 and r.json()["bucket_name"] == bucket
    # Upload an object (echo adds the newline)
    r = requests.put(f"{gw}/buckets/{bucket}/objects/hello.txt", headers={**AUTH, "Content-Type": "text/plain"},
                     data=b"Hello, S3!\n")
    assert r.status_code == 201
    assert r.json()["etag"] == hashlib.md5(b"Hello, S3!\n").hexdigest()
    assert r.headers["ETag"] == '"%s"' % hashlib.md5(b"Hello, S3!\n").hexdigest()
    # Download the object
    r = requests.get(f"{gw}/buckets/{bucket}/objects/hello.txt", headers=AUTH)
    assert r.status_code == 200 and r.content == b"Hello, S3!\n"
    assert r.headers["Content-Type"] == "text/plain" and r.headers["x-amz-request-id"]
    # List, delete
    r = requests.get(f"{gw}/buckets/{bucket}/objects?prefix=hel", headers=AUTH)
    assert [o["key"] for o in r.json()["objects"]] == ["hello.txt"] and r.json()["next_token"] is None
    r = requests.delete(f"{gw}/buckets/{bucket}", headers=AUTH)
    assert r.status_code == 409 and err(r)["code"] == "BucketNotEmpty" and "not empty" in err(r)["message"]
    assert requests.delete(f"{gw}/buckets/{bucket}/objects/hello.txt", headers=AUTH).status_code == 200
    assert requests.delete(f"{gw}/buckets/{bucket}", headers=AUTH).status_code == 200
    assert bucket not in [b["name"] for b in requests.get(f"{gw}/buckets", headers=AUTH).json()["buckets"]]


# --------------------------------------------------------------------------- same objects as S3
def test_curl_upload_is_read_by_boto3(system, s3, rbucket):
    body = bytes(range(256)) * 1000
    r = requests.put(f"{system.endpoint}/buckets/{rbucket}/objects/dir/sub/a%20b.bin",
                     headers={**AUTH, "Content-Type": "application/x-thing"}, data=body)
    assert r.status_code == 201
    got = s3.get_object(Bucket=rbucket, Key="dir/sub/a b.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == r.headers["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    assert got["ContentType"] == "application/x-thing"


def test_boto3_upload_is_read_by_rest(system, s3, rbucket):
    body = b"x" * 70000
    put = s3.put_object(Bucket=rbucket, Key="k/ü.txt", Body=body, ContentType="text/csv")
    r = requests.get(f"{system.endpoint}/buckets/{rbucket}/objects/k/%C3%BC.txt", headers=AUTH)
    assert r.status_code == 200 and r.content == body
    assert r.headers["ETag"] == put["ETag"] and r.headers["Content-Type"] == "text/csv"
    listed = requests.get(f"{system.endpoint}/buckets/{rbucket}/objects", headers=AUTH).json()
    assert listed["objects"][0]["key"] == "k/ü.txt" and listed["objects"][0]["size"] == len(body)
    assert '"%s"' % listed["objects"][0]["etag"] == put["ETag"]
    r = requests.head(f"{system.endpoint}/buckets/{rbucket}/objects/k/%C3%BC.txt", headers=AUTH)
    assert r.status_code == 200 and r.headers["Content-Length"] == str(len(body)) and not r.content


def test_range_and_chunked_upload(system, s3, rbucket):
    def gen():
        yield b"abc"
        yield b"defghij"
    r = requests.put(f"{system.endpoint}/buckets/{rbucket}/objects/chunked", headers=AUTH, data=gen())
    assert r.status_code == 201 and r.json()["size"] == 10
    r = requests.get(f"{system.endpoint}/buckets/{rbucket}/objects/chunked", headers={**AUTH, "Range": "bytes=2-4"})
    assert r.status_code == 206 and r.content == b"cde" and r.headers["Content-Range"] == "bytes 2-4/10"
    r = requests.get(f"{system.endpoint}/buckets/{rbucket}/objects/chunked", headers={**AUTH, "Range": "bytes=50-"})
    assert r.status_code == 416 and err(r)["code"] == "InvalidRange"
    assert s3.get_object(Bucket=rbucket, Key="chunked")["Body"].read() == b"abcdefghij"


def test_paging(system, rbucket):
    for i in range(5):
        requests.put(f"{system.endpoint}/buckets/{rbucket}/objects/p/{i}", headers=AUTH, data=b"x")
    requests.put(f"{system.endpoint}/buckets/{rbucket}/objects/q", headers=AUTH, data=b"x")
    keys, token, pages = [], None, 0
    while True:
        url = f"{system.endpoint}/buckets/{rbucket}/objects?prefix=p/&limit=2" + (f"&token={token}" if token else "")
        body = requests.get(url, headers=AUTH).json()
        keys += [o["key"] for o in body["objects"]]
        pages += 1
        token = body["next_token"]
        assert body["truncated"] is (token is not None)
        if not token:
            break
    assert keys == [f"p/{i}" for i in range(5)] and pages == 3
    # next_token is accepted under its own name too
    first = requests.get(f"{system.endpoint}/buckets/{rbucket}/objects?limit=2", headers=AUTH).json()
    second = requests.get(f"{system.endpoint}/buckets/{rbucket}/objects?limit=2&next_token={first['next_token']}",
                          headers=AUTH).json()
    assert [o["key"] for o in second["objects"]] == ["p/2", "p/3"]
    body = requests.get(f"{system.endpoint}/buckets/{rbucket}/objects?delimiter=/", headers=AUTH).json()
    assert body["common_prefixes"] == ["p/"] and [o["key"] for o in body["objects"]] == ["q"]
    for bad in ("limit=0", "limit=x", "token=abc"):
        r = requests.get(f"{system.endpoint}/buckets/{rbucket}/objects?{bad}", headers=AUTH)
        assert r.status_code == 400 and err(r)["code"] == "InvalidArgument", bad


# --------------------------------------------------------------------------- errors
def test_create_bucket_bad_bodies(system):
    url = f"{system.endpoint}/buckets"
    name = f"rb-{uuid.uuid4().hex[:16]}"
    cases = [
        ({"Content-Type": "application/json"}, b'{"bucket_name": '),                      # bad JSON
        ({"Content-Type": "application/json"}, b'{"name": "x"}'),                         # no bucket_name
        ({"Content-Type": "application/json"}, b'{"bucket_name": 7}'),                    # not a string
        ({"Content-Type": "application/json"}, b'["x"]'),                                 # not an object
        ({"Content-Type": "application/json"}, b''),                                      # empty
        ({"Content-Type": "text/plain"}, ('{"bucket_name": "%s"}' % name).encode()),      # wrong type
    ]
    for headers, data in cases:
        r = requests.post(url, headers={**AUTH, **headers}, data=data)
        assert r.status_code == 400, (data, r.text)
        e = err(r)
        assert e["code"] == "InvalidRequest", data
    assert "application/json" in err(requests.post(url, headers={**AUTH, "Content-Type": "text/plain"},
                                                   data=b"{}"))["message"]
    assert "bucket_name" in err(requests.post(url, headers=AUTH, json={"x": 1}))["message"]
    for bad_name in ("UPPER", "a", "buckets", "metrics", "bad..name"):
        r = requests.post(url, headers=AUTH, json={"bucket_name": bad_name})
        assert r.status_code == 400 and err(r)["code"] == "InvalidBucketName", bad_name
    r = requests.post(url, headers=AUTH, data=b"x" * (65 * 1024), )
    assert r.status_code == 413 and err(r)["code"] == "EntityTooLarge"


def test_auth_errors(system, rbucket):
    url = f"{system.endpoint}/buckets"
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer s3k_nope"},
                    {"Authorization": "Bearer" + ADMIN_API}):
        r = requests.get(url, headers=headers)
        assert r.status_code == 401, headers
        assert err(r)["code"] == "InvalidAccessKeyId"
    r = requests.get(f"{url}/{rbucket}/objects/x")               # unauthenticated object read
    assert r.status_code == 401
    # a Bearer header anywhere goes to the REST API
    r = requests.get(f"{system.endpoint}/{rbucket}", headers={"Authorization": "Bearer s3k_nope"})
    assert r.status_code == 401 and err(r)["code"] == "InvalidAccessKeyId"


def test_not_found_conflict_and_routes(system, rbucket):
    gw = system.endpoint
    e = err(r := requests.get(f"{gw}/buckets/no-such-bucket-{uuid.uuid4().hex[:8]}/objects", headers=AUTH))
    assert r.status_code == 404 and e["code"] == "NoSuchBucket"
    e = err(r := requests.get(f"{gw}/buckets/{rbucket}/objects/missing", headers=AUTH))
    assert r.status_code == 404 and e["code"] == "NoSuchKey"
    e = err(r := requests.delete(f"{gw}/buckets/{rbucket}/objects/missing", headers=AUTH))
    assert r.status_code == 404 and e["code"] == "NoSuchKey"
    e = err(r := requests.post(f"{gw}/buckets", headers=AUTH, json={"bucket_name": rbucket}))
    assert r.status_code == 409 and e["code"] == "BucketAlreadyOwnedByYou"
    e = err(r := requests.get(f"{gw}/buckets/{rbucket}/nothing-here", headers=AUTH))
    assert r.status_code == 404 and e["code"] == "NoSuchRoute"
    e = err(r := requests.post(f"{gw}/buckets/{rbucket}/objects/k", headers=AUTH, data=b"x"))
    assert r.status_code == 405 and e["code"] == "MethodNotAllowed"
    e = err(r := requests.put(f"{gw}/buckets", headers=AUTH, data=b"x"))
    assert r.status_code == 405


def test_upload_too_large_is_413_before_the_body(system, rbucket):
    u = urlsplit(system.endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("PUT", f"/buckets/{rbucket}/objects/huge")
    conn.putheader("Authorization", f"Bearer {ADMIN_API}")
    conn.putheader("Content-Length", str(6 * 1024**3))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413
    assert json.loads(r.read())["error"]["code"] == "EntityTooLarge"
    conn.close()


def test_missing_length_is_411(system, rbucket):
    u = urlsplit(system.endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("PUT", f"/buckets/{rbucket}/objects/nolen")
    conn.putheader("Authorization", f"Bearer {ADMIN_API}")
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 411 and json.loads(r.read())["error"]["code"] == "MissingContentLength"
    conn.close()


def test_reserved_bucket_name_on_s3_too(s3):
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="buckets")
    assert e.value.response["Error"]["Code"] == "InvalidBucketName"
    for name in ("health", "ready", "metrics"):      # operations routes: only GET exists there
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=name)
        assert e.value.response["Error"]["Code"] in ("InvalidBucketName", "MethodNotAllowed")
