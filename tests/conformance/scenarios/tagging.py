"""Object tagging scenarios: PutObjectTagging, GetObjectTagging, DeleteObjectTagging, and
x-amz-tagging on PutObject, CopyObject and CreateMultipartUpload."""
from __future__ import annotations

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto

S = SCENARIOS


def _tags(*pairs):
    return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs]}


@S("tagging")
def put_get_delete(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"x")
    run.call("get_object_tagging", Bucket=b, Key="k")
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(("project", "blue"), ("env", "")))
    run.call("get_object_tagging", Bucket=b, Key="k")
    run.call("get_object", Bucket=b, Key="k")          # x-amz-tagging-count: 2
    run.call("head_object", Bucket=b, Key="k")
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(("only", "one")))   # replaces the set
    run.call("get_object_tagging", Bucket=b, Key="k")
    run.call("delete_object_tagging", Bucket=b, Key="k")
    run.call("get_object_tagging", Bucket=b, Key="k")
    run.call("get_object", Bucket=b, Key="k")


@S("tagging")
def tags_leave_etag_and_body_alone(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"hello tags")
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(("a", "1")))
    run.call("get_object", Bucket=b, Key="k")
    run.call("list_objects_v2", Bucket=b)


@S("tagging")
def on_put_object(run):
    b = run.bucket()
    run.call("put_object", Bucket=b, Key="k", Body=b"x", Tagging="a=1&b=two%20words&c=")
    run.call("get_object_tagging", Bucket=b, Key="k")
    run.call("get_object", Bucket=b, Key="k")
    run.call("put_object", Bucket=b, Key="k", Body=b"y")     # an overwrite without tags drops them
    run.call("get_object_tagging", Bucket=b, Key="k")


@S("tagging")
def missing_key_and_bucket(run):
    b = run.bucket()
    run.call("get_object_tagging", Bucket=b, Key="nope")
    run.call("put_object_tagging", Bucket=b, Key="nope", Tagging=_tags(("a", "1")))
    run.call("get_object_tagging", Bucket=run.bucket(create=False), Key="k")


@S("tagging")
def eleven_tags(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"x")
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(*((f"k{i}", "v") for i in range(11))))
    run.call("put_object", Bucket=b, Key="k2", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11)))
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(*((f"k{i}", "v") for i in range(10))))
    run.call("get_object_tagging", Bucket=b, Key="k")


@S("tagging")
def system_tag_prefix(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"x")
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(("aws:owner", "me")))
    run.call("get_object_tagging", Bucket=b, Key="k")


@S("tagging")
def long_key_and_value(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"x")
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(("k" * 129, "v")))
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(("k", "v" * 257)))
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(("k" * 128, "v" * 256)))
    run.call("get_object_tagging", Bucket=b, Key="k")


def _duplicate_keys(records):
    records[0] = as_error(records[0], 400, "InvalidTag")
    records[1]["body"] = {"TagSet": []}


@S("tagging")
@aws_differs_from_moto("PutObjectTagging: InvalidTag - Cannot provide multiple Tags with the same key "
                       "(moto keeps the last of them)", _duplicate_keys)
def duplicate_keys(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"x")
    run.call("put_object_tagging", Bucket=b, Key="k", Tagging=_tags(("a", "1"), ("a", "2")))
    run.call("get_object_tagging", Bucket=b, Key="k")


@S("tagging")
def copy_keeps_or_replaces_tags(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="src", Body=b"x", Tagging="colour=red")
    run.call("copy_object", Bucket=b, Key="kept", CopySource={"Bucket": b, "Key": "src"})
    run.call("get_object_tagging", Bucket=b, Key="kept")
    run.call("copy_object", Bucket=b, Key="replaced", CopySource={"Bucket": b, "Key": "src"},
             TaggingDirective="REPLACE", Tagging="size=small")
    run.call("get_object_tagging", Bucket=b, Key="replaced")
    run.call("copy_object", Bucket=b, Key="cleared", CopySource={"Bucket": b, "Key": "src"},
             TaggingDirective="REPLACE")
    run.call("get_object_tagging", Bucket=b, Key="cleared")


@S("tagging")
def copy_directive_ignores_the_tagging_header(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="src", Body=b"x", Tagging="colour=red")
    run.call("copy_object", Bucket=b, Key="kept", CopySource={"Bucket": b, "Key": "src"},
             TaggingDirective="COPY", Tagging="new=tags")
    run.call("get_object_tagging", Bucket=b, Key="kept")
    run.call("copy_object", Bucket=b, Key="kept2", CopySource={"Bucket": b, "Key": "src"},
             Tagging="not#valid=here")
    run.call("get_object_tagging", Bucket=b, Key="kept2")


@S("tagging")
def multipart_upload_tags(run):
    b = run.bucket()
    up = run.setup("create_multipart_upload", Bucket=b, Key="mp", Tagging="stage=raw&team=data")
    part = run.setup("upload_part", Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 100)
    run.setup("complete_multipart_upload", Bucket=b, Key="mp", UploadId=up["UploadId"],
              MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    run.call("get_object_tagging", Bucket=b, Key="mp")
    run.call("head_object", Bucket=b, Key="mp")


def _malformed(records):
    records[0] = as_error(records[0], 400, "MalformedXML")


@S("tagging")
@aws_differs_from_moto("MalformedXML: The XML you provided was not well-formed or did not validate against "
                       "our published schema. (moto answers 500)", _malformed)
def malformed_tagging_xml(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"x")
    run.raw("PUT", f"/{b}/k", query="tagging", body=b"<Tagging><TagSet><Tag><Key>a</Key>")


# ---------------------------------------------------------------- bucket tags
@S("tagging")
def bucket_tags_round_trip(run):
    b = run.bucket()
    run.call("get_bucket_tagging", Bucket=b)
    run.call("put_bucket_tagging", Bucket=b, Tagging=_tags(("team", "storage"), ("cost-centre", "42")))
    run.call("get_bucket_tagging", Bucket=b)
    run.call("put_bucket_tagging", Bucket=b, Tagging=_tags(("team", "web")))
    run.call("get_bucket_tagging", Bucket=b)
    run.call("delete_bucket_tagging", Bucket=b)
    run.call("get_bucket_tagging", Bucket=b)
    run.call("get_bucket_tagging", Bucket=run.bucket(create=False))


@S("tagging")
def bucket_tags_system_prefix(run):
    b = run.bucket()
    run.call("put_bucket_tagging", Bucket=b, Tagging=_tags(("aws:cloudformation:stack", "x")))
    run.call("get_bucket_tagging", Bucket=b)
