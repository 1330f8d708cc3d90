"""aws-chunked decoding: AWS documentation vectors, botocore's own encoder, hostile input."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import itertools
import os
from datetime import datetime, timezone
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, CrtCrc32cChecksum, CrtCrc64NvmeChecksum

from s3server.auth import sigv4
from s3server.auth.chunked import AwsChunkedDecoder
from s3server.auth.sigv4 import AuthResult, SignedRequest
from s3server.errors import S3Error
from s3server.service.checksums import Digests

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_AKID = "AKIAIOSFODNN7EXAMPLE"
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_CHUNK_SIGS = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
# sigv4-streaming-trailers example: same object, with an x-amz-checksum-crc32c trailer.
DOC_TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
DOC_TRAILER_CHUNK_SIGS = (
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
DOC_TRAILER_SIG = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
DOC_DATA = b"a" * 66560


def reader(data: bytes, step: int | None = None):
    """A read(n) over ``data`` that returns at most ``step`` bytes per call."""
    stream = io.BytesIO(data)
    return lambda n: stream.read(min(n, step) if step else n)


def doc_body(sigs, trailer: bytes = b"") -> bytes:
    return (b"10000;chunk-signature=" + sigs[0].encode() + b"\r\n" + DOC_DATA[:65536] + b"\r\n"
            + b"400;chunk-signature=" + sigs[1].encode() + b"\r\n" + DOC_DATA[65536:] + b"\r\n"
            + b"0;chunk-signature=" + sigs[2].encode() + b"\r\n" + trailer + b"\r\n")


def doc_auth() -> AuthResult:
    """Authenticate the documentation's PUT: checks the seed signature too."""
    headers = {
        "host": "s3.amazonaws.com", "content-encoding": "aws-chunked", "content-length": "66824",
        "x-amz-content-sha256": sigv4.STREAMING_PAYLOAD, "x-amz-date": DOC_DATE,
        "x-amz-decoded-content-length": "66560", "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential={DOC_AKID}/{DOC_SCOPE},SignedHeaders=content-encoding;content-length;"
            "host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
            "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
    }
    req = SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", headers)
    result = sigv4.authenticate(req, {DOC_AKID: DOC_SECRET}.get, datetime(2013, 5, 24, tzinfo=timezone.utc))
    assert result is not None and result.payload_hash == sigv4.STREAMING_PAYLOAD
    return result


def decode(body: bytes, mode: str, *, step=None, length=None, auth=None, trailers=()):
    decoder = AwsChunkedDecoder(reader(body, step), mode=mode, decoded_length=length, auth=auth,
                                trailer_names=trailers)
    return b"".join(decoder), decoder.trailers


def error_of(body: bytes, mode: str, **kwargs) -> S3Error:
    with pytest.raises(S3Error) as info:
        decode(body, mode, **kwargs)
    return info.value


# ---------------------------------------------------------------- AWS documentation vectors

@pytest.mark.parametrize("step", [None, 1000, 7])
def test_aws_doc_signed_payload(step):
    data, trailers = decode(doc_body(DOC_CHUNK_SIGS), sigv4.STREAMING_PAYLOAD, step=step, length=66560,
                            auth=doc_auth())
    assert data == DOC_DATA and trailers == {}


def test_aws_doc_tampered_chunk_yields_nothing_of_it():
    body = bytearray(doc_body(DOC_CHUNK_SIGS))
    second = body.index(b"400;chunk-signature=") + len(b"400;chunk-signature=") + 64 + 2
    body[second + 5] = ord("b")  # a byte of the second chunk
    decoder = AwsChunkedDecoder(reader(bytes(body)), mode=sigv4.STREAMING_PAYLOAD, decoded_length=66560,
                                auth=doc_auth())
    it = iter(decoder)
    assert next(it) == b"a" * 65536
    with pytest.raises(S3Error) as info:
        next(it)
    assert info.value.code == "SignatureDoesNotMatch"


