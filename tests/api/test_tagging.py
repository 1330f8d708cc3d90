"""Object tags through real clients (boto3's transfer manager, aws-cli, presigned and hand-made
requests), on both metadata backends. The AWS-vs-moto comparisons are in
tests/conformance/scenarios/tagging.py."""
from __future__ import annotations

import io
import json
from urllib.parse import quote

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.cli.test_awscli import aws
from tests.sigv4util import sign


def tag_set(s3, bucket, key) -> list[tuple[str, str]]:
    return [(t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]]


def error_code(call) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_transfer_manager_multipart_upload_keeps_its_tags(s3, bucket):
    data = b"t" * (6 * 1024 * 1024)
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(data), bucket, "big", ExtraArgs={"Tagging": "kind=video&year=2026"}, Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ETag"].endswith('-2"') and head["TagCount"] == 2
    assert tag_set(s3, bucket, "big") == [("kind", "video"), ("year", "2026")]
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == data


def test_unicode_tags_in_the_body_and_in_the_header(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x",
                  Tagging=f"{quote('Größe')}={quote('groß')}&{quote('名前')}={quote('値 1')}")
    assert tag_set(s3, bucket, "k") == [("Größe", "groß"), ("名前", "値 1")]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [
        {"Key": "ключ", "Value": "значение"}, {"Key": "a+b=c.d_e:f/g@h -", "Value": ""}]})
    assert tag_set(s3, bucket, "k") == [("ключ", "значение"), ("a+b=c.d_e:f/g@h -", "")]


@pytest.mark.parametrize("tags,code", [
    ([("bad#key", "v")], "InvalidTag"),
    ([("k", "bad*value")], "InvalidTag"),
    ([("AWS:thing", "v")], "InvalidTag"),
    ([("k", "1"), ("k", "2")], "InvalidTag"),
    ([(f"k{i}", "v") for i in range(11)], "BadRequest"),
])
def test_bad_tag_sets_change_nothing(s3, bucket, tags, code):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    body = {"TagSet": [{"Key": k, "Value": v} for k, v in tags]}
    assert error_code(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=body)) == code
    header = "&".join(f"{quote(k)}={quote(v)}" for k, v in tags)
    assert error_code(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"y", Tagging=header)) == code
    assert tag_set(s3, bucket, "k") == [("keep", "me")]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"      # the PUT stored nothing


@pytest.mark.parametrize("body", [
    b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",                    # no Value
    b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",                # no Key
    b"<Tagging><Tags/></Tagging>",                                                     # no TagSet
    b"<Tagging><TagSet><Other/></TagSet></Tagging>",
    b"<Other><TagSet/></Other>",
    b"not xml at all",
    b"",
    b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><Tagging><TagSet/></Tagging>",
])
def test_malformed_tagging_bodies_are_malformed_xml(system, s3, bucket, body):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    url = f"{system.endpoint}/{bucket}/k?tagging"
    r = requests.put(url, data=body, headers=sign("PUT", url, body))
    assert r.status_code == 400 and b"<Code>MalformedXML</Code>" in r.content
    assert tag_set(s3, bucket, "k") == [("keep", "me")]


def test_an_empty_tag_key_is_invalid(system, s3, bucket):     # botocore itself refuses to send one
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = f"{system.endpoint}/{bucket}/k?tagging"
    body = b"<Tagging><TagSet><Tag><Key></Key><Value>v</Value></Tag></TagSet></Tagging>"
    r = requests.put(url, data=body, headers=sign("PUT", url, body))
    assert r.status_code == 400 and b"<Code>InvalidTag</Code>" in r.content
    assert error_code(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"y", Tagging="=v")) == "InvalidTag"
    assert tag_set(s3, bucket, "k") == []


def test_tags_on_a_missing_object(s3, bucket):
    assert error_code(lambda: s3.get_object_tagging(Bucket=bucket, Key="nope")) == "NoSuchKey"
    assert error_code(lambda: s3.delete_object_tagging(Bucket=bucket, Key="nope")) == "NoSuchKey"
    assert error_code(lambda: s3.put_object_tagging(
        Bucket=bucket, Key="nope", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})) == "NoSuchKey"


def test_presigned_get_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    url = s3.generate_presigned_url("get_object_tagging", Params={"Bucket": bucket, "Key": "k"})
    r = requests.get(url)
    assert r.status_code == 200 and b"<Key>a</Key><Value>1</Value>" in r.content


def test_aws_cli_tagging(system, bucket, tmp_path):
    system.client().put_object(Bucket=bucket, Key="cli", Body=b"x")
    tagging = json.dumps({"TagSet": [{"Key": "from", "Value": "cli"}]})
    r = aws(system, "s3api", "put-object-tagging", "--bucket", bucket, "--key", "cli", "--tagging", tagging,
            tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    r = aws(system, "s3api", "get-object-tagging", "--bucket", bucket, "--key", "cli", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["TagSet"] == [{"Key": "from", "Value": "cli"}]


def test_copy_with_an_unknown_tagging_directive_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="a=1")
    assert error_code(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                                             TaggingDirective="MERGE", Tagging="b=2")) == "InvalidArgument"
    assert error_code(lambda: s3.head_object(Bucket=bucket, Key="dst")) == "404"
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="replace", Tagging="b=2")              # case does not matter
    assert tag_set(s3, bucket, "dst") == [("b", "2")] and tag_set(s3, bucket, "src") == [("a", "1")]


# ---------------------------------------------------------------- bucket tags
def test_bucket_tags_round_trip_and_limits(s3, bucket):
    assert error_code(lambda: s3.get_bucket_tagging(Bucket=bucket)) == "NoSuchTagSet"
    tags = [{"Key": f"k{i:02d}", "Value": "v" * i} for i in range(50)]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags                  # all 50, in order
    too_many = tags + [{"Key": "k50", "Value": ""}]
    assert error_code(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": too_many})) == "InvalidTag"
    twice = [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]
    assert error_code(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": twice})) == "InvalidTag"
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags                  # unchanged
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})                   # an empty set removes them
    assert error_code(lambda: s3.get_bucket_tagging(Bucket=bucket)) == "NoSuchTagSet"


def test_bucket_and_object_tags_are_separate(s3, bucket):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "scope", "Value": "bucket"}]})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="scope=object")
    assert tag_set(s3, bucket, "k") == [("scope", "object")]
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "scope", "Value": "bucket"}]
