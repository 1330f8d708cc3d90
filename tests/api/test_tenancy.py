"""Ownership: two users, every operation, both APIs. The admin sees everything; a disabled user's
keys and a revoked key stop working at once."""
from __future__ import annotations

import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from tests.adminutil import new_user, run_admin
from tests.conftest import ADMIN_API


@pytest.fixture(scope="module")
def users(system):
    alice, bob = new_user(system, "alice"), new_user(system, "bob")
    return alice, bob


def client(system, u):
    return system.client(access_key=u["access_key"], secret_key=u["secret_key"])


def bearer(u) -> dict:
    return {"Authorization": f"Bearer {u['api_key']}"}


def code(e) -> str:
    return e.value.response["Error"]["Code"]


@pytest.fixture
def alices_bucket(system, users):
    alice = users[0]
    s3 = client(system, alice)
    name = f"a-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="secret.txt", Body=b"alice's", ContentType="text/plain")
    yield name
    system.client().delete_object(Bucket=name, Key="secret.txt")
    for o in system.client().list_objects_v2(Bucket=name).get("Contents", []):
        system.client().delete_object(Bucket=name, Key=o["Key"])
    system.client().delete_bucket(Bucket=name)


def test_an_admin_sees_the_bucket_owner_in_acls(system, users, alices_bucket):
    admin, alice = system.client(), client(system, users[0])
    alices_id = alice.list_buckets()["Owner"]["ID"]
    for acl in (admin.get_bucket_acl(Bucket=alices_bucket),
                admin.get_object_acl(Bucket=alices_bucket, Key="secret.txt")):
        assert acl["Owner"] == {"ID": alices_id, "DisplayName": users[0]["user"]}
        assert acl["Grants"][0]["Grantee"]["ID"] == alices_id
    assert alices_id != admin.list_buckets()["Owner"]["ID"]
    # the objects' Owner in listings is the bucket's owner too
    v2 = admin.list_objects_v2(Bucket=alices_bucket, FetchOwner=True)["Contents"]
    v1 = admin.list_objects(Bucket=alices_bucket)["Contents"]
    versions = admin.list_object_versions(Bucket=alices_bucket)["Versions"]
    assert [o["Owner"]["ID"] for o in v2 + v1 + versions] == [alices_id] * 3


def test_s3_other_users_bucket_is_denied(system, users, alices_bucket):
    bob = client(system, users[1])
    b = alices_bucket
    assert b not in [x["Name"] for x in bob.list_buckets()["Buckets"]]
    calls = [
        lambda: bob.head_bucket(Bucket=b),
        lambda: bob.get_bucket_location(Bucket=b),
        lambda: bob.list_objects_v2(Bucket=b),
        lambda: bob.list_objects(Bucket=b),
        lambda: bob.put_object(Bucket=b, Key="x", Body=b"bob"),
        lambda: bob.get_object(Bucket=b, Key="secret.txt"),
        lambda: bob.head_object(Bucket=b, Key="secret.txt"),
        lambda: bob.delete_object(Bucket=b, Key="secret.txt"),
        lambda: bob.delete_object(Bucket=b, Key="secret.txt", VersionId="3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"),
        lambda: bob.get_object(Bucket=b, Key="secret.txt", VersionId="3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"),
        lambda: bob.get_object_tagging(Bucket=b, Key="secret.txt"),
        lambda: bob.put_object_tagging(Bucket=b, Key="secret.txt", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}),
        lambda: bob.delete_object_tagging(Bucket=b, Key="secret.txt"),
        lambda: bob.get_bucket_tagging(Bucket=b),
        lambda: bob.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}),
        lambda: bob.delete_bucket_tagging(Bucket=b),
        lambda: bob.get_bucket_cors(Bucket=b),
        lambda: bob.get_bucket_acl(Bucket=b),
        lambda: bob.put_bucket_acl(Bucket=b, ACL="private"),
        lambda: bob.get_object_acl(Bucket=b, Key="secret.txt"),
        lambda: bob.put_object_acl(Bucket=b, Key="secret.txt", ACL="private"),
        lambda: bob.get_bucket_policy(Bucket=b),
        lambda: bob.delete_bucket_policy(Bucket=b),
        lambda: bob.get_bucket_ownership_controls(Bucket=b),
        lambda: bob.get_bucket_logging(Bucket=b),
        lambda: bob.delete_bucket(Bucket=b),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert code(e) in ("AccessDenied", "403")        # HEAD errors have no body
    with pytest.raises(ClientError) as e:
        bob.create_bucket(Bucket=b)
    assert code(e) == "BucketAlreadyExists"
    # a presigned URL made by bob does not open alice's object either
    url = bob.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "secret.txt"})
    assert requests.get(url).status_code == 403
    # nothing changed
    alice = client(system, users[0])
    assert alice.get_object(Bucket=b, Key="secret.txt")["Body"].read() == b"alice's"
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=b)["Contents"]] == ["secret.txt"]
    assert alice.get_object_tagging(Bucket=b, Key="secret.txt")["TagSet"] == []


