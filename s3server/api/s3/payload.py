"""Turn an upload request's body and headers into a service ``Payload``.

Handles plain bodies (Content-Length or HTTP/1.1 chunked), aws-chunked bodies
(signed chunks, signed or unsigned trailers), Content-MD5, x-amz-checksum-*
headers and trailers, and a literal x-amz-content-sha256.
"""
from __future__ import annotations

import re
from typing import Iterator

from s3server.api.s3.context import S3Context
from s3server.api.xmlparse import MAX_XML_BODY
from s3server.auth.chunked import AwsChunkedDecoder
from s3server.errors import S3Error
from s3server.service import checksums
from s3server.service.payload import Payload, read_small_payload

READ_SIZE = 1024 * 1024    # gunicorn reads ahead up to 1 MiB per recv: smaller reads copy its buffer
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
STREAMING_MODES = (
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
)


def _raw_chunks(ctx: S3Context, length: int | None) -> Iterator[bytes]:
    remaining = length
    while remaining is None or remaining > 0:
        n = READ_SIZE if remaining is None else min(READ_SIZE, remaining)
        data = ctx.read(n)
        if not data:
            break
        if remaining is not None:
            remaining -= len(data)
        yield data


def request_payload(ctx: S3Context) -> Payload:
    content_length = ctx.int_header("content-length")
    chunked_te = "chunked" in (ctx.header("transfer-encoding") or "").lower()
    if content_length is None and not chunked_te:
        raise S3Error("MissingContentLength")
    sha_mode = ctx.auth.payload_hash if ctx.auth else "UNSIGNED-PAYLOAD"
    header_sums = {}
    for name, value in ctx.headers.items():
        algo = checksums.algorithm_from_header(name)
        if algo:
            header_sums[algo] = value.strip()
    trailer_names = [t.strip().lower() for t in (ctx.header("x-amz-trailer") or "").split(",") if t.strip()]
    trailer_algos = []
    for t in trailer_names:
        algo = checksums.algorithm_from_header(t)
        if algo is None:
            raise S3Error("InvalidRequest", f"The value specified in the x-amz-trailer header is not supported: {t}")
        trailer_algos.append(algo)
    sdk_algo = (ctx.header("x-amz-sdk-checksum-algorithm") or "").upper() or None
    if sdk_algo and sdk_algo not in checksums.ALGORITHMS:
        raise S3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")

    payload = Payload(chunks=(), content_md5=ctx.header("content-md5"), checksums=header_sums,
                      trailer_algorithms=tuple(trailer_algos), sdk_algorithm=sdk_algo)
    if sha_mode in STREAMING_MODES or "aws-chunked" in (ctx.header("content-encoding") or "").lower():
        if sha_mode not in STREAMING_MODES:
            raise S3Error("InvalidRequest", "aws-chunked encoding requires a STREAMING-* x-amz-content-sha256.")
        decoded = ctx.int_header("x-amz-decoded-content-length")
        if decoded is None:
            raise S3Error("MissingContentLength", "You must provide the x-amz-decoded-content-length header.")
        decoder = AwsChunkedDecoder(ctx.read, mode=sha_mode, decoded_length=decoded, auth=ctx.auth,
                                    trailer_names=trailer_names)
        payload.chunks = iter(decoder)
        payload.length = decoded
        if trailer_names:
            def trailer() -> dict[str, str]:
                found = {}
                for name, value in decoder.trailers.items():
                    algo = checksums.algorithm_from_header(name)
                    if algo:
                        found[algo] = value.strip()
                return found
            payload.trailer = trailer
        return payload
    if trailer_names:
        raise S3Error("InvalidRequest", "x-amz-trailer is only allowed with aws-chunked uploads.")
    if _HEX64.match(sha_mode or ""):
        payload.sha256_hex = sha_mode.lower()
    elif sha_mode not in ("UNSIGNED-PAYLOAD", None, ""):
        raise S3Error("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a SHA256 hex digest",
                      argument_name="x-amz-content-sha256", argument_value=sha_mode)
    payload.chunks = _raw_chunks(ctx, None if chunked_te else content_length)
    payload.length = None if chunked_te else content_length
    return payload


def read_xml_payload(ctx: S3Context, limit: int = MAX_XML_BODY) -> bytes:
    """A small XML request body (DeleteObjects, tagging, CORS), read whole and verified like an
    upload (Content-MD5, x-amz-checksum-*, aws-chunked); more than ``limit`` bytes is MalformedXML."""
    return read_small_payload(request_payload(ctx), limit,
                              S3Error("MalformedXML", "The XML you provided was too large."))
