"""The bucket policy language's terms: S3's actions by resource and the action each operation
needs, the condition keys a request here carries (and those it never can, or cannot know), the
condition operators, IAM wildcards, dates, and MalformedPolicy. HTTP-free and pure."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from s3server.errors import S3Error

MAX_POLICY_BYTES = 20 * 1024
VERSIONS = ("2012-10-17", "2008-10-17")
ALLOW, DENY = "Allow", "Deny"


# -- actions -----------------------------------------------------------------------------------
# S3's IAM actions by the resource they apply to (the Service Authorization Reference's list).
_OBJECT_ACTIONS = """AbortMultipartUpload BypassGovernanceRetention DeleteObject DeleteObjectTagging
DeleteObjectVersion DeleteObjectVersionTagging GetObject GetObjectAcl GetObjectAttributes
GetObjectLegalHold GetObjectRetention GetObjectTagging GetObjectTorrent GetObjectVersion
GetObjectVersionAcl GetObjectVersionAttributes GetObjectVersionForReplication GetObjectVersionTagging
GetObjectVersionTorrent InitiateReplication ListMultipartUploadParts ObjectOwnerOverrideToBucketOwner
PutObject PutObjectAcl PutObjectLegalHold PutObjectRetention PutObjectTagging PutObjectVersionAcl
PutObjectVersionTagging ReplicateDelete ReplicateObject ReplicateTags RestoreObject""".split()
_BUCKET_ACTIONS = """CreateBucket DeleteBucket DeleteBucketPolicy DeleteBucketWebsite
DeleteBucketOwnershipControls GetAccelerateConfiguration GetAnalyticsConfiguration GetBucketAcl
GetBucketCORS GetBucketLocation GetBucketLogging GetBucketNotification GetBucketObjectLockConfiguration
GetBucketOwnershipControls GetBucketPolicy GetBucketPolicyStatus GetBucketPublicAccessBlock
GetBucketRequestPayment GetBucketTagging GetBucketVersioning GetBucketWebsite GetEncryptionConfiguration
GetIntelligentTieringConfiguration GetInventoryConfiguration GetLifecycleConfiguration
GetMetricsConfiguration GetReplicationConfiguration ListBucket ListBucketMultipartUploads
ListBucketVersions PutAccelerateConfiguration PutAnalyticsConfiguration PutBucketAcl PutBucketCORS
PutBucketLogging PutBucketNotification PutBucketObjectLockConfiguration PutBucketOwnershipControls
PutBucketPolicy PutBucketPublicAccessBlock PutBucketRequestPayment PutBucketTagging PutBucketVersioning
PutBucketWebsite PutEncryptionConfiguration PutIntelligentTieringConfiguration PutInventoryConfiguration
PutLifecycleConfiguration PutMetricsConfiguration PutReplicationConfiguration
GetBucketMetadataTableConfiguration CreateBucketMetadataTableConfiguration
DeleteBucketMetadataTableConfiguration GetBucketAbac PutBucketAbac""".split()
_ACCOUNT_ACTIONS = """ListAllMyBuckets GetAccountPublicAccessBlock PutAccountPublicAccessBlock
CreateJob ListJobs ListAccessPoints ListStorageLensConfigurations""".split()
OBJECT_ACTIONS = frozenset("s3:" + a.lower() for a in _OBJECT_ACTIONS)
BUCKET_ACTIONS = frozenset("s3:" + a.lower() for a in _BUCKET_ACTIONS)
KNOWN_ACTIONS = OBJECT_ACTIONS | BUCKET_ACTIONS | frozenset("s3:" + a.lower() for a in _ACCOUNT_ACTIONS)

_CONFIGS = {"Analytics": "Analytics", "Metrics": "Metrics", "Inventory": "Inventory",
            "IntelligentTiering": "IntelligentTiering"}
# operation -> the action a request of it needs (the Service Authorization Reference and the API
# reference's "Permissions" of each operation); a delete of a setting needs its Put action.
OPERATION_ACTIONS: dict[str, str] = {
    "HeadBucket": "ListBucket", "ListObjects": "ListBucket", "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "ListMultipartUploads": "ListBucketMultipartUploads",
    "GetBucketLocation": "GetBucketLocation", "CreateBucket": "CreateBucket", "DeleteBucket": "DeleteBucket",
    "GetBucketVersioning": "GetBucketVersioning", "PutBucketVersioning": "PutBucketVersioning",
    "GetBucketAcl": "GetBucketAcl", "PutBucketAcl": "PutBucketAcl",
    "GetBucketTagging": "GetBucketTagging", "PutBucketTagging": "PutBucketTagging",
    "DeleteBucketTagging": "PutBucketTagging",
    "GetBucketPolicy": "GetBucketPolicy", "PutBucketPolicy": "PutBucketPolicy",
    "DeleteBucketPolicy": "DeleteBucketPolicy", "GetBucketPolicyStatus": "GetBucketPolicyStatus",
    "GetBucketCors": "GetBucketCORS", "PutBucketCors": "PutBucketCORS", "DeleteBucketCors": "PutBucketCORS",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration", "PutBucketEncryption": "PutEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketWebsite": "GetBucketWebsite", "PutBucketWebsite": "PutBucketWebsite",
    "DeleteBucketWebsite": "DeleteBucketWebsite",
    "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock", "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketOwnershipControls": "GetBucketOwnershipControls",
    "PutBucketOwnershipControls": "PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "GetBucketLogging": "GetBucketLogging", "PutBucketLogging": "PutBucketLogging",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketRequestPayment": "GetBucketRequestPayment", "PutBucketRequestPayment": "PutBucketRequestPayment",
    "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
    "PutBucketAccelerateConfiguration": "PutAccelerateConfiguration",
    "GetBucketReplication": "GetReplicationConfiguration", "PutBucketReplication": "PutReplicationConfiguration",
    "DeleteBucketReplication": "PutReplicationConfiguration",
    **{f"{verb}Bucket{name}Configuration": f"{'Get' if verb == 'Get' else 'Put'}{name}Configuration"
       for name in _CONFIGS for verb in ("Get", "Put", "Delete")},
    **{f"ListBucket{name}Configurations": f"Get{name}Configuration" for name in _CONFIGS},
    # objects
    "PutObject": "PutObject", "PostObject": "PutObject", "CopyObject": "PutObject",
    "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject", "UploadPartCopy": "PutObject",
    "CompleteMultipartUpload": "PutObject", "AbortMultipartUpload": "AbortMultipartUpload",
    "ListParts": "ListMultipartUploadParts",
    "GetObject": "GetObject", "HeadObject": "GetObject", "SelectObjectContent": "GetObject",
    "GetObjectAttributes": "GetObjectAttributes", "DeleteObject": "DeleteObject",
    "GetObjectTagging": "GetObjectTagging", "PutObjectTagging": "PutObjectTagging",
    "DeleteObjectTagging": "DeleteObjectTagging",
    "GetObjectAcl": "GetObjectAcl", "PutObjectAcl": "PutObjectAcl",
    "GetObjectRetention": "GetObjectRetention", "PutObjectRetention": "PutObjectRetention",
    "GetObjectLegalHold": "GetObjectLegalHold", "PutObjectLegalHold": "PutObjectLegalHold",
    "GetObjectTorrent": "GetObjectTorrent", "RestoreObject": "RestoreObject",
}
# ... and the one a request for a version (``?versionId=``) needs instead
VERSION_ACTIONS = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion",
                   "GetObjectTagging": "GetObjectVersionTagging", "PutObjectTagging": "PutObjectVersionTagging",
                   "DeleteObjectTagging": "DeleteObjectVersionTagging", "GetObjectAcl": "GetObjectVersionAcl",
                   "PutObjectAcl": "PutObjectVersionAcl", "GetObjectAttributes": "GetObjectVersionAttributes"}
# the root user of the bucket's account may always do these, whatever the policy says (AWS: so a
# policy that denies everyone can still be read, replaced and removed); here: the owner and admins
OWNER_ALWAYS = frozenset({"s3:getbucketpolicy", "s3:putbucketpolicy", "s3:deletebucketpolicy"})


def action_for(operation: str, version_id: str | None = None) -> str | None:
    """``s3:<Action>`` (lower case) that a request of ``operation`` needs; None for requests
    that need none of a bucket's (ListBuckets) or are judged key by key (DeleteObjects)."""
    action = OPERATION_ACTIONS.get(operation)
    if action is None:
        return None
    if version_id is not None and operation in VERSION_ACTIONS:
        action = VERSION_ACTIONS[operation]
    return "s3:" + action.lower()


