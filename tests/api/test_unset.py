"""Bucket settings this server keeps none of: reads answer "never set" as AWS does, deletes succeed,
writes are 501 and change nothing. The AWS-vs-moto comparisons are in
tests/conformance/scenarios/settings.py."""
from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError

from tests.sigv4util import sign

NOT_SET = [
    ("get_bucket_policy", "NoSuchBucketPolicy"),
    ("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration"),
    ("get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError"),
    ("get_bucket_website", "NoSuchWebsiteConfiguration"),
    ("get_object_lock_configuration", "ObjectLockConfigurationNotFoundError"),
    ("get_public_access_block", "NoSuchPublicAccessBlockConfiguration"),
    ("get_bucket_replication", "ReplicationConfigurationNotFoundError"),
]
DELETES = ["delete_bucket_policy", "delete_bucket_lifecycle", "delete_bucket_encryption", "delete_bucket_website",
           "delete_public_access_block", "delete_bucket_replication"]


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def test_reads_answer_never_set(s3, bucket):
    for op, code in NOT_SET:
        assert error_of(lambda: getattr(s3, op)(Bucket=bucket)) == (404, code), op
        assert error_of(lambda: getattr(s3, op)(Bucket=bucket + "-missing")) == (404, "NoSuchBucket"), op
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    for op in ("get_bucket_logging", "get_bucket_notification_configuration",
               "get_bucket_accelerate_configuration"):
        resp = getattr(s3, op)(Bucket=bucket)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200, op
        assert set(resp) == {"ResponseMetadata"}, (op, resp)
        assert error_of(lambda: getattr(s3, op)(Bucket=bucket + "-missing")) == (404, "NoSuchBucket"), op


def test_deletes_succeed_with_nothing_to_delete(s3, bucket):
    for op in DELETES:
        assert getattr(s3, op)(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204, op
        assert error_of(lambda: getattr(s3, op)(Bucket=bucket + "-missing")) == (404, "NoSuchBucket"), op


@pytest.mark.parametrize("query,body", [
    ("ownershipControls", b"<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>"
                          b"</OwnershipControls>"),
    ("logging", b"<BucketLoggingStatus><LoggingEnabled><TargetBucket>x</TargetBucket><TargetPrefix>p</TargetPrefix>"
                b"</LoggingEnabled></BucketLoggingStatus>"),
    ("versioning", b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"),
])
def test_writes_are_not_implemented_and_change_nothing(system, s3, bucket, query, body):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = f"{system.endpoint}/{bucket}?{query}"
    resp = requests.put(url, data=body, headers=sign("PUT", url, body, {}), timeout=10)
    assert resp.status_code == 501 and "<Code>NotImplemented</Code>" in resp.text
    # before these were routed, a PUT with an unknown sub-resource was CreateBucket (409)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