def test_rest_other_users_bucket_is_denied(system, users, alices_bucket):
    gw, b, h = system.endpoint, alices_bucket, bearer(users[1])
    assert b not in [x["name"] for x in requests.get(f"{gw}/buckets", headers=h).json()["buckets"]]
    calls = [
        ("GET", f"/buckets/{b}", None),
        ("GET", f"/buckets/{b}/objects", None),
        ("PUT", f"/buckets/{b}/objects/x", b"bob"),
        ("GET", f"/buckets/{b}/objects/secret.txt", None),
        ("DELETE", f"/buckets/{b}/objects/secret.txt", None),
        ("DELETE", f"/buckets/{b}", None),
    ]
    for method, path, data in calls:
        r = requests.request(method, gw + path, headers=h, data=data)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "AccessDenied"
    r = requests.head(f"{gw}/buckets/{b}/objects/secret.txt", headers=h)
    assert r.status_code == 403 and not r.content
    r = requests.post(f"{gw}/buckets", headers=h, json={"bucket_name": b})
    assert r.status_code == 409 and r.json()["error"]["code"] == "BucketAlreadyExists"
    r = requests.get(f"{gw}/buckets/{b}/objects/secret.txt", headers=bearer(users[0]))
    assert r.status_code == 200 and r.content == b"alice's"


def test_each_user_sees_own_buckets_admin_sees_all(system, users):
    alice, bob = users
    a_name, b_name = f"ao-{uuid.uuid4().hex[:12]}", f"bo-{uuid.uuid4().hex[:12]}"
    gw = system.endpoint
    assert requests.post(f"{gw}/buckets", headers=bearer(alice), json={"bucket_name": a_name}).status_code == 201
    client(system, bob).create_bucket(Bucket=b_name)
    try:
        a_sees = {x["Name"] for x in client(system, alice).list_buckets()["Buckets"]}
        b_sees = {x["name"] for x in requests.get(f"{gw}/buckets", headers=bearer(bob)).json()["buckets"]}
        assert a_name in a_sees and b_name not in a_sees
        assert b_name in b_sees and a_name not in b_sees
        admin_sees = {x["name"] for x in requests.get(f"{gw}/buckets", headers={"Authorization": f"Bearer {ADMIN_API}"}).json()["buckets"]}
        assert {a_name, b_name} <= admin_sees
        # the admin may work in any bucket
        admin = system.client()
        admin.put_object(Bucket=a_name, Key="by-admin", Body=b"1")
        r = requests.get(f"{gw}/buckets/{b_name}/objects", headers={"Authorization": f"Bearer {ADMIN_API}"})
        assert r.status_code == 200
        assert client(system, alice).get_object(Bucket=a_name, Key="by-admin")["Body"].read() == b"1"
        admin.delete_object(Bucket=a_name, Key="by-admin")
    finally:
        system.client().delete_bucket(Bucket=a_name)
        system.client().delete_bucket(Bucket=b_name)


def test_disabled_user_and_revoked_keys_stop_at_once(system):
    carol = new_user(system, "carol")
    s3 = client(system, carol)
    name = f"c-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    assert requests.get(f"{system.endpoint}/buckets", headers=bearer(carol)).status_code == 200
    run_admin(system, "disable-user", carol["user"])
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name)
    assert code(e) == "InvalidAccessKeyId" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    r = requests.get(f"{system.endpoint}/buckets", headers=bearer(carol))
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAccessKeyId"
    run_admin(system, "enable-user", carol["user"])
    s3.list_objects_v2(Bucket=name)
    assert requests.get(f"{system.endpoint}/buckets", headers=bearer(carol)).status_code == 200
    # a second key pair; revoking one leaves the other working
    import json
    extra = json.loads(run_admin(system, "create-key", carol["user"]).stdout)
    s3b = system.client(access_key=extra["access_key"], secret_key=extra["secret_key"])
    s3b.head_bucket(Bucket=name)
    run_admin(system, "revoke-key", carol["access_key"])
    run_admin(system, "revoke-key", carol["api_key"])
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert requests.get(f"{system.endpoint}/buckets", headers=bearer(carol)).status_code == 401
    s3b.head_bucket(Bucket=name)
    assert requests.get(f"{system.endpoint}/buckets", headers=bearer(extra)).status_code == 200
    s3b.delete_bucket(Bucket=name)
