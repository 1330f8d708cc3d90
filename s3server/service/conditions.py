"""The conditional headers of object requests: If-Match / If-None-Match / If-(Un)Modified-Since
with AWS's precedence, conditional deletes, and Range. HTTP-free."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from s3server.errors import S3Error
from s3server.meta import errors as meta_errors
from s3server.models import ObjectMeta
from s3server.service.common import GuardedStore
from s3server.timefmt import parse_http_date


@dataclass(frozen=True)
class Conditions:
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None


@dataclass(frozen=True)
class DeleteCondition:
    """A conditional delete (DeleteObject's ``If-Match``, ``x-amz-if-match-size``,
    ``x-amz-if-match-last-modified-time``; DeleteObjects' per-key ``ETag``, ``Size``,
    ``LastModifiedTime``): the object is deleted only if every given value matches."""
    etag: str | None = None                # an ETag, a list of them, or "*"
    size: int | None = None
    last_modified: datetime | None = None  # compared to the second (HTTP dates have no more)

    def __bool__(self) -> bool:
        return self.etag is not None or self.size is not None or self.last_modified is not None

    def holds(self, meta: ObjectMeta) -> bool:
        return ((self.etag is None or etag_matches(self.etag, meta.etag))
                and (self.size is None or self.size == meta.size)
                and (self.last_modified is None
                     or int(self.last_modified.timestamp()) == int(meta.last_modified.timestamp())))


def delete_row_if(store: GuardedStore, bucket: str, key: str, cond: DeleteCondition) -> ObjectMeta | None:
    """The metadata side of a conditional delete (the caller deletes the blobs): the removed
    object, None if there was none; PreconditionFailed when ``cond`` does not hold, NoSuchKey
    for a missing object when an ETag was given (AWS: "If-Match ... 404 NoSuchKey when the
    object does not exist"; a size or time alone lets it pass)."""
    try:
        removed = store.delete_object_if(bucket, key, cond.holds)
    except meta_errors.PreconditionFailed as exc:
        raise S3Error("PreconditionFailed", condition="If-Match") from exc
    if removed is None and cond.etag is not None:
        raise S3Error("NoSuchKey", key=key)
    return removed


def normalize_etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def etag_matches(header: str, etag: str) -> bool:
    want = normalize_etag(etag)
    return any(t.strip() == "*" or normalize_etag(t) == want for t in header.split(","))


def failed_condition(meta: ObjectMeta, cond) -> tuple[str, bool] | None:
    """Evaluate If-Match / If-Unmodified-Since / If-None-Match / If-Modified-Since with AWS's
    precedence (RFC 7232 section 6): If-Match true overrides If-Unmodified-Since; If-None-Match
    false overrides If-Modified-Since. Returns (the header that failed, whether it is a
    "not modified" kind of failure), or None when every condition holds. ``cond`` is any object
    with the four fields (Conditions, or the copy-source ones)."""
    lm = meta.last_modified.replace(microsecond=0)
    if cond.if_match is not None:
        if not etag_matches(cond.if_match, meta.etag):
            return "If-Match", False
    elif cond.if_unmodified_since is not None:
        dt = parse_http_date(cond.if_unmodified_since)
        if dt is not None and lm > dt:
            return "If-Unmodified-Since", False
    if cond.if_none_match is not None:
        if etag_matches(cond.if_none_match, meta.etag):
            return "If-None-Match", True
    elif cond.if_modified_since is not None:
        dt = parse_http_date(cond.if_modified_since)
        if dt is not None and lm <= dt:
            return "If-Modified-Since", True
    return None


def check_conditions(meta: ObjectMeta, cond: Conditions) -> None:
    """GET/HEAD: a failed If-None-Match / If-Modified-Since is 304, any other failure 412."""
    failed = failed_condition(meta, cond)
    if failed is None:
        return
    header, not_modified = failed
    if not_modified:
        raise S3Error("NotModified")
    raise S3Error("PreconditionFailed", condition=header)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> (start, end exclusive); None = whole object.
    A malformed or multi-range header is ignored (as AWS does); an unsatisfiable one is InvalidRange."""
    if not header:
        return None
    header = header.strip()
    if not header.lower().startswith("bytes=") or "," in header:
        return None
    spec = header[6:].strip()
    first, sep, last = spec.partition("-")
    if not sep:
        return None
    try:
        if first == "":
            if not last.isdigit():
                return None
            n = int(last)
            if n == 0:
                raise S3Error("InvalidRange", range_requested=header, actual_object_size=size)
            if size == 0:
                return None     # a non-zero suffix of an empty object is the (empty) whole object
            return max(0, size - n), size
        if not first.isdigit() or (last and not last.isdigit()):
            return None
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if last and end <= start:
        return None
    if start >= size:
        raise S3Error("InvalidRange", range_requested=header, actual_object_size=size)
    return start, min(end, size)
