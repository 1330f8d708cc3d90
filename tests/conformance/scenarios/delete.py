"""DeleteObjects scenarios: quiet and verbose, missing keys, special keys, limits, bad XML."""
from __future__ import annotations

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto

S = SCENARIOS


def _fill(run, keys):
    b = run.bucket()
    for k in keys:
        run.setup("put_object", Bucket=b, Key=k, Body=b"x")
    return b


@S("delete_objects")
def verbose(run):
    b = _fill(run, ["a", "b", "c"])
    run.call("delete_objects", Bucket=b, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "missing"}]})
    run.call("list_objects_v2", Bucket=b)


def _quiet(records):
    records[0]["body"].pop("Deleted", None)


@S("delete_objects")
@aws_differs_from_moto("By default, the operation uses verbose mode in which the response includes the result of "
                       "deletion of each key in your request. In quiet mode the response includes only keys where the "
                       "delete operation encountered an error.", _quiet)
def quiet(run):
    b = _fill(run, ["a", "b"])
    run.call("delete_objects", Bucket=b, Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}], "Quiet": True})
    run.call("list_objects_v2", Bucket=b)


@S("delete_objects")
def special_keys(run):
    keys = ["a b.txt", "a+b.txt", "100%.csv", "ünï/ключ", "amp&lt;", "<tag>"]
    b = _fill(run, keys)
    run.call("delete_objects", Bucket=b, Delete={"Objects": [{"Key": k} for k in keys]})
    run.call("list_objects_v2", Bucket=b)


@S("delete_objects")
def missing_bucket(run):
    run.call("delete_objects", Bucket=run.bucket(create=False), Delete={"Objects": [{"Key": "a"}]})


def _too_many(records):
    records[0] = as_error(records[0], 400, "MalformedXML")


@S("delete_objects")
@aws_differs_from_moto("The request can contain a list of up to 1,000 keys that you want to delete.", _too_many)
def too_many_keys(run):
    b = run.bucket()
    run.call("delete_objects", Bucket=b, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})


@S("delete_objects")
def exactly_1000_keys(run):
    b = _fill(run, ["k1"])
    resp = run.s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1000)], "Quiet": True})
    run.note("errors", resp.get("Errors", []))
    run.call("list_objects_v2", Bucket=b)


def _malformed(records):
    records[0] = as_error(records[0], 400, "MalformedXML")


@S("delete_objects")
@aws_differs_from_moto("MalformedXML: The XML that you provided was not well-formed or did not validate against "
                       "our published schema.", _malformed)
def malformed_xml(run):
    b = run.bucket()
    run.raw("POST", "/" + b, query="delete", body=b"<Delete><Object><Key>a</Key>", label="delete malformed")


@S("delete_objects")
def empty_object_list(run):
    b = run.bucket()
    body = b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></Delete>'
    run.raw("POST", "/" + b, query="delete", body=body, label="delete nothing")


@S("delete_objects")
def raw_without_content_md5(run):
    b = _fill(run, ["a"])
    body = b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key></Object></Delete>'
    run.raw("POST", "/" + b, query="delete", body=body, label="delete no md5")
    run.call("list_objects_v2", Bucket=b)


def _missing_key_is_404(records):
    records[4] = as_error(records[4], 404, "NoSuchKey")


@S("delete")
@aws_differs_from_moto("DeleteObject If-Match: if the object doesn't exist, the request returns 404 Not Found "
                       "(NoSuchKey): If-Match, with an ETag or *, is evaluated against an existing object "
                       "(moto 5.2.6 answers 204, as for an unconditional delete of a missing key)", _missing_key_is_404)
def conditional_deletes(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"one")
    run.setup("put_object", Bucket=b, Key="k2", Body=b"two")
    run.call("delete_object", Bucket=b, Key="k", IfMatch='"00000000000000000000000000000000"')
    run.call("get_object", Bucket=b, Key="k")
    run.call("delete_object", Bucket=b, Key="k", IfMatch='"f97c5d29941bfb1b2fdab0874906ab82"')   # md5("one")
    run.call("get_object", Bucket=b, Key="k")
    run.call("delete_object", Bucket=b, Key="k", IfMatch="*")
    run.call("delete_objects", Bucket=b, Delete={"Objects": [
        {"Key": "k2", "ETag": '"00000000000000000000000000000000"'}]})