# -- condition keys ----------------------------------------------------------------------------
# keys requests here carry (when the request has the thing they describe)
CONDITION_KEYS = frozenset("""aws:securetransport aws:sourceip aws:currenttime aws:epochtime aws:useragent
aws:referer aws:principalaccount aws:principalarn aws:principaltype aws:username aws:resourceaccount
aws:requestedregion aws:viaawsservice aws:principalisawsservice s3:resourceaccount
s3:prefix s3:delimiter s3:max-keys s3:versionid s3:x-amz-acl s3:x-amz-grant-read s3:x-amz-grant-write
s3:x-amz-grant-read-acp s3:x-amz-grant-write-acp s3:x-amz-grant-full-control s3:x-amz-copy-source
s3:x-amz-metadata-directive s3:x-amz-server-side-encryption s3:x-amz-server-side-encryption-aws-kms-key-id
s3:x-amz-server-side-encryption-customer-algorithm s3:x-amz-storage-class s3:x-amz-content-sha256
s3:x-amz-website-redirect-location s3:signatureversion s3:authtype s3:signatureage s3:if-match
s3:if-none-match s3:object-lock-mode s3:object-lock-retain-until-date s3:object-lock-legal-hold
""".split())
# keys that exist in AWS but that no request here can carry: always absent
ABSENT_KEYS = frozenset("""aws:sourcevpce aws:sourcevpc aws:vpcsourceip aws:sourcearn aws:sourceaccount
aws:sourceorgid aws:sourceorgpaths aws:principalorgid aws:principalorgpaths aws:principalservicename
aws:principalservicenameslist aws:multifactorauthage aws:multifactorauthpresent aws:federatedprovider
aws:tokenissuetime aws:calledvia aws:calledviafirst aws:calledvialast aws:sourceidentity aws:userid
aws:ec2instancesourcevpc aws:ec2instancesourceprivateipv4 aws:tagkeys aws:isMcpServiceAction
s3:dataaccesspointarn s3:dataaccesspointaccount s3:accesspointnetworkorigin s3:accessgrantsinstancearn
s3:x-amz-server-side-encryption-context s3:locationconstraint s3:object-lock-remaining-retention-days
""".lower().split())
ABSENT_KEY_PREFIXES = ("aws:principaltag/", "aws:resourcetag/", "aws:requesttag/")
# an object's tags, looked up (only for policies that name them) for the actions AWS gives them to
EXISTING_TAG = "s3:existingobjecttag/"
EXISTING_TAG_ACTIONS = frozenset("s3:" + a.lower() for a in """GetObject GetObjectVersion GetObjectAcl
GetObjectVersionAcl GetObjectTagging GetObjectVersionTagging PutObjectTagging PutObjectVersionTagging
DeleteObjectTagging DeleteObjectVersionTagging PutObjectAcl PutObjectVersionAcl GetObjectAttributes
GetObjectVersionAttributes GetObjectRetention GetObjectLegalHold PutObjectRetention PutObjectLegalHold
RestoreObject""".split())
# the tags a request brings (x-amz-tagging, a form's tagging field, PutObjectTagging's body)
REQUEST_TAG = "s3:requestobjecttag/"
REQUEST_TAG_KEYS = "s3:requestobjecttagkeys"
# keys whose values this server cannot know: refused rather than judged absent
UNKNOWABLE_KEY_PREFIXES = ("s3:tlsversion", "s3:existingjobpriority", "s3:existingjoboperation",
                           "s3:jobsuspendedcause", "s3:requestjob")

