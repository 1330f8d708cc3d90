"""BucketService: bucket operations, named after the AWS actions. HTTP-free."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable

from s3server.errors import S3Error
from s3server.meta import errors as meta_errors
from s3server.meta import rows
from s3server.models import (ANONYMOUS, Bucket, BucketEncryption, BucketLifecycle, CorsRule, User, WebsiteConfig,
                             account_id)
from s3server.service import cors, policy, policylang, policyparse
from s3server.service.common import GuardedStore, can_access, owned_bucket, validate_bucket_name

KNOWN_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ca-central-1", "ca-west-1", "eu-central-1",
    "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1",
    "il-central-1", "me-south-1", "me-central-1", "sa-east-1", "EU",
})
_ACCOUNT_ID = re.compile(r"[0-9]{12}")


class BucketService:
    def __init__(self, store: GuardedStore, blobs, *, region: str = "us-east-1",
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.store = store
        self.blobs = blobs
        self.region = region
        self.clock = clock

    def list_buckets(self, user: User, *, prefix: str = "", region: str | None = None, after: str = "",
                     limit: int | None = None) -> tuple[list[Bucket], bool]:
        """The buckets ``user`` may use, by name: those named after ``after``, starting with
        ``prefix``, in ``region`` if given, at most ``limit``; and whether more follow."""
        found = sorted((b for b in self.store.list_buckets(None if user.is_admin else user.id)
                        if b.name.startswith(prefix) and b.name > after
                        and (region is None or b.region == region)), key=lambda b: b.name)
        if limit is not None and len(found) > limit:
            return found[:limit], True
        return found, False

    def create_bucket(self, user: User, name: str, location_constraint: str | None = None) -> Bucket:
        validate_bucket_name(name)
        region = location_constraint or self.region
        if location_constraint is not None:
            if location_constraint == "us-east-1" or (location_constraint not in KNOWN_REGIONS
                                                      and location_constraint != self.region):
                raise S3Error("InvalidLocationConstraint",
                              "The specified location-constraint is not valid",
                              location_constraint=location_constraint)
        try:
            return self.store.create_bucket(name, user.id, region)
        except meta_errors.AlreadyExists as exc:
            if getattr(exc, "owner_id", None) == user.id:
                # AWS: "For legacy compatibility, if you re-create an existing bucket that you already
                # own in the North Virginia Region, Amazon S3 returns 200 OK" (409 everywhere else).
                existing = self.store.get_bucket(name)
                if region == "us-east-1" and existing is not None and existing.region == "us-east-1":
                    return existing
                raise S3Error("BucketAlreadyOwnedByYou", bucket_name=name) from exc
            raise S3Error("BucketAlreadyExists", bucket_name=name) from exc

    def head_bucket(self, user: User, name: str) -> Bucket:
        return owned_bucket(self.store, user, name)

    def owner(self, user: User, name: str) -> tuple[int, str]:
        """(user id, name) of the owner of a bucket ``user`` may use; under "bucket owner
        enforced" ownership (service/acl.py) the owner of every object in it too."""
        bucket = owned_bucket(self.store, user, name)
        if bucket.owner_id == user.id:
            return user.id, user.name
        found = self.store.get_user(bucket.owner_id)       # an admin looking at another's bucket
        return bucket.owner_id, found.name if found else ""

    def get_bucket_location(self, user: User, name: str) -> str:
        return owned_bucket(self.store, user, name).region

    def delete_bucket(self, user: User, name: str) -> None:
        owned_bucket(self.store, user, name)
        try:
            leftovers = self.store.delete_bucket(name)
        except meta_errors.NotFound as exc:
            raise S3Error("NoSuchBucket", bucket_name=name) from exc
        except meta_errors.Conflict as exc:
            raise S3Error("BucketNotEmpty", bucket_name=name) from exc
        if leftovers:
            self.blobs.delete_later(leftovers)

    # -- CORS ------------------------------------------------------------------------
    def set_bucket_cors(self, user: User, name: str, rules: tuple[CorsRule, ...] | None) -> None:
        """PutBucketCors (validated rules) and DeleteBucketCors (None)."""
        owned_bucket(self.store, user, name)
        if rules is not None:
            rules = cors.validate_rules(list(rules))
        if not self.store.set_bucket_cors(name, rules):
            raise S3Error("NoSuchBucket", bucket_name=name)

    def get_bucket_cors(self, user: User, name: str) -> tuple[CorsRule, ...]:
        rules = owned_bucket(self.store, user, name, fresh=True).cors
        if rules is None:
            raise S3Error("NoSuchCORSConfiguration", bucket_name=name)
        return rules

    def preflight(self, name: str, origin: str | None, method: str | None,
                  request_headers: str | None) -> dict[str, str]:
        """An OPTIONS request (unauthenticated, as browsers send it): the Access-Control-*
        headers of the allowing rule, or S3Error."""
        if not origin:
            raise S3Error("BadRequest", "Insufficient information. Origin request header needed.")
        if method not in cors.METHODS:
            raise S3Error("BadRequest", f"Invalid Access-Control-Request-Method: {method or 'null'}")
        bucket = self.store.get_bucket(name) if name else None
        if bucket is None or bucket.cors is None:
            raise S3Error("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket." if bucket
                          else "CORSResponse: Bucket not found", method=method, resource_type="BUCKET")
        asked = cors.requested_headers(request_headers)
        rule = cors.matching_rule(bucket.cors, origin, method, asked)
        if rule is None:
            raise S3Error("AccessForbidden", cors.NOT_ALLOWED, method=method, resource_type="OBJECT")
        return cors.response_headers(rule, origin, asked)

    def cors_headers(self, name: str, origin: str, method: str) -> dict[str, str]:
        """The Access-Control-* headers for a request (not a preflight) from ``origin`` to the
        bucket ``name``, whatever its outcome; {} when no rule allows it."""
        bucket = self.store.get_bucket(name)
        if bucket is None or bucket.cors is None:
            return {}
        rule = cors.matching_rule(bucket.cors, origin, method)
        return cors.response_headers(rule, origin) if rule is not None else {}

    # -- tags --------------------------------------------------------------------------
    def set_bucket_tags(self, user: User, name: str, tags: tuple[tuple[str, str], ...] | None) -> None:
        """PutBucketTagging (validated pairs) and DeleteBucketTagging (None)."""
        owned_bucket(self.store, user, name)
        if not self.store.set_bucket_tags(name, tags):
            raise S3Error("NoSuchBucket", bucket_name=name)

    def get_bucket_tags(self, user: User, name: str) -> tuple[tuple[str, str], ...]:
        tags = owned_bucket(self.store, user, name, fresh=True).tags
        if not tags:
            raise S3Error("NoSuchTagSet", bucket_name=name)
        return tags

    # -- versioning -------------------------------------------------------------------
    def set_bucket_versioning(self, user: User, name: str, status: str) -> None:
        """PutBucketVersioning with a valid Status: "Suspended" is recorded; "Enabled" would need
        object versions, which this server does not keep: NotImplemented, nothing changes."""
        owned_bucket(self.store, user, name)
        if status != "Suspended":
            raise S3Error("NotImplemented", "Versioning cannot be enabled on this server: it keeps one version "
                          "of each object (version id null), as a bucket with versioning suspended does.")
        if not self.store.set_bucket_versioning(name, status):
            raise S3Error("NoSuchBucket", bucket_name=name)

    def get_bucket_versioning(self, user: User, name: str) -> str | None:
        return owned_bucket(self.store, user, name, fresh=True).versioning

    # -- default encryption ------------------------------------------------------------
    def set_bucket_encryption(self, user: User, name: str, encryption: BucketEncryption | None) -> None:
        """PutBucketEncryption (None: DeleteBucketEncryption). The caller has checked that the
        server offers the algorithm (ObjectService.check_sse)."""
        owned_bucket(self.store, user, name)
        if not self.store.set_bucket_encryption(name, encryption):
            raise S3Error("NoSuchBucket", bucket_name=name)

    def get_bucket_encryption(self, user: User, name: str) -> BucketEncryption:
        enc = owned_bucket(self.store, user, name, fresh=True).encryption
        if enc is None:
            raise S3Error("ServerSideEncryptionConfigurationNotFoundError", bucket_name=name)
        return enc

    # -- settings that only describe this server's one state -------------------------
    def set_public_access_block(self, user: User, name: str, flags: tuple[bool, bool, bool, bool] | None) -> None:
        """PutPublicAccessBlock (None: DeletePublicAccessBlock). Kept and reported: the flags
        only ever restrict (ACLs are disabled; BlockPublicPolicy is checked by set_bucket_policy,
        RestrictPublicBuckets by authorize), so every combination describes this server truthfully."""
        owned_bucket(self.store, user, name)
        self._store_setting(name, "public_access_block", list(flags) if flags else None)

    def get_public_access_block(self, user: User, name: str) -> tuple[bool, bool, bool, bool]:
        flags = owned_bucket(self.store, user, name, fresh=True).public_access_block
        if flags is None:
            raise S3Error("NoSuchPublicAccessBlockConfiguration", bucket_name=name)
        return flags

    def set_accelerate(self, user: User, name: str, status: str) -> None:
        """PutBucketAccelerateConfiguration with ``Suspended`` (the only state here)."""
        owned_bucket(self.store, user, name)
        self._store_setting(name, "accelerate", status)

    def _store_setting(self, name: str, setting: str, value) -> None:
        """One entry of the bucket's settings document (None removes it); NoSuchBucket if the
        bucket went meanwhile."""
        if not self.store.set_bucket_setting(name, setting, value):
            raise S3Error("NoSuchBucket", bucket_name=name)

    def get_accelerate(self, user: User, name: str) -> str | None:
        return owned_bucket(self.store, user, name, fresh=True).accelerate

    # -- website -----------------------------------------------------------------------
    def set_bucket_website(self, user: User, name: str, cfg: WebsiteConfig | None) -> None:
        """PutBucketWebsite (a checked configuration) and DeleteBucketWebsite (None)."""
        owned_bucket(self.store, user, name)
        self._store_setting(name, "website", rows.website_to_json(cfg))

    def get_bucket_website(self, user: User, name: str) -> WebsiteConfig:
        cfg = owned_bucket(self.store, user, name, fresh=True).website
        if cfg is None:
            raise S3Error("NoSuchWebsiteConfiguration", bucket_name=name)
        return cfg

    def website_of(self, name: str) -> WebsiteConfig:
        """The website endpoint's lookup (no caller to check: what it serves is judged against
        the bucket policy, as for anyone): NoSuchBucket / NoSuchWebsiteConfiguration."""
        bucket = self.store.get_bucket(name) if name else None
        if bucket is None:
            raise S3Error("NoSuchBucket", bucket_name=name)
        if bucket.website is None:
            raise S3Error("NoSuchWebsiteConfiguration", bucket_name=name)
        return bucket.website

    # -- bucket policy ----------------------------------------------------------------
    def set_bucket_policy(self, user: User, name: str, text: str | None) -> None:
        """PutBucketPolicy (a document checked as AWS checks it) and DeleteBucketPolicy (None).
        Only the owner (or an admin): a bucket policy never lets another account change it."""
        bucket = self._owner_side(user, name)
        if text is not None:
            found = policyparse.parse(text, name)
            if found.is_public and bucket.public_access_block and bucket.public_access_block[2]:
                raise S3Error("AccessDenied", f"User: arn:aws:iam::{account_id(user.id)}:user/{user.name} is not "
                              f"authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::{name}\" "
                              "because public policies are blocked by the BlockPublicPolicy block public access "
                              "setting.")
        self._store_setting(name, "policy", text)

    def get_bucket_policy(self, user: User, name: str) -> str:
        text = self._owner_side(user, name).policy
        if text is None:
            raise S3Error("NoSuchBucketPolicy", bucket_name=name)
        return text

    def policy_is_public(self, user: User, name: str) -> bool:
        """GetBucketPolicyStatus: whether the policy grants public access (AWS's rules)."""
        return policyparse.compiled(self.get_bucket_policy(user, name), name).is_public

    def _owner_side(self, user: User, name: str) -> Bucket:
        """The bucket, for its owner or an admin only: another account is AccessDenied, or, when
        the policy allows it the call, 405 MethodNotAllowed (AWS: "If you have the correct
        permissions, but you're not using an identity that belongs to the bucket owner's
        account, Amazon S3 returns a 405 Method Not Allowed error")."""
        bucket = owned_bucket(self.store, user, name, fresh=True)
        if not (user.is_admin or bucket.owner_id == user.id):        # let in by the policy
            raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource: "
                          "only the bucket owner's account may read or change its policy.")
        return bucket

    def authorize(self, user: User, name: str, action: str | None, key: str | None,
                  context: Callable[[], dict[str, str]]) -> User:
        """Judge a request against the bucket's policy, if it has one: AccessDenied on an explicit
        Deny (for the owner too, except for the policy calls themselves); for anyone else, an
        Allow grants the bucket for this request (the User returned carries it in ``granted``).
        ``action``: ``s3:<action>`` in lower case; ``key``: the object's key for object actions;
        ``context``: makes the request's condition keys (called only when there is a policy)."""
        bucket = self.store.get_bucket(name) if action is not None else None
        if bucket is None or bucket.policy is None:
            return user
        owner_side = user.is_admin or bucket.owner_id == user.id
        if owner_side and action in policylang.OWNER_ALWAYS:
            return user
        may = self._judge(user, bucket, context())
        if not may(action, key):
            if owner_side or may.denied:
                raise S3Error("AccessDenied")
            return user          # no grant: the owner check refuses it (AccessDenied or NoSuchBucket...)
        return user if owner_side else replace(user, granted=user.granted | {name})

    def judge_keys(self, user: User, name: str, context: Callable[[], dict[str, str]]
                   ) -> tuple[User, Callable[[str, str | None], bool] | None]:
        """DeleteObjects, where each key is judged on its own (``s3:DeleteObject``, with a version
        id ``s3:DeleteObjectVersion``): the user (granted the bucket, so that its allowed keys can
        go) and ``allowed(key, version id)``; None when the bucket has no policy."""
        bucket = self.store.get_bucket(name)
        if bucket is None or bucket.policy is None:
            return user, None
        may = self._judge(user, bucket, context())

        def allowed(key: str, version: str | None) -> bool:
            return may("s3:deleteobjectversion" if version is not None else "s3:deleteobject", key)
        owner_side = user.is_admin or bucket.owner_id == user.id
        return (user if owner_side else replace(user, granted=user.granted | {name})), allowed

    def _judge(self, user: User, bucket: Bucket, context: dict[str, str]) -> "_Judge":
        try:
            found = policyparse.compiled(bucket.policy, bucket.name)
        except S3Error as exc:          # stored by a version that read it otherwise: refuse, never ignore
            raise S3Error("AccessDenied", "The bucket's policy cannot be evaluated by this server "
                          f"({exc.message}); its owner can read, replace or delete it.") from exc
        owner_side = user.is_admin or bucket.owner_id == user.id
        restricted = (not owner_side and found.is_public and bucket.public_access_block is not None
                      and bucket.public_access_block[3])          # RestrictPublicBuckets
        return _Judge(found, lambda action, key: self._policy_request(user, bucket, action, key, context,
                                                                       found.uses_existing_tags),
                      owner_side, restricted)

    def _policy_request(self, user: User, bucket: Bucket, action: str, key: str | None,
                        context: dict[str, str], existing_tags: bool = False) -> policy.Request:
        now = self.clock()
        if user.id == ANONYMOUS.id:    # no account, no principal keys but its type
            account = ""
            keys: dict[str, str | list[str]] = {"aws:principaltype": "Anonymous"}
        else:
            account = account_id(user.id)
            keys = {"aws:principalaccount": account, "aws:principalarn": f"arn:aws:iam::{account}:user/{user.name}",
                    "aws:principaltype": "User", "aws:username": user.name}
        keys.update({
            "aws:resourceaccount": account_id(bucket.owner_id), "s3:resourceaccount": account_id(bucket.owner_id),
            "aws:requestedregion": bucket.region, "aws:viaawsservice": "false",
            "aws:principalisawsservice": "false",
            "aws:currenttime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "aws:epochtime": str(int(now.timestamp())),
        })
        keys.update(context)
        if existing_tags and key is not None and action in policylang.EXISTING_TAG_ACTIONS:
            found = self.store.get_object(bucket.name, key)        # s3:ExistingObjectTag/<key>
            if found is not None:
                keys.update((policylang.EXISTING_TAG + k.lower(), v) for k, v in found.tags)
        resource = f"arn:aws:s3:::{bucket.name}" + (f"/{key}" if key is not None else "")
        return policy.Request(action, resource, account, user.name, keys)

    # -- lifecycle rules ---------------------------------------------------------------
    def set_bucket_lifecycle(self, user: User, name: str, lifecycle: BucketLifecycle | None) -> None:
        """PutBucketLifecycleConfiguration (None: DeleteBucketLifecycle); the rules are carried
        out by the lifecycle pass (service/lifecycle.py)."""
        owned_bucket(self.store, user, name)
        if not self.store.set_bucket_lifecycle(name, lifecycle):
            raise S3Error("NoSuchBucket", bucket_name=name)

    def lifecycle_of(self, name: str) -> BucketLifecycle | None:
        """The rules of a bucket the caller was already allowed to act in (object answers report
        the expiration they set); from the cached bucket row."""
        found = self.store.get_bucket(name)
        return found.lifecycle if found is not None else None

    def get_bucket_lifecycle(self, user: User, name: str) -> BucketLifecycle:
        lifecycle = owned_bucket(self.store, user, name, fresh=True).lifecycle
        if lifecycle is None:
            raise S3Error("NoSuchLifecycleConfiguration", bucket_name=name)
        return lifecycle

    # -- bucket owner condition ------------------------------------------------------
    def check_expected_owner(self, name: str, expected: str) -> None:
        """``x-amz-expected-bucket-owner`` (``x-amz-source-expected-bucket-owner`` for a copy's
        source): a 12-digit account id, else InvalidBucketOwnerAWSAccountID; when the bucket
        exists it must be its owner's (``account_id``), else AccessDenied, whoever asks. A
        missing bucket is left to the operation (NoSuchBucket, or CreateBucket making it)."""
        if not _ACCOUNT_ID.fullmatch(expected):
            raise S3Error("InvalidBucketOwnerAWSAccountID",
                          f"The value of the expected bucket owner parameter must be an AWS Account ID... [{expected}]")
        bucket = self.store.get_bucket(name)
        if bucket is not None and account_id(bucket.owner_id) != expected:
            raise S3Error("AccessDenied")

    def visible(self, user: User, bucket: Bucket) -> bool:
        return can_access(user, bucket)


class _Judge:
    """Whether a bucket's policy lets one caller take an action on a resource: an explicit Deny
    refuses anyone (``denied`` tells that it was one); otherwise the owner side may, and anyone
    else only with an Allow (ignored under RestrictPublicBuckets when the policy is public)."""

    def __init__(self, found: policy.Policy, request: Callable[[str, str | None], policy.Request],
                 owner_side: bool, restricted: bool):
        self.found, self.request, self.owner_side, self.restricted = found, request, owner_side, restricted
        self.denied = False

    def __call__(self, action: str, key: str | None) -> bool:
        decision = self.found.decide(self.request(action, key))
        self.denied = decision == policylang.DENY
        if self.denied:
            return False
        return self.owner_side or (decision == policylang.ALLOW and not self.restricted)
