"""Frozen dataclasses that cross layers (meta/blobs -> service -> api).

A leaf: imports nothing of ours. (It lives at the package top, not in service/,
so that meta/ and blobs/ can return these types without importing upward.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class User:
    id: int
    name: str
    is_admin: bool
    disabled: bool
    created_at: datetime
    # buckets a bucket policy lets this user act in for the request at hand (set by the API layer
    # after judging the request against the bucket's policy; service/buckets.py ``authorize``)
    granted: frozenset[str] = frozenset()


# The caller of an unsigned request: served only where a bucket policy allows everyone ("*") in
# (api/s3/resources.py); it owns nothing and is in no account (no account id matches it).
ANONYMOUS = User(id=0, name="anonymous", is_admin=False, disabled=False,
                 created_at=datetime(1970, 1, 1))


def account_id(user_id: int) -> str:
    """A user's 12-digit account id: what ``x-amz-expected-bucket-owner`` names a bucket's owner
    by (AWS account ids have 12 digits, and SDKs and tools send them in that form)."""
    return f"{user_id:012d}"


@dataclass(frozen=True)
class Credential:
    """An S3 key pair. The secret is stored so SigV4 can be verified."""
    access_key: str
    secret_key: str
    user_id: int
    created_at: datetime
    revoked: bool = False


@dataclass(frozen=True)
class ApiKey:
    """A REST API key; only its SHA-256 hash is stored."""
    id: int
    user_id: int
    key_hash: str
    prefix: str          # first characters of the key, for display / revocation
    created_at: datetime
    revoked: bool = False


@dataclass(frozen=True)
class Bucket:
    name: str
    owner_id: int
    region: str
    created_at: datetime
    cors: "tuple[CorsRule, ...] | None" = None     # None: no CORS configuration
    tags: tuple[tuple[str, str], ...] | None = None  # None: no tag set (GetBucketTagging: NoSuchTagSet)
    versioning: str | None = None                    # None: never set; "Suspended"
    encryption: "BucketEncryption | None" = None     # None: no default encryption (PutBucketEncryption)
    lifecycle: "BucketLifecycle | None" = None       # None: no lifecycle configuration
    # PutPublicAccessBlock's (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets);
    # None: never set. The last two act on bucket policies; ACLs are disabled whatever the first two say.
    public_access_block: tuple[bool, bool, bool, bool] | None = None
    accelerate: str | None = None                    # PutBucketAccelerateConfiguration: None, "Suspended"
    policy: str | None = None                        # PutBucketPolicy's JSON document, as it was put
    website: "WebsiteConfig | None" = None           # PutBucketWebsite; None: not a website


@dataclass(frozen=True)
class RoutingRule:
    """One RoutingRule of a website configuration: a Condition (either or both, or none) and
    its Redirect."""
    key_prefix_equals: str | None = None
    error_code_equals: int | None = None
    host_name: str | None = None
    protocol: str | None = None              # "http" | "https"; None: the request's
    redirect_code: int | None = None         # None: 301
    replace_key_prefix_with: str | None = None
    replace_key_with: str | None = None


@dataclass(frozen=True)
class WebsiteConfig:
    """A bucket's website configuration (PutBucketWebsite): an index document and an error
    document with routing rules, or a redirect of every request."""
    index_suffix: str | None = None
    error_key: str | None = None
    redirect_all_host: str | None = None
    redirect_all_protocol: str | None = None
    routing_rules: tuple[RoutingRule, ...] = ()


@dataclass(frozen=True)
class BucketEncryption:
    """A bucket's default encryption (PutBucketEncryption): applied to uploads that ask for none."""
    algorithm: str                       # "AES256" (SSE-S3), the only one offered
    bucket_key_enabled: bool = False     # kept and reported; meaningless for SSE-S3, as in AWS


@dataclass(frozen=True)
class LifecycleRule:
    """One Rule of a bucket's lifecycle configuration (PutBucketLifecycleConfiguration).

    Where it applies: ``filter_kind`` keeps the form it was given in, so GetBucketLifecycle-
    Configuration answers the same document: "legacy" (a top-level ``Prefix``), "all" (an empty
    ``Filter``), "prefix", "tag", "gt", "lt" (a ``Filter`` with that one predicate) or "and"."""
    id: str
    enabled: bool
    filter_kind: str = "all"
    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    size_gt: int | None = None              # ObjectSizeGreaterThan (bytes)
    size_lt: int | None = None              # ObjectSizeLessThan (bytes)
    expiration_days: int | None = None
    expiration_date: datetime | None = None  # midnight UTC
    expired_object_delete_marker: bool | None = None   # kept; no delete markers here
    abort_days: int | None = None           # AbortIncompleteMultipartUpload DaysAfterInitiation
    noncurrent_days: int | None = None      # kept; no noncurrent versions here
    newer_noncurrent: int | None = None

    def matches(self, key: str, size: int, tags: tuple[tuple[str, str], ...]) -> bool:
        """Whether an object with this key, size and tag set is one the rule applies to."""
        if not key.startswith(self.prefix):
            return False
        if self.size_gt is not None and not size > self.size_gt:
            return False
        if self.size_lt is not None and not size < self.size_lt:
            return False
        if self.tags:
            have = dict(tags)
            return all(have.get(k) == v for k, v in self.tags)
        return True


