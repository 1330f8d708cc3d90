"""Rows <-> models: the store returns dataclasses from s3server.models, never rows.

Dict and list fields travel as JSON text (schema.JSONText); segments are stored as
``[{"blob_id", "size", "nodes", "part_number", "etag", "checksums"}, ...]``.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Mapping

import sqlalchemy as sa

from s3server.models import (
    ApiKey,
    BlobRef,
    Bucket,
    BucketEncryption,
    BucketLifecycle,
    CorsRule,
    Credential,
    LifecycleRule,
    MultipartUpload,
    ObjectMeta,
    RoutingRule,
    Segment,
    UploadPart,
    User,
    WebsiteConfig,
    segments_sse,
)

def blob_to_json(b: BlobRef) -> dict[str, Any]:
    if b.key is None:
        return {"blob_id": b.blob_id, "size": b.size, "nodes": list(b.nodes)}
    return {"blob_id": b.blob_id, "size": b.size, "nodes": list(b.nodes), "key": b.key}


def blob_from_json(d: dict[str, Any]) -> BlobRef:
    return BlobRef(blob_id=d["blob_id"], size=d["size"], nodes=tuple(d["nodes"]), key=d.get("key"))


def segments_to_json(segments: tuple[Segment, ...]) -> list[dict[str, Any]]:
    return [
        {**blob_to_json(seg.blob), "part_number": seg.part_number, "etag": seg.etag,
         "checksums": dict(seg.checksums)}
        for seg in segments
    ]


def segments_from_json(data: list[dict[str, Any]]) -> tuple[Segment, ...]:
    return tuple(
        Segment(blob=blob_from_json(d), part_number=d.get("part_number"),
                etag=d.get("etag"), checksums=dict(d.get("checksums") or {}))
        for d in data
    )


CONTENT_HEADERS = ("content_type", "content_encoding", "content_disposition",
                    "content_language", "cache_control", "expires")

def object_values(meta: ObjectMeta, updated_at: datetime) -> dict[str, Any]:
    return {
        "bucket": meta.bucket,
        "key": meta.key,
        "size": meta.size,
        "etag": meta.etag,
        "last_modified": meta.last_modified,
        **{h: getattr(meta, h) for h in CONTENT_HEADERS},
        "user_metadata": dict(meta.user_metadata),
        "checksums": dict(meta.checksums),
        "checksum_type": meta.checksum_type,
        "storage_class": meta.storage_class,
        "segments": segments_to_json(meta.segments),
        "parts_count": meta.parts_count,
        "updated_at": updated_at,
        "inline_data": meta.inline,
        "tags": tags_to_json(meta.tags),
        "tags_for": updated_at if meta.tags else None,
        "website_redirect": meta.website_redirect,
        "website_redirect_for": updated_at if meta.website_redirect else None,
    }


def tags_to_json(tags: tuple[tuple[str, str], ...]) -> list[list[str]] | None:
    return [[k, v] for k, v in tags] if tags else None


def tags_from_json(data: list | None) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in data) if data else ()


def object_from_row(row: sa.Row | Mapping[str, Any]) -> ObjectMeta:
    """An ObjectMeta from a Row of the objects table, or from a mapping of its columns (the
    direct statements of meta/direct.py)."""
    m = getattr(row, "_mapping", row)
    segments = segments_from_json(m["segments"]) if "segments" in m else ()
    return ObjectMeta(
        bucket=m["bucket"],
        key=m["key"],
        size=m["size"],
        etag=m["etag"],
        last_modified=m["last_modified"],
        **{h: m[h] for h in CONTENT_HEADERS},
        user_metadata=dict(m["user_metadata"]),
        checksums=dict(m["checksums"]),
        checksum_type=m["checksum_type"],
        storage_class=m["storage_class"],
        segments=segments,
        sse=segments_sse(segments),
        parts_count=m["parts_count"],
        tags=tags_from_json(m.get("tags")) if m.get("tags_for") == m.get("updated_at") else (),
        website_redirect=(m.get("website_redirect")
                          if m.get("website_redirect_for") == m.get("updated_at") else None),
        inline=bytes(m["inline_data"]) if m.get("inline_data") is not None else None,
    )


def user_from_row(row: sa.Row) -> User:
    return User(id=row.id, name=row.name, is_admin=bool(row.is_admin),
                disabled=bool(row.disabled), created_at=row.created_at)


def credential_from_row(row: sa.Row) -> Credential:
    return Credential(access_key=row.access_key, secret_key=row.secret_key,
                      user_id=row.user_id, created_at=row.created_at, revoked=bool(row.revoked))


def api_key_from_row(row: sa.Row) -> ApiKey:
    return ApiKey(id=row.id, user_id=row.user_id, key_hash=row.key_hash, prefix=row.prefix,
                  created_at=row.created_at, revoked=bool(row.revoked))


def bucket_from_row(row: sa.Row) -> Bucket:
    m = row._mapping
    enc = m.get("encryption")
    return Bucket(name=m["name"], owner_id=m["owner_id"], region=m["region"], created_at=m["created_at"],
                  cors=cors_from_json(m.get("cors")), tags=tags_from_json(m["tags"]) if m.get("tags") else None,
                  versioning=m.get("versioning"),
                  encryption=BucketEncryption(enc["algorithm"], bool(enc.get("bucket_key"))) if enc else None,
                  lifecycle=lifecycle_from_json(m.get("lifecycle")),
                  **settings_from_json(m.get("settings")))


def settings_from_json(data: dict[str, Any] | None) -> dict[str, Any]:
    """The ``buckets.settings`` document as Bucket fields."""
    if not data:
        return {}
    pab = data.get("public_access_block")
    return {"public_access_block": tuple(bool(x) for x in pab) if pab is not None else None,
            "accelerate": data.get("accelerate"), "policy": data.get("policy"),
            "website": website_from_json(data.get("website"))}


def website_to_json(cfg: WebsiteConfig | None) -> dict[str, Any] | None:
    if cfg is None:
        return None
    doc = dataclasses.asdict(cfg)
    doc["routing_rules"] = [dataclasses.asdict(r) for r in cfg.routing_rules]
    return doc


def website_from_json(data: dict[str, Any] | None) -> WebsiteConfig | None:
    if not data:
        return None
    rules = tuple(RoutingRule(**r) for r in data.get("routing_rules", ()))
    return WebsiteConfig(**{k: v for k, v in data.items() if k != "routing_rules"}, routing_rules=rules)


_RULE_FIELDS = ("id", "enabled", "filter_kind", "prefix", "size_gt", "size_lt", "expiration_days",
                "expired_object_delete_marker", "abort_days", "noncurrent_days", "newer_noncurrent")


def lifecycle_to_json(lc: BucketLifecycle | None) -> dict[str, Any] | None:
    if lc is None:
        return None
    rules = []
    for r in lc.rules:
        d = {f: getattr(r, f) for f in _RULE_FIELDS}
        d["tags"] = [list(t) for t in r.tags]
        d["expiration_date"] = r.expiration_date.isoformat() if r.expiration_date else None
        rules.append(d)
    return {"rules": rules, "min_size_mode": lc.min_size_mode}


def lifecycle_from_json(data: dict[str, Any] | None) -> BucketLifecycle | None:
    if not data:
        return None
    rules = []
    for d in data["rules"]:
        date = d.get("expiration_date")
        rules.append(LifecycleRule(**{f: d.get(f) for f in _RULE_FIELDS if f in d},
                                   tags=tuple((k, v) for k, v in d.get("tags", ())),
                                   expiration_date=datetime.fromisoformat(date) if date else None))
    return BucketLifecycle(tuple(rules), data.get("min_size_mode") or "all_storage_classes_128K")


def encryption_to_json(enc: BucketEncryption | None) -> dict[str, Any] | None:
    return None if enc is None else {"algorithm": enc.algorithm, "bucket_key": enc.bucket_key_enabled}


def cors_to_json(rules: tuple[CorsRule, ...] | None) -> list[dict[str, Any]] | None:
    if rules is None:
        return None
    return [{"methods": list(r.allowed_methods), "origins": list(r.allowed_origins),
             "headers": list(r.allowed_headers), "expose": list(r.expose_headers),
             "max_age": r.max_age_seconds, "id": r.id} for r in rules]


def cors_from_json(data: list[dict[str, Any]] | None) -> tuple[CorsRule, ...] | None:
    if data is None:
        return None
    return tuple(CorsRule(allowed_methods=tuple(d["methods"]), allowed_origins=tuple(d["origins"]),
                          allowed_headers=tuple(d.get("headers", ())), expose_headers=tuple(d.get("expose", ())),
                          max_age_seconds=d.get("max_age"), id=d.get("id")) for d in data)


def upload_values(u: MultipartUpload) -> dict[str, Any]:
    return {
        "upload_id": u.upload_id, "bucket": u.bucket, "key": u.key, "initiated": u.initiated,
        "owner_id": u.owner_id, **{h: getattr(u, h) for h in CONTENT_HEADERS},
        "user_metadata": dict(u.user_metadata), "checksum_algorithm": u.checksum_algorithm,
        "checksum_type": u.checksum_type, "storage_class": u.storage_class,
        "tags": tags_to_json(u.tags), "website_redirect": u.website_redirect, "sse": u.sse,
        "sse_key": u.sse_key,
    }


def upload_from_row(row: sa.Row) -> MultipartUpload:
    m = row._mapping
    return MultipartUpload(
        upload_id=m["upload_id"], bucket=m["bucket"], key=m["key"], initiated=m["initiated"],
        owner_id=m["owner_id"], **{h: m[h] for h in CONTENT_HEADERS},
        user_metadata=dict(m["user_metadata"]), checksum_algorithm=m["checksum_algorithm"],
        checksum_type=m["checksum_type"], storage_class=m["storage_class"],
        tags=tags_from_json(m.get("tags")), website_redirect=m.get("website_redirect"), sse=m.get("sse"),
        sse_key=m.get("sse_key"),
    )


def part_from_row(row: sa.Row) -> UploadPart:
    return UploadPart(upload_id=row.upload_id, part_number=row.part_number, size=row.size,
                      etag=row.etag, last_modified=row.last_modified,
                      blob=blob_from_json(row.blob), checksums=dict(row.checksums))


def part_values(part: UploadPart) -> dict[str, Any]:
    return {
        "upload_id": part.upload_id, "part_number": part.part_number, "size": part.size,
        "etag": part.etag, "last_modified": part.last_modified,
        "blob": blob_to_json(part.blob), "checksums": dict(part.checksums),
    }
