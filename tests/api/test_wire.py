"""Wire details real clients depend on: Expect: 100-continue with an early error, virtual-hosted-style
addressing, SigV2 presigned URLs (boto3's default presigner for us-east-1 and aws-cli v1), raw-path
signing of keys that WSGI would decode."""
from __future__ import annotations

import os
import time

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ADMIN_AK, ADMIN_SK, ServeProcess, backend_env
from tests.sigv4util import sign


def test_early_error_with_expect_100_continue(system, bucket):
    """A rejected upload (bad signature) must answer promptly, not leave the client waiting."""
    bad = system.client(secret_key="x" * 40)
    started = time.monotonic()
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key="big", Body=os.urandom(8 * 1024 * 1024))
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert time.monotonic() - started < 20


def test_expect_100_continue_raw(system, s3, bucket):
    """The client sends headers with Expect: 100-continue, waits for 100, then the body."""
    url = f"{system.endpoint}/{bucket}/expect"
    body = b"e" * 5000
    headers = sign("PUT", url, body, {"Expect": "100-continue", "Content-Length": str(len(body))})
    host = url.split("/")[2]
    head = f"PUT /{bucket}/expect HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
    import socket
    with socket.create_connection(("127.0.0.1", int(host.split(":")[1])), timeout=10) as sock:
        sock.sendall(head.encode())
        first = sock.recv(100)
        assert first.startswith(b"HTTP/1.1 100 Continue"), first
        sock.sendall(body)
        rest = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
    assert b"HTTP/1.1 200" in first + rest
    assert s3.get_object(Bucket=bucket, Key="expect")["Body"].read() == body


def test_sigv2_presigned_url(system, s3, bucket):
    """boto3's presigner with signature_version 's3' (SigV2 query auth), as aws-cli v1 `s3 presign` uses."""
    s3.put_object(Bucket=bucket, Key="v2 key+x", Body=b"sigv2")
    v2 = boto3.client("s3", endpoint_url=system.endpoint, aws_access_key_id=ADMIN_AK,
                      aws_secret_access_key=ADMIN_SK, region_name="us-east-1", config=Config(signature_version="s3"))
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2 key+x"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    r = requests.get(url)
    assert r.status_code == 200, r.text
    assert r.content == b"sigv2"
    r = requests.get(url.replace("Signature=", "Signature=A"))
    assert r.status_code == 403


def test_sigv2_header_auth(system, bucket):
    v2 = boto3.client("s3", endpoint_url=system.endpoint, aws_access_key_id=ADMIN_AK,
                      aws_secret_access_key=ADMIN_SK, region_name="us-east-1", config=Config(signature_version="s3"))
    v2.put_object(Bucket=bucket, Key="h", Body=b"v2 header")
    assert v2.get_object(Bucket=bucket, Key="h")["Body"].read() == b"v2 header"


def test_sigv2_bucket_level_requests(system, s3, bucket):
    """Bucket-level SigV2: botocore signs ``/bucket/`` for path-style ``/bucket`` (a
    ListObjectsV2 presigned URL from boto3's default us-east-1 presigner, a header-signed
    ListObjects, HeadBucket)."""
    s3.put_object(Bucket=bucket, Key="listed", Body=b"x")
    v2 = boto3.client("s3", endpoint_url=system.endpoint, aws_access_key_id=ADMIN_AK,
                      aws_secret_access_key=ADMIN_SK, region_name="us-east-1", config=Config(signature_version="s3"))
    url = v2.generate_presigned_url("list_objects_v2", Params={"Bucket": bucket, "MaxKeys": 5}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url
    r = requests.get(url)
    assert r.status_code == 200, r.text
    assert b"<Key>listed</Key>" in r.content
    assert requests.get(url.replace("Signature=", "Signature=A")).status_code == 403
    assert [o["Key"] for o in v2.list_objects(Bucket=bucket)["Contents"]] == ["listed"]
    assert [o["Key"] for o in v2.list_objects_v2(Bucket=bucket)["Contents"]] == ["listed"]
    v2.head_bucket(Bucket=bucket)
    # the slash is only tolerated for the bucket itself: an object key keeps its exact path
    obj = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "listed"}, ExpiresIn=60)
    assert requests.get(obj.replace(f"/{bucket}/listed", f"/{bucket}/listed/")).status_code in (403, 404)


@pytest.mark.parametrize("key", ["a b/c+d", "per%cent", "ünï/😀", "x//y/./z/../w", "(paren)@!$&'*,;=:"])
def test_raw_path_signing(system, s3, bucket, key):
    """Keys whose wire form differs from their decoded form: SigV4 must use the raw path."""
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60)
    # http.client sends the path as given (requests/urllib3 would remove dot segments from it)
    import http.client
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", parts.path + "?" + parts.query)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == key.encode()
    conn.close()


# ------------------------------------------------------------------- virtual-hosted-style
@pytest.fixture(scope="module")
def vhost_system(tmp_path_factory):
    env, _ = backend_env("sqlite")
    env["S3_DOMAIN"] = "s3.test"
    serve = ServeProcess(tmp_path_factory.mktemp("vhost") / "data", env=env).start()
    yield serve
    serve.stop()


def _vhost_request(system, method, bucket, path, body=b""):
    port = system.endpoint.rsplit(":", 1)[1]
    host = f"{bucket}.s3.test:{port}"
    headers = sign(method, f"http://{host}{path}", body)
    headers["Host"] = host
    return requests.request(method, f"http://127.0.0.1:{port}{path}", data=body, headers=headers, timeout=10)


def test_virtual_hosted_style(vhost_system):
    s3 = vhost_system.client()
    name = f"vh-{os.urandom(5).hex()}"
    r = _vhost_request(vhost_system, "PUT", name, "/")
    assert r.status_code == 200, r.text
    r = _vhost_request(vhost_system, "PUT", name, "/dir/obj.txt", b"via vhost")
    assert r.status_code == 200, r.text
    # path-style still works on the same server and sees the same object
    assert s3.get_object(Bucket=name, Key="dir/obj.txt")["Body"].read() == b"via vhost"
    r = _vhost_request(vhost_system, "GET", name, "/?list-type=2")
    assert r.status_code == 200 and "<Key>dir/obj.txt</Key>" in r.text
    r = _vhost_request(vhost_system, "GET", name, "/dir/obj.txt")
    assert r.content == b"via vhost"
    r = _vhost_request(vhost_system, "DELETE", name, "/dir/obj.txt")
    assert r.status_code == 204
    r = _vhost_request(vhost_system, "DELETE", name, "/")
    assert r.status_code == 204


def test_one_server_header_naming_s3server(system, bucket):
    """Every answer, S3 or REST, success or error, carries exactly one ``Server: s3server``
    (gunicorn's own ``Server: gunicorn`` is replaced, not duplicated)."""
    import socket
    host = system.endpoint.split("/")[2]
    url = f"{system.endpoint}/{bucket}/nothing-here"
    signed = sign("GET", url, b"", {})
    requests_raw = [
        "GET /health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host,
        "GET /no-such-bucket-here HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host,
        f"GET /{bucket}/nothing-here HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in signed.items() if k.lower() != "host") + "\r\n",
    ]
    for raw in requests_raw:
        with socket.create_connection(("127.0.0.1", int(host.split(":")[1])), timeout=10) as sock:
            sock.sendall(raw.encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        servers = [h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("server:")]
        assert servers == ["s3server"], (head[0], servers)
