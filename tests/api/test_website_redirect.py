"""x-amz-website-redirect-location: stored with the object, returned by GET and HEAD, checked as
AWS checks it, never copied by CopyObject (both metadata backends, boto3 and a presigned POST)."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.api.test_post_object import error_code, missing, post, presigned

MiB = 1024 * 1024


def redirect(s3, bucket, key):
    return s3.head_object(Bucket=bucket, Key=key).get("WebsiteRedirectLocation")


@pytest.mark.parametrize("location", ["/docs/new.html", "http://example.com/a?b=c", "https://example.com/%C3%BC#top"])
def test_put_stores_and_returns_it(s3, bucket, location):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", WebsiteRedirectLocation=location)
    assert redirect(s3, bucket, "k") == location
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["WebsiteRedirectLocation"] == location and got["Body"].read() == b"x"
    s3.put_object(Bucket=bucket, Key="k", Body=b"y")                 # an overwrite without one
    assert redirect(s3, bucket, "k") is None


@pytest.mark.parametrize("location", ["docs/new.html", "ftp://example.com/", ""])
def test_a_location_without_its_prefix_is_refused(s3, bucket, location):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", WebsiteRedirectLocation=location)
    assert e.value.response["Error"]["Code"] == "InvalidRedirectLocation"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "prefix of 'http://' or 'https://' or '/'" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_a_location_over_2_kb_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ok", Body=b"x", WebsiteRedirectLocation="/" + "a" * 2047)
    assert len(redirect(s3, bucket, "ok")) == 2048
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", WebsiteRedirectLocation="/" + "a" * 2048)
    assert e.value.response["Error"]["Code"] == "InvalidRedirectLocation"


def test_copy_never_copies_it_but_sets_the_requests(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"s", WebsiteRedirectLocation="/from-source")
    s3.copy_object(Bucket=bucket, Key="c1", CopySource=f"{bucket}/src")
    assert redirect(s3, bucket, "c1") is None
    s3.copy_object(Bucket=bucket, Key="c2", CopySource=f"{bucket}/src", MetadataDirective="REPLACE")
    assert redirect(s3, bucket, "c2") is None
    s3.copy_object(Bucket=bucket, Key="c3", CopySource=f"{bucket}/src", WebsiteRedirectLocation="/given")
    assert redirect(s3, bucket, "c3") == "/given"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="c4", CopySource=f"{bucket}/src", WebsiteRedirectLocation="nope")
    assert e.value.response["Error"]["Code"] == "InvalidRedirectLocation"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="c4")


def test_a_copy_onto_itself_may_change_only_the_location(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"v": "1"})
    s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k", WebsiteRedirectLocation="/moved")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["WebsiteRedirectLocation"] == "/moved" and head["Metadata"] == {"v": "1"}
    with pytest.raises(ClientError) as e:                              # and now nothing changes
        s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k")
    assert e.value.response["Error"]["Code"] == "InvalidRequest"


def test_multipart_upload_keeps_the_location_of_its_creation(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="mp", WebsiteRedirectLocation="bad")
    assert e.value.response["Error"]["Code"] == "InvalidRedirectLocation"
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", WebsiteRedirectLocation="https://example.com/mp")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * (5 * MiB))
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert redirect(s3, bucket, "mp") == "https://example.com/mp"


def test_presigned_post_field(system, s3, bucket):
    info = presigned(system, bucket, "p", fields={"x-amz-website-redirect-location": "/after-post"},
                     conditions=[{"x-amz-website-redirect-location": "/after-post"}])
    resp = post(info, b"form")
    assert resp.status_code == 204, resp.text
    assert redirect(s3, bucket, "p") == "/after-post"
    info = presigned(system, bucket, "q", fields={"x-amz-website-redirect-location": "after-post"},
                     conditions=[{"x-amz-website-redirect-location": "after-post"}])
    resp = post(info, b"form")
    assert resp.status_code == 400 and error_code(resp) == "InvalidRedirectLocation"
    assert missing(s3, bucket, "q")
