"""DeleteService: DeleteObjects (multi-object delete). HTTP-free.

Metadata first, in one batch: every key is validated, then the valid ones are deleted with
``MetadataStore.delete_objects`` (one statement per 500 keys; each key's delete is atomic, as
on S3, and a missing key counts as deleted); the freed blobs are deleted in the background
once the rows are gone. A metadata outage fails the batch as a whole: each of its keys gets
the per-key error the store's ServiceUnavailable carries (as when keys were deleted one by one).
A key with a condition (its Object element's ``ETag``, ``Size`` or ``LastModifiedTime``: a
conditional delete) is deleted on its own, only if the condition holds at that moment; else its
error is PreconditionFailed (NoSuchKey for a missing object named with an ETag).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from s3server.errors import S3Error
from s3server.models import User
from s3server.service.common import GuardedStore, owned_bucket, validate_key
from s3server.service.conditions import DeleteCondition, delete_row_if

MAX_KEYS = 1000


@dataclass(frozen=True)
class DeleteTarget:
    key: str
    version_id: str | None = None
    cond: DeleteCondition = DeleteCondition()      # the Object element's ETag, Size, LastModifiedTime


@dataclass(frozen=True)
class DeleteOutcome:
    deleted: list[str]
    errors: list[tuple[str, str, str]]     # (key, code, message)


class DeleteService:
    def __init__(self, store: GuardedStore, blobs):
        self.store = store
        self.blobs = blobs

    def delete_objects(self, user: User, bucket: str, targets: Sequence[DeleteTarget],
                       allowed: Callable[[str, str | None], bool] | None = None) -> DeleteOutcome:
        """``allowed(key, version id)``: whether the bucket's policy lets ``user`` delete that key
        (None: no policy); a key it refuses is an AccessDenied entry of the result, as in AWS."""
        if not targets or len(targets) > MAX_KEYS:
            raise S3Error("MalformedXML")
        owned_bucket(self.store, user, bucket)
        errors: list[tuple[int, tuple[str, str, str]]] = []     # (position, error)
        valid: list[tuple[int, str]] = []
        conditional: list[tuple[int, DeleteTarget]] = []
        for i, t in enumerate(targets):
            if allowed is not None and not allowed(t.key, t.version_id):
                errors.append((i, (t.key, "AccessDenied", "Access Denied")))
                continue
            if t.version_id not in (None, "", "null"):
                errors.append((i, (t.key, "NoSuchVersion", "The specified version does not exist.")))
                continue
            try:
                validate_key(t.key)
            except S3Error as exc:
                errors.append((i, (t.key, exc.code, exc.message)))
                continue
            if t.cond:
                conditional.append((i, t))
            else:
                valid.append((i, t.key))
        deleted: list[tuple[int, str]] = []
        garbage = []
        try:
            if valid:
                try:
                    removed = self.store.delete_objects(bucket, [key for _, key in valid])
                except S3Error as exc:          # GuardedStore: the metadata store is unavailable
                    errors.extend((i, (key, exc.code, exc.message)) for i, key in valid)
                else:
                    for meta in removed.values():
                        if meta is not None:
                            garbage.extend(meta.blobs)
                    deleted = list(valid)
            for i, t in conditional:            # each in its own transaction, judged as it is deleted
                try:
                    meta = delete_row_if(self.store, bucket, t.key, t.cond)
                except S3Error as exc:
                    errors.append((i, (t.key, exc.code, exc.message)))
                    continue
                if meta is not None:
                    garbage.extend(meta.blobs)
                deleted.append((i, t.key))
        finally:
            if garbage:
                self.blobs.delete_later(garbage)
        errors.sort(key=lambda e: e[0])
        return DeleteOutcome([key for _, key in sorted(deleted)], [e for _, e in errors])
