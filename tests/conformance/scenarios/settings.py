"""Bucket settings: ACLs (disabled, as with "bucket owner enforced" Object Ownership) and the
configurations this server keeps none of (their reads answer "never set")."""
from __future__ import annotations

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto

S = SCENARIOS
ENFORCED_QUOTE = ("After you apply the Bucket owner enforced setting for Object Ownership, ACLs are disabled. "
                  "Requests to set ACLs or update ACLs fail with a 400 error and return the "
                  "AccessControlListNotSupported error code. Requests to read ACLs are still supported. Requests "
                  "to read ACLs always return a response that shows full control for the bucket owner.")


@S("settings")
def never_set_reads(run):
    b = run.bucket()
    for op in ("get_bucket_policy", "get_bucket_lifecycle_configuration", "get_bucket_encryption",
               "get_bucket_website", "get_object_lock_configuration", "get_public_access_block",
               "get_bucket_replication", "get_bucket_logging", "get_bucket_notification_configuration",
               "get_bucket_accelerate_configuration"):
        run.call(op, Bucket=b)


@S("settings")
def never_set_reads_of_a_missing_bucket(run):
    b = run.bucket(create=False)
    for op in ("get_bucket_policy", "get_bucket_lifecycle_configuration", "get_bucket_encryption",
               "get_bucket_website", "get_bucket_replication", "get_bucket_logging", "get_bucket_acl"):
        run.call(op, Bucket=b)


@S("settings")
def deletes_with_nothing_to_delete(run):
    b = run.bucket()
    run.call("delete_bucket_policy", Bucket=b)
    run.call("delete_bucket_lifecycle", Bucket=b)
    run.call("get_bucket_policy", Bucket=b)


def _payer(records):
    records[0]["body"] = {"Payer": "BucketOwner"}


@S("settings")
@aws_differs_from_moto("GetBucketRequestPayment: Payer - Specifies who pays for the download and request fees. "
                       "Valid Values: Requester | BucketOwner (the default; moto's answer parses as empty)", _payer)
def request_payment(run):
    run.call("get_bucket_request_payment", Bucket=run.bucket())


