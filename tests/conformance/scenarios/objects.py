"""Object scenarios: PutObject, GetObject, HeadObject, DeleteObject with keys, content headers,
metadata, storage classes, ranges, conditions, response overrides, checksums and Content-MD5."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import zlib

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto
from tests.conformance.scenarios import multipart as _multipart

S = SCENARIOS
BODY = bytes(range(100))                     # 100 distinct bytes: every range is recognisable
PAST = "Sat, 01 Jan 2000 00:00:00 GMT"
FUTURE = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
ETAG = '"' + hashlib.md5(BODY).hexdigest() + '"'
OTHER_ETAG = '"' + hashlib.md5(b"other").hexdigest() + '"'


BAD_DIGEST = ("BadDigest: The Content-MD5 or checksum value that you specified did not match what the server "
              "received.")
INVALID_DIGEST = "InvalidDigest: The Content-MD5 or checksum value that you specified is not valid."


def _rejected_upload(code):
    def expect(records):
        records[0] = as_error(records[0], 400, code)
        records[1] = as_error(records[1], 404, "404")
    return expect


def _obj(run, key="obj", body=BODY, **kw):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key=key, Body=body, **kw)
    return b


# ----------------------------------------------------------------------------- basics
@S("objects")
def put_get_head_delete(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="hello.txt", Body=b"hello world")
    run.call("get_object", Bucket=b, Key="hello.txt")
    run.call("head_object", Bucket=b, Key="hello.txt")
    run.call("delete_object", Bucket=b, Key="hello.txt")
    run.call("get_object", Bucket=b, Key="hello.txt")
    run.call("head_object", Bucket=b, Key="hello.txt")


@S("objects")
def zero_byte(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="empty", Body=b"")
    run.call("get_object", Bucket=b, Key="empty")
    run.call("head_object", Bucket=b, Key="empty")


@S("objects")
def overwrite(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"first", Metadata={"v": "1"}, ContentType="text/plain")
    run.call("put_object", Bucket=b, Key="k", Body=b"second!")
    run.call("get_object", Bucket=b, Key="k")


@S("objects")
def default_content_type(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x")
    run.call("head_object", Bucket=b, Key="k")


@S("objects")
def content_headers_round_trip(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="page.html", Body=b"<p>hi</p>", ContentType="text/html; charset=utf-8",
             ContentEncoding="identity", ContentDisposition='attachment; filename="page.html"',
             ContentLanguage="de-DE", CacheControl="max-age=3600, public",
             Expires=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    run.call("head_object", Bucket=b, Key="page.html")
    run.call("get_object", Bucket=b, Key="page.html")


@S("objects")
def metadata_round_trip(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x",
             Metadata={"color": "blue", "Mixed-Case": "Value With Spaces", "empty": "", "dash-ed": "a=b;c"})
    run.call("head_object", Bucket=b, Key="k")
    run.call("get_object", Bucket=b, Key="k")


@S("objects")
@aws_differs_from_moto("Within the PUT request header, the user-defined metadata is limited to 2 KB in size. The size "
                       "of user-defined metadata is measured by taking the sum of the number of bytes in the UTF-8 "
                       "encoding of each key and value.", _rejected_upload("MetadataTooLarge"))
def metadata_too_large(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x", Metadata={"big": "v" * 2100})
    run.call("head_object", Bucket=b, Key="k")


@S("objects")
def metadata_at_limit(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x", Metadata={"big": "v" * 1900})
    run.call("head_object", Bucket=b, Key="k")


for _sc in ("STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING"):
    def _storage(run, sc=_sc):
        b = run.bucket()
        run.call("put_object", Bucket=b, Key="k", Body=b"x", StorageClass=sc)
        run.call("head_object", Bucket=b, Key="k")
        run.call("list_objects_v2", Bucket=b)
    S.add("objects", f"storage_class_{_sc.lower()}", _storage)


@S("objects")
def storage_class_invalid(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x", StorageClass="FANCY")


# ----------------------------------------------------------------------------- missing things
@S("objects")
def get_missing_key(run):
    run.call("get_object", Bucket=run.bucket(), Key="nope")


@S("objects")
def head_missing_key(run):
    run.call("head_object", Bucket=run.bucket(), Key="nope")


@S("objects")
def delete_missing_key(run):
    run.call("delete_object", Bucket=run.bucket(), Key="nope")


@S("objects")
def get_in_missing_bucket(run):
    run.call("get_object", Bucket=run.bucket(create=False), Key="k")


@S("objects")
def head_in_missing_bucket(run):
    run.call("head_object", Bucket=run.bucket(create=False), Key="k")


@S("objects")
def put_in_missing_bucket(run):
    run.call("put_object", Bucket=run.bucket(create=False), Key="k", Body=b"x")


@S("objects")
def delete_in_missing_bucket(run):
    run.call("delete_object", Bucket=run.bucket(create=False), Key="k")


def _key_too_long(records):
    records[0] = as_error(records[0], 400, "KeyTooLongError")


@S("objects")
@aws_differs_from_moto("The object key name is a sequence of Unicode characters with UTF-8 encoding of up to 1,024 "
                       "bytes long.", _key_too_long)
def key_too_long(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k" * 1025, Body=b"x")


@S("objects")
def key_max_length(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k" * 1024, Body=b"x")
    run.call("head_object", Bucket=b, Key="k" * 1024)


# ----------------------------------------------------------------------------- keys
KEYS = {"space": "with space.txt", "plus": "a+b.txt", "percent": "100%.csv", "unicode": "ünïcödé/ключ/😀.bin",
        "query_chars": "a+b=c&d.txt", "double_slash": "double//slash", "dot_segments": "dots/./and/../x",
        "sub_delims": "~tilde!*'()$,;", "trailing_slash": "folder/", "hash_question": "what#is?this",
        "brackets": "[x]{y}<z>", "at_colon": "user@host:path", "leading_slash": "/lead", "caret_pipe": "a^b|c`d",
        "quote": 'say "hi"'}


for _label, _key in KEYS.items():
    def _key_round_trip(run, key=_key):
        b = run.bucket()
        run.call("put_object", Bucket=b, Key=key, Body=key.encode())
        run.call("get_object", Bucket=b, Key=key)
        run.call("head_object", Bucket=b, Key=key)
        run.call("list_objects_v2", Bucket=b)
        run.call("list_objects_v2", Bucket=b, Prefix=key)
        run.call("delete_object", Bucket=b, Key=key)
        run.call("list_objects_v2", Bucket=b)
    S.add("keys", _label, _key_round_trip)


# ----------------------------------------------------------------------------- ranges
RANGES = {"first_ten": "bytes=0-9", "middle": "bytes=10-19", "open_ended": "bytes=90-", "suffix": "bytes=-5",
          "suffix_larger_than_object": "bytes=-500", "single_first_byte": "bytes=0-0",
          "single_last_byte": "bytes=99-99", "end_past_size": "bytes=95-1000", "whole": "bytes=0-",
          "start_at_size": "bytes=100-", "start_past_size": "bytes=500-600",
          "malformed_numbers": "bytes=a-b", "reversed": "bytes=9-5", "multiple": "bytes=0-1,5-6",
          "suffix_zero": "bytes=-0"}

for _label, _range in RANGES.items():
    def _range_get(run, rng=_range):
        b = _obj(run)
        run.call("get_object", Bucket=b, Key="obj", Range=rng)
        run.call("head_object", Bucket=b, Key="obj", Range=rng)
    S.add("ranges", _label, _range_get)


@S("ranges")
def zero_byte_object_open_range(run):
    # a first-byte position at or past the length is unsatisfiable: 416 (AWS too, minio/minio#17713)
    b = _obj(run, body=b"")
    run.call("get_object", Bucket=b, Key="obj", Range="bytes=0-")


@S("ranges")
def zero_byte_object_suffix_range(run):
    b = _obj(run, body=b"")
    run.call("get_object", Bucket=b, Key="obj", Range="bytes=-1")


# ----------------------------------------------------------------------------- conditions
CONDITIONS = {
    "if_match_ok": {"IfMatch": ETAG},
    "if_match_unquoted": {"IfMatch": ETAG.strip('"')},
    "if_match_fail": {"IfMatch": OTHER_ETAG},
    "if_none_match_hit": {"IfNoneMatch": ETAG},
    "if_none_match_miss": {"IfNoneMatch": OTHER_ETAG},
    "if_modified_since_past": {"IfModifiedSince": PAST},
    "if_modified_since_future": {"IfModifiedSince": FUTURE},
    "if_unmodified_since_past": {"IfUnmodifiedSince": PAST},
    "if_unmodified_since_future": {"IfUnmodifiedSince": FUTURE},
    # precedence (RFC 7232 section 6, as S3 documents it)
    "match_fails_and_unmodified_since_ok": {"IfMatch": OTHER_ETAG, "IfUnmodifiedSince": FUTURE},
    "none_match_hit_and_modified_since_ok": {"IfNoneMatch": ETAG, "IfModifiedSince": PAST},
    "match_fails_and_none_match_hit": {"IfMatch": OTHER_ETAG, "IfNoneMatch": ETAG},
    "match_ok_and_modified_since_fails": {"IfMatch": ETAG, "IfModifiedSince": FUTURE},
}


def _conditional(headers, op):
    def scenario(run):
        b = _obj(run)
        run.call(op, Bucket=b, Key="obj", **headers)
    return scenario


for _label, _hdrs in CONDITIONS.items():
    S.add("conditions", f"get_{_label}", _conditional(_hdrs, "get_object"))
for _label in ("if_match_fail", "if_none_match_hit", "if_modified_since_future", "if_unmodified_since_past",
               "none_match_hit_and_modified_since_ok", "match_fails_and_unmodified_since_ok"):
    S.add("conditions", f"head_{_label}", _conditional(CONDITIONS[_label], "head_object"))


def _as_unconditional(records):
    records[1] = dict(records[0], step=records[1]["step"], args=records[1]["args"])


for _op in ("get_object", "head_object"):
    @aws_differs_from_moto("If both of the If-Match and If-Unmodified-Since headers are present in the request as "
                           "follows: If-Match condition evaluates to true, and; If-Unmodified-Since condition "
                           "evaluates to false; then, S3 returns 200 OK and the data requested.", _as_unconditional)
    def _match_wins(run, op=_op):
        b = _obj(run)
        run.call(op, Bucket=b, Key="obj")
        run.call(op, Bucket=b, Key="obj", IfMatch=ETAG, IfUnmodifiedSince=PAST)
    S.add("conditions", f"{_op.split('_')[0]}_match_ok_and_unmodified_since_fails", _match_wins)


@S("conditions")
def get_condition_on_missing_key(run):
    run.call("get_object", Bucket=run.bucket(), Key="nope", IfMatch=ETAG)


@S("conditions")
def put_if_none_match_star_new(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"one", IfNoneMatch="*")
    run.call("put_object", Bucket=b, Key="k", Body=b"two", IfNoneMatch="*")
    run.call("get_object", Bucket=b, Key="k")


@S("conditions")
def put_if_match(run):
    b = _obj(run)
    run.call("put_object", Bucket=b, Key="obj", Body=b"two", IfMatch=OTHER_ETAG)
    run.call("put_object", Bucket=b, Key="obj", Body=b"two", IfMatch=ETAG)
    run.call("get_object", Bucket=b, Key="obj")


@S("conditions")
def put_if_match_missing_key(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="nope", Body=b"x", IfMatch=ETAG)


# ----------------------------------------------------------------------------- response overrides
OVERRIDES = {"content_type": {"ResponseContentType": "application/json"},
             "content_language": {"ResponseContentLanguage": "fr"},
             "expires": {"ResponseExpires": dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)},
             "cache_control": {"ResponseCacheControl": "no-cache"},
             "content_disposition": {"ResponseContentDisposition": 'attachment; filename="x y.bin"'},
             "content_encoding": {"ResponseContentEncoding": "identity"}}
for _label, _kw in OVERRIDES.items():
    def _override(run, kw=_kw):
        b = _obj(run, ContentType="text/plain", CacheControl="max-age=1")
        run.call("get_object", Bucket=b, Key="obj", **kw)
    S.add("overrides", _label, _override)


@S("overrides")
def all_together(run):
    b = _obj(run)
    kw = {}
    for v in OVERRIDES.values():
        kw.update(v)
    run.call("get_object", Bucket=b, Key="obj", **kw)
    run.call("head_object", Bucket=b, Key="obj")


# ----------------------------------------------------------------------------- checksums
ALGOS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
WRONG = {"CRC32": base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode(),
         "CRC32C": "AAAAAA==", "CRC64NVME": "AAAAAAAAAAA=",
         "SHA1": base64.b64encode(hashlib.sha1(b"other").digest()).decode(),
         "SHA256": base64.b64encode(hashlib.sha256(b"other").digest()).decode()}

for _algo in ALGOS:
    def _given(run, algo=_algo):
        b = run.bucket()
        run.call("put_object", Bucket=b, Key="k", Body=BODY, ChecksumAlgorithm=algo)
        run.call("head_object", Bucket=b, Key="k", ChecksumMode="ENABLED")
        run.call("get_object", Bucket=b, Key="k", ChecksumMode="ENABLED")
        run.call("get_object", Bucket=b, Key="k", ChecksumMode="ENABLED", Range="bytes=0-9")
    S.add("checksums", f"{_algo.lower()}_round_trip", _given)

    @aws_differs_from_moto(BAD_DIGEST, _rejected_upload("BadDigest"))
    def _mismatch(run, algo=_algo):
        b = run.bucket()
        run.call("put_object", Bucket=b, Key="k", Body=BODY, **{"Checksum" + algo: WRONG[algo]})
        run.call("head_object", Bucket=b, Key="k")
    S.add("checksums", f"{_algo.lower()}_mismatch", _mismatch)


@S("checksums")
def default_crc_without_checksum_mode(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=BODY)
    run.call("head_object", Bucket=b, Key="k")


def _checksum_reported(records):
    for rec in records:
        rec["headers"]["x-amz-checksum-crc32"] = "NSRBwg=="
        rec["headers"]["x-amz-checksum-type"] = "FULL_OBJECT"


@S("checksums")
@aws_differs_from_moto("ChecksumCRC32: The Base64 encoded, 32-bit CRC32 checksum of the object. This checksum is only "
                       "be present if the checksum was uploaded with the object.", _checksum_reported)
def raw_put_good_crc32_header(run):
    b = run.bucket()
    body = b"abc"
    run.raw("PUT", run.key_path(b, "k"), body=body, headers={
        "x-amz-checksum-crc32": base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()})
    run.raw("HEAD", run.key_path(b, "k"), headers={"x-amz-checksum-mode": "ENABLED"})


# ----------------------------------------------------------------------------- Content-MD5
def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


MD5_CASES = {"good": _md5(b"payload"), "mismatch": _md5(b"something else"), "not_base64": "!!!notbase64!!!",
             "wrong_length": base64.b64encode(b"12345678").decode()}
MD5_MOTO_DIFFERS = {"mismatch": (BAD_DIGEST, _rejected_upload("BadDigest")),
                    "not_base64": (INVALID_DIGEST, _rejected_upload("InvalidDigest")),
                    "wrong_length": (INVALID_DIGEST, _rejected_upload("InvalidDigest"))}
for _label, _value in MD5_CASES.items():
    def _content_md5(run, value=_value):
        b = run.bucket()
        run.raw("PUT", run.key_path(b, "k"), body=b"payload", headers={"Content-MD5": value})
        run.call("head_object", Bucket=b, Key="k")
    if _label in MD5_MOTO_DIFFERS:
        _content_md5 = aws_differs_from_moto(*MD5_MOTO_DIFFERS[_label])(_content_md5)
    S.add("content_md5", _label, _content_md5)


def _second_put_rejected(records):
    records[1] = as_error(records[1], 400, "BadDigest")


@S("content_md5")
@aws_differs_from_moto(BAD_DIGEST, _second_put_rejected)
def boto3_content_md5(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"payload", ContentMD5=_md5(b"payload"))
    run.call("put_object", Bucket=b, Key="k2", Body=b"payload", ContentMD5=_md5(b"nope"))


# ----------------------------------------------------------------------------- part numbers, raw edge cases
@S("objects")
def part_number_one_on_simple_object(run):
    b = _obj(run)
    run.call("get_object", Bucket=b, Key="obj", PartNumber=1)
    run.call("head_object", Bucket=b, Key="obj", PartNumber=1)


def _invalid_part_number(records):
    records[0] = as_error(records[0], 416, "InvalidPartNumber")


@S("objects")
@aws_differs_from_moto("InvalidPartNumber: The requested partnumber is not satisfiable", _invalid_part_number)
def part_number_two_on_simple_object(run):
    b = _obj(run)
    run.call("get_object", Bucket=b, Key="obj", PartNumber=2)


@S("objects")
def raw_put_and_get(run):
    b = run.bucket()
    run.raw("PUT", run.key_path(b, "raw key+1"), body=b"raw body", headers={"Content-Type": "text/x-raw"})
    run.raw("GET", run.key_path(b, "raw key+1"))
    run.raw("HEAD", run.key_path(b, "raw key+1"))


@S("objects")
def raw_get_missing(run):
    b = run.bucket()
    run.raw("GET", run.key_path(b, "missing"))
    run.raw("HEAD", run.key_path(b, "missing"))


def _method_not_allowed(records):
    records[0] = as_error(records[0], 405, "MethodNotAllowed")


@S("objects")
@aws_differs_from_moto("MethodNotAllowed: The specified method is not allowed against this resource.",
                       _method_not_allowed)
def raw_method_not_allowed_on_object(run):
    b = _obj(run)
    run.raw("PATCH", run.key_path(b, "obj"))


# ---------------------------------------------------------------- GetObjectAttributes
ALL_ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


@S("objects")
def attributes_of_a_simple_object(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"hello attributes", ChecksumAlgorithm="SHA256")
    run.call("get_object_attributes", Bucket=b, Key="k", ObjectAttributes=ALL_ATTRIBUTES)
    run.call("get_object_attributes", Bucket=b, Key="k", ObjectAttributes=["ObjectSize"])
    run.call("get_object_attributes", Bucket=b, Key="k", ObjectAttributes=["ETag", "StorageClass"])


@S("objects")
def attributes_of_missing_objects(run):
    b = run.bucket()
    run.call("get_object_attributes", Bucket=b, Key="nope", ObjectAttributes=["ETag"])
    run.call("get_object_attributes", Bucket=run.bucket(create=False), Key="k", ObjectAttributes=["ETag"])


@S("objects")
def attributes_of_an_empty_object(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="empty", Body=b"")
    run.call("get_object_attributes", Bucket=b, Key="empty", ObjectAttributes=["ObjectSize", "ETag"])


# ---------------------------------------------------------------- browser uploads (PostObject)
@S("post_object")
@aws_differs_from_moto(_multipart.DEFAULT_CRC64 + " (moto stores no checksum for a form upload)",
                       _multipart._default_checksum(b"from a form"))
def post_form_upload(run):
    b = run.bucket()
    run.post_form(b, "in/${filename}", b"from a form", filename="a b.txt",
                  fields={"Content-Type": "text/plain"}, conditions=[{"Content-Type": "text/plain"}])
    run.call("get_object", Bucket=b, Key="in/a b.txt")
    run.call("list_objects_v2", Bucket=b)


def _post_response(records):
    records[0]["body"] = {"PostResponse": {"Location": "<object-url>", "Bucket": "<bucket-0>", "Key": "k.txt",
                                           "ETag": '"de7ff458e10461a80421078e5bb459ad"'}}


@S("post_object")
@aws_differs_from_moto("PostObject: success_action_status - If the value is set to 201, Amazon S3 returns an XML "
                       "document with a 201 status code. (moto's 201 has an empty body)", _post_response)
def post_form_201(run):
    b = run.bucket()
    run.post_form(b, "k.txt", b"two hundred one", fields={"success_action_status": "201"},
                  conditions=[{"success_action_status": "201"}])


@S("objects")
def website_redirect_location(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="page.html", Body=b"<html/>", WebsiteRedirectLocation="/new/page.html")
    run.call("head_object", Bucket=b, Key="page.html")
    run.call("get_object", Bucket=b, Key="page.html")
    run.call("put_object", Bucket=b, Key="page.html", Body=b"<html/>")
    run.call("head_object", Bucket=b, Key="page.html")


def _redirect_refused(records):
    records[0] = as_error(records[0], 400, "InvalidRedirectLocation")
    records[1] = as_error(records[1], 404, "404")


@S("objects")
@aws_differs_from_moto("PutObject x-amz-website-redirect-location: The value must be prefixed by /, http://, or "
                       "https://. The length of the value is limited to 2 KB. (moto stores any value)",
                       _redirect_refused)
def website_redirect_location_invalid(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x", WebsiteRedirectLocation="relative/page.html")
    run.call("head_object", Bucket=b, Key="k")
