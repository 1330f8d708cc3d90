"""What every service needs: error translation from the layers below, names, access."""
from __future__ import annotations

import functools
import re
from typing import Any

from s3server.errors import S3Error
from s3server.meta import errors as meta_errors
from s3server.models import Bucket, User

RETRY_AFTER = "1"
MAX_KEY_BYTES = 1024
RESERVED_BUCKETS = frozenset({"buckets", "health", "ready", "metrics"})

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def unavailable(message: str = "Please reduce your request rate.") -> S3Error:
    return S3Error("ServiceUnavailable", message, headers={"Retry-After": RETRY_AFTER})


class GuardedStore:
    """Wraps the MetadataStore so that a database outage becomes S3 503 ServiceUnavailable
    (with Retry-After) wherever the service layer touches metadata."""

    def __init__(self, store: Any):
        self._store = store

    @property
    def raw(self) -> Any:
        return self._store

    def __getattr__(self, name: str):
        """The store's attribute; a method comes wrapped, and the wrapper is kept in this
        instance's ``__dict__``, so later lookups find it there without coming here (making it
        anew with ``functools.wraps`` took ~1 µs, a few times per request: py-spy put ~3% of a
        DELETE's gateway samples there)."""
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def guarded(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            except meta_errors.Unavailable as exc:
                raise unavailable("The metadata store is unavailable. Please retry.") from exc
        self.__dict__[name] = guarded
        return guarded


def quorum_error(exc: Exception) -> S3Error:
    return unavailable(f"Not enough storage nodes available to store the data durably ({exc}).")


def validate_bucket_name(name: str) -> None:
    """AWS's general-purpose bucket naming rules (plus our reserved names)."""
    if (not _BUCKET_RE.match(name) or ".." in name or ".-" in name or "-." in name
            or _IP_RE.match(name) or name.startswith(_BAD_PREFIXES) or name.endswith(_BAD_SUFFIXES)):
        raise S3Error("InvalidBucketName", bucket_name=name)
    if name in RESERVED_BUCKETS:
        raise S3Error("InvalidBucketName", f"The bucket name {name!r} is reserved by this server.", bucket_name=name)


NUL_REFUSED = "Object key names may not contain the NUL character (0x00)."


def validate_key(key: str) -> None:
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", size=len(key.encode("utf-8")), max_size_allowed=MAX_KEY_BYTES)
    if "\x00" in key:            # PostgreSQL text cannot hold it, nor any XML document (as MinIO and Ceph)
        raise S3Error("InvalidArgument", NUL_REFUSED)


def can_access(user: User, bucket: Bucket) -> bool:
    return user.is_admin or bucket.owner_id == user.id or bucket.name in user.granted


def owned_bucket(store: GuardedStore, user: User, name: str, *, fresh: bool = False) -> Bucket:
    """The bucket if it exists and ``user`` may use it; NoSuchBucket / AccessDenied otherwise.
    ``fresh``: read past the lookup cache (reads of the bucket's settings)."""
    bucket = store.get_bucket(name, fresh=True) if fresh else store.get_bucket(name)
    if bucket is None:
        raise S3Error("NoSuchBucket", bucket_name=name)
    if not can_access(user, bucket):
        raise S3Error("AccessDenied")
    return bucket

