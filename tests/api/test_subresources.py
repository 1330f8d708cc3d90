"""Sub-resources of operations this server does not implement. Each must get its own answer and
never fall through to the plain operation of its method: before they were routed, a PUT
?legal-hold or ?retention stored the XML document as the object, a DELETE ?analytics&id=... deleted
the (empty) bucket, and a PUT ?metrics on a missing bucket created it."""
from __future__ import annotations

import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from tests.sigv4util import sign

CONFIGS = ("analytics", "metrics", "inventory", "intelligent_tiering")


def error(exc_info) -> tuple[int, str]:
    r = exc_info.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def raw(system, method: str, path: str, body: bytes = b"") -> requests.Response:
    url = f"{system.endpoint}{path}"
    return requests.request(method, url, data=body, headers=sign(method, url, body, {}), timeout=10)


def test_object_lock_calls_are_invalid_and_leave_the_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"the object")
    calls = [
        lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"}),
        lambda: s3.put_object_retention(Bucket=bucket, Key="k", Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": "2030-01-01T00:00:00Z"}),
        lambda: s3.get_object_legal_hold(Bucket=bucket, Key="k"),
        lambda: s3.get_object_retention(Bucket=bucket, Key="k"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == (400, "InvalidRequest")
        assert e.value.response["Error"]["Message"] == "Bucket is missing Object Lock Configuration"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"the object"
    with pytest.raises(ClientError) as e:
        s3.get_object_retention(Bucket=f"t-missing-{uuid.uuid4().hex[:10]}", Key="k")
    assert error(e) == (404, "NoSuchBucket")


@pytest.mark.parametrize("kind", CONFIGS)
def test_bucket_configurations_are_empty_and_never_delete_the_bucket(s3, bucket, kind):
    """The bucket is empty, so a DELETE that fell through to DeleteBucket would remove it."""
    listed = getattr(s3, f"list_bucket_{kind}_configurations")(Bucket=bucket)
    assert listed["IsTruncated"] is False and not [k for k in listed if k.endswith("ConfigurationList")]
    for op in ("get", "delete"):
        with pytest.raises(ClientError) as e:
            getattr(s3, f"{op}_bucket_{kind}_configuration")(Bucket=bucket, Id="cfg")
        assert error(e) == (404, "NoSuchConfiguration")
    s3.head_bucket(Bucket=bucket)


@pytest.mark.parametrize("sub", ["analytics", "metrics", "inventory", "intelligent-tiering", "abac",
                                 "metadataInventoryTable", "metadataJournalTable"])
def test_configuration_writes_are_501_and_create_no_bucket(system, s3, sub):
    missing = f"t-missing-{uuid.uuid4().hex[:12]}"
    r = raw(system, "PUT", f"/{missing}?{sub}" + ("&id=cfg" if sub not in ("abac",) else ""), b"<Configuration/>")
    assert r.status_code == 501 and "<Code>NotImplemented</Code>" in r.text, r.text
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=missing)
    assert error(e)[0] == 404


@pytest.mark.parametrize("method, sub", [("DELETE", "metadataTable"), ("DELETE", "metadataConfiguration"),
                                         ("GET", "metadataTable"), ("GET", "metadataConfiguration"),
                                         ("POST", "metadataTable"), ("GET", "abac"), ("GET", "session")])
def test_other_bucket_sub_resources_are_501(system, s3, bucket, method, sub):
    r = raw(system, method, f"/{bucket}?{sub}")
    assert r.status_code == 501 and "<Code>NotImplemented</Code>" in r.text, r.text
    s3.head_bucket(Bucket=bucket)


@pytest.mark.parametrize("method, sub", [("PUT", "encryption"), ("PUT", "renameObject"), ("PUT", "annotation"),
                                         ("DELETE", "annotation"), ("GET", "annotation"), ("GET", "torrent"),
                                         ("POST", "select&select-type=2")])
def test_object_sub_resources_are_501_and_leave_the_object(system, s3, bucket, method, sub):
    s3.put_object(Bucket=bucket, Key="k", Body=b"the object")
    r = raw(system, method, f"/{bucket}/k?{sub}", b"<Request/>" if method != "GET" else b"")
    assert r.status_code == 501 and "<Code>NotImplemented</Code>" in r.text, r.text
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"the object"


def test_policy_status_and_restore(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy_status(Bucket=bucket)
    assert error(e) == (404, "NoSuchBucketPolicy")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.restore_object(Bucket=bucket, Key="k", RestoreRequest={"Days": 1})
    assert error(e) == (403, "InvalidObjectState")
    assert e.value.response["Error"]["Message"] == "Restore is not allowed for the object's current storage class"
    with pytest.raises(ClientError) as e:
        s3.restore_object(Bucket=bucket, Key="missing", RestoreRequest={"Days": 1})
    assert error(e) == (404, "NoSuchKey")


def test_uploads_asking_for_object_lock_are_refused(s3, bucket):
    """An upload with a retention or legal hold must not be stored unprotected (its client would
    believe it locked): InvalidRequest, as AWS answers in a bucket without Object Lock."""
    s3.put_object(Bucket=bucket, Key="src", Body=b"src")
    lock = [{"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": "2030-01-01T00:00:00Z"},
            {"ObjectLockLegalHoldStatus": "ON"}]
    for kw in lock:
        for call in (lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", **kw),
                     lambda: s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "src"}, **kw),
                     lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", **kw)):
            with pytest.raises(ClientError) as e:
                call()
            assert error(e) == (400, "InvalidRequest")
            assert e.value.response["Error"]["Message"] == "Bucket is missing Object Lock Configuration"
    r = signed_request_put(s3, bucket, {"x-amz-object-lock-event-hold": "ON"})
    assert r.status_code == 400 and "Bucket is missing Object Lock Configuration" in r.text, r.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["src"]
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def signed_request_put(s3, bucket: str, headers: dict) -> requests.Response:
    url = f"{s3.meta.endpoint_url}/{bucket}/k"
    return requests.put(url, data=b"x", headers=sign("PUT", url, b"x", headers), timeout=10)


def test_object_lock_buckets_are_not_created(s3):
    name = f"t-{uuid.uuid4().hex[:20]}"
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    assert error(e) == (501, "NotImplemented")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert error(e)[0] == 404
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=False)
    s3.delete_bucket(Bucket=name)


def test_append_is_not_implemented_and_keeps_the_object(system, s3, bucket):
    """x-amz-write-offset-bytes asks to extend the object; storing the body as the whole object
    would lose what is there."""
    s3.put_object(Bucket=bucket, Key="log", Body=b"first line\n")
    url = f"{system.endpoint}/{bucket}/log"
    body = b"second line\n"
    r = requests.put(url, data=body, headers=sign("PUT", url, body, {"x-amz-write-offset-bytes": "11"}), timeout=10)
    assert r.status_code == 501 and "<Code>NotImplemented</Code>" in r.text, r.text
    assert s3.get_object(Bucket=bucket, Key="log")["Body"].read() == b"first line\n"
