"""PostObject: browser-style form uploads prepared by boto3's generate_presigned_post (SigV4 and
SigV2), sent as multipart/form-data by requests, on both metadata backends."""
from __future__ import annotations

import hashlib
import os
import socket
from urllib.parse import urlsplit

import pytest
import requests
from botocore.exceptions import ClientError
from lxml import etree

V4 = {"signature_version": "s3v4"}
V2 = {"signature_version": "s3"}


def presigned(system, bucket, key, *, sig=V4, fields=None, conditions=None, expires=300, client=None):
    s3 = client or system.client(**sig)
    return s3.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)


def post(post_info, content: bytes, *, filename="upload.bin", extra: dict | None = None) -> requests.Response:
    data = dict(post_info["fields"], **(extra or {}))
    return requests.post(post_info["url"], data=data, files={"file": (filename, content)}, timeout=30)


def error_code(resp: requests.Response) -> str:
    return etree.fromstring(resp.content).findtext("Code")


def missing(s3, bucket, key) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return True
    return False


@pytest.mark.parametrize("sig", [V4, V2], ids=["sigv4", "sigv2"])
def test_presigned_post_uploads(system, s3, bucket, sig):
    info = presigned(system, bucket, "docs/report.txt", sig=sig,
                     fields={"Content-Type": "text/plain", "x-amz-meta-owner": "ana"},
                     conditions=[{"Content-Type": "text/plain"}, {"x-amz-meta-owner": "ana"}])
    resp = post(info, b"hello form")
    assert resp.status_code == 204, resp.text
    assert resp.headers["ETag"] == '"%s"' % hashlib.md5(b"hello form").hexdigest()
    assert resp.headers["Location"].endswith(f"/{bucket}/docs/report.txt")
    got = s3.get_object(Bucket=bucket, Key="docs/report.txt")
    assert got["Body"].read() == b"hello form"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"owner": "ana"}


def test_filename_variable_and_success_statuses(system, s3, bucket):
    info = presigned(system, bucket, "in/${filename}", conditions=[["starts-with", "$key", "in/"],
                                                                   ["starts-with", "$success_action_status", ""]])
    resp = post(info, b"one", filename="cat photo.jpg", extra={"success_action_status": "201"})
    assert resp.status_code == 201, resp.text
    doc = etree.fromstring(resp.content)
    assert doc.tag == "PostResponse" and doc.findtext("Key") == "in/cat photo.jpg"
    assert doc.findtext("Bucket") == bucket and doc.findtext("ETag") == resp.headers["ETag"]
    resp = post(info, b"two", filename="b.txt", extra={"success_action_status": "200"})
    assert resp.status_code == 200 and resp.content == b""
    assert s3.get_object(Bucket=bucket, Key="in/b.txt")["Body"].read() == b"two"


