"""Bucket policies over the wire: PutBucketPolicy's checks, Deny statements binding the owner on
both dialects, Allow statements letting another user in (and no further), public policies with
the public access block, DeleteObjects judged key by key, copies judged on both ends."""
from __future__ import annotations

import json
import uuid

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.adminutil import new_user
from tests.conftest import ADMIN_API


def doc(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def stmt(effect, action, resource, principal="*", **extra) -> dict:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource, **extra}


def err(exc) -> tuple[int, str, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


@pytest.fixture(scope="module")
def other(system):
    """A second user, and its S3 client."""
    u = new_user(system, "pol")
    return u, system.client(access_key=u["access_key"], secret_key=u["secret_key"])


@pytest.fixture
def pbucket(s3, bucket):
    """The test's bucket; its policy is removed first when the test ends, so cleanup may delete."""
    yield bucket
    s3.delete_bucket_policy(Bucket=bucket)


def arn(bucket, key=None) -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def test_put_get_delete_and_status(s3, pbucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=pbucket)
    assert err(e)[:2] == (404, "NoSuchBucketPolicy")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy_status(Bucket=pbucket)
    assert err(e)[:2] == (404, "NoSuchBucketPolicy")
    text = doc(stmt("Allow", "s3:GetObject", arn(pbucket, "*"), {"AWS": "arn:aws:iam::000000000042:root"}))
    r = s3.put_bucket_policy(Bucket=pbucket, Policy=text)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_policy(Bucket=pbucket)["Policy"] == text        # as it was put
    assert s3.get_bucket_policy_status(Bucket=pbucket)["PolicyStatus"] == {"IsPublic": False}
    public = doc(stmt("Allow", ["s3:GetObject"], [arn(pbucket, "*")]))
    s3.put_bucket_policy(Bucket=pbucket, Policy=public)
    assert s3.get_bucket_policy_status(Bucket=pbucket)["PolicyStatus"] == {"IsPublic": True}
    narrowed = doc(stmt("Allow", "s3:GetObject", arn(pbucket, "*"),
                        Condition={"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}))
    s3.put_bucket_policy(Bucket=pbucket, Policy=narrowed)
    assert s3.get_bucket_policy_status(Bucket=pbucket)["PolicyStatus"] == {"IsPublic": False}
    assert s3.delete_bucket_policy(Bucket=pbucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=pbucket)
    assert err(e)[1] == "NoSuchBucketPolicy"
    assert s3.delete_bucket_policy(Bucket=pbucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


MALFORMED = [
    ("not json", "Policies must be valid JSON and the first byte must be '{'"),
    ('{"Statement": [', "This policy contains invalid Json"),
    (json.dumps({"Version": "2012-10-17"}), "Missing required field Statement"),
    (json.dumps({"Version": "2020-01-01", "Statement": []}), "The policy must contain a valid version string"),
    (json.dumps({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::B/*"}]}), "Invalid effect: Maybe"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::B/*"}]}),
     "Missing required field Principal"),
    (doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::B/*", {"AWS": "alice"})), "Invalid principal in policy"),
    (doc(stmt("Allow", "s3:Fly", "arn:aws:s3:::B/*")), "Policy has invalid action"),
    (doc(stmt("Allow", "ec2:RunInstances", "arn:aws:s3:::B/*")), "Policy has invalid action"),
    (doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::another-bucket/*")), "Policy has invalid resource"),
    (doc(stmt("Allow", "s3:GetObject", "arn:aws:s3:::B")), "Action does not apply to any resource(s) in statement"),
    (doc(stmt("Allow", "s3:ListBucket", "arn:aws:s3:::B/*")), "Action does not apply to any resource(s) in statement"),
    (doc(stmt("Deny", "s3:GetObject", "arn:aws:s3:::B/*", Condition={"StringEqualz": {"aws:UserAgent": "x"}})),
     "Invalid Condition type : StringEqualz"),
    (doc(stmt("Deny", "s3:GetObject", "arn:aws:s3:::B/*", Condition={"StringEquals": {"s3:Colour": "x"}})),
     "Policy has an invalid condition key"),
    (doc(stmt("Deny", "s3:GetObject", "arn:aws:s3:::B/*", Effort="high")), "Unknown field Effort"),
    (doc({"Sid": "a", **stmt("Deny", "s3:GetObject", "arn:aws:s3:::B/*")},
         {"Sid": "a", **stmt("Deny", "s3:PutObject", "arn:aws:s3:::B/*")}),
     "Statement IDs (SID) in a single policy must be unique."),
    (doc(*[stmt("Deny", "s3:GetObject", f"arn:aws:s3:::B/{'x' * 200}{i}") for i in range(100)]),
     "Policy exceeds the maximum allowed document size."),
]


@pytest.mark.parametrize("text,message", MALFORMED, ids=[m[:30] for _, m in MALFORMED])
def test_malformed_policies_are_refused_and_nothing_is_stored(s3, pbucket, text, message):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=pbucket, Policy=text.replace("arn:aws:s3:::B", arn(pbucket)))
    assert err(e) == (400, "MalformedPolicy", message)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=pbucket)
    assert err(e)[1] == "NoSuchBucketPolicy"


def test_what_cannot_be_judged_is_refused_not_ignored(s3, pbucket):
    """A key whose value this server cannot know, also as a policy variable: 501, nothing stored."""
    for condition in ({"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                      {"StringLike": {"s3:prefix": "home/${s3:TlsVersion}/*"}}):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_policy(Bucket=pbucket, Policy=doc(stmt("Deny", "s3:*", arn(pbucket, "*"),
                                                                 Condition=condition)))
        assert err(e)[:2] == (501, "NotImplemented")
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=pbucket)
    assert err(e)[1] == "NoSuchBucketPolicy"


def test_a_deny_binds_the_owner_but_never_locks_the_policy_away(s3, pbucket):
    s3.put_object(Bucket=pbucket, Key="keep/a", Body=b"a")
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Deny", ["s3:DeleteObject", "s3:PutObject"], arn(pbucket, "keep/*"))))
    for call in (lambda: s3.delete_object(Bucket=pbucket, Key="keep/a"),
                 lambda: s3.put_object(Bucket=pbucket, Key="keep/a", Body=b"overwritten")):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[:2] == (403, "AccessDenied")
    assert s3.get_object(Bucket=pbucket, Key="keep/a")["Body"].read() == b"a"
    s3.put_object(Bucket=pbucket, Key="other", Body=b"fine")          # outside the denied prefix
    # everything denied, the policy calls included: the owner can still read, replace, remove it
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(stmt("Deny", "s3:*", [arn(pbucket), arn(pbucket, "*")])))
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=pbucket)
    assert err(e)[1] == "AccessDenied"
    assert "s3:*" in s3.get_bucket_policy(Bucket=pbucket)["Policy"]
    s3.delete_bucket_policy(Bucket=pbucket)
    s3.delete_object(Bucket=pbucket, Key="keep/a")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=pbucket)["Contents"]] == ["other"]


def test_deny_unencrypted_uploads(s3, pbucket):
    """The classic policy: PutObject without x-amz-server-side-encryption: AES256 is denied (a
    negated operator matches when the key is absent)."""
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(stmt(
        "Deny", "s3:PutObject", arn(pbucket, "*"),
        Condition={"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}})))
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=pbucket, Key="plain", Body=b"x")
    assert err(e)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError):
        s3.create_multipart_upload(Bucket=pbucket, Key="plain-mp")
    s3.put_object(Bucket=pbucket, Key="sealed", Body=b"x", ServerSideEncryption="AES256")
    assert s3.head_object(Bucket=pbucket, Key="sealed")["ServerSideEncryption"] == "AES256"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=pbucket)["Contents"]] == ["sealed"]


def test_deny_insecure_transport_and_source_ip(s3, pbucket, system):
    s3.put_object(Bucket=pbucket, Key="k", Body=b"x")
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(stmt(
        "Deny", "s3:*", [arn(pbucket), arn(pbucket, "*")], Condition={"Bool": {"aws:SecureTransport": "false"}})))
    for call in (lambda: s3.get_object(Bucket=pbucket, Key="k"), lambda: s3.list_objects_v2(Bucket=pbucket),
                 lambda: s3.head_bucket(Bucket=pbucket)):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # the REST dialect is bound by the same statements
    r = requests.get(f"{system.endpoint}/buckets/{pbucket}/objects/k", headers={"Authorization": f"Bearer {ADMIN_API}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "AccessDenied"
    # from an allowed network only: 127.0.0.1 is in it, then not
    for cidr, allowed in (("127.0.0.0/8", True), ("192.0.2.0/24", False)):
        s3.put_bucket_policy(Bucket=pbucket, Policy=doc(stmt(
            "Deny", "s3:GetObject", arn(pbucket, "*"), Condition={"NotIpAddress": {"aws:SourceIp": cidr}})))
        if allowed:
            assert s3.get_object(Bucket=pbucket, Key="k")["Body"].read() == b"x"
        else:
            with pytest.raises(ClientError) as e:
                s3.get_object(Bucket=pbucket, Key="k")
            assert err(e)[1] == "AccessDenied"


def test_secure_transport_over_https(tls_s3, tls_system):
    name = f"t-{uuid.uuid4().hex[:20]}"
    tls_s3.create_bucket(Bucket=name)
    tls_s3.put_bucket_policy(Bucket=name, Policy=doc(stmt(
        "Deny", "s3:*", [arn(name), arn(name, "*")], Condition={"Bool": {"aws:SecureTransport": "false"}})))
    tls_s3.put_object(Bucket=name, Key="k", Body=b"over tls")
    assert tls_s3.get_object(Bucket=name, Key="k")["Body"].read() == b"over tls"
    tls_s3.delete_object(Bucket=name, Key="k")
    tls_s3.delete_bucket_policy(Bucket=name)
    tls_s3.delete_bucket(Bucket=name)


def test_list_conditions_and_presigned_urls(s3, pbucket):
    s3.put_object(Bucket=pbucket, Key="private/a", Body=b"p")
    s3.put_object(Bucket=pbucket, Key="public/b", Body=b"q")
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Deny", "s3:ListBucket", arn(pbucket), Condition={"StringLike": {"s3:prefix": "private/*"}}),
        stmt("Deny", "s3:GetObject", arn(pbucket, "*"), Condition={"StringEquals": {"s3:authType": "REST-QUERY-STRING"}}),
    ))
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=pbucket, Prefix="private/")
    assert err(e)[1] == "AccessDenied"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=pbucket, Prefix="public/")["Contents"]] == ["public/b"]
    assert len(s3.list_objects_v2(Bucket=pbucket)["Contents"]) == 2        # no prefix: the key is absent
    url = s3.generate_presigned_url("get_object", Params={"Bucket": pbucket, "Key": "public/b"})
    r = requests.get(url)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    assert s3.get_object(Bucket=pbucket, Key="public/b")["Body"].read() == b"q"


def test_an_allow_lets_another_user_in_and_no_further(s3, pbucket, other, system):
    user, bob = other
    s3.put_object(Bucket=pbucket, Key="public/a", Body=b"shared")
    s3.put_object(Bucket=pbucket, Key="secret", Body=b"mine")
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=pbucket, Key="public/a")
    assert err(e)[1] == "AccessDenied"
    account = bob.list_buckets()["Owner"]["ID"]          # 64 hex digits: the canonical id
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Allow", "s3:GetObject", arn(pbucket, "public/*"), {"CanonicalUser": account}),
        stmt("Allow", ["s3:ListBucket", "s3:PutObject"], [arn(pbucket), arn(pbucket, "inbox/*")],
             {"AWS": f"arn:aws:iam::{int(account, 16):012d}:root"}),
    ))
    assert bob.get_object(Bucket=pbucket, Key="public/a")["Body"].read() == b"shared"
    assert bob.head_object(Bucket=pbucket, Key="public/a")["ContentLength"] == 6
    assert {o["Key"] for o in bob.list_objects_v2(Bucket=pbucket)["Contents"]} == {"public/a", "secret"}
    bob.put_object(Bucket=pbucket, Key="inbox/from-bob", Body=b"hello")
    assert s3.get_object(Bucket=pbucket, Key="inbox/from-bob")["Body"].read() == b"hello"
    listing = s3.list_objects_v2(Bucket=pbucket, Prefix="inbox/", FetchOwner=True)["Contents"]
    assert listing[0]["Owner"]["ID"] == s3.list_buckets()["Owner"]["ID"]     # bucket owner enforced
    for call in (lambda: bob.get_object(Bucket=pbucket, Key="secret"),
                 lambda: bob.put_object(Bucket=pbucket, Key="public/a", Body=b"vandal"),
                 lambda: bob.delete_object(Bucket=pbucket, Key="public/a"),
                 lambda: bob.get_bucket_policy(Bucket=pbucket),
                 lambda: bob.put_bucket_policy(Bucket=pbucket, Policy=doc(stmt("Allow", "s3:*", arn(pbucket, "*")))),
                 lambda: bob.delete_bucket_policy(Bucket=pbucket),
                 lambda: bob.put_bucket_tagging(Bucket=pbucket, Tagging={"TagSet": []}),
                 lambda: bob.delete_bucket(Bucket=pbucket)):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[:2] == (403, "AccessDenied")
    assert s3.get_object(Bucket=pbucket, Key="public/a")["Body"].read() == b"shared"
    assert pbucket not in [b["Name"] for b in bob.list_buckets()["Buckets"]]
    # the REST dialect: bob's API key reads what the policy lets him read, and nothing else
    auth = {"Authorization": f"Bearer {user['api_key']}"}
    r = requests.get(f"{system.endpoint}/buckets/{pbucket}/objects/public/a", headers=auth)
    assert r.status_code == 200 and r.content == b"shared"
    r = requests.get(f"{system.endpoint}/buckets/{pbucket}/objects/secret", headers=auth)
    assert r.status_code == 403
    # the policy calls stay the owner's even when the policy names them (AWS: 405 then)
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Allow", ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"], arn(pbucket),
             {"CanonicalUser": account})))
    for call in (lambda: bob.get_bucket_policy(Bucket=pbucket), lambda: bob.delete_bucket_policy(Bucket=pbucket),
                 lambda: bob.put_bucket_policy(Bucket=pbucket, Policy=doc(stmt("Allow", "s3:*", arn(pbucket, "*"))))):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[:2] == (405, "MethodNotAllowed")
    assert "s3:DeleteBucketPolicy" in s3.get_bucket_policy(Bucket=pbucket)["Policy"]
    # a Deny beats the Allow
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Allow", "s3:GetObject", arn(pbucket, "*"), {"CanonicalUser": account}),
        stmt("Deny", "s3:GetObject", arn(pbucket, "secret"), {"CanonicalUser": account})))
    assert bob.get_object(Bucket=pbucket, Key="public/a")["Body"].read() == b"shared"
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=pbucket, Key="secret")
    assert err(e)[1] == "AccessDenied"


def test_copies_are_judged_on_both_ends(s3, pbucket, other):
    _, bob = other
    s3.put_object(Bucket=pbucket, Key="src", Body=b"copy me")
    account = int(bob.list_buckets()["Owner"]["ID"], 16)
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Allow", "s3:GetObject", arn(pbucket, "*"), {"AWS": f"{account:012d}"})))
    own = f"t-{uuid.uuid4().hex[:20]}"
    bob.create_bucket(Bucket=own)
    try:
        bob.copy_object(Bucket=own, Key="dst", CopySource={"Bucket": pbucket, "Key": "src"})
        assert bob.get_object(Bucket=own, Key="dst")["Body"].read() == b"copy me"
        # reading is granted, writing is not: a copy within the bucket is refused
        with pytest.raises(ClientError) as e:
            bob.copy_object(Bucket=pbucket, Key="dst", CopySource={"Bucket": pbucket, "Key": "src"})
        assert err(e)[1] == "AccessDenied"
        # and without the grant, no copy out
        s3.delete_bucket_policy(Bucket=pbucket)
        with pytest.raises(ClientError) as e:
            bob.copy_object(Bucket=own, Key="dst2", CopySource={"Bucket": pbucket, "Key": "src"})
        assert err(e)[1] == "AccessDenied"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=pbucket)["Contents"]] == ["src"]
    finally:
        bob.delete_object(Bucket=own, Key="dst")
        bob.delete_bucket(Bucket=own)


def test_public_policies_and_the_public_access_block(s3, pbucket, other):
    _, bob = other
    s3.put_object(Bucket=pbucket, Key="k", Body=b"for everyone")
    public = doc(stmt("Allow", "s3:GetObject", arn(pbucket, "*")))
    s3.put_bucket_policy(Bucket=pbucket, Policy=public)
    assert bob.get_object(Bucket=pbucket, Key="k")["Body"].read() == b"for everyone"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": pbucket, "Key": "k"}).split("?")[0]
    assert requests.get(url).content == b"for everyone"          # "*": anonymous callers too
    flags = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
             "RestrictPublicBuckets": True}
    s3.put_public_access_block(Bucket=pbucket, PublicAccessBlockConfiguration=flags)
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=pbucket, Key="k")
    assert err(e)[1] == "AccessDenied"
    assert requests.get(url).status_code == 403
    assert s3.get_object(Bucket=pbucket, Key="k")["Body"].read() == b"for everyone"
    s3.delete_bucket_policy(Bucket=pbucket)
    s3.put_public_access_block(Bucket=pbucket, PublicAccessBlockConfiguration={**flags, "BlockPublicPolicy": True})
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=pbucket, Policy=public)
    assert err(e)[:2] == (403, "AccessDenied") and "BlockPublicPolicy" in err(e)[2]
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=pbucket)
    assert err(e)[1] == "NoSuchBucketPolicy"
    private = doc(stmt("Deny", "s3:DeleteObject", arn(pbucket, "*")))
    s3.put_bucket_policy(Bucket=pbucket, Policy=private)          # not public: accepted
    s3.delete_public_access_block(Bucket=pbucket)


def test_delete_objects_is_judged_key_by_key(s3, pbucket, other):
    _, bob = other
    for key in ("keep/a", "tmp/b", "tmp/c"):
        s3.put_object(Bucket=pbucket, Key=key, Body=b"x")
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(stmt("Deny", "s3:DeleteObject", arn(pbucket, "keep/*"))))
    r = s3.delete_objects(Bucket=pbucket, Delete={"Objects": [{"Key": "keep/a"}, {"Key": "tmp/b"}]})
    assert [d["Key"] for d in r["Deleted"]] == ["tmp/b"]
    assert [(x["Key"], x["Code"]) for x in r["Errors"]] == [("keep/a", "AccessDenied")]
    # another user may delete only what an Allow names
    account = int(bob.list_buckets()["Owner"]["ID"], 16)
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Allow", "s3:DeleteObject", arn(pbucket, "tmp/*"), {"AWS": f"{account:012d}"})))
    r = bob.delete_objects(Bucket=pbucket, Delete={"Objects": [{"Key": "keep/a"}, {"Key": "tmp/c"}]})
    assert [d["Key"] for d in r["Deleted"]] == ["tmp/c"]
    assert [(x["Key"], x["Code"]) for x in r["Errors"]] == [("keep/a", "AccessDenied")]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=pbucket)["Contents"]] == ["keep/a"]


def test_form_uploads_are_judged_as_post(s3, pbucket):
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(stmt(
        "Deny", "s3:PutObject", arn(pbucket, "*"), Condition={"StringEquals": {"s3:authType": "POST"}})))
    post = s3.generate_presigned_post(pbucket, "form-upload")
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")})
    assert r.status_code == 403 and b"AccessDenied" in r.content
    s3.put_object(Bucket=pbucket, Key="header-upload", Body=b"data")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=pbucket)["Contents"]] == ["header-upload"]


def test_anonymous_requests(s3, pbucket, system):
    """Unsigned requests: refused unless the policy allows everyone; then reads are served, and
    writes a policy allows are 501 (never done as nobody)."""
    anon = boto3.client("s3", endpoint_url=system.endpoint, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    s3.put_object(Bucket=pbucket, Key="site/index.html", Body=b"<h1>hi</h1>", ContentType="text/html")
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=pbucket, Key="site/index.html")
    assert err(e) == (403, "AccessDenied", "Anonymous access is not allowed; sign your request.")
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Allow", ["s3:GetObject"], arn(pbucket, "site/*")),
        stmt("Allow", ["s3:ListBucket"], arn(pbucket)),
        stmt("Allow", ["s3:PutObject"], arn(pbucket, "drop/*"))))
    got = anon.get_object(Bucket=pbucket, Key="site/index.html")
    assert got["Body"].read() == b"<h1>hi</h1>" and got["ContentType"] == "text/html"
    assert anon.head_object(Bucket=pbucket, Key="site/index.html")["ContentLength"] == 11
    assert [o["Key"] for o in anon.list_objects_v2(Bucket=pbucket)["Contents"]] == ["site/index.html"]
    with pytest.raises(ClientError) as e:           # listing is public too: a missing key is a 404
        anon.get_object(Bucket=pbucket, Key="site/nope")
    assert err(e)[:2] == (404, "NoSuchKey")
    r = requests.get(f"{system.endpoint}/{pbucket}/site/index.html", headers={"Range": "bytes=4-5"})
    assert r.status_code == 206 and r.content == b"hi"
    for call, expected in ((lambda: anon.get_object(Bucket=pbucket, Key="other"), (403, "AccessDenied")),
                           (lambda: anon.put_object(Bucket=pbucket, Key="site/x", Body=b"x"), (403, "AccessDenied")),
                           (lambda: anon.put_object(Bucket=pbucket, Key="drop/x", Body=b"x"), (501, "NotImplemented")),
                           (lambda: anon.delete_object(Bucket=pbucket, Key="site/index.html"), (403, "AccessDenied")),
                           (lambda: anon.get_bucket_policy(Bucket=pbucket), (403, "AccessDenied")),
                           (lambda: anon.list_buckets(), (403, "AccessDenied")),
                           (lambda: anon.create_bucket(Bucket=f"anon-{uuid.uuid4().hex[:12]}"), (403, "AccessDenied"))):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[:2] == expected
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=pbucket)["Contents"]] == ["site/index.html"]
    # a Deny binds anonymous callers too
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Allow", ["s3:GetObject"], arn(pbucket, "site/*")),
        stmt("Deny", ["s3:GetObject"], arn(pbucket, "*"), Condition={"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}})))
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=pbucket, Key="site/index.html")
    assert err(e)[1] == "AccessDenied"


def test_a_stored_policy_this_version_cannot_read_refuses_rather_than_ignores(s3, pbucket, other, system):
    """A policy stored by another version that this one reads otherwise (written here straight
    into the bucket's settings, as such a version would): every request but the owner's policy
    calls is refused, never served as if there were no policy."""
    from s3server.meta.store import MetadataStore

    _, bob = other
    s3.put_object(Bucket=pbucket, Key="k", Body=b"x")
    unreadable = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
                                                                     "Action": "s3:Teleport", "Resource": "*"}]})
    store = MetadataStore.from_url(system.state["database_url"], pool_size=1)
    try:
        assert store.set_bucket_setting(pbucket, "policy", unreadable)
    finally:
        store.close()
    for call in (lambda: s3.get_object(Bucket=pbucket, Key="k"), lambda: bob.get_object(Bucket=pbucket, Key="k")):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[:2] == (403, "AccessDenied")
        assert "cannot be evaluated" in err(e)[2]
    assert s3.get_bucket_policy(Bucket=pbucket)["Policy"] == unreadable
    s3.delete_bucket_policy(Bucket=pbucket)
    assert s3.get_object(Bucket=pbucket, Key="k")["Body"].read() == b"x"


def test_home_directories_with_policy_variables(s3, pbucket, other):
    """One shared bucket, a folder per user: ${aws:username} in resources and conditions."""
    user, bob = other
    me = bob.list_buckets()["Owner"]["DisplayName"]
    assert me == user["user"]
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Allow", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], arn(pbucket, "home/${aws:username}/*")),
        stmt("Allow", "s3:ListBucket", arn(pbucket), Condition={"StringLike": {"s3:prefix": "home/${aws:username}/*"}})))
    bob.put_object(Bucket=pbucket, Key=f"home/{me}/notes.txt", Body=b"bob's")
    assert bob.get_object(Bucket=pbucket, Key=f"home/{me}/notes.txt")["Body"].read() == b"bob's"
    assert [o["Key"] for o in bob.list_objects_v2(Bucket=pbucket, Prefix=f"home/{me}/")["Contents"]] == [
        f"home/{me}/notes.txt"]
    s3.put_object(Bucket=pbucket, Key="home/alice/diary.txt", Body=b"alice's")
    for call in (lambda: bob.get_object(Bucket=pbucket, Key="home/alice/diary.txt"),
                 lambda: bob.put_object(Bucket=pbucket, Key="home/alice/x", Body=b"x"),
                 lambda: bob.list_objects_v2(Bucket=pbucket, Prefix="home/alice/"),
                 lambda: bob.list_objects_v2(Bucket=pbucket)):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[1] == "AccessDenied"
    # a name with wildcard characters in it would still match only itself: the variable's value is literal
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=pbucket)["Contents"]) == [
        "home/alice/diary.txt", f"home/{me}/notes.txt"]


def test_existing_object_tags(s3, pbucket, other):
    """s3:ExistingObjectTag/<key>: the object's tags as they are when the request comes."""
    _, bob = other
    s3.put_object(Bucket=pbucket, Key="report", Body=b"r", Tagging="class=secret&share=yes")
    s3.put_object(Bucket=pbucket, Key="memo", Body=b"m", Tagging="share=yes")
    s3.put_object(Bucket=pbucket, Key="draft", Body=b"d")
    account = int(bob.list_buckets()["Owner"]["ID"], 16)
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Allow", "s3:GetObject", arn(pbucket, "*"), {"AWS": f"{account:012d}"},
             Condition={"StringEquals": {"s3:ExistingObjectTag/share": "yes"}}),
        stmt("Deny", ["s3:GetObject", "s3:PutObjectTagging"], arn(pbucket, "*"),
             Condition={"StringEquals": {"s3:ExistingObjectTag/class": "secret"}})))
    assert bob.get_object(Bucket=pbucket, Key="memo")["Body"].read() == b"m"
    for user, key in ((bob, "draft"), (bob, "report"), (s3, "report")):
        with pytest.raises(ClientError) as e:
            user.get_object(Bucket=pbucket, Key=key)
        assert err(e)[1] == "AccessDenied"
    with pytest.raises(ClientError) as e:           # nor can the owner untag it past the Deny
        s3.put_object_tagging(Bucket=pbucket, Key="report", Tagging={"TagSet": []})
    assert err(e)[1] == "AccessDenied"
    assert s3.get_object(Bucket=pbucket, Key="draft")["Body"].read() == b"d"
    # retagging changes the answer at once
    s3.put_object_tagging(Bucket=pbucket, Key="memo", Tagging={"TagSet": [{"Key": "class", "Value": "secret"}]})
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=pbucket, Key="memo")
    assert err(e)[1] == "AccessDenied"


def test_a_missing_key_is_403_to_whoever_may_not_list(s3, pbucket, other):
    """AWS: without s3:ListBucket a missing key is 403, so a grant to read some keys does not tell
    which others exist; with it, 404. The owner side always gets 404."""
    _, bob = other
    s3.put_object(Bucket=pbucket, Key="shared/a", Body=b"a")
    account = int(bob.list_buckets()["Owner"]["ID"], 16)
    read = stmt("Allow", "s3:GetObject", arn(pbucket, "shared/*"), {"AWS": f"{account:012d}"})
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(read))
    assert bob.get_object(Bucket=pbucket, Key="shared/a")["Body"].read() == b"a"
    for call in (lambda: bob.get_object(Bucket=pbucket, Key="shared/missing"),
                 lambda: bob.head_object(Bucket=pbucket, Key="shared/missing")):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[0] == 403
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=pbucket, Key="shared/missing")
    assert err(e)[:2] == (404, "NoSuchKey")
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(read, stmt("Allow", "s3:ListBucket", arn(pbucket),
                                                               {"AWS": f"{account:012d}"})))
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=pbucket, Key="shared/missing")
    assert err(e)[:2] == (404, "NoSuchKey")


def test_bad_bodies_on_the_wire(system, s3, pbucket):
    """A policy whose bytes do not match its Content-MD5 or x-amz-content-sha256, or that is not
    UTF-8, and an empty body: S3 errors, nothing stored."""
    import base64
    import hashlib

    from tests.sigv4util import signed_request

    url = f"{system.endpoint}/{pbucket}?policy"
    good = doc(stmt("Deny", "s3:DeleteObject", arn(pbucket, "*"))).encode()
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    cases = [
        (good, {"Content-MD5": wrong_md5}, {}, (400, "BadDigest")),
        (good, {}, {"payload_hash": hashlib.sha256(b"other").hexdigest()}, (400, "XAmzContentSHA256Mismatch")),
        (b'{"Statement": "\xff"}', {}, {}, (400, "MalformedPolicy")),
        (b"", {}, {}, (400, "MalformedPolicy")),
    ]
    for body, headers, kw, expected in cases:
        r = signed_request("PUT", url, body, headers, **kw)
        assert (r.status_code, r.text.split("<Code>")[1].split("</Code>")[0]) == expected, r.text
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=pbucket)
    assert err(e)[1] == "NoSuchBucketPolicy"


def test_request_object_tags(s3, pbucket):
    """s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys: the tags an upload brings
    (x-amz-tagging) and the tags PutObjectTagging sets (its body)."""
    s3.put_bucket_policy(Bucket=pbucket, Policy=doc(
        stmt("Deny", ["s3:PutObject", "s3:PutObjectTagging"], arn(pbucket, "*"),
             Condition={"StringNotEquals": {"s3:RequestObjectTag/project": "blue"}}),
        stmt("Deny", "s3:PutObject", arn(pbucket, "*"),
             Condition={"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["secret"]}})))
    s3.put_object(Bucket=pbucket, Key="ok", Body=b"x", Tagging="project=blue&team=a")
    for tagging in ("project=red", "", "project=blue&secret=1"):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=pbucket, Key="no", Body=b"x", **({"Tagging": tagging} if tagging else {}))
        assert err(e)[1] == "AccessDenied", tagging
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=pbucket, Key="mp", Tagging="project=red")
    assert err(e)[1] == "AccessDenied"
    s3.put_object_tagging(Bucket=pbucket, Key="ok", Tagging={"TagSet": [{"Key": "project", "Value": "blue"}]})
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=pbucket, Key="ok", Tagging={"TagSet": [{"Key": "project", "Value": "red"}]})
    assert err(e)[1] == "AccessDenied"
    assert s3.get_object_tagging(Bucket=pbucket, Key="ok")["TagSet"] == [{"Key": "project", "Value": "blue"}]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=pbucket)["Contents"]] == ["ok"]
    # a form upload's tagging field counts too
    post = s3.generate_presigned_post(pbucket, "form", Fields={"tagging": "<Tagging><TagSet><Tag><Key>project</Key>"
                                                                          "<Value>red</Value></Tag></TagSet></Tagging>"},
                                      Conditions=[{"tagging": "<Tagging><TagSet><Tag><Key>project</Key>"
                                                              "<Value>red</Value></Tag></TagSet></Tagging>"}])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")})
    assert r.status_code == 403 and b"AccessDenied" in r.content
