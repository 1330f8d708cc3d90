"""CopyObject scenarios: same and cross bucket, metadata directives, copy onto itself, copy-source
conditions, encoded source keys, errors."""
from __future__ import annotations

import hashlib

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto

S = SCENARIOS
BODY = b"copy me, please"
ETAG = '"' + hashlib.md5(BODY).hexdigest() + '"'
OTHER = '"' + hashlib.md5(b"other").hexdigest() + '"'
PAST = "Sat, 01 Jan 2000 00:00:00 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"


def _precondition_failed(records):
    records[0] = as_error(records[0], 412, "PreconditionFailed")
    records[1] = as_error(records[1], 404, "404")


COPY_CONDITION_DOC = {
    "if_match_fail": "x-amz-copy-source-if-match: Copies the object if its entity tag (ETag) matches the specified tag.",
    "if_modified_since_future": "x-amz-copy-source-if-modified-since: Copies the object if it has been modified "
                                "since the specified time.",
    "if_unmodified_since_past": "x-amz-copy-source-if-unmodified-since: Copies the object if it hasn't been "
                                "modified since the specified time.",
}


def _src(run, key="src", **kw):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key=key, Body=BODY, ContentType="text/x-src", Metadata={"m": "1"}, **kw)
    return b


@S("copy")
def same_bucket(run):
    b = _src(run)
    run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"})
    run.call("head_object", Bucket=b, Key="dst")
    run.call("get_object", Bucket=b, Key="dst")


@S("copy")
def cross_bucket(run):
    b = _src(run)
    d = run.bucket()
    run.call("copy_object", Bucket=d, Key="dst", CopySource=f"{b}/src")
    run.call("head_object", Bucket=d, Key="dst")


@S("copy")
def metadata_replace(run):
    b = _src(run)
    run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"},
             MetadataDirective="REPLACE", ContentType="application/x-new", Metadata={"n": "2"})
    run.call("head_object", Bucket=b, Key="dst")


@S("copy")
def metadata_copy_ignores_new_headers(run):
    b = _src(run)
    run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"},
             MetadataDirective="COPY", Metadata={"ignored": "yes"})
    run.call("head_object", Bucket=b, Key="dst")


@S("copy")
def onto_itself_without_change(run):
    b = _src(run)
    run.call("copy_object", Bucket=b, Key="src", CopySource={"Bucket": b, "Key": "src"})


@S("copy")
def onto_itself_replacing_metadata(run):
    b = _src(run)
    run.call("copy_object", Bucket=b, Key="src", CopySource={"Bucket": b, "Key": "src"},
             MetadataDirective="REPLACE", Metadata={"changed": "yes"}, ContentType="text/plain")
    run.call("head_object", Bucket=b, Key="src")


@S("copy")
def onto_itself_changing_storage_class(run):
    b = _src(run)
    run.call("copy_object", Bucket=b, Key="src", CopySource={"Bucket": b, "Key": "src"},
             StorageClass="STANDARD_IA")
    run.call("head_object", Bucket=b, Key="src")


@S("copy")
def missing_source_key(run):
    b = run.bucket()
    run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "nope"})


@S("copy")
def missing_source_bucket(run):
    b = run.bucket()
    run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": run.bucket(create=False), "Key": "x"})


@S("copy")
def missing_destination_bucket(run):
    b = _src(run)
    run.call("copy_object", Bucket=run.bucket(create=False), Key="dst", CopySource={"Bucket": b, "Key": "src"})


@S("copy")
def special_source_key(run):
    b = _src(run, key="dir one/ünï+100%.txt")
    run.call("copy_object", Bucket=b, Key="dst two+", CopySource={"Bucket": b, "Key": "dir one/ünï+100%.txt"})
    run.call("get_object", Bucket=b, Key="dst two+")


COPY_CONDITIONS = {
    "if_match_ok": {"CopySourceIfMatch": ETAG},
    "if_match_fail": {"CopySourceIfMatch": OTHER},
    "if_none_match_hit": {"CopySourceIfNoneMatch": ETAG},
    "if_none_match_miss": {"CopySourceIfNoneMatch": OTHER},
    "if_modified_since_past": {"CopySourceIfModifiedSince": PAST},
    "if_modified_since_future": {"CopySourceIfModifiedSince": FUTURE},
    "if_unmodified_since_past": {"CopySourceIfUnmodifiedSince": PAST},
    "if_unmodified_since_future": {"CopySourceIfUnmodifiedSince": FUTURE},
}
for _label, _kw in COPY_CONDITIONS.items():
    def _conditional_copy(run, kw=_kw):
        b = _src(run)
        run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"}, **kw)
        run.call("head_object", Bucket=b, Key="dst")
    if _label in COPY_CONDITION_DOC:
        _conditional_copy = aws_differs_from_moto(COPY_CONDITION_DOC[_label] + " PreconditionFailed: At least one "
                                                  "of the preconditions that you specified did not hold.",
                                                  _precondition_failed)(_conditional_copy)
    S.add("copy", f"condition_{_label}", _conditional_copy)


def _invalid_directive(records):
    records[0] = as_error(records[0], 400, "InvalidArgument")


@S("copy")
@aws_differs_from_moto("x-amz-metadata-directive: Specifies whether the metadata is copied from the source object or "
                       "replaced with metadata that's provided in the request. Valid Values: COPY | REPLACE",
                       _invalid_directive)
def invalid_metadata_directive(run):
    b = _src(run)
    run.raw("PUT", run.key_path(b, "dst"), headers={"x-amz-copy-source": f"/{b}/src",
                                                     "x-amz-metadata-directive": "MERGE"})


@S("copy")
def zero_byte_source(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="empty", Body=b"")
    run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "empty"})
    run.call("get_object", Bucket=b, Key="dst")


def _destination_kept(records):
    records[0] = as_error(records[0], 412, "PreconditionFailed")
    records[1] = as_error(records[1], 412, "PreconditionFailed")


@S("copy")
@aws_differs_from_moto("CopyObject If-None-Match: Copies the object only if the object key name at the destination "
                       "does not already exist in the bucket specified. Otherwise, Amazon S3 returns a 412 "
                       "Precondition Failed error. If-Match: Copies the object if the entity tag (ETag) of the "
                       "destination object matches the specified tag. (moto copies regardless)", _destination_kept)
def conditional_destination(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="src", Body=b"source")
    run.setup("put_object", Bucket=b, Key="dst", Body=b"destination")
    run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"}, IfNoneMatch="*")
    run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"},
             IfMatch='"0123456789abcdef0123456789abcdef"')


def _redirect_not_copied(records):
    records[1]["headers"].pop("x-amz-website-redirect-location", None)
    records[1]["body"].pop("WebsiteRedirectLocation", None)


@S("copy")
@aws_differs_from_moto("CopyObject x-amz-website-redirect-location: This value is unique to each object and is not "
                       "copied when using the x-amz-metadata-directive header. Instead, you may opt to provide this "
                       "header in combination with the x-amz-metadata-directive header. (moto copies it)",
                       _redirect_not_copied)
def website_redirect_not_copied(run):
    b = _src(run, WebsiteRedirectLocation="/from-source")
    run.call("copy_object", Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"})
    run.call("head_object", Bucket=b, Key="dst")
    run.call("copy_object", Bucket=b, Key="dst2", CopySource={"Bucket": b, "Key": "src"},
             WebsiteRedirectLocation="https://example.com/given")
    run.call("head_object", Bucket=b, Key="dst2")
