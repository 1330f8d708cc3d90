"""PutBucketWebsite's parser (api/s3/website.py): what it accepts renders back (GetBucketWebsite)
to the same configuration, and mutated documents only ever get an S3 error (never a 500)."""
from __future__ import annotations

import random

from s3server.api import xmlbuckets
from s3server.api.s3.website import parse_website
from s3server.api.website import _matching_rule, website_bucket
from s3server.errors import S3Error
from s3server.models import RoutingRule, WebsiteConfig
from tests.xmlfuzz import mutations

VALID = [
    b"<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument>"
    b"<ErrorDocument><Key>errors/404.html</Key></ErrorDocument>"
    b"<RoutingRules><RoutingRule><Condition><KeyPrefixEquals>docs/</KeyPrefixEquals></Condition>"
    b"<Redirect><ReplaceKeyPrefixWith>documents/</ReplaceKeyPrefixWith><HttpRedirectCode>302</HttpRedirectCode>"
    b"</Redirect></RoutingRule><RoutingRule><Condition><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals>"
    b"</Condition><Redirect><HostName>example.com</HostName><Protocol>https</Protocol>"
    b"<ReplaceKeyWith>missing.html</ReplaceKeyWith></Redirect></RoutingRule></RoutingRules></WebsiteConfiguration>",
    b"<WebsiteConfiguration><RedirectAllRequestsTo><HostName>www.example.com</HostName><Protocol>http</Protocol>"
    b"</RedirectAllRequestsTo></WebsiteConfiguration>",
]
ODD_TEXT = ["", " ", "/", "a/b", "0", "300", "301", "399", "404", "600", "http", "ftp", "x" * 300, "\u00e9"]


def test_valid_documents_render_back_to_the_same_configuration():
    for doc in VALID:
        cfg = parse_website(doc)
        assert parse_website(xmlbuckets.website_configuration(cfg)) == cfg


def test_mutated_documents_get_an_s3_error_or_a_configuration():
    rnd = random.Random(28)
    outcomes = {"ok": 0, "error": 0}
    for doc in VALID:
        for variant in mutations(doc, rnd, ODD_TEXT):
            try:
                cfg = parse_website(variant)
            except S3Error as exc:
                assert exc.status == 400, (variant, exc.code)
                outcomes["error"] += 1
                continue
            outcomes["ok"] += 1
            assert parse_website(xmlbuckets.website_configuration(cfg)) == cfg
            for status in (None, 403, 404):
                _matching_rule(cfg, "docs/a", status)
    assert outcomes["ok"] > 20 and outcomes["error"] > 20


def test_routing_rule_order_and_conditions():
    cfg = WebsiteConfig(index_suffix="i.html", routing_rules=(
        RoutingRule(key_prefix_equals="a/", error_code_equals=404, host_name="x"),
        RoutingRule(key_prefix_equals="a/", host_name="y"),
        RoutingRule(error_code_equals=403, host_name="z"),
        RoutingRule(host_name="all")))
    assert _matching_rule(cfg, "a/1", None).host_name == "y"          # prefix rules: before the lookup
    assert _matching_rule(cfg, "b/1", None).host_name == "all"        # no condition: every request
    assert _matching_rule(cfg, "a/1", 404).host_name == "x"           # error rules: after it
    assert _matching_rule(cfg, "b/1", 404) is None
    assert _matching_rule(cfg, "b/1", 403).host_name == "z"


def test_website_hosts():
    assert website_bucket("photos.s3-website.test:7841", "s3-website.test") == "photos"
    assert website_bucket("Photos.S3-Website.Test", "s3-website.test.") == "photos"
    assert website_bucket("s3-website.test", "s3-website.test") is None
    assert website_bucket("photos.s3.test", "s3-website.test") is None
    assert website_bucket("[::1]:7841", "s3-website.test") is None
    assert website_bucket("photos.s3-website.test", "") is None
