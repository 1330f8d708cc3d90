"""ListObjectsV2 (prefix, delimiter, max-keys, continuation) through boto3."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

TREE = ["a.txt", "b/1.txt", "b/2.txt", "b/c/3.txt", "d/4.txt", "e", "e+f g.txt", "zz/%/x"]


@pytest.fixture
def tree(s3, bucket):
    for k in TREE:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    return bucket


def test_list_all_sorted(s3, tree):
    r = s3.list_objects_v2(Bucket=tree)
    assert [o["Key"] for o in r["Contents"]] == sorted(TREE)
    assert r["KeyCount"] == len(TREE)
    assert r["IsTruncated"] is False
    assert all(o["Size"] == len(o["Key"].encode()) for o in r["Contents"])
    assert all(o["ETag"].startswith('"') for o in r["Contents"])


def test_prefix(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, Prefix="b/")
    assert [o["Key"] for o in r["Contents"]] == ["b/1.txt", "b/2.txt", "b/c/3.txt"]
    r = s3.list_objects_v2(Bucket=tree, Prefix="zz/%")
    assert [o["Key"] for o in r["Contents"]] == ["zz/%/x"]
    r = s3.list_objects_v2(Bucket=tree, Prefix="nothing")
    assert "Contents" not in r and r["KeyCount"] == 0


def test_delimiter(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a.txt", "e", "e+f g.txt"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/", "d/", "zz/"]
    assert r["KeyCount"] == 6
    r = s3.list_objects_v2(Bucket=tree, Delimiter="/", Prefix="b/")
    assert [o["Key"] for o in r["Contents"]] == ["b/1.txt", "b/2.txt"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/c/"]


def test_pagination_with_continuation(s3, tree):
    seen, prefixes, token, pages = [], [], None, 0
    while True:
        kw = {"Bucket": tree, "MaxKeys": 2, "Delimiter": "/"}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        pages += 1
        assert r["KeyCount"] <= 2
        seen += [o["Key"] for o in r.get("Contents", [])]
        prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert seen == ["a.txt", "e", "e+f g.txt"]
    assert prefixes == ["b/", "d/", "zz/"]
    assert pages == 3


def test_paginator_lists_everything(s3, bucket):
    keys = [f"k{i:04d}" for i in range(25)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 7}):
        got += [o["Key"] for o in page.get("Contents", [])]
    assert got == keys


def test_max_keys_zero_and_capped(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, MaxKeys=0)
    assert r["KeyCount"] == 0 and r["IsTruncated"] is False and r["MaxKeys"] == 0
    r = s3.list_objects_v2(Bucket=tree, MaxKeys=5000)
    assert r["MaxKeys"] == 1000


def test_start_after(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, StartAfter="b/2.txt")
    assert [o["Key"] for o in r["Contents"]] == sorted(TREE)[3:]


def test_list_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="no-such-bucket-here-1234")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
