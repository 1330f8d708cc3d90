"""Bucket lifecycle configuration (PutBucketLifecycleConfiguration, GetBucketLifecycleConfiguration,
DeleteBucketLifecycle): the rules as they are put and read back, and the documents AWS refuses.
What a rule does to objects happens in the background (a lifecycle pass), which moto does not
do: tests/api/test_lifecycle.py covers that."""
from __future__ import annotations

import datetime as dt

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto

S = SCENARIOS


def _config(*rules: dict) -> dict:
    return {"Rules": list(rules)}


def _rule(rule_id: str, **kw) -> dict:
    return {"ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}, **kw}


@S("lifecycle")
def put_get_delete(run):
    b = run.bucket()
    run.call("get_bucket_lifecycle_configuration", Bucket=b)
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(_rule("logs")))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(
        _rule("tmp", Filter={"Prefix": "tmp/"}, Expiration={"Days": 1}, Status="Disabled")))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)      # replaced, not merged
    run.call("delete_bucket_lifecycle", Bucket=b)
    run.call("get_bucket_lifecycle_configuration", Bucket=b)
    run.call("delete_bucket_lifecycle", Bucket=b)                 # nothing to delete: still 204


@S("lifecycle")
def filters_round_trip(run):
    b = run.bucket()
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(
        _rule("prefix"),
        _rule("tag", Filter={"Tag": {"Key": "class", "Value": "scratch"}}, Expiration={"Days": 7}),
        _rule("and", Filter={"And": {"Prefix": "data/", "Tags": [{"Key": "a", "Value": "1"},
                                                                 {"Key": "b", "Value": "2"}]}}),
        _rule("date", Filter={"Prefix": "old/"}, Expiration={"Date": dt.datetime(2031, 1, 1)}),
        _rule("uploads", Filter={"Prefix": ""}, Expiration={"Days": 10},
              AbortIncompleteMultipartUpload={"DaysAfterInitiation": 3}),
    ))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)


SIZE_FILTERS = [{"ObjectSizeGreaterThan": 1048576}, {"ObjectSizeLessThan": 1024},
                {"And": {"Prefix": "p/", "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 20}}]


def _size_filters_kept(records):
    for rule, sent in zip(records[1]["body"]["Rules"], SIZE_FILTERS):
        rule["Filter"] = sent


@S("lifecycle")
@aws_differs_from_moto("Filter: ObjectSizeGreaterThan - Minimum object size to which the rule applies. "
                       "ObjectSizeLessThan - Maximum object size to which the rule applies.", _size_filters_kept)
def size_filters(run):
    b = run.bucket()
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(
        *(_rule(f"size-{i}", Filter=f) for i, f in enumerate(SIZE_FILTERS))))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)


@S("lifecycle")
def legacy_prefix_and_versions(run):
    b = run.bucket()
    legacy = {"ID": "legacy", "Prefix": "a/", "Status": "Enabled", "Expiration": {"Days": 5}}
    noncurrent = {"ID": "noncurrent", "Filter": {"Prefix": "b/"}, "Status": "Enabled",
                  "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}
    marker = {"ID": "marker", "Filter": {"Prefix": "c/"}, "Status": "Enabled",
              "Expiration": {"ExpiredObjectDeleteMarker": True}}
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(legacy, noncurrent, marker))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)


@S("lifecycle")
def missing_bucket(run):
    b = run.bucket(create=False)
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(_rule("x")))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)
    run.call("delete_bucket_lifecycle", Bucket=b)


@S("lifecycle")
def malformed_rules(run):
    """Documents moto refuses as AWS does (MalformedXML)."""
    b = run.bucket()
    rule = _rule("r")
    both = dict(rule, Prefix="p/")                                    # Prefix beside a Filter
    neither = {k: v for k, v in rule.items() if k != "Filter"}        # no Prefix, no Filter
    two = dict(rule, Filter={"Prefix": "p/", "Tag": {"Key": "k", "Value": "v"}})
    marker_and_days = dict(rule, Expiration={"Days": 3, "ExpiredObjectDeleteMarker": True})
    for bad in (both, neither, two, marker_and_days):
        run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(bad))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)         # none of them was stored


def _refused(step: int, status: int, code: str):
    def expect(records):
        records[step] = as_error(records[step], status, code)
        records[-1] = as_error(records[-1], 404, "NoSuchLifecycleConfiguration")
    return expect


@S("lifecycle")
@aws_differs_from_moto("Days: Indicates the lifetime, in days, of the objects that are subject to the rule. "
                       "The value must be a non-zero positive integer.", _refused(0, 400, "InvalidArgument"))
def zero_days(run):
    b = run.bucket()
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(
        _rule("zero", Expiration={"Days": 0})))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)


@S("lifecycle")
@aws_differs_from_moto("ID: Unique identifier for the rule.", _refused(0, 400, "InvalidArgument"))
def duplicate_ids(run):
    b = run.bucket()
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(
        _rule("same"), _rule("same", Filter={"Prefix": "other/"})))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)


@S("lifecycle")
@aws_differs_from_moto("ID: Unique identifier for the rule. The value cannot be longer than 255 characters.",
                       _refused(0, 400, "InvalidArgument"))
def long_id(run):
    b = run.bucket()
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(_rule("i" * 256)))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)


@S("lifecycle")
@aws_differs_from_moto("Date: Indicates at what date the object is to be moved or deleted. The date value must "
                       "conform to the ISO 8601 format. The time is always midnight UTC.",
                       _refused(0, 400, "InvalidArgument"))
def date_not_midnight(run):
    b = run.bucket()
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(
        _rule("noon", Expiration={"Date": dt.datetime(2031, 1, 1, 12, 0, tzinfo=dt.timezone.utc)})))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)


@S("lifecycle")
@aws_differs_from_moto("You cannot specify AbortIncompleteMultipartUpload action for rules that use tag-based "
                       "filters (S3 User Guide, Lifecycle configuration elements).",
                       _refused(0, 400, "InvalidRequest"))
def abort_uploads_with_tags(run):
    b = run.bucket()
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(
        {"ID": "t", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)


@S("lifecycle")
@aws_differs_from_moto("A lifecycle rule must have at least one action (S3 User Guide, Lifecycle configuration "
                       "elements: \"At least one action needs to be specified in a rule\").",
                       _refused(0, 400, "InvalidRequest"))
def rule_without_action(run):
    b = run.bucket()
    run.call("put_bucket_lifecycle_configuration", Bucket=b, LifecycleConfiguration=_config(
        {"ID": "idle", "Status": "Enabled", "Filter": {"Prefix": "x/"}}))
    run.call("get_bucket_lifecycle_configuration", Bucket=b)
