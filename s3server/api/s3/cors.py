"""Bucket CORS: PutBucketCors, GetBucketCors, DeleteBucketCors (``?cors`` on a bucket). The
OPTIONS preflight and the Access-Control-* headers of requests with an Origin are added by
``S3Api`` (resources.py); the rules themselves are in service/cors.py."""
from __future__ import annotations

import falcon

from s3server.api import xmlbuckets, xmlparse
from s3server.api.s3.buckets import _xml
from s3server.api.s3.context import S3Context
from s3server.api.s3.payload import read_xml_payload
from s3server.errors import S3Error
from s3server.models import CorsRule

MAX_CORS_BODY = 64 * 1024


def _rules_from_body(body: bytes) -> list[CorsRule]:
    root = xmlparse.parse(body)
    if root.tag != "CORSConfiguration":
        raise S3Error("MalformedXML")
    rules = []
    for el in root:
        if el.tag != "CORSRule":
            raise S3Error("MalformedXML")
        values = xmlparse.child_values(el)
        unknown = set(values) - {"ID", "AllowedHeader", "AllowedMethod", "AllowedOrigin", "ExposeHeader",
                                 "MaxAgeSeconds"}
        if unknown or len(values.get("ID", [])) > 1 or len(values.get("MaxAgeSeconds", [])) > 1:
            raise S3Error("MalformedXML")
        max_age = None
        if values.get("MaxAgeSeconds"):
            try:
                max_age = int(values["MaxAgeSeconds"][0])
            except ValueError as exc:
                raise S3Error("MalformedXML") from exc
        rules.append(CorsRule(allowed_methods=tuple(values.get("AllowedMethod", ())),
                              allowed_origins=tuple(values.get("AllowedOrigin", ())),
                              allowed_headers=tuple(values.get("AllowedHeader", ())),
                              expose_headers=tuple(values.get("ExposeHeader", ())),
                              max_age_seconds=max_age, id=(values.get("ID") or [None])[0]))
    return rules


def put_bucket_cors(ctx: S3Context) -> None:
    body = read_xml_payload(ctx, MAX_CORS_BODY)
    ctx.services.buckets.set_bucket_cors(ctx.user, ctx.bucket, tuple(_rules_from_body(body)))
    ctx.resp.data = b""


def get_bucket_cors(ctx: S3Context) -> None:
    _xml(ctx, xmlbuckets.cors_configuration(ctx.services.buckets.get_bucket_cors(ctx.user, ctx.bucket)))


def delete_bucket_cors(ctx: S3Context) -> None:
    ctx.services.buckets.set_bucket_cors(ctx.user, ctx.bucket, None)
    ctx.resp.status = falcon.HTTP_204


HANDLERS = {
    "PutBucketCors": put_bucket_cors,
    "GetBucketCors": get_bucket_cors,
    "DeleteBucketCors": delete_bucket_cors,
}