_OPERATORS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
              "StringLike", "StringNotLike", "NumericEquals", "NumericNotEquals", "NumericLessThan",
              "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals",
              "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
              "DateGreaterThanEquals", "Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals",
              "ArnLike", "ArnNotEquals", "ArnNotLike", "Null")
OPERATORS = {op.lower(): op for op in _OPERATORS}
NEGATED = frozenset({"stringnotequals", "stringnotequalsignorecase", "stringnotlike", "numericnotequals",
                     "datenotequals", "notipaddress", "arnnotequals", "arnnotlike"})


def malformed(message: str) -> S3Error:
    return S3Error("MalformedPolicy", message)


def wildcard_pattern(pattern: str, *, ignore_case: bool = False) -> re.Pattern:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def parse_date(text: str) -> datetime:
    text = text.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return datetime.fromtimestamp(float(text), timezone.utc)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def check_key(key: str, raw_key: str) -> None:
    if key.startswith(UNKNOWABLE_KEY_PREFIXES):
        raise S3Error("NotImplemented", f"The condition key {raw_key} is not implemented by this server "
                      "(it cannot know its value, and judging it absent could let a Deny miss).")
    if not (key in CONDITION_KEYS or key in ABSENT_KEYS or key.startswith(ABSENT_KEY_PREFIXES)
            or key == REQUEST_TAG_KEYS
            or any(key.startswith(p) and len(key) > len(p) for p in (EXISTING_TAG, REQUEST_TAG))):
        raise malformed("Policy has an invalid condition key")
