"""Version ids on our unversioned buckets: every object's one version is "null" (what
ListObjectVersions reports); any other version id names nothing. Before, the id was ignored, so a
DeleteObject of an old version deleted the current object and a GetObject of one returned it. The
AWS-vs-moto comparisons are in tests/conformance/scenarios/versions.py."""
from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError

from tests.sigv4util import sign

OTHER = "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"      # a well-formed AWS version id


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def test_deleting_another_version_keeps_the_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"keep me")
    resp = s3.delete_object(Bucket=bucket, Key="k", VersionId=OTHER)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"keep me"
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "VersionId": OTHER}]})
    assert [e["Code"] for e in result["Errors"]] == ["NoSuchVersion"] and not result.get("Deleted")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"keep me"


def test_the_null_version_is_the_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v1", Tagging="a=1")
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [("k", "null", True)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"v1"
    assert s3.head_object(Bucket=bucket, Key="k", VersionId="null")["ContentLength"] == 2
    assert s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="null")["TagSet"] == [{"Key": "a", "Value": "1"}]
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", VersionId="null", ObjectAttributes=["ObjectSize"])
    assert attrs["ObjectSize"] == 2
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert error_of(lambda: s3.head_object(Bucket=bucket, Key="k")) == (404, "404")


@pytest.mark.parametrize("op", ["get_object", "head_object", "get_object_tagging", "delete_object_tagging"])
def test_another_version_is_no_such_version(s3, bucket, op):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v1", Tagging="a=1")
    status, code = error_of(lambda: getattr(s3, op)(Bucket=bucket, Key="k", VersionId=OTHER))
    assert status == 404 and code in ("NoSuchVersion", "404")     # a HEAD error has no body
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "a", "Value": "1"}]


def test_no_such_version_names_key_and_version(system, bucket, s3):
    s3.put_object(Bucket=bucket, Key="dir/k", Body=b"x")
    url = f"{system.endpoint}/{bucket}/dir/k?versionId={OTHER}"
    resp = requests.get(url, headers=sign("GET", url, b"", {}), timeout=10)
    assert resp.status_code == 404
    assert "<Code>NoSuchVersion</Code>" in resp.text
    assert "<Key>dir/k</Key>" in resp.text and f"<VersionId>{OTHER}</VersionId>" in resp.text


def test_an_empty_version_id_is_invalid(system, bucket, s3):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for method in ("GET", "DELETE"):
        url = f"{system.endpoint}/{bucket}/k?versionId="
        resp = requests.request(method, url, headers=sign(method, url, b"", {}), timeout=10)
        assert resp.status_code == 400 and "<Code>InvalidArgument</Code>" in resp.text
        assert "<ArgumentName>versionId</ArgumentName>" in resp.text
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_a_missing_bucket_comes_before_the_version(s3):
    assert error_of(lambda: s3.delete_object(Bucket="no-such-bucket-versions", Key="k", VersionId=OTHER)) \
        == (404, "NoSuchBucket")