def test_redirect_after_upload(system, s3, bucket):
    info = presigned(system, bucket, "r.txt", fields={"success_action_redirect": "https://app.example/done"},
                     conditions=[{"success_action_redirect": "https://app.example/done"}])
    resp = requests.post(info["url"], data=info["fields"], files={"file": ("r.txt", b"r")}, timeout=30,
                         allow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith("https://app.example/done?bucket=")
    assert "key=r.txt" in resp.headers["Location"] and "etag=" in resp.headers["Location"]


def test_a_large_file_streams_through(system, s3, bucket):
    data = os.urandom(1024 * 1024) * 20 + b"tail"
    info = presigned(system, bucket, "big.bin", conditions=[["content-length-range", 0, 50 * 1024 * 1024]])
    resp = post(info, data)
    assert resp.status_code == 204, resp.text
    body = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.md5(body).digest() == hashlib.md5(data).digest()


def test_size_range_is_enforced_and_stores_nothing(system, s3, bucket):
    info = presigned(system, bucket, "sized", conditions=[["content-length-range", 10, 100]])
    resp = post(info, b"x" * 101)
    assert resp.status_code == 400 and error_code(resp) == "EntityTooLarge"
    resp = post(info, b"x" * 9)
    assert resp.status_code == 400 and error_code(resp) == "EntityTooSmall"
    assert missing(s3, bucket, "sized")
    assert post(info, b"x" * 10).status_code == 204


def test_policy_violations_are_refused(system, s3, bucket):
    info = presigned(system, bucket, "fixed.txt")
    resp = post(info, b"x", extra={"key": "other.txt"})                   # {"key": "fixed.txt"} fails
    assert resp.status_code == 403 and error_code(resp) == "AccessDenied"
    assert "Policy Condition failed" in resp.text
    resp = post(info, b"x", extra={"x-amz-meta-sneaky": "1"})             # a field without a condition
    assert resp.status_code == 403 and "Extra input fields: x-amz-meta-sneaky" in resp.text
    assert post(info, b"x", extra={"x-ignore-note": "fine"}).status_code == 204
    expired = presigned(system, bucket, "late.txt", expires=-10)
    resp = post(expired, b"x")
    assert resp.status_code == 403 and "Policy expired" in resp.text
    other_bucket = dict(info, url=info["url"].rstrip("/") + "-elsewhere")
    resp = post(other_bucket, b"x")
    assert resp.status_code in (403, 404)
    assert missing(s3, bucket, "other.txt") and missing(s3, bucket, "late.txt")


def test_signature_and_credentials(system, s3, bucket):
    info = presigned(system, bucket, "sig.txt")
    fields = dict(info["fields"])
    fields["x-amz-signature"] = "0" * 64
    resp = requests.post(info["url"], data=fields, files={"file": ("f", b"x")}, timeout=30)
    assert resp.status_code == 403 and error_code(resp) == "SignatureDoesNotMatch"
    wrong = presigned(system, bucket, "sig.txt",
                      client=system.client(access_key="AKNOSUCHKEY000000000", secret_key="x", **V4))
    resp = post(wrong, b"x")
    assert resp.status_code == 403 and error_code(resp) == "InvalidAccessKeyId"
    resp = requests.post(info["url"], data={"key": "sig.txt"}, files={"file": ("f", b"x")}, timeout=30)
    assert resp.status_code == 403 and error_code(resp) == "AccessDenied"
    assert missing(s3, bucket, "sig.txt")


def test_acl_fields_follow_the_acl_rules(system, s3, bucket):
    ok = presigned(system, bucket, "a.txt", fields={"acl": "private"}, conditions=[{"acl": "private"}])
    assert post(ok, b"x").status_code == 204
    public = presigned(system, bucket, "p.txt", fields={"acl": "public-read"}, conditions=[{"acl": "public-read"}])
    resp = post(public, b"x")
    assert resp.status_code == 400 and error_code(resp) == "AccessControlListNotSupported"
    assert missing(s3, bucket, "p.txt")


def test_malformed_forms(system, s3, bucket):
    info = presigned(system, bucket, "m.txt")
    resp = requests.post(info["url"], data=info["fields"], timeout=30)      # urlencoded, no file
    assert resp.status_code in (400, 403, 405)             # not a form upload: no policy to check
    resp = requests.post(info["url"], files={**{k: (None, v) for k, v in info["fields"].items()}}, timeout=30)
    assert resp.status_code == 400 and error_code(resp) == "IncorrectNumberOfFilesInPostRequest"
    # a body cut off in the middle of the file: nothing is stored
    prepared = requests.Request("POST", info["url"], data=info["fields"],
                                files={"file": ("m.txt", b"z" * 100_000)}).prepare()
    url = urlsplit(info["url"])
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        head = (f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {prepared.headers['Content-Type']}\r\n"
                f"Content-Length: {len(prepared.body)}\r\n\r\n").encode()
        sock.sendall(head + prepared.body[:60_000])
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)
    assert missing(s3, bucket, "m.txt")


