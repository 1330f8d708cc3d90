"""The bucket owner condition: ``x-amz-expected-bucket-owner`` (boto3's ``ExpectedBucketOwner``)
and ``x-amz-source-expected-bucket-owner`` (``ExpectedSourceBucketOwner``) on copies.

AWS: a value that is not a 12-digit account id is 400 InvalidBucketOwnerAWSAccountID; a bucket
owned by another account is 403 AccessDenied, whoever asks; the right owner changes nothing.
Here a user's account id is its numeric id in 12 digits (``s3server admin create-user`` prints
it as ``account_id``; ``list-users`` shows it first)."""
from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.adminutil import new_user, run_admin
from tests.sigv4util import signed_request

WRONG = "999999999999"


@pytest.fixture(scope="module")
def users(system):
    return new_user(system, "owner"), new_user(system, "other")


def client(system, u):
    return system.client(access_key=u["access_key"], secret_key=u["secret_key"])


@pytest.fixture
def owned(system, users):
    """A bucket of the first user's with one object; (client, bucket, account id)."""
    owner = users[0]
    s3 = client(system, owner)
    name = f"eo-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"kept")
    yield s3, name, owner["account_id"]
    for o in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=o["Key"])
    s3.delete_bucket(Bucket=name)


def error(exc_info) -> tuple[int, str]:
    r = exc_info.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def test_account_ids_are_twelve_digits(system, users):
    owner, other = users
    assert len(owner["account_id"]) == 12 and owner["account_id"].isdigit()
    assert owner["account_id"] != other["account_id"]
    listing = run_admin(system, "list-users").stdout.splitlines()
    assert f"{owner['account_id']}\t{owner['user']}\tuser\tenabled\t{owner['access_key']}" in listing


def test_the_right_owner_changes_nothing(owned):
    s3, b, me = owned
    assert s3.head_bucket(Bucket=b, ExpectedBucketOwner=me)["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.put_object(Bucket=b, Key="new", Body=b"new", ExpectedBucketOwner=me)
    assert s3.get_object(Bucket=b, Key="new", ExpectedBucketOwner=me)["Body"].read() == b"new"
    assert s3.head_object(Bucket=b, Key="k", ExpectedBucketOwner=me)["ContentLength"] == 4
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b, ExpectedBucketOwner=me)["Contents"]]
    assert keys == ["k", "new"]
    s3.put_object_tagging(Bucket=b, Key="new", Tagging={"TagSet": [{"Key": "a", "Value": "1"}]},
                          ExpectedBucketOwner=me)
    s3.delete_object(Bucket=b, Key="new", ExpectedBucketOwner=me)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]] == ["k"]


def test_another_owner_is_access_denied_and_changes_nothing(owned, users):
    s3, b, _ = owned
    for other in (WRONG, users[1]["account_id"]):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=b, Key="k", Body=b"overwritten", ExpectedBucketOwner=other)
        assert error(e) == (403, "AccessDenied")
        with pytest.raises(ClientError) as e:
            s3.delete_object(Bucket=b, Key="k", ExpectedBucketOwner=other)
        assert error(e) == (403, "AccessDenied")
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=b, Key="k", ExpectedBucketOwner=other)
        assert error(e) == (403, "AccessDenied")
        with pytest.raises(ClientError) as e:
            s3.list_objects_v2(Bucket=b, ExpectedBucketOwner=other)
        assert error(e) == (403, "AccessDenied")
        with pytest.raises(ClientError) as e:          # HEAD: no body, the status says it
            s3.head_object(Bucket=b, Key="k", ExpectedBucketOwner=other)
        assert error(e) == (403, "403")
        with pytest.raises(ClientError) as e:
            s3.delete_bucket(Bucket=b, ExpectedBucketOwner=other)
        assert error(e) == (403, "AccessDenied")
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"kept"


def test_malformed_account_id_is_400(owned, system):
    s3, b, me = owned
    for bad in ("abc", me + "0", me[1:], "12345678901a", "-12345678901"):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=b, Key="bad", Body=b"x", ExpectedBucketOwner=bad)
        assert error(e) == (400, "InvalidBucketOwnerAWSAccountID")
        assert f"[{bad}]" in e.value.response["Error"]["Message"]
    # an empty value too (boto3 drops empty parameters: a hand-signed request)
    r = signed_request("GET", f"{system.endpoint}/{b}?list-type=2", headers={"x-amz-expected-bucket-owner": ""})
    assert r.status_code == 400 and b"<Code>InvalidBucketOwnerAWSAccountID</Code>" in r.content
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]] == ["k"]


def test_missing_bucket_is_still_no_such_bucket(system, users):
    s3 = client(system, users[0])
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=f"eo-missing-{uuid.uuid4().hex[:12]}", ExpectedBucketOwner=users[0]["account_id"])
    assert error(e) == (404, "NoSuchBucket")


def test_the_admin_is_held_to_the_condition_too(system, owned):
    """An admin may use any bucket, but the condition names the bucket's owner, not the caller."""
    _, b, me = owned
    admin = system.client()
    assert admin.get_object(Bucket=b, Key="k", ExpectedBucketOwner=me)["Body"].read() == b"kept"
    admin_account = next(line.split("\t")[0] for line in run_admin(system, "list-users").stdout.splitlines()
                         if line.split("\t")[2] == "admin")
    with pytest.raises(ClientError) as e:
        admin.get_object(Bucket=b, Key="k", ExpectedBucketOwner=admin_account)
    assert error(e) == (403, "AccessDenied")


def test_copy_source_owner(owned, users):
    s3, b, me = owned
    s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "k"},
                   ExpectedSourceBucketOwner=me, ExpectedBucketOwner=me)
    assert s3.get_object(Bucket=b, Key="copy")["Body"].read() == b"kept"
    for kw in ({"ExpectedSourceBucketOwner": WRONG}, {"ExpectedBucketOwner": WRONG}):
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=b, Key="copy2", CopySource={"Bucket": b, "Key": "k"}, **kw)
        assert error(e) == (403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=b, Key="copy2", CopySource={"Bucket": b, "Key": "k"}, ExpectedSourceBucketOwner="x")
    assert error(e) == (400, "InvalidBucketOwnerAWSAccountID")
    upload = s3.create_multipart_upload(Bucket=b, Key="mp")["UploadId"]
    try:
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=b, Key="mp", UploadId=upload, PartNumber=1,
                                CopySource={"Bucket": b, "Key": "k"}, ExpectedSourceBucketOwner=WRONG)
        assert error(e) == (403, "AccessDenied")
        part = s3.upload_part_copy(Bucket=b, Key="mp", UploadId=upload, PartNumber=1,
                                   CopySource={"Bucket": b, "Key": "k"}, ExpectedSourceBucketOwner=me)
        assert part["CopyPartResult"]["ETag"]
        assert len(s3.list_parts(Bucket=b, Key="mp", UploadId=upload)["Parts"]) == 1
    finally:
        s3.abort_multipart_upload(Bucket=b, Key="mp", UploadId=upload)
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]) == ["copy", "k"]