def test_aws_doc_bad_signature_on_final_chunk():
    sigs = DOC_CHUNK_SIGS[:2] + ("0" * 64,)
    assert error_of(doc_body(sigs), sigv4.STREAMING_PAYLOAD, auth=doc_auth()).code == "SignatureDoesNotMatch"


def test_aws_doc_reordered_signatures():
    sigs = (DOC_CHUNK_SIGS[1], DOC_CHUNK_SIGS[0], DOC_CHUNK_SIGS[2])
    assert error_of(doc_body(sigs), sigv4.STREAMING_PAYLOAD, auth=doc_auth()).code == "SignatureDoesNotMatch"


def trailer_doc_auth() -> AuthResult:
    key = sigv4.signing_key(DOC_SECRET, "20130524", "us-east-1")
    return AuthResult(DOC_AKID, 4, False, sigv4.STREAMING_PAYLOAD_TRAILER, DOC_DATE, DOC_SCOPE, key, DOC_TRAILER_SEED)


def test_aws_doc_signed_trailer():
    trailer = b"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + DOC_TRAILER_SIG.encode() + b"\r\n"
    data, trailers = decode(doc_body(DOC_TRAILER_CHUNK_SIGS, trailer), sigv4.STREAMING_PAYLOAD_TRAILER,
                            length=66560, auth=trailer_doc_auth(), trailers=["x-amz-checksum-crc32c"])
    assert data == DOC_DATA
    assert trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    digests = Digests(["CRC32C"])
    digests.update(data)
    assert digests.checksum("CRC32C") == "sOO8/Q=="


def test_aws_doc_signed_trailer_tampered():
    for value, sig in (("AAAAAA==", DOC_TRAILER_SIG), ("sOO8/Q==", "1" * 64)):
        trailer = f"x-amz-checksum-crc32c:{value}\r\nx-amz-trailer-signature:{sig}\r\n".encode()
        err = error_of(doc_body(DOC_TRAILER_CHUNK_SIGS, trailer), sigv4.STREAMING_PAYLOAD_TRAILER,
                       auth=trailer_doc_auth(), trailers=["x-amz-checksum-crc32c"])
        assert err.code == "SignatureDoesNotMatch"
    trailer = b"x-amz-checksum-crc32c:sOO8/Q==\r\n"  # signature missing
    err = error_of(doc_body(DOC_TRAILER_CHUNK_SIGS, trailer), sigv4.STREAMING_PAYLOAD_TRAILER,
                   auth=trailer_doc_auth(), trailers=["x-amz-checksum-crc32c"])
    assert err.code == "SignatureDoesNotMatch"


# ---------------------------------------------------------------- own signed encoder (independent of sigv4)

def _mac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def encode_signed(data: bytes, chunk: int, *, secret: str, date: str, region: str, seed: str,
                  trailers: dict[str, str] | None = None) -> bytes:
    key = _mac(_mac(_mac(_mac(b"AWS4" + secret.encode(), date[:8]), region), "s3"), "aws4_request")
    scope = f"{date[:8]}/{region}/s3/aws4_request"
    empty = hashlib.sha256(b"").hexdigest()
    out, prev = [], seed
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for piece in pieces:
        sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{date}\n{scope}\n{prev}\n{empty}\n{hashlib.sha256(piece).hexdigest()}"
        prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out.append(b"%x;chunk-signature=%s\r\n" % (len(piece), prev.encode()))
        if piece:
            out.append(piece + b"\r\n")
    if trailers is not None:
        canonical = "".join(f"{k}:{v}\n" for k, v in trailers.items())
        sts = f"AWS4-HMAC-SHA256-TRAILER\n{date}\n{scope}\n{prev}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out.append("".join(f"{k}:{v}\r\n" for k, v in trailers.items()).encode())
        out.append(f"x-amz-trailer-signature:{sig}\r\n".encode())
    out.append(b"\r\n")
    return b"".join(out)


def own_auth(trailer: bool) -> AuthResult:
    mode = sigv4.STREAMING_PAYLOAD_TRAILER if trailer else sigv4.STREAMING_PAYLOAD
    date = "20240102T030405Z"
    key = sigv4.signing_key("s3cr3t", date[:8], "eu-west-3")
    return AuthResult("AK", 4, False, mode, date, f"{date[:8]}/eu-west-3/s3/aws4_request", key, "ab" * 32)