@dataclass(frozen=True)
class BucketLifecycle:
    """A bucket's lifecycle configuration: its rules, and the
    ``x-amz-transition-default-minimum-object-size`` it was given (reported back, as AWS does)."""
    rules: tuple[LifecycleRule, ...]
    min_size_mode: str = "all_storage_classes_128K"


@dataclass(frozen=True)
class CorsRule:
    """One CORSRule of a bucket's CORS configuration (PutBucketCors)."""
    allowed_methods: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None
    id: str | None = None


@dataclass(frozen=True)
class BlobRef:
    """One blob on the storage nodes: a random id, its size, the node ids holding it, and for an
    encrypted blob its data key sealed under the server's master key (service/sse.py)."""
    blob_id: str
    size: int
    nodes: tuple[str, ...]
    key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Segment:
    """A piece of an object's data: one blob. A simple object has one segment;
    a multipart object one per part, in order."""
    blob: BlobRef
    part_number: int | None = None        # multipart only
    etag: str | None = None               # multipart only: the part's quoted ETag
    checksums: dict[str, str] = field(default_factory=dict)  # per part, multipart only


def segments_sse(segments: tuple[Segment, ...]) -> str | None:
    """An object's server-side encryption: "AES256" when every segment's blob is encrypted
    (SSE-S3), "SSE-C" when every one's data key is sealed under a customer-provided key
    ("c1:...", service/sse.py)."""
    if not segments or any(s.blob.key is None for s in segments):
        return None
    return "SSE-C" if all(s.blob.key.startswith("c1:") for s in segments) else "AES256"


@dataclass(frozen=True)
class ObjectMeta:
    bucket: str
    key: str
    size: int
    etag: str                      # quoted, as sent on the wire: '"<md5hex>"' or '"<hex>-N"'
    last_modified: datetime        # timezone-aware UTC, second precision as S3 reports it
    content_type: str = "binary/octet-stream"
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    user_metadata: dict[str, str] = field(default_factory=dict)   # lower-case names without x-amz-meta-
    checksums: dict[str, str] = field(default_factory=dict)       # {"CRC32": b64, "SHA256": b64, ...}
    checksum_type: str | None = None                               # "FULL_OBJECT" | "COMPOSITE"
    storage_class: str = "STANDARD"
    segments: tuple[Segment, ...] = ()
    parts_count: int | None = None    # multipart objects only
    tags: tuple[tuple[str, str], ...] = ()      # (key, value) pairs in the order given
    website_redirect: str | None = None         # x-amz-website-redirect-location
    # "AES256" when every segment is encrypted (SSE-S3); derived from the segments when read
    sse: str | None = None
    # the bytes of a small object kept in its metadata row (S3_INLINE_MAX); a read copy only
    inline: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def blobs(self) -> tuple[BlobRef, ...]:
        return tuple(s.blob for s in self.segments)


@dataclass(slots=True)
class ListedObject:
    """An object as a listing shows it: the listing's columns only (no segments, user
    metadata or content headers other than Content-Type; GET and HEAD read the whole row).
    Slotted and not frozen: a page makes a thousand of them, and a frozen dataclass of
    ObjectMeta's width (one ``object.__setattr__`` per field) cost a fifth of a page's CPU."""
    bucket: str
    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str
    checksums: dict[str, str]
    checksum_type: str | None
    storage_class: str


@dataclass(frozen=True)
class ListPage:
    """One page of a key listing. ``next_marker`` is the last key or common prefix
    returned when the page is truncated (the seek point for the next page)."""
    objects: tuple[ListedObject, ...]
    common_prefixes: tuple[str, ...]
    is_truncated: bool
    next_marker: str | None


@dataclass(frozen=True)
class MultipartUpload:
    upload_id: str
    bucket: str
    key: str
    initiated: datetime
    owner_id: int
    # headers captured at CreateMultipartUpload, applied at Complete
    content_type: str = "binary/octet-stream"
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    user_metadata: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None
    storage_class: str = "STANDARD"
    tags: tuple[tuple[str, str], ...] = ()
    website_redirect: str | None = None
    sse: str | None = None             # "AES256": every part is encrypted (SSE-S3); "SSE-C": with the customer's key
    sse_key: str | None = field(default=None, repr=False)   # SSE-C: a token sealed under the customer's key


@dataclass(frozen=True)
class UploadPart:
    upload_id: str
    part_number: int
    size: int
    etag: str
    last_modified: datetime
    blob: BlobRef
    checksums: dict[str, str] = field(default_factory=dict)
