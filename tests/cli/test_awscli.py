"""aws-cli against the real system: mb, cp up and down, ls, rm, rb."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ADMIN_AK, ADMIN_SK


def aws_exe() -> str:
    local = Path(sys.executable).parent / "aws"
    found = str(local) if local.exists() else shutil.which("aws")
    if not found:
        pytest.fail("aws-cli is not installed: pip install -e '.[test]' installs it")
    return found


def aws(system, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ADMIN_AK, AWS_SECRET_ACCESS_KEY=ADMIN_SK,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "nocfg"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "nocreds"), AWS_MAX_ATTEMPTS="1")
    return subprocess.run([aws_exe(), "--endpoint-url", system.endpoint, *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_mb_cp_ls_rm_rb(system, tmp_path):
    name = f"cli-{uuid.uuid4().hex[:12]}"
    src = tmp_path / "cat.jpg"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 123))
    r = aws(system, "s3", "mb", f"s3://{name}", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3", "cp", str(src), f"s3://{name}/2024/cat.jpg", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3", "ls", f"s3://{name}/2024/", tmp_path=tmp_path)
    assert r.returncode == 0 and "cat.jpg" in r.stdout and str(src.stat().st_size) in r.stdout, r.stdout + r.stderr
    r = aws(system, "s3", "ls", tmp_path=tmp_path)
    assert name in r.stdout
    dst = tmp_path / "back.jpg"
    r = aws(system, "s3", "cp", f"s3://{name}/2024/cat.jpg", str(dst), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes() == src.read_bytes()
    r = aws(system, "s3", "rb", f"s3://{name}", tmp_path=tmp_path)
    assert r.returncode != 0            # not empty
    r = aws(system, "s3", "rm", f"s3://{name}/2024/cat.jpg", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3", "rb", f"s3://{name}", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3", "ls", tmp_path=tmp_path)
    assert name not in r.stdout


@pytest.fixture
def cli_bucket(system, tmp_path):
    name = f"cli-{uuid.uuid4().hex[:12]}"
    assert aws(system, "s3", "mb", f"s3://{name}", tmp_path=tmp_path).returncode == 0
    yield name
    aws(system, "s3", "rb", f"s3://{name}", "--force", tmp_path=tmp_path)


def test_cp_40mib_multipart_roundtrip(system, cli_bucket, tmp_path):
    src = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    with open(src, "wb") as f:
        for i in range(40):
            f.write(bytes([i]) + block[1:])
    r = aws(system, "s3", "cp", str(src), f"s3://{cli_bucket}/big.bin", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    head = system.client().head_object(Bucket=cli_bucket, Key="big.bin")
    assert head["ContentLength"] == 40 * 1024 * 1024
    assert head["ETag"].endswith('-5"'), head["ETag"]          # aws-cli's default 8 MiB parts
    dst = tmp_path / "back.bin"
    r = aws(system, "s3", "cp", f"s3://{cli_bucket}/big.bin", str(dst), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    import hashlib
    assert hashlib.md5(dst.read_bytes()).digest() == hashlib.md5(src.read_bytes()).digest()


def test_sync_tree(system, cli_bucket, tmp_path):
    tree = tmp_path / "tree"
    files = []
    for i in range(60):
        p = tree / f"d{i % 5}" / f"s{i % 7}" / f"file {i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"content {i}\n".encode() * (i + 1))
        files.append(p)
    r = aws(system, "s3", "sync", str(tree), f"s3://{cli_bucket}/t", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("upload:") == 60
    keys = []
    for page in system.client().get_paginator("list_objects_v2").paginate(Bucket=cli_bucket, Prefix="t/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert sorted(keys) == sorted("t/" + str(p.relative_to(tree)) for p in files)
    r = aws(system, "s3", "sync", str(tree), f"s3://{cli_bucket}/t", tmp_path=tmp_path)
    assert r.returncode == 0 and "upload:" not in r.stdout, r.stdout
    files[17].unlink()
    r = aws(system, "s3", "sync", str(tree), f"s3://{cli_bucket}/t", "--delete", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("delete:") == 1
    gone = "t/" + str(files[17].relative_to(tree))
    left = system.client().list_objects_v2(Bucket=cli_bucket, Prefix=gone)
    assert left["KeyCount"] == 0
    down = tmp_path / "down"
    r = aws(system, "s3", "sync", f"s3://{cli_bucket}/t", str(down), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (down / files[3].relative_to(tree)).read_bytes() == files[3].read_bytes()
    r = aws(system, "s3", "rm", f"s3://{cli_bucket}/t", "--recursive", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert system.client().list_objects_v2(Bucket=cli_bucket)["KeyCount"] == 0


def test_presign_then_plain_get(system, cli_bucket, tmp_path):
    import requests
    system.client().put_object(Bucket=cli_bucket, Key="shared file.txt", Body=b"presigned by aws-cli")
    r = aws(system, "s3", "presign", f"s3://{cli_bucket}/shared file.txt", "--expires-in", "300", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    got = requests.get(url, timeout=10)
    assert got.status_code == 200, got.text
    assert got.content == b"presigned by aws-cli"


def test_s3api_calls(system, cli_bucket, tmp_path):
    import json
    src = tmp_path / "f.txt"
    src.write_bytes(b"s3api body")
    r = aws(system, "s3api", "put-object", "--bucket", cli_bucket, "--key", "f.txt", "--body", str(src),
            "--checksum-algorithm", "SHA256", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    import base64
    import hashlib
    assert json.loads(r.stdout)["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"s3api body").digest()).decode()
    r = aws(system, "s3api", "head-object", "--bucket", cli_bucket, "--key", "f.txt", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ContentLength"] == 10
    system.client().put_object(Bucket=cli_bucket, Key="g.txt", Body=b"g")
    r = aws(system, "s3api", "list-object-versions", "--bucket", cli_bucket, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    versions = json.loads(r.stdout)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [("f.txt", "null", True),
                                                                           ("g.txt", "null", True)]


def test_cp_website_redirect(system, cli_bucket, tmp_path):
    """`aws s3 cp --website-redirect` stores the location; a bad one fails the upload cleanly."""
    src = tmp_path / "old.html"
    src.write_bytes(b"<p>moved</p>")
    r = aws(system, "s3", "cp", str(src), f"s3://{cli_bucket}/old.html", "--website-redirect", "/new.html",
            tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    head = system.client().head_object(Bucket=cli_bucket, Key="old.html")
    assert head["WebsiteRedirectLocation"] == "/new.html"
    r = aws(system, "s3", "cp", str(src), f"s3://{cli_bucket}/bad.html", "--website-redirect", "new.html",
            tmp_path=tmp_path)
    assert r.returncode != 0 and "InvalidRedirectLocation" in r.stderr


def test_cp_with_sse_aes256(system, cli_bucket, tmp_path):
    """`aws s3 cp --sse AES256`: a small upload, a multipart one (the header goes with
    CreateMultipartUpload), a server-side copy, and the downloads decrypt."""
    import hashlib
    small, big = tmp_path / "small.txt", tmp_path / "big.bin"
    small.write_bytes(b"keep this encrypted\n")
    big.write_bytes(os.urandom(9 * 1024 * 1024 + 5))
    s3 = system.client()
    for src, key in ((small, "small.txt"), (big, "big.bin")):
        r = aws(system, "s3", "cp", str(src), f"s3://{cli_bucket}/{key}", "--sse", "AES256", tmp_path=tmp_path)
        assert r.returncode == 0, r.stderr
        assert s3.head_object(Bucket=cli_bucket, Key=key)["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=cli_bucket, Key="big.bin")["ETag"].endswith('-2"')
    r = aws(system, "s3", "cp", f"s3://{cli_bucket}/big.bin", f"s3://{cli_bucket}/copy.bin", "--sse", "AES256",
            tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert s3.head_object(Bucket=cli_bucket, Key="copy.bin")["ServerSideEncryption"] == "AES256"
    for key, src in (("small.txt", small), ("big.bin", big), ("copy.bin", big)):
        dst = tmp_path / ("back-" + key)
        r = aws(system, "s3", "cp", f"s3://{cli_bucket}/{key}", str(dst), tmp_path=tmp_path)
        assert r.returncode == 0, r.stderr
        assert hashlib.md5(dst.read_bytes()).digest() == hashlib.md5(src.read_bytes()).digest(), key


def test_s3api_lifecycle_configuration(system, cli_bucket, tmp_path):
    """`aws s3api put-bucket-lifecycle-configuration` with a JSON file, as its documentation shows
    (the CLI adds the checksum the operation requires), read back, refused with a transition, deleted."""
    import json
    rules = {"Rules": [{"ID": "expire-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
                        "Expiration": {"Days": 30}},
                       {"ID": "uploads", "Status": "Enabled", "Filter": {},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}
    doc = tmp_path / "lifecycle.json"
    doc.write_text(json.dumps(rules))
    r = aws(system, "s3api", "put-bucket-lifecycle-configuration", "--bucket", cli_bucket,
            "--lifecycle-configuration", f"file://{doc}", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3api", "get-bucket-lifecycle-configuration", "--bucket", cli_bucket, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Rules"] == [dict(rules["Rules"][0]), dict(rules["Rules"][1])]
    doc.write_text(json.dumps({"Rules": [{"ID": "cold", "Status": "Enabled", "Filter": {},
                                          "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]}))
    r = aws(system, "s3api", "put-bucket-lifecycle-configuration", "--bucket", cli_bucket,
            "--lifecycle-configuration", f"file://{doc}", tmp_path=tmp_path)
    assert r.returncode != 0 and "NotImplemented" in r.stderr
    r = aws(system, "s3api", "delete-bucket-lifecycle", "--bucket", cli_bucket, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3api", "get-bucket-lifecycle-configuration", "--bucket", cli_bucket, tmp_path=tmp_path)
    assert r.returncode != 0 and "NoSuchLifecycleConfiguration" in r.stderr


def test_cp_with_sse_c_over_https(tls_system, tls_cert, tmp_path):
    """`aws s3 cp --sse-c AES256 --sse-c-key fileb://KEY` up and down (a multipart upload too),
    and a server-side copy that needs the source's key (`--sse-c-copy-source`)."""
    import hashlib
    key = tmp_path / "customer.key"
    key.write_bytes(os.urandom(32))
    small, big = tmp_path / "small.txt", tmp_path / "big.bin"
    small.write_bytes(b"only with my key\n")
    big.write_bytes(os.urandom(9 * 1024 * 1024 + 5))
    name = f"cli-ssec-{uuid.uuid4().hex[:10]}"
    tls = ("--ca-bundle", str(tls_cert[0]))
    assert aws(tls_system, *tls, "s3", "mb", f"s3://{name}", tmp_path=tmp_path).returncode == 0
    sse_c = ("--sse-c", "AES256", "--sse-c-key", f"fileb://{key}")
    for src in (small, big):
        r = aws(tls_system, *tls, "s3", "cp", str(src), f"s3://{name}/{src.name}", *sse_c, tmp_path=tmp_path)
        assert r.returncode == 0, r.stderr
    r = aws(tls_system, *tls, "s3", "cp", f"s3://{name}/big.bin", str(tmp_path / "no-key"), tmp_path=tmp_path)
    assert r.returncode != 0                            # without the key: refused
    r = aws(tls_system, *tls, "s3", "cp", f"s3://{name}/big.bin", f"s3://{name}/copy.bin", *sse_c,
            "--sse-c-copy-source", "AES256", "--sse-c-copy-source-key", f"fileb://{key}", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    for remote, src in (("small.txt", small), ("big.bin", big), ("copy.bin", big)):
        dst = tmp_path / ("back-" + remote)
        r = aws(tls_system, *tls, "s3", "cp", f"s3://{name}/{remote}", str(dst), *sse_c, tmp_path=tmp_path)
        assert r.returncode == 0, r.stderr
        assert hashlib.md5(dst.read_bytes()).digest() == hashlib.md5(src.read_bytes()).digest(), remote
    assert aws(tls_system, *tls, "s3", "rb", f"s3://{name}", "--force", tmp_path=tmp_path).returncode == 0