@pytest.mark.parametrize("size,chunk", [(0, 8192), (1, 8192), (8192, 8192), (100_000, 8192), (100_000, 65536)])
def test_own_signed_roundtrip(size, chunk):
    data = os.urandom(size)
    auth = own_auth(False)
    body = encode_signed(data, chunk, secret="s3cr3t", date=auth.amz_date, region="eu-west-3", seed=auth.signature)
    assert decode(body, auth.payload_hash, length=size, auth=auth, step=5000)[0] == data


def test_own_signed_trailer_roundtrip_and_wrong_key():
    data = os.urandom(20_000)
    auth = own_auth(True)
    trailers = {"x-amz-checksum-crc32": "AAAAAA=="}
    body = encode_signed(data, 8192, secret="s3cr3t", date=auth.amz_date, region="eu-west-3", seed=auth.signature,
                         trailers=trailers)
    got, got_trailers = decode(body, auth.payload_hash, length=20_000, auth=auth, trailers=["x-amz-checksum-crc32"])
    assert got == data and got_trailers == trailers
    bad = encode_signed(data, 8192, secret="other", date=auth.amz_date, region="eu-west-3", seed=auth.signature,
                        trailers=trailers)
    assert error_of(bad, auth.payload_hash, auth=auth, trailers=["x-amz-checksum-crc32"]).code \
        == "SignatureDoesNotMatch"


def test_signed_small_chunk_not_last():
    auth = own_auth(False)
    body = encode_signed(os.urandom(3000), 1000, secret="s3cr3t", date=auth.amz_date, region="eu-west-3",
                         seed=auth.signature)
    assert error_of(body, auth.payload_hash, auth=auth).code == "InvalidChunkSizeError"


def test_signed_chunk_without_signature():
    body = b"5\r\nhello\r\n0\r\n\r\n"
    assert error_of(body, sigv4.STREAMING_PAYLOAD, auth=own_auth(False)).code == "SignatureDoesNotMatch"


def test_signed_mode_requires_auth():
    with pytest.raises(S3Error) as info:
        AwsChunkedDecoder(reader(b""), mode=sigv4.STREAMING_PAYLOAD, decoded_length=0)
    assert info.value.code == "InvalidRequest"
    presigned = dataclasses.replace(own_auth(False), presigned=True)
    with pytest.raises(S3Error):
        AwsChunkedDecoder(reader(b""), mode=sigv4.STREAMING_PAYLOAD, decoded_length=0, auth=presigned)


# ---------------------------------------------------------------- botocore's unsigned trailer encoder

@pytest.mark.parametrize("checksum_cls,algo", [
    (Crc32Checksum, "CRC32"), (CrtCrc32cChecksum, "CRC32C"), (CrtCrc64NvmeChecksum, "CRC64NVME")])
@pytest.mark.parametrize("size", [0, 1, 1000, 300_000])
def test_botocore_unsigned_trailer(checksum_cls, algo, size):
    data = os.urandom(size)
    name = f"x-amz-checksum-{algo.lower()}"
    body = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=checksum_cls, checksum_name=name,
                             chunk_size=64 * 1024).read()
    got, trailers = decode(body, sigv4.STREAMING_UNSIGNED_TRAILER, length=size, trailers=[name], step=4099)
    assert got == data
    digests = Digests([algo])
    digests.update(got)
    assert trailers == {name: digests.checksum(algo)}


