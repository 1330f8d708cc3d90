"""PutBucketVersioning / GetBucketVersioning. Buckets keep one version per object (version id
null), which is what an AWS bucket with versioning suspended does; so "Suspended" is accepted and
reported, "Enabled" is 501 and changes nothing (tools such as Terraform modules send Suspended for
"versioning off")."""
from __future__ import annotations

import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from tests.adminutil import new_user
from tests.sigv4util import sign


def error(exc_info) -> tuple[int, str]:
    r = exc_info.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"]


def put_raw(system, bucket: str, body: bytes) -> requests.Response:
    url = f"{system.endpoint}/{bucket}?versioning"
    return requests.put(url, data=body, headers=sign("PUT", url, body, {}), timeout=10)


def test_suspended_is_recorded_and_objects_behave_as_before(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    # suspended: a write replaces the null version
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    assert put.get("VersionId") in (None, "null")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"two"
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["Key"], v["VersionId"]) for v in versions] == [("k", "null")]
    # again, with MFA delete stated as disabled: the same
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended", "MFADelete": "Disabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_enabling_is_not_implemented_and_changes_nothing(s3, bucket):
    for before in (None, "Suspended"):
        if before:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": before})
        for config in ({"Status": "Enabled"}, {"Status": "Suspended", "MFADelete": "Enabled"}):
            with pytest.raises(ClientError) as e:
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=config)
            assert error(e) == (501, "NotImplemented")
            assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == before


@pytest.mark.parametrize("body, code", [
    (b"<VersioningConfiguration><Status>Off</Status></VersioningConfiguration>", "IllegalVersioningConfigurationException"),
    (b"<VersioningConfiguration/>", "IllegalVersioningConfigurationException"),
    (b"<VersioningConfiguration><Status>Suspended</Status><Status>Suspended</Status></VersioningConfiguration>",
     "IllegalVersioningConfigurationException"),
    (b"<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Maybe</MfaDelete></VersioningConfiguration>",
     "IllegalVersioningConfigurationException"),
    (b"<VersioningConfiguration><Status>Suspended</Status><Extra/></VersioningConfiguration>",
     "IllegalVersioningConfigurationException"),
    (b"<Versioning><Status>Suspended</Status></Versioning>", "MalformedXML"),
    (b"<VersioningConfiguration><Status>Suspended</Status>", "MalformedXML"),
    (b"", "MalformedXML"),
])
def test_bad_documents_are_400_and_change_nothing(system, s3, bucket, body, code):
    r = put_raw(system, bucket, body)
    assert r.status_code == 400 and f"<Code>{code}</Code>" in r.text, r.text
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_namespaced_document_from_a_raw_client(system, s3, bucket):
    body = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<Status>Suspended</Status></VersioningConfiguration>")
    assert put_raw(system, bucket, body).status_code == 200
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_other_users_and_missing_buckets(system, s3, bucket):
    other = new_user(system, "ver")
    theirs = system.client(access_key=other["access_key"], secret_key=other["secret_key"])
    for call in (lambda: theirs.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}),
                 lambda: theirs.get_bucket_versioning(Bucket=bucket)):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == (403, "AccessDenied")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    missing = f"t-missing-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=missing, VersioningConfiguration={"Status": "Suspended"})
    assert error(e) == (404, "NoSuchBucket")


def test_a_new_bucket_of_the_same_name_starts_unset(s3):
    name = f"t-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    finally:
        s3.delete_bucket(Bucket=name)