def _enforced(records):
    records[0].pop("error")
    records[0].update(status=200, error=None, headers={},
                      body={"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}})


@S("settings")
@aws_differs_from_moto("Object Ownership: BucketOwnerEnforced ... By default, ObjectOwnership is set to "
                       "BucketOwnerEnforced and ACLs are disabled. (moto: OwnershipControlsNotFoundError)", _enforced)
def ownership_controls(run):
    run.call("get_bucket_ownership_controls", Bucket=run.bucket())


@S("settings")
def acl_reads(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"x")
    run.call("get_bucket_acl", Bucket=b)
    run.call("get_object_acl", Bucket=b, Key="k")
    run.call("get_object_acl", Bucket=b, Key="missing")


@S("settings")
def owner_only_acls_are_accepted(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x", ACL="private")
    run.call("put_object", Bucket=b, Key="k2", Body=b"x", ACL="bucket-owner-full-control")
    run.call("put_object_acl", Bucket=b, Key="k", ACL="private")
    run.call("put_bucket_acl", Bucket=b, ACL="private")
    run.call("get_bucket_acl", Bucket=b)
    run.call("get_object_acl", Bucket=b, Key="k")


def _public_refused(records):
    for i in (1, 2, 3, 4):
        records[i] = as_error(records[i], 400, "AccessControlListNotSupported")
    records[5] = dict(records[0])          # nothing was stored: the bucket is still empty


@S("settings")
@aws_differs_from_moto(ENFORCED_QUOTE + " (moto keeps the ACLs)", _public_refused)
def acls_granting_others_are_refused(run):
    b = run.bucket()
    run.call("list_objects_v2", Bucket=b)
    run.call("put_object", Bucket=b, Key="k", Body=b"x", ACL="public-read")
    run.call("put_object", Bucket=b, Key="k2", Body=b"x", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    run.call("create_multipart_upload", Bucket=b, Key="m", ACL="public-read-write")
    run.call("put_bucket_acl", Bucket=b, ACL="public-read")
    run.call("list_objects_v2", Bucket=b)


@S("settings")
def both_canned_and_grants(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x", ACL="private", GrantRead='id="abc"')


OWNER_QUOTE = ("x-amz-expected-bucket-owner: The account ID of the expected bucket owner. If the account ID "
               "that you provide does not match the actual owner of the bucket, the request fails with the "
               "HTTP status code 403 Forbidden (access denied). (moto ignores the header; a value that is not "
               "an account id is 400 InvalidBucketOwnerAWSAccountID, per the S3 error code list)")


def _owner_condition(records):
    records[1] = as_error(records[1], 400, "InvalidBucketOwnerAWSAccountID")
    records[2] = as_error(records[2], 400, "InvalidBucketOwnerAWSAccountID")
    records[3] = as_error(records[3], 403, "AccessDenied")
    records[4] = as_error(records[4], 403, "AccessDenied")
    records[5] = dict(records[0], step=records[5]["step"], args=records[5]["args"])   # nothing was stored


@S("settings")
@aws_differs_from_moto(OWNER_QUOTE, _owner_condition)
def expected_bucket_owner(run):
    b = run.bucket()
    run.call("list_objects_v2", Bucket=b)
    run.call("list_objects_v2", Bucket=b, ExpectedBucketOwner="not-an-account")
    run.call("put_object", Bucket=b, Key="k", Body=b"x", ExpectedBucketOwner="1234567890123")
    run.call("put_object", Bucket=b, Key="k", Body=b"x", ExpectedBucketOwner="999999999999")
    run.call("copy_object", Bucket=b, Key="k2", CopySource={"Bucket": b, "Key": "k"},
             ExpectedSourceBucketOwner="999999999999")
    run.call("list_objects_v2", Bucket=b)


def _no_object_lock(records):
    records[5] = as_error(records[5], 400, "InvalidRequest")
    records[6] = as_error(records[6], 400, "InvalidRequest")


@S("settings")
@aws_differs_from_moto("Object Lock: You can only enable Object Lock for new buckets ... S3 answers "
                       "GetObjectRetention and GetObjectLegalHold in a bucket without it with 400 InvalidRequest "
                       "'Bucket is missing Object Lock Configuration' (moto: 500, and an empty LegalHold)",
                       _no_object_lock)
def unconfigured_sub_resources(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"x")
    run.call("list_bucket_metrics_configurations", Bucket=b)
    run.call("list_bucket_analytics_configurations", Bucket=b)
    run.call("list_bucket_inventory_configurations", Bucket=b)
    run.call("list_bucket_intelligent_tiering_configurations", Bucket=b)
    run.call("get_bucket_policy_status", Bucket=b)
    run.call("get_object_retention", Bucket=b, Key="k")
    run.call("get_object_legal_hold", Bucket=b, Key="k")
    run.call("restore_object", Bucket=b, Key="k", RestoreRequest={"Days": 1})
    run.call("get_object", Bucket=b, Key="k")


@S("settings")
def object_lock_on_uploads(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
             ObjectLockRetainUntilDate="2030-01-01T00:00:00Z")
    run.call("put_object", Bucket=b, Key="k", Body=b"x", ObjectLockLegalHoldStatus="ON")
    run.call("list_objects_v2", Bucket=b)


PAB = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


@S("settings")
def public_access_block(run):
    """Kept and reported, whatever the flags (they only restrict; nothing here is public)."""
    b = run.bucket()
    run.call("get_public_access_block", Bucket=b)
    run.call("put_public_access_block", Bucket=b, PublicAccessBlockConfiguration=PAB)
    run.call("get_public_access_block", Bucket=b)
    run.call("put_public_access_block", Bucket=b,
             PublicAccessBlockConfiguration={"BlockPublicAcls": True, "RestrictPublicBuckets": False})
    run.call("get_public_access_block", Bucket=b)
    run.call("delete_public_access_block", Bucket=b)
    run.call("get_public_access_block", Bucket=b)
    run.call("put_public_access_block", Bucket=run.bucket(create=False), PublicAccessBlockConfiguration=PAB)


@S("settings")
def ownership_controls_enforced(run):
    b = run.bucket()
    run.call("put_bucket_ownership_controls", Bucket=b,
             OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    run.call("get_bucket_ownership_controls", Bucket=b)


@S("settings")
@aws_differs_from_moto("GetBucketAccelerateConfiguration: A GET accelerate request does not return a state value "
                       "for a bucket that has no transfer acceleration state. A bucket has no Transfer Acceleration "
                       "state if a state has never been set on the bucket. (moto forgets a Suspended state)",
                       lambda records: records[2].update(body={"Status": "Suspended"}))
def accelerate_suspended(run):
    b = run.bucket()
    run.call("get_bucket_accelerate_configuration", Bucket=b)
    run.call("put_bucket_accelerate_configuration", Bucket=b, AccelerateConfiguration={"Status": "Suspended"})
    run.call("get_bucket_accelerate_configuration", Bucket=b)


@S("settings")
def no_notifications_no_logging(run):
    b = run.bucket()
    run.call("put_bucket_notification_configuration", Bucket=b, NotificationConfiguration={})
    run.call("get_bucket_notification_configuration", Bucket=b)
    run.call("put_bucket_logging", Bucket=b, BucketLoggingStatus={})
    run.call("get_bucket_logging", Bucket=b)


def _payer_kept(records):
    records[0]["headers"].pop("location", None)     # moto answers as if it had created the bucket
    records[1].update(body={"Payer": "BucketOwner"})


@S("settings")
@aws_differs_from_moto("PutBucketRequestPayment: Response Syntax: HTTP/1.1 200 (no headers). GetBucketRequestPayment: "
                       "Payer - Valid Values: Requester | BucketOwner (moto's answer parses as empty)", _payer_kept)
def request_payment_bucket_owner(run):
    b = run.bucket()
    run.call("put_bucket_request_payment", Bucket=b, RequestPaymentConfiguration={"Payer": "BucketOwner"})
    run.call("get_bucket_request_payment", Bucket=b)
