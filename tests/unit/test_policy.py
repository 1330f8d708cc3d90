"""The bucket policy language (service/policy.py): AWS's documented example policies parse, the
evaluation rules (explicit Deny wins, negated operators on absent keys, IfExists, set qualifiers,
wildcards, Not* elements), public-ness, and mutated documents only ever raise S3Error."""
from __future__ import annotations

import json
import random

import pytest

from s3server.errors import S3Error
from s3server.service import policy, policylang, policyparse

B = "examplebucket"
OWNER, BOB = "000000000002", "000000000003"


def parse(*statements, bucket=B) -> policy.Policy:
    return policyparse.parse(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}), bucket)


def req(action="s3:getobject", key="photo.jpg", account=BOB, name="bob", **context) -> policy.Request:
    resource = f"arn:aws:s3:::{B}" + (f"/{key}" if key is not None else "")
    return policy.Request(action, resource, account, name, {k.lower(): v for k, v in context.items()})


# AWS's example bucket policies (S3 User Guide, "Examples of Amazon S3 bucket policies")
EXAMPLES = [
    {"Sid": "AddCannedAcl", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]},
     "Action": ["s3:PutObject", "s3:PutObjectAcl"], "Resource": ["arn:aws:s3:::examplebucket/*"],
     "Condition": {"StringEquals": {"s3:x-amz-acl": ["public-read"]}}},
    {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
     "Resource": ["arn:aws:s3:::examplebucket/*"]},
    {"Sid": "IPAllow", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::examplebucket", "arn:aws:s3:::examplebucket/*"],
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["54.240.143.0/24", "2001:DB8:1234:5678::/64"]}}},
    {"Sid": "referer", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::examplebucket/*",
     "Condition": {"StringLike": {"aws:Referer": ["http://www.example.com/*", "http://example.com/*"]}}},
    {"Sid": "oai", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity EH1HDMB1FH2TC"},
     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*"},
    {"Sid": "oac", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::examplebucket/*",
     "Condition": {"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::111122223333:distribution/EDFDVBD6"}}},
    {"Sid": "mfa", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": "arn:aws:s3:::examplebucket/taxdocuments/*", "Condition": {"Null": {"aws:MultiFactorAuthAge": True}}},
    {"Sid": "owner-full-control", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/Dave"},
     "Action": "s3:PutObject", "Resource": "arn:aws:s3:::examplebucket/*",
     "Condition": {"StringEquals": {"s3:x-amz-grant-full-control": "id=AccountA-CanonicalUserID"}}},
    {"Sid": "tls", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
     "Resource": ["arn:aws:s3:::examplebucket", "arn:aws:s3:::examplebucket/*"],
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "vpce", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::examplebucket", "arn:aws:s3:::examplebucket/*"],
     "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}},
    {"Sid": "home", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
     "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::examplebucket",
     "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/Dave/*"]}}},
    {"Sid": "encrypted", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
     "Resource": "arn:aws:s3:::examplebucket/*",
     "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
    {"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::examplebucket/*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-xxxxxxxx"}}},
    {"Sid": "notaction", "Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
     "NotAction": "s3:Get*", "NotResource": "arn:aws:s3:::examplebucket/public/*"},
    {"Sid": "dates", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::examplebucket/*",
     "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
                   "NumericGreaterThanIfExists": {"s3:max-keys": "10"},
                   "ForAnyValue:StringLike": {"aws:UserAgent": ["curl/*"]}}},
]


@pytest.mark.parametrize("statement", EXAMPLES, ids=[s["Sid"] for s in EXAMPLES])
def test_aws_example_policies_parse(statement):
    parse(statement)


def test_the_examples_together_are_one_valid_policy_and_public():
    found = parse(*EXAMPLES)
    assert len(found.statements) == len(EXAMPLES)
    assert found.is_public                                       # PublicRead
    assert not parse(EXAMPLES[0], EXAMPLES[2]).is_public         # accounts; a Deny
    assert not parse(EXAMPLES[12]).is_public                     # narrowed to an organization
    assert parse(EXAMPLES[3]).is_public                          # a Referer narrows nothing
    assert parse({**EXAMPLES[13], "Effect": "Allow"}).is_public  # everyone but one account
    assert not parse(EXAMPLES[13]).is_public                     # the same as a Deny


def test_explicit_deny_wins_and_nothing_matching_is_no_decision():
    p = parse({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{B}/*"},
              {"Effect": "Deny", "Principal": {"AWS": BOB}, "Action": "s3:GetObject",
               "Resource": f"arn:aws:s3:::{B}/secret/*"})
    assert p.decide(req(key="secret/x")) == policylang.DENY
    assert p.decide(req(key="secret/x", account=OWNER, name="alice")) == policylang.ALLOW
    assert p.decide(req(key="open")) == policylang.ALLOW
    assert p.decide(req(action="s3:listbucket", key=None)) is None          # resource not named
    assert p.decide(req(key="open"), public_grants=False) is None           # RestrictPublicBuckets


def test_principals():
    s = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{B}/*"}
    assert parse({**s, "Principal": {"AWS": f"arn:aws:iam::{BOB}:user/bob"}}).decide(req()) == policylang.ALLOW
    assert parse({**s, "Principal": {"AWS": f"arn:aws:iam::{BOB}:user/eve"}}).decide(req()) is None
    assert parse({**s, "Principal": {"AWS": f"arn:aws:iam::{BOB}:root"}}).decide(req()) == policylang.ALLOW
    assert parse({**s, "Principal": {"CanonicalUser": f"{3:064x}"}}).decide(req()) == policylang.ALLOW
    assert parse({**s, "Principal": {"AWS": f"arn:aws:iam::{BOB}:role/r"}}).decide(req()) is None
    assert parse({**s, "Principal": {"Service": "logging.s3.amazonaws.com"}}).decide(req()) is None
    assert parse({**s, "NotPrincipal": {"AWS": OWNER}}).decide(req()) == policylang.ALLOW
    assert parse({**s, "NotPrincipal": {"AWS": BOB}}).decide(req()) is None
    for bad in ("bob", {"AWS": "bob"}, {"Group": "x"}, {"AWS": []}, {}, {"CanonicalUser": "xyz"},
                {"Service": "not a service"}):
        with pytest.raises(S3Error) as e:
            parse({**s, "Principal": bad})
        assert (e.value.code, e.value.message) == ("MalformedPolicy", "Invalid principal in policy")


def test_actions_and_resources_with_wildcards_and_not_elements():
    s = {"Effect": "Deny", "Principal": "*"}
    p = parse({**s, "Action": "s3:Get*", "Resource": f"arn:aws:s3:::{B}/a?c/*"})
    assert p.decide(req(key="abc/d")) == policylang.DENY
    assert p.decide(req(key="abbc/d")) is None
    assert p.decide(req(action="s3:putobject", key="abc/d")) is None
    assert parse({**s, "Action": "S3:GETOBJECT", "Resource": "*"}).decide(req()) == policylang.DENY   # actions: any case
    p = parse({**s, "NotAction": ["s3:GetObject"], "NotResource": f"arn:aws:s3:::{B}/public/*"})
    assert p.decide(req(action="s3:deleteobject", key="private")) == policylang.DENY
    assert p.decide(req(action="s3:deleteobject", key="public/x")) is None
    assert p.decide(req(key="private")) is None


def case(operator, key, values, **context):
    stmt = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{B}/*",
            "Condition": {operator: {key: values}}}
    return parse(stmt).decide(req(**context)) == policylang.DENY


def test_condition_operators():
    ua = {"aws:useragent": "Boto3/1.40"}
    assert case("StringEquals", "aws:UserAgent", "Boto3/1.40", **{"aws:UserAgent": "Boto3/1.40"})
    assert not case("StringEquals", "aws:UserAgent", "boto3/1.40", **ua)
    assert case("StringEqualsIgnoreCase", "aws:UserAgent", "BOTO3/1.40", **ua)
    assert case("StringLike", "aws:UserAgent", ["curl*", "Boto3/*"], **ua)
    assert not case("StringNotLike", "aws:UserAgent", "Boto3/*", **ua)
    assert case("StringNotEquals", "aws:UserAgent", "curl", **ua)
    # a negated operator matches when the key is absent; a positive one does not
    assert case("StringNotEquals", "s3:x-amz-server-side-encryption", "AES256")
    assert not case("StringEquals", "s3:x-amz-server-side-encryption", "AES256")
    assert case("StringEqualsIfExists", "s3:x-amz-server-side-encryption", "AES256")
    assert case("Null", "s3:x-amz-server-side-encryption", "true")
    assert not case("Null", "s3:x-amz-server-side-encryption", False)
    assert case("NumericGreaterThan", "s3:max-keys", "10", **{"s3:max-keys": "11"})
    assert not case("NumericGreaterThan", "s3:max-keys", "10", **{"s3:max-keys": "ten"})
    assert case("NumericLessThanEquals", "s3:max-keys", 10, **{"s3:max-keys": "10"})
    assert case("DateLessThan", "aws:CurrentTime", "2030-01-01T00:00:00Z", **{"aws:CurrentTime": "2026-11-28T00:00:00Z"})
    assert case("DateGreaterThan", "aws:EpochTime", "1700000000", **{"aws:EpochTime": "1800000000"})
    assert case("Bool", "aws:SecureTransport", False, **{"aws:SecureTransport": "false"})
    assert not case("Bool", "aws:SecureTransport", "false", **{"aws:SecureTransport": "true"})
    assert case("IpAddress", "aws:SourceIp", "10.0.0.0/8", **{"aws:SourceIp": "10.1.2.3"})
    assert case("NotIpAddress", "aws:SourceIp", ["10.0.0.0/8", "::1/128"], **{"aws:SourceIp": "127.0.0.1"})
    assert not case("NotIpAddress", "aws:SourceIp", ["::1/128"], **{"aws:SourceIp": "::1"})
    assert case("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:user/b*", **{"aws:PrincipalArn": "arn:aws:iam::1:user/bob"})
    assert case("ForAnyValue:StringEquals", "aws:UserAgent", ["a", "b"], **{"aws:UserAgent": ["c", "b"]})
    assert not case("ForAnyValue:StringEquals", "aws:UserAgent", ["a"])
    assert case("ForAllValues:StringEquals", "aws:UserAgent", ["a"])                 # absent: vacuously true
    assert not case("ForAllValues:StringEquals", "aws:UserAgent", ["a"], **{"aws:UserAgent": ["a", "b"]})
    # keys this server never has are absent, as on an AWS request that did not come that way
    assert case("StringNotEquals", "aws:SourceVpce", "vpce-1")
    assert not case("StringEquals", "aws:PrincipalOrgID", "o-1")


def test_every_condition_must_hold():
    stmt = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{B}/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringLike": {"aws:UserAgent": "curl/*"}}}
    p = parse(stmt)
    assert p.decide(req(**{"aws:securetransport": "false", "aws:useragent": "curl/8"})) == policylang.DENY
    assert p.decide(req(**{"aws:securetransport": "true", "aws:useragent": "curl/8"})) is None
    assert p.decide(req(**{"aws:securetransport": "false", "aws:useragent": "boto3"})) is None


def test_operation_actions():
    assert policylang.action_for("HeadObject") == "s3:getobject"
    assert policylang.action_for("GetObject", "null") == "s3:getobjectversion"
    assert policylang.action_for("DeleteBucketCors") == "s3:putbucketcors"
    assert policylang.action_for("ListObjectsV2") == "s3:listbucket"
    assert policylang.action_for("DeleteObjects") is None
    assert policylang.action_for("ListBuckets") is None
    # every action the table names is one the parser accepts
    for op in policylang.OPERATION_ACTIONS:
        assert policylang.action_for(op) in policylang.KNOWN_ACTIONS, op


def test_mutated_documents_only_ever_raise_s3_errors():
    rng = random.Random(20261128)
    base = json.dumps({"Version": "2012-10-17", "Statement": EXAMPLES})
    pieces = ['"', "{", "}", "[", "]", ",", ":", "*", "null", "true", "1", '"s3:*"', '"Deny"', '"Condition"',
              '"${x}"', '"arn:aws:s3:::"', '"IpAddress"', '"aws:SourceIp"', '"999.1.1.1/77"', "\\u0000"]
    accepted = 0
    for _ in range(600):
        text = base
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text))
            if rng.random() < 0.5:
                text = text[:at] + rng.choice(pieces) + text[at:]
            else:
                text = text[:at] + text[at + rng.randint(1, 12):]
        try:
            found = policyparse.parse(text, B)
        except S3Error as exc:
            assert exc.code in ("MalformedPolicy", "NotImplemented")
            continue
        accepted += 1
        found.decide(req())
    assert accepted > 0


def test_policy_variables():
    home = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{B}/home/${{aws:username}}/*"}
    p = parse(home)
    assert p.decide(req(key="home/bob/a", **{"aws:username": "bob"})) == policylang.ALLOW
    assert p.decide(req(key="home/eve/a", **{"aws:username": "bob"})) is None
    assert p.decide(req(key="home/bob/a")) is None                       # no value: the statement does not apply
    # the value is literal: a name of "*" matches only a folder named "*"
    assert p.decide(req(key="home/eve/a", **{"aws:username": "*"})) is None
    assert p.decide(req(key="home/*/a", **{"aws:username": "*"})) == policylang.ALLOW
    # a default, and ${*} as a literal star
    p = parse({**home, "Resource": f"arn:aws:s3:::{B}/home/${{aws:username, 'guest'}}/${{*}}"})
    assert p.decide(req(key="home/guest/*")) == policylang.ALLOW
    assert p.decide(req(key="home/guest/x")) is None
    # in conditions: exact, case-insensitive, and Like (the policy's own * a wildcard)
    def cond(op, value, **context):
        st = {**home, "Resource": f"arn:aws:s3:::{B}/*", "Condition": {op: {"s3:prefix": value}}}
        return parse(st).decide(req(**context)) == policylang.ALLOW
    ctx = {"aws:username": "bob"}
    assert cond("StringEquals", "home/${aws:username}", **ctx, **{"s3:prefix": "home/bob"})
    assert not cond("StringEquals", "home/${aws:username}", **ctx, **{"s3:prefix": "home/bobby"})
    assert cond("StringEqualsIgnoreCase", "HOME/${aws:username}", **ctx, **{"s3:prefix": "home/BOB"})
    assert cond("StringLike", "home/${aws:username}/*", **ctx, **{"s3:prefix": "home/bob/x/y"})
    assert cond("StringNotLike", "home/${aws:username}/*", **ctx, **{"s3:prefix": "home/eve/x"})
    assert not cond("StringLike", "home/${aws:username}/*", **{"s3:prefix": "home/bob/x"})   # no username
    # Version 2008-10-17 has no variables: the text is plain
    old = policyparse.parse(json.dumps({"Version": "2008-10-17", "Statement": [home]}), B)
    assert old.decide(req(key="home/${aws:username}/a", **ctx)) == policylang.ALLOW
    for bad, code in (("${aws:nonsense}", "MalformedPolicy"), ("${aws:username, guest}", "MalformedPolicy"),
                      ("${s3:TlsVersion}", "NotImplemented")):
        with pytest.raises(S3Error) as e:
            parse({**home, "Resource": f"arn:aws:s3:::{B}/{bad}/*"})
        assert e.value.code == code
    with pytest.raises(S3Error) as e:            # never in the bucket's name
        parse({**home, "Resource": "arn:aws:s3:::${aws:username}/*"})
    assert e.value.message == "Policy has invalid resource"


def test_existing_object_tags_are_a_key_of_their_own():
    st = {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{B}/*",
          "Condition": {"StringEquals": {"s3:ExistingObjectTag/Class": "secret"}}}
    p = parse(st)
    assert p.uses_existing_tags and not parse({**st, "Condition": {}}).uses_existing_tags
    assert p.decide(req(**{"s3:existingobjecttag/class": "secret"})) == policylang.DENY
    assert p.decide(req(**{"s3:existingobjecttag/class": "public"})) is None
    assert p.decide(req()) is None
    for bad in ("s3:ExistingObjectTag/", "s3:RequestObjectTag/", "s3:TlsVersion"):
        with pytest.raises(S3Error):
            parse({**st, "Condition": {"StringEquals": {bad: "x"}}})
