"""Bucket settings that can only describe this server's one state are accepted when they do
(Terraform modules write them for every bucket), and refused with 501 when they ask for something
this server does not do; a public access block is kept and reported whatever its flags.
Round trips against moto: tests/conformance/scenarios/settings.py."""
from __future__ import annotations

import threading

import pytest
import requests
from botocore.exceptions import ClientError

from tests.adminutil import new_user
from tests.sigv4util import sign

PAB_NAMES = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def test_public_access_block_is_kept_with_every_flag_combination(s3, bucket):
    for mask in (0b1111, 0b0000, 0b1010, 0b0101):
        flags = {name: bool(mask >> i & 1) for i, name in enumerate(PAB_NAMES)}
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=flags)
        assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == flags
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicPolicy": True})
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": False}                     # what was left out is false, as in AWS
    s3.delete_public_access_block(Bucket=bucket)
    assert error_of(lambda: s3.get_public_access_block(Bucket=bucket)) == (
        404, "NoSuchPublicAccessBlockConfiguration")


def test_settings_kept_side_by_side(s3, bucket):
    """The public access block and the acceleration state share the bucket row's settings
    document: changing one, even many times at once, keeps the other."""
    s3.put_bucket_accelerate_configuration(Bucket=bucket, AccelerateConfiguration={"Status": "Suspended"})
    errors = []

    def flip(i):
        try:
            s3.put_public_access_block(Bucket=bucket,
                                       PublicAccessBlockConfiguration={n: bool(i % 2) for n in PAB_NAMES})
            s3.put_bucket_accelerate_configuration(Bucket=bucket, AccelerateConfiguration={"Status": "Suspended"})
        except Exception as exc:        # noqa: BLE001 (reported below)
            errors.append(exc)
    threads = [threading.Thread(target=flip, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert s3.get_bucket_accelerate_configuration(Bucket=bucket)["Status"] == "Suspended"
    assert set(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]) == set(PAB_NAMES)
    s3.delete_public_access_block(Bucket=bucket)
    assert s3.get_bucket_accelerate_configuration(Bucket=bucket)["Status"] == "Suspended"
    # the bucket's other settings are untouched
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]


@pytest.mark.parametrize("call", [
    lambda s3, b: s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]}),
    lambda s3, b: s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}),
    lambda s3, b: s3.put_bucket_request_payment(Bucket=b, RequestPaymentConfiguration={"Payer": "Requester"}),
    lambda s3, b: s3.put_bucket_accelerate_configuration(Bucket=b, AccelerateConfiguration={"Status": "Enabled"}),
    lambda s3, b: s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:123456789012:q", "Events": ["s3:ObjectCreated:*"]}]}),
    lambda s3, b: s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
        "EventBridgeConfiguration": {}}),
    lambda s3, b: s3.put_bucket_logging(Bucket=b, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": b, "TargetPrefix": "logs/"}}),
], ids=["object-writer", "owner-preferred", "requester-pays", "acceleration", "queue", "eventbridge", "access-logs"])
def test_what_this_server_does_not_do_is_501(s3, bucket, call):
    assert error_of(lambda: call(s3, bucket)) == (501, "NotImplemented")
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == \
        "BucketOwnerEnforced"
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket=bucket)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)


def test_accepted_settings(s3, bucket):
    s3.put_bucket_ownership_controls(Bucket=bucket,
                                     OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_bucket_request_payment(Bucket=bucket, RequestPaymentConfiguration={"Payer": "BucketOwner"})
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={})
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    assert set(s3.get_bucket_notification_configuration(Bucket=bucket)) == {"ResponseMetadata"}


@pytest.mark.parametrize("query, body", [
    ("publicAccessBlock", b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls>"
                          b"</PublicAccessBlockConfiguration>"),
    ("publicAccessBlock", b"<PublicAccessBlockConfiguration><BlockEverything>true</BlockEverything>"
                          b"</PublicAccessBlockConfiguration>"),
    ("publicAccessBlock", b"<Wrong/>"),
    ("ownershipControls", b"<OwnershipControls/>"),
    ("ownershipControls", b"<OwnershipControls><Rule><ObjectOwnership>Everyone</ObjectOwnership></Rule>"
                          b"</OwnershipControls>"),
    ("requestPayment", b"<RequestPaymentConfiguration><Payer>Nobody</Payer></RequestPaymentConfiguration>"),
    ("accelerate", b"<AccelerateConfiguration><Status>Paused</Status></AccelerateConfiguration>"),
    ("notification", b"<NotificationConfiguration><Webhook/></NotificationConfiguration>"),
    ("logging", b"<BucketLoggingStatus><Verbose/></BucketLoggingStatus>"),
    ("logging", b"not xml"),
])
def test_malformed_documents(system, bucket, query, body):
    url = f"{system.endpoint}/{bucket}?{query}"
    r = requests.put(url, data=body, headers=sign("PUT", url, body, {}), timeout=10)
    assert r.status_code == 400 and "<Code>MalformedXML</Code>" in r.text


def test_missing_bucket_and_another_users_bucket(system, s3, bucket):
    assert error_of(lambda: s3.put_public_access_block(
        Bucket=bucket + "-missing", PublicAccessBlockConfiguration={"BlockPublicAcls": True})) == (404, "NoSuchBucket")
    assert error_of(lambda: s3.put_bucket_logging(Bucket=bucket + "-missing", BucketLoggingStatus={})) == (
        404, "NoSuchBucket")
    made = new_user(system, "fixed-other")
    other = system.client(made["access_key"], made["secret_key"])
    assert error_of(lambda: other.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True})) == (403, "AccessDenied")
    assert error_of(lambda: other.put_bucket_accelerate_configuration(
        Bucket=bucket, AccelerateConfiguration={"Status": "Suspended"})) == (403, "AccessDenied")
    assert error_of(lambda: other.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})) == (403, "AccessDenied")
    assert error_of(lambda: s3.get_public_access_block(Bucket=bucket)) == (404, "NoSuchPublicAccessBlockConfiguration")
