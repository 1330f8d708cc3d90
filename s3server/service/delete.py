"""DeleteService: DeleteObjects (multi-object delete). HTTP-free.

Metadata first, key by key (each delete is its own atomic step, as on S3); the freed blobs
are deleted in the background once every row is gone. A missing key counts as deleted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from s3server.errors import S3Error
from s3server.models import User
from s3server.service.common import GuardedStore, owned_bucket, validate_key

MAX_KEYS = 1000


@dataclass(frozen=True)
class DeleteTarget:
    key: str
    version_id: str | None = None


@dataclass(frozen=True)
class DeleteOutcome:
    deleted: list[str]
    errors: list[tuple[str, str, str]]     # (key, code, message)


class DeleteService:
    def __init__(self, store: GuardedStore, blobs):
        self.store = store
        self.blobs = blobs

    def delete_objects(self, user: User, bucket: str, targets: Sequence[DeleteTarget]) -> DeleteOutcome:
        if not targets or len(targets) > MAX_KEYS:
            raise S3Error("MalformedXML")
        owned_bucket(self.store, user, bucket)
        deleted: list[str] = []
        errors: list[tuple[str, str, str]] = []
        garbage = []
        try:
            for t in targets:
                if t.version_id not in (None, "", "null"):
                    errors.append((t.key, "NoSuchVersion", "The specified version does not exist."))
                    continue
                try:
                    validate_key(t.key)
                    removed = self.store.delete_object(bucket, t.key)
                except S3Error as exc:
                    errors.append((t.key, exc.code, exc.message))
                    continue
                if removed is not None:
                    garbage.extend(removed.blobs)
                deleted.append(t.key)
        finally:
            if garbage:
                self.blobs.delete_later(garbage)
        return DeleteOutcome(deleted, errors)
