"""Errors of the metadata layer.

Internal to the server: ``service`` translates them into S3 errors (NoSuchBucket,
BucketAlreadyOwnedByYou, BucketNotEmpty, PreconditionFailed, 503 ServiceUnavailable...).
"""
from __future__ import annotations


class MetaError(Exception):
    """Base class of every metadata-layer error."""


class NotFound(MetaError):
    """The user, bucket, upload, part or key pair the operation needs does not exist.
    ``what`` names which ("user", "bucket", "upload", "credential", "api_key") so the
    service can pick NoSuchBucket vs NoSuchUpload without parsing messages."""

    def __init__(self, message: str = "", *, what: str | None = None):
        super().__init__(message)
        self.what = what


class AlreadyExists(MetaError):
    """A unique name is taken. For buckets, ``owner_id`` is the existing bucket's owner
    (so the service can answer BucketAlreadyOwnedByYou vs BucketAlreadyExists)."""

    def __init__(self, message: str = "", *, owner_id: int | None = None):
        super().__init__(message)
        self.owner_id = owner_id


class Conflict(MetaError):
    """The operation conflicts with current state (e.g. deleting a non-empty bucket)."""


class PreconditionFailed(MetaError):
    """A conditional write (If-None-Match / If-Match) did not hold."""


class Unavailable(MetaError):
    """The database is unreachable or refused the work for an operational reason
    (connection lost, pool exhausted, lock timeout, deadlock retries exhausted).
    Retryable: the service layer answers 503."""
