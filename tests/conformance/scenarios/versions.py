"""Version ids on an unversioned bucket: the one version of every object is "null"; any other id
names nothing."""
from __future__ import annotations

import copy

from tests.conformance.harness import SCENARIOS, aws_differs_from_moto

S = SCENARIOS
OTHER = "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"
NULL_QUOTE = ("Objects that are stored in an Amazon S3 bucket before you set the versioning state have a "
              "version ID of null.")


@S("versions")
def null_and_other_ids(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"one", Tagging="a=1")
    run.call("get_object", Bucket=b, Key="k", VersionId="null")
    run.call("get_object", Bucket=b, Key="k", VersionId=OTHER)
    run.call("get_object_tagging", Bucket=b, Key="k", VersionId=OTHER)
    run.call("put_object_tagging", Bucket=b, Key="k", VersionId=OTHER, Tagging={"TagSet": []})
    run.call("get_object_attributes", Bucket=b, Key="k", VersionId=OTHER, ObjectAttributes=["ObjectSize"])
    run.call("get_object", Bucket=b, Key="missing", VersionId=OTHER)
    run.call("get_object_tagging", Bucket=b, Key="k")               # the tags are untouched


def _delete_other_keeps(records):
    records[2] = copy.deepcopy(records[0])      # the object is still there, as it was


@S("versions")
@aws_differs_from_moto("DeleteObject: To remove a specific version, you must use the versionId query "
                       "parameter. Using this query parameter permanently deletes the version. " + NULL_QUOTE
                       + " (moto deletes the object whatever version is named)", _delete_other_keeps)
def delete_other_version_keeps_object(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"keep me")
    run.call("get_object", Bucket=b, Key="k")
    run.call("delete_object", Bucket=b, Key="k", VersionId=OTHER)
    run.call("get_object", Bucket=b, Key="k")
    run.call("delete_object", Bucket=b, Key="k", VersionId="null")
    run.call("get_object", Bucket=b, Key="k")


def _null_is_the_object(records):
    for i in (1, 3, 5):                          # with VersionId=null: the same as without
        records[i] = dict(copy.deepcopy(records[i - 1]), step=records[i]["step"], args=records[i]["args"])


@S("versions")
@aws_differs_from_moto(NULL_QUOTE + " (moto answers HEAD 400 and the tagging and attribute reads "
                       "NoSuchVersion for it)", _null_is_the_object)
def null_version_reads(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"one", Tagging="a=1")
    run.call("head_object", Bucket=b, Key="k")
    run.call("head_object", Bucket=b, Key="k", VersionId="null")
    run.call("get_object_tagging", Bucket=b, Key="k")
    run.call("get_object_tagging", Bucket=b, Key="k", VersionId="null")
    run.call("get_object_attributes", Bucket=b, Key="k", ObjectAttributes=["ObjectSize", "ETag"])
    run.call("get_object_attributes", Bucket=b, Key="k", VersionId="null", ObjectAttributes=["ObjectSize", "ETag"])
