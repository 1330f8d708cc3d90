"""ListingService: ListObjects (v1), ListObjectsV2, ListObjectVersions. HTTP-free.

Each page is one index seek in the metadata store; continuation tokens are the
opaque, base64-wrapped seek point (the last key or common prefix returned).
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from s3server.errors import S3Error
from s3server.models import ListPage, User
from s3server.service.common import GuardedStore, owned_bucket

MAX_KEYS = 1000


@dataclass(frozen=True)
class ListRequest:
    bucket: str
    prefix: str = ""
    delimiter: str = ""
    max_keys: int = MAX_KEYS
    start_after: str = ""            # v2 StartAfter / v1 Marker / versions KeyMarker
    continuation_token: str | None = None


def encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      argument_name="continuation-token") from exc


def parse_max_keys(raw: str | None, name: str = "max-keys") -> int:
    if raw is None or raw == "":
        return MAX_KEYS
    try:
        value = int(raw)
    except ValueError as exc:
        raise S3Error("InvalidArgument", "Provided max-keys not an integer or within integer range",
                      argument_name=name, argument_value=raw) from exc
    if value < 0:
        raise S3Error("InvalidArgument", "Argument maxKeys must be an integer between 0 and 2147483647",
                      argument_name=name, argument_value=raw)
    return min(value, MAX_KEYS)


class ListingService:
    def __init__(self, store: GuardedStore):
        self.store = store

    def list_objects(self, user: User, req: ListRequest) -> ListPage:
        owned_bucket(self.store, user, req.bucket)
        cursor = req.start_after
        if req.continuation_token is not None:
            cursor = decode_token(req.continuation_token)
        if req.max_keys == 0:
            return ListPage((), (), False, None)
        return self.store.list_objects(req.bucket, prefix=req.prefix, delimiter=req.delimiter,
                                       start_after=cursor, max_keys=req.max_keys)