def test_boto3_https_put_object_body():
    """The whole client pipeline: PutObject over https streams an unsigned-trailer body."""
    client = boto3.client("s3", endpoint_url="https://localhost:9000", region_name="us-east-1",
                          aws_access_key_id="AK", aws_secret_access_key="SK",
                          config=Config(retries={"max_attempts": 0}))
    seen = {}

    def capture(request, **_):
        seen["request"] = request
        raise RuntimeError("captured")

    client.meta.events.register("before-send.s3", capture)
    data = os.urandom(50_000)
    with pytest.raises(RuntimeError):
        client.put_object(Bucket="b", Key="k", Body=io.BytesIO(data))
    request = seen["request"]
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    assert headers["content-encoding"] == "aws-chunked"
    body = request.body.read() if hasattr(request.body, "read") else request.body
    parts = urlsplit(request.url)
    auth = sigv4.authenticate(SignedRequest("PUT", parts.path, parts.query, {"host": parts.netloc, **headers}),
                              {"AK": "SK"}.get, datetime.now(timezone.utc))
    assert auth is not None
    got, trailers = decode(body, auth.payload_hash, length=int(headers["x-amz-decoded-content-length"]),
                           auth=auth, trailers=headers["x-amz-trailer"].split(","))
    assert got == data
    assert headers["x-amz-trailer"] == "x-amz-checksum-crc32"  # boto3's default algorithm
    digests = Digests(["CRC32"])
    digests.update(data)
    assert trailers == {"x-amz-checksum-crc32": digests.checksum("CRC32")}


# ---------------------------------------------------------------- framing errors

U = sigv4.STREAMING_UNSIGNED_TRAILER
CRC = "x-amz-checksum-crc32"


def test_length_mismatch():
    body = b"5\r\nhello\r\n0\r\n\r\n"
    assert decode(body, U, length=5)[0] == b"hello"
    assert error_of(body, U, length=6).code == "IncompleteBody"
    assert error_of(body, U, length=4).code == "IncompleteBody"


def test_truncated_body():
    for body in (b"5\r\nhel", b"5\r\nhello", b"5\r\nhello\r\n", b"5\r\nhello\r\n0"):
        assert error_of(body, U, length=5).code == "IncompleteBody", body


def test_eof_after_last_chunk_is_accepted():
    assert decode(b"5\r\nhello\r\n0\r\n", U, length=5)[0] == b"hello"


@pytest.mark.parametrize("body", [
    b"zz\r\nhello\r\n0\r\n\r\n",          # size not hex
    b"\r\nhello\r\n0\r\n\r\n",            # empty size
    b"5\r\nhelloXX0\r\n\r\n",             # data not followed by CRLF
    b"4\r\nhello\r\n0\r\n\r\n",           # size smaller than the data
    b"fffffffffffffffff\r\n",             # 17 hex digits
    b"5\r\nhello\r\n0\r\nno-colon\r\n\r\n",
])
def test_malformed_framing(body):
    assert error_of(body, U).code == "InvalidRequest"


def test_line_length_is_bounded():
    endless = itertools.repeat(b"1" * 1024)
    consumed = []

    def read(n):
        piece = next(endless)[:n]
        consumed.append(len(piece))
        return piece

    with pytest.raises(S3Error) as info:
        b"".join(AwsChunkedDecoder(read, mode=U, decoded_length=None))
    assert info.value.code == "InvalidRequest"
    assert sum(consumed) < 64 * 1024


def test_trailer_names_must_be_declared():
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-sha1:AAAA\r\n\r\n"
    assert error_of(body, U, trailers=[CRC]).code == "InvalidRequest"
    assert error_of(b"5\r\nhello\r\n0\r\n\r\n", U, trailers=[CRC]).code == "InvalidRequest"
    assert decode(b"0\r\nX-Amz-Checksum-CRC32 : AAAAAA==\r\n\r\n", U, trailers=["X-Amz-Checksum-Crc32"])[1] \
        == {CRC: "AAAAAA=="}


def test_trailer_section_is_bounded():
    body = b"0\r\n" + b"".join(b"x-amz-checksum-crc32:%d\r\n" % i for i in range(2000)) + b"\r\n"
    assert error_of(body, U, trailers=[CRC]).code == "InvalidRequest"


def test_unsigned_streams_large_chunks_in_pieces():
    data = os.urandom(1_000_000)
    body = b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"
    pieces = list(AwsChunkedDecoder(reader(body), mode=U, decoded_length=len(data)))
    assert b"".join(pieces) == data and max(map(len, pieces)) <= 64 * 1024
