"""ListObjectsV2 / ListObjects (prefix, delimiter, max-keys, continuation) through boto3, and the
page bodies against the lxml builders."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from s3server.api import xmllisting
from s3server.api.xmllisting import list_objects_v1_body, list_objects_v2_body
from s3server.models import ListPage, ObjectMeta

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


# -- page bodies: the string builders write exactly what the lxml builders write ----------

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
ODD = ["a&b", "<k>", "q\"'", "é/😀", "sp ace+plus", "100%", "tab\tnl\n", "\x7f\u2028\ufffd?", "~/x"]


def _page(keys, prefixes=(), truncated=False, marker=None, checksums=None, checksum_type=None):
    objs = tuple(ObjectMeta(bucket="b", key=k, size=i * 1001, etag=f'"{i:032x}"',
                            last_modified=T0 + timedelta(milliseconds=i * 7),
                            checksums=checksums or {}, checksum_type=checksum_type,
                            storage_class="STANDARD" if i % 2 else "STANDARD_IA")
                 for i, k in enumerate(keys))
    return ListPage(objs, tuple(prefixes), truncated, marker)


PAGES = [
    _page([]),
    _page(ODD, ["p&/", "é/", "<x>/"], True, "<x>/"),
    _page([f"k{i:04d}" for i in range(50)], checksums={"CRC32": "AAAAAA==", "SHA256": "x+/="},
          checksum_type="FULL_OBJECT"),
    _page(["only"], checksums={"CRC64NVME": "AAAAAAAAAAA="}),
    _page(["a"], truncated=True, marker="a"),
]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("encode", [False, True])
@pytest.mark.parametrize("owner", [None, ("0" * 63 + "1", "ow&ner <x>")])
@pytest.mark.parametrize("args", [
    dict(prefix="", delimiter="", continuation_token=None, next_token=None, start_after=None),
    dict(prefix="p&<", delimiter="/", continuation_token="tok==", next_token="bmV4dA==", start_after="s&a é"),
    dict(prefix="é", delimiter="::", continuation_token="", next_token=None, start_after=""),
])
def test_v2_body_matches_the_lxml_builder(page, encode, owner, args):
    kw = dict(bucket="bkt", max_keys=1000, page=page, encode=encode, owner=owner, **args)
    assert list_objects_v2_body(**kw) == xmllisting.list_objects_v2(**kw)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("encode", [False, True])
@pytest.mark.parametrize("args", [
    dict(prefix="", delimiter="", marker=""),
    dict(prefix="p&<", delimiter="/", marker="m<&>é"),
])
def test_v1_body_matches_the_lxml_builder(page, encode, args):
    kw = dict(bucket="bkt", max_keys=7, page=page, encode=encode, owner=("id", "name"), **args)
    assert list_objects_v1_body(**kw) == xmllisting.list_objects_v1(**kw)


@pytest.mark.parametrize("key", ["cr\rlf", "nul\x00", "ctl\x01", "ffff\ufffe"])
def test_body_with_values_lxml_must_handle(key):
    """CR is written as &#13; by lxml; characters XML 1.0 cannot carry are refused by it:
    the string builder hands both to lxml, so behaviour is unchanged (URL encoding helps)."""
    for encode in (False, True):
        kw = dict(bucket="bkt", prefix="", delimiter="", max_keys=1000, page=_page([key]), encode=encode,
                  continuation_token=None, next_token=None, start_after=None, owner=None)
        try:
            expected = xmllisting.list_objects_v2(**kw)
        except ValueError as e:
            with pytest.raises(type(e)):
                list_objects_v2_body(**kw)
        else:
            assert list_objects_v2_body(**kw) == expected
    kw = dict(bucket="bkt", prefix="", delimiter="", max_keys=1000, page=_page(["k"]), encode=False,
              continuation_token=key, next_token=None, start_after=None, owner=None)
    if key.startswith("cr"):
        assert b"&#13;" in list_objects_v2_body(**kw) == xmllisting.list_objects_v2(**kw)


# -- delimiter listings across many common prefixes, through the S3 API -------------------

DIRS = ["a/", "a/b/", "é/", "z!/", "z/"]
MANY = sorted([f"{d}{i:02d}" for d in DIRS for i in range(40)]
              + ["a", "a!", "a0", "a/b!", "z", "z/!", "é", "€/x", "😀"], key=lambda k: k.encode())


def _reference(keys, prefix, delimiter):
    out = []
    for k in keys:
        if not k.startswith(prefix):
            continue
        i = k.find(delimiter, len(prefix)) if delimiter else -1
        entry = ("k", k) if i < 0 else ("p", k[: i + len(delimiter)])
        if not out or out[-1] != entry:
            out.append(entry)
    return out


@pytest.fixture(scope="module")
def many(system):
    """One bucket of MANY per backend, populated by 8 threads, shared by the tests below."""
    s3 = system.client()
    name = f"t-many-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=name, Key=k, Body=b""), MANY))
    yield name
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.delete_object(Bucket=name, Key=k), MANY))
    s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("prefix,delimiter", [("", "/"), ("a", "/"), ("a/", "/"), ("", "!"), ("", "/0")])
def test_delimiter_pages_with_continuation(s3, many, prefix, delimiter):
    expected = _reference(MANY, prefix, delimiter)
    for max_keys in (1, 4, 1000):
        got, token = [], None
        for _ in range(len(MANY) + 1):
            kw = {"Bucket": many, "Prefix": prefix, "Delimiter": delimiter, "MaxKeys": max_keys}
            if token:
                kw["ContinuationToken"] = token
            r = s3.list_objects_v2(**kw)
            page = [("k", o["Key"]) for o in r.get("Contents", [])] + [
                ("p", p["Prefix"]) for p in r.get("CommonPrefixes", [])]
            assert r["KeyCount"] == len(page) <= max_keys
            got += sorted(page, key=lambda e: e[1].encode())
            if not r["IsTruncated"]:
                assert "NextContinuationToken" not in r
                break
            token = r["NextContinuationToken"]
        else:
            pytest.fail("the listing never ended")
        assert got == expected, (prefix, delimiter, max_keys)


def test_v1_markers_and_url_encoding_over_many_prefixes(s3, many):
    got, marker = [], ""
    for _ in range(len(MANY)):
        # boto3 leaves the values encoded when the caller asked for EncodingType itself
        r = s3.list_objects(Bucket=many, Delimiter="/", MaxKeys=3, Marker=marker, EncodingType="url")
        got += [("k", unquote_plus(o["Key"])) for o in r.get("Contents", [])] + [
            ("p", unquote_plus(p["Prefix"])) for p in r.get("CommonPrefixes", [])]
        if not r["IsTruncated"]:
            break
        marker = unquote_plus(r["NextMarker"])
    else:
        pytest.fail("the listing never ended")
    assert sorted(got, key=lambda e: e[1].encode()) == _reference(MANY, "", "/")


def test_key_with_carriage_return_lists_exactly(s3, bucket):
    keys = ["cr\rkey", "plain"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    r = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in r["Contents"]] == keys
