"""Streaming decoder for ``Content-Encoding: aws-chunked`` request bodies.

Wire format::

    hex-size[;chunk-signature=sig]\\r\\n data \\r\\n  ...
    0[;chunk-signature=sig]\\r\\n
    [name:value\\r\\n ...] [x-amz-trailer-signature:sig\\r\\n]
    \\r\\n

Signed modes check every chunk signature (chained from the request's seed
signature) before yielding the chunk's bytes, and the trailer signature in the
signed-trailer mode. The decoder holds at most one chunk (signed) or one read
(unsigned) in memory, and every line it reads is bounded.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Iterator, Sequence

from s3server.auth import sigv4
from s3server.auth.sigv4 import AuthResult
from s3server.errors import S3Error

MODES = (sigv4.STREAMING_PAYLOAD, sigv4.STREAMING_PAYLOAD_TRAILER, sigv4.STREAMING_UNSIGNED_TRAILER)
SIGNED_MODES = (sigv4.STREAMING_PAYLOAD, sigv4.STREAMING_PAYLOAD_TRAILER)
TRAILER_MODES = (sigv4.STREAMING_PAYLOAD_TRAILER, sigv4.STREAMING_UNSIGNED_TRAILER)
TRAILER_SIGNATURE = "x-amz-trailer-signature"

MAX_LINE = 4096                # a chunk header or trailer line
MAX_TRAILER_BYTES = 16 * 1024  # the whole trailer section
MIN_SIGNED_CHUNK = 8192        # S3: only the last signed chunk may be smaller
READ_SIZE = 64 * 1024


def _malformed(detail: str) -> S3Error:
    return S3Error("InvalidRequest", f"Malformed aws-chunked encoding: {detail}")


def _incomplete(detail: str) -> S3Error:
    return S3Error("IncompleteBody", f"The request body terminated unexpectedly: {detail}")


class AwsChunkedDecoder:
    """Iterate to get the decoded payload; ``trailers`` is filled once it is consumed."""

    def __init__(self, read: Callable[[int], bytes], *, mode: str, decoded_length: int | None,
                 auth: AuthResult | None = None, trailer_names: Sequence[str] = (),
                 max_chunk_size: int = 16 * 1024 * 1024):
        if mode not in MODES:
            raise ValueError(f"not an aws-chunked mode: {mode!r}")
        self._signed = mode in SIGNED_MODES
        if self._signed and (auth is None or auth.version != 4 or auth.presigned):
            raise S3Error("InvalidRequest", f"{mode} requires a request signed with an AWS4-HMAC-SHA256 "
                                            "Authorization header.")
        self._read = read
        self._mode = mode
        self._decoded_length = decoded_length
        self._auth = auth
        self._previous = auth.signature if auth else ""
        self._trailer_names = {n.strip().lower() for n in trailer_names if n.strip()}
        self._max_chunk = max_chunk_size
        self._buf = bytearray()
        self._eof = False
        self._total = 0
        self.trailers: dict[str, str] = {}

    # ---------------------------------------------------------------- input

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._read(READ_SIZE)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _readline(self, what: str, *, allow_eof: bool = False) -> bytes | None:
        """One line without its terminator (CRLF, or a bare LF), at most MAX_LINE bytes."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if end >= 0:
                if end > MAX_LINE:
                    raise _malformed(f"{what} line too long")
                line = bytes(self._buf[:end])
                del self._buf[:end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buf) > MAX_LINE:
                raise _malformed(f"{what} line too long")
            start = len(self._buf)
            if not self._fill():
                if allow_eof and not self._buf:
                    return None
                raise _incomplete(f"end of body inside a {what} line")

    def _take(self, n: int) -> bytes:
        """Up to ``n`` bytes (at least one); IncompleteBody at EOF."""
        if not self._buf and not self._fill():
            raise _incomplete("end of body inside a chunk")
        piece = bytes(self._buf[:n])
        del self._buf[:n]
        return piece

    def _expect_crlf(self) -> None:
        while len(self._buf) < 2:
            if not self._fill():
                raise _incomplete("end of body after chunk data")
        if self._buf[:2] != b"\r\n":
            raise _malformed("chunk data is not followed by CRLF (chunk size does not match its data)")
        del self._buf[:2]

    # ---------------------------------------------------------------- framing

    def _chunk_header(self, index: int) -> tuple[int, str | None]:
        line = self._readline("chunk header")
        assert line is not None
        size_text, _, extensions = line.partition(b";")
        size_text = size_text.strip()
        if not size_text or len(size_text) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise _malformed(f"invalid chunk size {size_text[:32]!r}")
        size = int(size_text, 16)
        signature = None
        for ext in extensions.split(b";") if extensions else ():
            name, _, value = ext.strip().partition(b"=")
            if name == b"chunk-signature":
                signature = value.decode("ascii", "replace")
        if self._signed:
            if signature is None:
                raise S3Error("SignatureDoesNotMatch", f"Chunk {index} carries no chunk-signature.")
            if size > self._max_chunk:
                raise _malformed(f"chunk {index} is larger than {self._max_chunk} bytes")
        return size, signature

    def _check_chunk_signature(self, data_sha256: str, provided: str) -> None:
        auth = self._auth
        assert auth is not None
        to_sign = sigv4.chunk_string_to_sign(auth.amz_date, auth.scope, self._previous, data_sha256)
        expected = sigv4.chunk_signature(auth.signing_key, to_sign)
        if not sigv4.signatures_equal(expected, provided):
            raise S3Error("SignatureDoesNotMatch", **{"AWSAccessKeyId": auth.access_key, "StringToSign": to_sign,
                                                      "SignatureProvided": provided})
        self._previous = provided

    def _count(self, n: int) -> None:
        self._total += n
        if self._decoded_length is not None and self._total > self._decoded_length:
            raise _incomplete(f"more than x-amz-decoded-content-length ({self._decoded_length}) bytes")

    def __iter__(self) -> Iterator[bytes]:
        index = 0
        short_chunk = None
        while True:
            index += 1
            size, signature = self._chunk_header(index)
            if self._signed and short_chunk is not None and size > 0:
                raise S3Error("InvalidChunkSizeError", chunk=str(short_chunk[0]), bad_chunk_size=str(short_chunk[1]))
            if size == 0:
                if self._signed:
                    assert signature is not None
                    self._check_chunk_signature(sigv4.EMPTY_SHA256, signature)
                break
            if self._signed:
                assert signature is not None
                data = bytearray()
                while len(data) < size:
                    data += self._take(size - len(data))
                self._expect_crlf()
                self._check_chunk_signature(hashlib.sha256(data).hexdigest(), signature)
                self._count(size)
                if size < MIN_SIGNED_CHUNK:
                    short_chunk = (index, size)
                yield bytes(data)
            else:
                remaining = size
                while remaining:
                    piece = self._take(min(remaining, READ_SIZE))
                    remaining -= len(piece)
                    self._count(len(piece))
                    yield piece
                self._expect_crlf()
        self._read_trailers()
        if self._decoded_length is not None and self._total != self._decoded_length:
            raise _incomplete(f"decoded {self._total} bytes, x-amz-decoded-content-length is {self._decoded_length}")

    def _read_trailers(self) -> None:
        lines: list[tuple[str, str]] = []
        signature = None
        used = 0
        while True:
            line = self._readline("trailer", allow_eof=True)
            if not line:  # the empty line ending the body (or EOF right after the last chunk)
                break
            used += len(line) + 2
            if used > MAX_TRAILER_BYTES:
                raise _malformed("trailer section too long")
            name, sep, value = line.decode("utf-8", "replace").partition(":")
            name, value = name.strip().lower(), value.strip()
            if not sep or not name:
                raise _malformed(f"invalid trailer line {line[:64]!r}")
            if self._mode not in TRAILER_MODES:
                raise _malformed("trailing headers sent without x-amz-trailer")
            if name == TRAILER_SIGNATURE and self._mode == sigv4.STREAMING_PAYLOAD_TRAILER:
                signature = value
                continue
            if name not in self._trailer_names:
                raise S3Error("InvalidRequest", f"The trailing header {name} was not declared in x-amz-trailer.")
            if name in self.trailers:
                raise _malformed(f"trailing header {name} sent twice")
            self.trailers[name] = value
            lines.append((name, value))
        missing = self._trailer_names - self.trailers.keys()
        if missing and self._mode in TRAILER_MODES:
            raise S3Error("InvalidRequest", f"The trailing header {sorted(missing)[0]} declared in x-amz-trailer "
                                            "was not sent.")
        if self._mode == sigv4.STREAMING_PAYLOAD_TRAILER:
            if signature is None:
                raise S3Error("SignatureDoesNotMatch", "The trailer carries no x-amz-trailer-signature.")
            auth = self._auth
            assert auth is not None
            canonical = "".join(f"{n}:{v}\n" for n, v in lines)
            to_sign = sigv4.trailer_string_to_sign(auth.amz_date, auth.scope, self._previous,
                                                   hashlib.sha256(canonical.encode("utf-8")).hexdigest())
            if not sigv4.signatures_equal(sigv4.chunk_signature(auth.signing_key, to_sign), signature):
                raise S3Error("SignatureDoesNotMatch", **{"AWSAccessKeyId": auth.access_key, "StringToSign": to_sign,
                                                          "SignatureProvided": signature})
