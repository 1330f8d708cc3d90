"""A streaming multipart/form-data reader for browser uploads (PostObject).

The fields before the ``file`` field are small and read whole (at most ``MAX_FIELDS_BYTES``
together, as AWS); the file's content is then streamed in large chunks up to the closing
boundary, never held whole. As AWS says, "the file or content must be the last field in the
form": fields after it are ignored (gunicorn drains the rest of the body)."""
from __future__ import annotations

import re
from typing import Callable, Iterator
from urllib.parse import unquote

from s3server.errors import S3Error

MAX_FIELDS_BYTES = 20 * 1024
MAX_PART_HEADER = 8 * 1024
READ_SIZE = 256 * 1024
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type; MalformedPOSTRequest otherwise."""
    main, _, params = content_type.partition(";")
    if main.strip().lower() != "multipart/form-data":
        raise S3Error("MalformedPOSTRequest")
    for name, value in _PARAM.findall(";" + params):
        if name.lower() == "boundary":
            value = value.strip()
            if value.startswith('"'):
                value = value[1:-1]
            if 1 <= len(value) <= 200:
                return value.encode("latin-1")
    raise S3Error("MalformedPOSTRequest")


def _disposition(headers: bytes) -> dict[str, str]:
    """name / filename from a part's Content-Disposition (the headers as sent, latin-1 decoded
    and then read as UTF-8, which browsers send)."""
    text = headers.decode("utf-8", "replace")
    for line in text.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-disposition":
            kind, _, params = value.partition(";")
            if kind.strip().lower() != "form-data":
                raise S3Error("MalformedPOSTRequest")
            out = {}
            for k, v in _PARAM.findall(";" + params):
                v = v.strip()
                if v.startswith('"'):
                    v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                out[k.lower()] = v
            if "name" not in out:
                raise S3Error("MalformedPOSTRequest")
            charset, _, encoded = out.pop("filename*", "").partition("''")
            if encoded:                                  # RFC 5987: filename*=UTF-8''caf%C3%A9.txt
                out["filename"] = unquote(encoded, encoding=charset or "utf-8", errors="replace")
            return out
    raise S3Error("MalformedPOSTRequest")


class FormReader:
    """``fields()`` reads up to the file; ``file_chunks()`` then streams the file's bytes."""

    def __init__(self, read: Callable[[int], bytes], boundary: bytes):
        self._read = read
        self._buf = bytearray()
        self._eof = False
        self._delim = b"\r\n--" + boundary
        self._first = b"--" + boundary
        self.filename: str | None = None

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._read(READ_SIZE)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _until(self, marker: bytes, limit: int) -> bytes:
        """Bytes up to ``marker`` (consumed, not returned); MalformedPOSTRequest past ``limit``."""
        start = 0
        while True:
            i = self._buf.find(marker, start)
            if i >= 0:
                out = bytes(self._buf[:i])
                del self._buf[:i + len(marker)]
                return out
            if len(self._buf) > limit:
                raise S3Error("MaxPostPreDataLengthExceeded")
            start = max(0, len(self._buf) - len(marker) + 1)
            if not self._fill():
                raise S3Error("MalformedPOSTRequest")

    def _after_boundary(self) -> bool:
        """After a boundary: True if another part follows, False at the closing ``--``."""
        while len(self._buf) < 2:
            if not self._fill():
                raise S3Error("MalformedPOSTRequest")
        if self._buf[:2] == b"--":
            return False
        # transport padding, then CRLF
        line = self._until(b"\r\n", MAX_PART_HEADER)
        if line.strip(b" \t"):
            raise S3Error("MalformedPOSTRequest")
        return True

    def fields(self) -> dict[str, str]:
        """Every field before ``file`` (names lower-cased, as AWS matches them); the file's name is
        kept in ``filename``. IncorrectNumberOfFilesInPostRequest if the form has no file."""
        self._until(self._first, MAX_PART_HEADER)          # a preamble is allowed, and skipped
        fields: dict[str, str] = {}
        used = 0
        while self._after_boundary():
            disposition = _disposition(self._until(b"\r\n\r\n", MAX_PART_HEADER))
            name = disposition["name"].lower()
            if name == "file":
                self.filename = disposition.get("filename", "")
                return fields
            value = self._until(self._delim, MAX_FIELDS_BYTES - used)
            used += len(value) + len(name)
            if used > MAX_FIELDS_BYTES:
                raise S3Error("MaxPostPreDataLengthExceeded")
            fields[name] = value.decode("utf-8", "replace")
        raise S3Error("IncorrectNumberOfFilesInPostRequest")

    def file_chunks(self) -> Iterator[bytes]:
        """The file's content, up to the boundary after it; a body that ends before it is
        IncompleteBody (nothing is stored)."""
        keep = len(self._delim) - 1
        while True:
            i = self._buf.find(self._delim)
            if i >= 0:
                if i:
                    yield bytes(self._buf[:i])
                del self._buf[:]
                return
            if len(self._buf) > keep:
                out = bytes(self._buf[:-keep])
                del self._buf[:-keep]
                yield out
            if not self._fill():
                raise S3Error("IncompleteBody")