def test_another_users_bucket_is_denied(system, bucket):
    from tests.adminutil import new_user
    eve = new_user(system, "eve")
    info = presigned(system, bucket, "eve.txt",
                     client=system.client(access_key=eve["access_key"], secret_key=eve["secret_key"], **V4))
    resp = post(info, b"x")
    assert resp.status_code == 403 and error_code(resp) == "AccessDenied"


def test_tagging_and_checksum_fields(system, s3, bucket):
    import base64
    tagging = "<Tagging><TagSet><Tag><Key>src</Key><Value>form</Value></Tag></TagSet></Tagging>"
    data = b"checked form body"
    good = base64.b64encode(hashlib.sha256(data).digest()).decode()
    info = presigned(system, bucket, "t.txt", fields={"tagging": tagging, "x-amz-checksum-sha256": good},
                     conditions=[{"tagging": tagging}, {"x-amz-checksum-sha256": good}])
    assert post(info, data).status_code == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="t.txt")["TagSet"] == [{"Key": "src", "Value": "form"}]
    assert s3.head_object(Bucket=bucket, Key="t.txt", ChecksumMode="ENABLED")["ChecksumSHA256"] == good
    resp = post(info, b"not what the checksum says")
    assert resp.status_code == 400 and error_code(resp) == "BadDigest"
    assert s3.get_object(Bucket=bucket, Key="t.txt")["Body"].read() == data


def _worker_peaks(system) -> dict[int, int]:
    """VmHWM (peak RSS, KiB) of each gunicorn worker of the system's gateway."""
    master = system.state["gateway_pid"]
    peaks = {}
    for pid in open(f"/proc/{master}/task/{master}/children").read().split():
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                peaks[int(pid)] = int(line.split()[1])
    return peaks


def test_a_200_mib_form_upload_keeps_the_gateway_flat(system, s3, bucket):
    """The file is streamed through the gateway: no worker's peak memory grows by the file's size."""
    info = presigned(system, bucket, "huge.bin")
    boundary = "----s3serverFormBoundary7MA4YWxkTrZu0gW"
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in info["fields"].items())
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.bin"\r\n\r\n'
    block = os.urandom(1024 * 1024)
    digest = hashlib.md5()

    def body():
        yield head.encode()
        for i in range(200):
            chunk = bytes([i % 256]) + block[1:]
            digest.update(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    before = _worker_peaks(system)
    resp = requests.post(info["url"], data=body(), timeout=300,
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert resp.status_code == 204, resp.text
    after = _worker_peaks(system)
    growth = max(after[pid] - before.get(pid, after[pid]) for pid in after) / 1024
    assert growth < 64, f"a gateway worker's peak RSS grew {growth:.0f} MiB for a 200 MiB upload"
    assert resp.headers["ETag"] == f'"{digest.hexdigest()}"'
    assert s3.head_object(Bucket=bucket, Key="huge.bin")["ContentLength"] == 200 * 1024 * 1024


@pytest.mark.parametrize("disposition", ['filename="caf\u00e9 \u00fcber.txt"',
                                         "filename*=UTF-8''caf%C3%A9%20%C3%BCber.txt"])
def test_unicode_file_names(system, s3, bucket, disposition):
    """Browsers send the name as UTF-8 in quotes (HTML5); RFC 5987's filename* is read too."""
    info = presigned(system, bucket, "u/${filename}", conditions=[["starts-with", "$key", "u/"]])
    boundary = "b0undary"
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in info["fields"].items())
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n\r\nbytes\r\n--{boundary}--\r\n'
    resp = requests.post(info["url"], data=body.encode("utf-8"), timeout=30,
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert resp.status_code == 204, resp.text
    assert s3.get_object(Bucket=bucket, Key="u/caf\u00e9 \u00fcber.txt")["Body"].read() == b"bytes"
