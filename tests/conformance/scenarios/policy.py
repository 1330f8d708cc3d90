"""Bucket policies: PutBucketPolicy / GetBucketPolicy / DeleteBucketPolicy / GetBucketPolicyStatus.
(What a policy allows or denies is not compared: moto enforces none of it; tests/api covers it.)"""
from __future__ import annotations

import json

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto

S = SCENARIOS


def _doc(bucket: str, principal, effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "read", "Effect": effect, "Principal": principal, "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{bucket}/*"]}]})


PUT_QUOTE = ("PutBucketPolicy, Examples, Sample Response: HTTP/1.1 204 No Content (moto: 200)")


def _no_content(records):
    for rec in records:
        if rec["step"] == "put_bucket_policy" and rec["status"] == 200:
            rec["status"] = 204


@S("policy")
@aws_differs_from_moto(PUT_QUOTE, _no_content)
def policy_round_trip(run):
    b = run.bucket()
    run.call("put_bucket_policy", Bucket=b, Policy=_doc(b, {"AWS": "arn:aws:iam::123456789012:root"}))
    run.call("get_bucket_policy", Bucket=b)
    run.call("put_bucket_policy", Bucket=b, Policy=_doc(b, "*", "Deny"))
    run.call("get_bucket_policy", Bucket=b)
    run.setup("delete_bucket_policy", Bucket=b)
    run.call("get_bucket_policy", Bucket=b)
    run.call("delete_bucket_policy", Bucket=b)


@S("policy")
@aws_differs_from_moto(PUT_QUOTE, _no_content)
def policy_status(run):
    b = run.bucket()
    run.call("put_bucket_policy", Bucket=b, Policy=_doc(b, "*"))
    run.call("get_bucket_policy_status", Bucket=b)
    run.call("put_bucket_policy", Bucket=b, Policy=_doc(b, {"AWS": "arn:aws:iam::123456789012:root"}))
    run.call("get_bucket_policy_status", Bucket=b)


@S("policy")
def policy_of_a_missing_bucket(run):
    b = run.bucket(create=False)
    run.call("put_bucket_policy", Bucket=b, Policy=_doc(b, "*"))
    run.call("get_bucket_policy", Bucket=b)
    run.call("delete_bucket_policy", Bucket=b)


def _malformed(records):
    records[0] = as_error(records[0], 400, "MalformedPolicy")
    records[1] = as_error(records[1], 400, "MalformedPolicy")
    records[2] = as_error(records[2], 404, "NoSuchBucketPolicy")


@S("policy")
@aws_differs_from_moto("Error responses, MalformedPolicy: Policy has invalid action / resource / principal; "
                       "Bucket policy language: a policy has a Statement (moto stores any document)", _malformed)
def malformed_policies(run):
    b = run.bucket()
    run.call("put_bucket_policy", Bucket=b, Policy="not json")
    run.call("put_bucket_policy", Bucket=b, Policy=json.dumps({"Version": "2012-10-17"}))
    run.call("get_bucket_policy", Bucket=b)
