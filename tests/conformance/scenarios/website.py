"""Bucket websites: PutBucketWebsite / GetBucketWebsite / DeleteBucketWebsite. (The website endpoint
itself is not compared: moto has none; tests/api/test_website.py covers it.)"""
from __future__ import annotations

from tests.conformance.harness import SCENARIOS

S = SCENARIOS


@S("website")
def website_round_trip(run):
    b = run.bucket()
    run.call("get_bucket_website", Bucket=b)
    run.call("put_bucket_website", Bucket=b, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "docs/"},
                          "Redirect": {"ReplaceKeyPrefixWith": "documents/", "HttpRedirectCode": "302"}}]})
    run.call("get_bucket_website", Bucket=b)
    run.call("put_bucket_website", Bucket=b, WebsiteConfiguration={
        "RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "https"}})
    run.call("get_bucket_website", Bucket=b)
    run.call("delete_bucket_website", Bucket=b)
    run.call("get_bucket_website", Bucket=b)
    run.call("delete_bucket_website", Bucket=b)


@S("website")
def website_of_a_missing_bucket(run):
    b = run.bucket(create=False)
    run.call("put_bucket_website", Bucket=b, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    run.call("get_bucket_website", Bucket=b)
