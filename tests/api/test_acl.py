"""ACLs are disabled, as in an AWS bucket with "bucket owner enforced" Object Ownership: reads show
the owner's FULL_CONTROL; an ACL granting no one else anything is accepted (rclone, aws-cli and
SDKs send `private` or `bucket-owner-full-control` by default); any other is refused, with nothing
stored. The AWS-vs-moto comparisons are in tests/conformance/scenarios/settings.py."""
from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError

from tests.sigv4util import sign

ACL_NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def owner(s3) -> dict:
    return s3.list_buckets()["Owner"]


def policy(owner_id: str, *grants: tuple[str, str, str]) -> bytes:
    body = "".join(
        f'<Grant><Grantee {XSI} xsi:type="{kind}"><{"ID" if kind == "CanonicalUser" else "URI"}>{who}'
        f'</{"ID" if kind == "CanonicalUser" else "URI"}></Grantee><Permission>{perm}</Permission></Grant>'
        for kind, who, perm in grants)
    return (f'<AccessControlPolicy {ACL_NS}><Owner><ID>{owner_id}</ID></Owner>'
            f'<AccessControlList>{body}</AccessControlList></AccessControlPolicy>').encode()


def test_reads_show_the_owners_full_control(s3, bucket):
    me = owner(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert acl["Owner"]["ID"] == me["ID"]
        assert acl["Grants"] == [{"Grantee": {"ID": me["ID"], "DisplayName": me["DisplayName"],
                                              "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]
    assert error_of(lambda: s3.get_object_acl(Bucket=bucket, Key="missing")) == (404, "NoSuchKey")
    assert error_of(lambda: s3.get_bucket_acl(Bucket="no-such-bucket-acl-test")) == (404, "NoSuchBucket")


@pytest.mark.parametrize("canned", ["private", "bucket-owner-full-control", "bucket-owner-read"])
def test_owner_only_canned_acls_are_accepted(s3, bucket, canned):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", ACL=canned)
    s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"}, ACL=canned)
    up = s3.create_multipart_upload(Bucket=bucket, Key="m", ACL=canned)
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=up["UploadId"])
    s3.put_object_acl(Bucket=bucket, Key="k", ACL=canned)
    s3.put_bucket_acl(Bucket=bucket, ACL=canned)
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"one"


@pytest.mark.parametrize("canned", ["public-read", "public-read-write", "authenticated-read", "aws-exec-read",
                                    "log-delivery-write"])
def test_acls_granting_others_are_refused_and_store_nothing(s3, bucket, canned):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"new", ACL=canned)) \
        == (400, "AccessControlListNotSupported")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"new", ACL=canned)) \
        == (400, "AccessControlListNotSupported")
    assert error_of(lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"},
                                           ACL=canned)) == (400, "AccessControlListNotSupported")
    assert error_of(lambda: s3.create_multipart_upload(Bucket=bucket, Key="m", ACL=canned)) \
        == (400, "AccessControlListNotSupported")
    assert error_of(lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL=canned)) \
        == (400, "AccessControlListNotSupported")
    assert error_of(lambda: s3.put_bucket_acl(Bucket=bucket, ACL=canned)) == (400, "AccessControlListNotSupported")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert error_of(lambda: s3.create_bucket(Bucket=bucket + "-x", ACL=canned)) \
        == (400, "InvalidBucketAclWithObjectOwnership")
    assert error_of(lambda: s3.head_bucket(Bucket=bucket + "-x"))[0] == 404


def test_grant_headers(s3, bucket):
    me = owner(s3)["ID"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", GrantFullControl=f'id="{me}"')
    s3.put_object_acl(Bucket=bucket, Key="k", GrantFullControl=f'id="{me}"')
    refused = [
        dict(GrantFullControl='id="someone-else"'),
        dict(GrantFullControl=f'id="{me}", uri="http://acs.amazonaws.com/groups/global/AllUsers"'),
        dict(GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"'),
        dict(GrantRead=f'id="{me}"'),
        dict(GrantWriteACP='emailAddress="x@example.com"'),
    ]
    for grant in refused:
        assert error_of(lambda: s3.put_object(Bucket=bucket, Key="g", Body=b"x", **grant)) \
            == (400, "AccessControlListNotSupported"), grant
        assert error_of(lambda: s3.put_object_acl(Bucket=bucket, Key="k", **grant)) \
            == (400, "AccessControlListNotSupported"), grant
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="g", Body=b"x", ACL="private",
                                          GrantFullControl=f'id="{me}"')) == (400, "InvalidRequest")
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="g", Body=b"x", GrantRead="nonsense")) \
        == (400, "InvalidArgument")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="g"))[0] == 404


def test_policy_bodies(system, s3, bucket):
    me = owner(s3)["ID"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for path in (f"/{bucket}/k", f"/{bucket}"):
        url = f"{system.endpoint}{path}?acl"

        def put(body: bytes, headers: dict | None = None) -> requests.Response:
            return requests.put(url, data=body, headers=sign("PUT", url, body, headers or {}), timeout=10)

        assert put(policy(me, ("CanonicalUser", me, "FULL_CONTROL"))).status_code == 200
        for body in (policy(me, ("CanonicalUser", me, "READ")),
                     policy(me, ("CanonicalUser", me, "FULL_CONTROL"),
                            ("Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ")),
                     policy(me),
                     policy("f" * 64, ("CanonicalUser", me, "FULL_CONTROL"))):
            resp = put(body)
            assert resp.status_code == 400 and "<Code>AccessControlListNotSupported</Code>" in resp.text, body
        for body in (b"<AccessControlPolicy><Owner>", b"<Tagging/>",
                     policy(me, ("CanonicalUser", me, "EVERYTHING"))):
            resp = put(body)
            assert resp.status_code == 400 and "<Code>MalformedACLError</Code>" in resp.text, body
        resp = put(b"")
        assert resp.status_code == 400 and "<Code>MissingSecurityHeader</Code>" in resp.text
        resp = put(policy(me, ("CanonicalUser", me, "FULL_CONTROL")), {"x-amz-acl": "private"})
        assert resp.status_code == 400 and "<Code>UnexpectedContent</Code>" in resp.text
    assert s3.get_object_acl(Bucket=bucket, Key="k")["Grants"][0]["Permission"] == "FULL_CONTROL"


def test_bucket_ownership_choices(s3, bucket):
    name = bucket + "-o"
    s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced", ACL="private")
    try:
        controls = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
        assert controls == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    finally:
        s3.delete_bucket(Bucket=name)
    assert error_of(lambda: s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")) == (501, "NotImplemented")
    assert error_of(lambda: s3.head_bucket(Bucket=name))[0] == 404
