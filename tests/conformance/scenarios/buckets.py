"""Bucket scenarios: CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation,
GetBucketVersioning and PutBucketVersioning (Suspended), naming rules."""
from __future__ import annotations

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto

S = SCENARIOS


@S("buckets")
def create_head_location(run):
    b = run.bucket(create=False)
    run.call("create_bucket", Bucket=b)
    run.call("head_bucket", Bucket=b)
    run.call("get_bucket_location", Bucket=b)
    run.call("get_bucket_versioning", Bucket=b)


@S("buckets")
def create_with_location_constraint(run):
    b = run.bucket(create=False)
    run.call("create_bucket", Bucket=b, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    run.call("get_bucket_location", Bucket=b)


@S("buckets")
def create_with_us_east_1_constraint(run):
    b = run.bucket(create=False)
    run.call("create_bucket", Bucket=b, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    run.call("head_bucket", Bucket=b)


def _invalid_location(records):
    records[0] = as_error(records[0], 400, "InvalidLocationConstraint")


@S("buckets")
@aws_differs_from_moto("InvalidLocationConstraint: The specified location (Region) constraint is not valid.",
                       _invalid_location)
def create_with_bogus_constraint(run):
    b = run.bucket(create=False)
    run.call("create_bucket", Bucket=b, CreateBucketConfiguration={"LocationConstraint": "mars-north-9"})


@S("buckets")
def create_twice(run):
    b = run.bucket()
    run.call("create_bucket", Bucket=b)


@S("buckets")
def head_missing(run):
    run.call("head_bucket", Bucket=run.bucket(create=False))


@S("buckets")
def delete_missing(run):
    run.call("delete_bucket", Bucket=run.bucket(create=False))


@S("buckets")
def delete_then_head(run):
    b = run.bucket()
    run.call("delete_bucket", Bucket=b)
    run.call("head_bucket", Bucket=b)
    run.call("list_objects_v2", Bucket=b)


@S("buckets")
def delete_not_empty(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"x")
    run.call("delete_bucket", Bucket=b)
    run.call("delete_object", Bucket=b, Key="k")
    run.call("delete_bucket", Bucket=b)


@S("buckets")
def list_buckets_sees_new(run):
    a, b = run.bucket(), run.bucket()
    resp = run.s3.list_buckets()
    mine = sorted(x["Name"] for x in resp["Buckets"] if x["Name"] in (a, b))
    run.note("mine", mine)
    run.note("owner", sorted(resp.get("Owner", {})))
    run.note("fields", sorted({k for x in resp["Buckets"] for k in x if k != "BucketRegion"}))


@S("buckets")
def location_missing(run):
    run.call("get_bucket_location", Bucket=run.bucket(create=False))


@S("buckets")
def versioning_missing(run):
    run.call("get_bucket_versioning", Bucket=run.bucket(create=False))


def _malformed(records):
    records[0] = as_error(records[0], 400, "MalformedXML")


@S("buckets")
@aws_differs_from_moto("MalformedXML: The XML that you provided was not well-formed or did not validate against "
                       "our published schema.", _malformed)
def create_malformed_xml(run):
    b = run.bucket(create=False)
    run.raw("PUT", "/" + b, body=b"<CreateBucketConfiguration><LocationConstraint>", label="create malformed")


@S("buckets")
def create_empty_configuration(run):
    b = run.bucket(create=False)
    run.raw("PUT", "/" + b, body=b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>',
            label="create empty config")
    run.call("head_bucket", Bucket=b)


VALID_NAMES = {"min_length": "abc", "max_length": "a" * 63, "digits_first": "1bucket-x",
               "dots": "a.b.c-d", "all_digits": "1234567"}
INVALID_NAMES = {"too_short": "ab", "too_long": "a" * 64, "uppercase": "UpperCase", "underscore": "under_score",
                 "leading_dash": "-leading", "trailing_dash": "trailing-", "ip_address": "192.168.5.4",
                 "xn_prefix": "xn--punycode", "double_dot": "a..b",
                 "trailing_dot": "bucket.", "amzn_demo_prefix": "amzn-s3-demo-name", "s3alias_suffix": "name-s3alias", "sthree_prefix": "sthree-name"}


def _valid(name):
    def scenario(run):
        run.call("create_bucket", Bucket=name)
        run.call("head_bucket", Bucket=name)
        run.call("delete_bucket", Bucket=name)
    return scenario


NAMING_RULES = {
    "uppercase": "Bucket names can consist only of lowercase letters, numbers, periods (.), and hyphens (-).",
    "underscore": "Bucket names can consist only of lowercase letters, numbers, periods (.), and hyphens (-).",
    "leading_dash": "Bucket names must begin and end with a letter or number.",
    "trailing_dash": "Bucket names must begin and end with a letter or number.",
    "trailing_dot": "Bucket names must begin and end with a letter or number.",
    "ip_address": "Bucket names must not be formatted as an IP address (for example, 192.168.5.4).",
    "xn_prefix": "Bucket names must not start with the prefix xn--.",
    "double_dot": "Bucket names must not contain two adjacent periods.",
    "s3alias_suffix": "Bucket names must not end with the suffix -s3alias.",
    "sthree_prefix": "Bucket names must not start with the prefix sthree-.",
    "amzn_demo_prefix": "Bucket names must not start with the prefix amzn-s3-demo-.",
}


def _rejected(records):
    records[0] = as_error(records[0], 400, "InvalidBucketName")


def _invalid(label, name):
    def scenario(run):
        run.call("create_bucket", Bucket=name)
    if label in NAMING_RULES:    # moto accepts what the naming rules forbid
        scenario = aws_differs_from_moto(NAMING_RULES[label], _rejected)(scenario)
    return scenario


for _label, _name in VALID_NAMES.items():
    S.add("buckets", f"name_valid_{_label}", _valid(_name))
for _label, _name in INVALID_NAMES.items():
    S.add("buckets", f"name_invalid_{_label}", _invalid(_label, _name))


# ---------------------------------------------------------------- CORS configuration
_CORS = {"CORSRules": [
    {"ID": "web", "AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["PUT", "POST"],
     "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]}


@S("buckets")
def cors_configuration_round_trip(run):
    b = run.bucket()
    run.call("get_bucket_cors", Bucket=b)
    run.call("put_bucket_cors", Bucket=b, CORSConfiguration=_CORS)
    run.call("get_bucket_cors", Bucket=b)
    run.call("put_bucket_cors", Bucket=b, CORSConfiguration={"CORSRules": _CORS["CORSRules"][1:]})
    run.call("get_bucket_cors", Bucket=b)
    run.call("delete_bucket_cors", Bucket=b)
    run.call("get_bucket_cors", Bucket=b)


@S("buckets")
def cors_on_a_missing_bucket(run):
    b = run.bucket(create=False)
    run.call("put_bucket_cors", Bucket=b, CORSConfiguration=_CORS)
    run.call("get_bucket_cors", Bucket=b)


@S("buckets")
def cors_unsupported_method(run):
    b = run.bucket()
    run.call("put_bucket_cors", Bucket=b, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    run.call("get_bucket_cors", Bucket=b)


def _prefix_echoed(records):
    for rec in records:
        if rec.get("body") is not None:
            rec["body"]["Prefix"] = rec["args"]["Prefix"]


@S("buckets")
@aws_differs_from_moto("ListBuckets: Prefix - If Prefix was sent with the request, it is included in the response. "
                       "All bucket names in the response begin with the specified bucket name prefix. (moto filters "
                       "but does not echo it)", _prefix_echoed)
def list_buckets_with_prefix(run):
    a, b = run.bucket(), run.bucket()            # bucket names are unique per run: a prefix selects one
    run.call("list_buckets", Prefix=a, MaxBuckets=10)
    run.call("list_buckets", Prefix=b)
    run.call("list_buckets", Prefix=b + "x")


@S("buckets")
def versioning_suspended(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="k", Body=b"one")
    run.call("put_bucket_versioning", Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    run.call("get_bucket_versioning", Bucket=b)
    run.call("put_object", Bucket=b, Key="k", Body=b"two")
    run.call("get_object", Bucket=b, Key="k")
    run.call("get_object", Bucket=b, Key="k", VersionId="null")
