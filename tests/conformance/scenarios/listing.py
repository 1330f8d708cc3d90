"""Listing scenarios: ListObjectsV2, ListObjects (v1), ListObjectVersions on unversioned buckets:
prefixes, delimiters, paging, max-keys, start-after, fetch-owner, encoding-type=url."""
from __future__ import annotations

from urllib.parse import quote, unquote

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto

S = SCENARIOS
TREE = ["a.txt", "b/1.txt", "b/2.txt", "b/c/3.txt", "d/4.txt", "d/5.txt", "e.txt", "f/6.txt", "g.txt"]
SPECIAL = ["a b.txt", "a+b.txt", "100%.csv", "ünï/ключ.txt", "tilde~x", "q?x=1&y", "semi;colon", "dir one/x.txt",
           "dir one/y z.txt", "plain", "test_file(3).png"]

# --------------------------------------------------------------------------- where moto is not AWS
CONTINUATION_ECHO = ("ContinuationToken: If ContinuationToken was sent with the request, it is included in the "
                     "response. You can use the returned ContinuationToken for pagination of the list response.")
V2_ENCODING = ("EncodingType: Encoding type used by Amazon S3 to encode object key names in the XML response. If you "
               "specify the encoding-type request parameter, Amazon S3 includes this element in the response, and "
               "returns encoded key name values in the following response elements: Delimiter, Prefix, Key, and "
               "StartAfter.")
V1_SAMPLE = ("ListObjects sample response: <Name>bucket</Name> <Prefix/> <Marker/> <MaxKeys>1000</MaxKeys> ...; "
             "Object.ChecksumAlgorithm: The algorithm that was used to create a checksum of the object.")
V1_NEXT_MARKER = ("NextMarker: ... This element is returned only if you have the delimiter request parameter "
                  "specified. If the response does not include the NextMarker element and it is truncated, you can "
                  "use the value of the last Key element in the response as the marker parameter in the subsequent "
                  "request to get the next set of object keys.")
VERSIONS_ENCODING = ("EncodingType: Encoding type used by Amazon S3 to encode object key names in the XML response. "
                     "If you specify the encoding-type request parameter, Amazon S3 includes this element in the "
                     "response, and returns encoded key name values in the following response elements: KeyMarker, "
                     "NextKeyMarker, Prefix, Key, and Delimiter.")
INVALID_ARGUMENT = "InvalidArgument: The specified argument was incomplete or in the wrong format."
ENCODED_FIELDS = ("Key", "Prefix", "StartAfter", "Marker", "NextMarker", "KeyMarker", "NextKeyMarker", "Delimiter")


def aws_url(value: str) -> str:
    # AWS's encoding-type=url as measured (brekkylab/backlot#178): 'a b' -> 'a+b', 'a+b' -> 'a%2Bb'
    return quote(value, safe="/~").replace("%20", "+")


def _echo_tokens(records):
    token = None
    for rec in records:
        body = rec.get("body")
        if rec["step"] != "list_objects_v2" or body is None:
            continue
        if rec["args"].get("ContinuationToken"):
            body["ContinuationToken"] = token
            if rec["args"].get("StartAfter"):
                body["StartAfter"] = rec["args"]["StartAfter"]
        token = body.get("NextContinuationToken")


def _v1_fix(records):
    """What AWS's ListObjects v1 has that moto's lacks (see V1_SAMPLE and V1_NEXT_MARKER)."""
    for rec in records:
        body = rec.get("body")
        if rec["step"] != "list_objects" or body is None:
            continue
        body.setdefault("Prefix", rec["args"].get("Prefix", ""))
        body.setdefault("Marker", rec["args"].get("Marker", ""))
        for obj in body.get("Contents", []):
            obj.setdefault("ChecksumAlgorithm", ["CRC32"])
            obj.setdefault("ChecksumType", "FULL_OBJECT")
        if "Delimiter" not in rec["args"] or not body.get("IsTruncated"):
            body.pop("NextMarker", None)


def _aws_encoding(records):
    """Raw listings with encoding-type=url: every key-like element encoded as AWS does."""
    def fix(node):
        if isinstance(node, list):
            return [fix(n) for n in node]
        if isinstance(node, dict):
            return {k: (aws_url(unquote(v)) if k in ENCODED_FIELDS and isinstance(v, str) else fix(v))
                    for k, v in node.items()}
        return node
    for rec in records:
        if "body" in rec:
            rec["body"] = fix(rec["body"])


def _raw_v1_fix(records):
    _aws_encoding(records)
    result = records[0]["body"]["ListBucketResult"]
    result.setdefault("Prefix", "")
    result.setdefault("Marker", "a+b.txt")
    for obj in result["Contents"]:
        obj.setdefault("ChecksumAlgorithm", "CRC32")
        obj.setdefault("ChecksumType", "FULL_OBJECT")


def _versions_echo_encoding(records):
    for rec in records:
        if rec["step"] == "list_object_versions" and rec.get("body") is not None:
            rec["body"]["EncodingType"] = "url"


def _invalid_argument(records):
    records[0] = as_error(records[0], 400, "InvalidArgument")


def _fill(run, keys=TREE):
    b = run.bucket()
    for k in keys:
        run.setup("put_object", Bucket=b, Key=k, Body=k.encode())
    return b


def _pages(run, op, token_in, token_out, **kw):
    """Page through a listing, recording every page and the keys + prefixes seen in order."""
    seen, token = [], None
    for _ in range(20):
        args = dict(kw, **({token_in: token} if token else {}))
        page = run.call(op, **args)
        if page is None:
            return
        seen += [o["Key"] for o in page.get("Contents", page.get("Versions", []))]
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page.get("IsTruncated"):
            break
        last_key = (page.get("Contents") or [{}])[-1].get("Key")
        if op == "list_objects" and "Delimiter" not in kw:
            token = last_key          # v1 without a delimiter: NextMarker is not returned (V1_NEXT_MARKER)
        else:
            token = page.get(token_out) or last_key
    run.note("seen", seen)


# ----------------------------------------------------------------------------- ListObjectsV2
@S("list_v2")
def empty_bucket(run):
    run.call("list_objects_v2", Bucket=run.bucket())


@S("list_v2")
def basic(run):
    run.call("list_objects_v2", Bucket=_fill(run))


@S("list_v2")
def prefix(run):
    run.call("list_objects_v2", Bucket=_fill(run), Prefix="b/")


@S("list_v2")
def prefix_without_match(run):
    run.call("list_objects_v2", Bucket=_fill(run), Prefix="zzz")


@S("list_v2")
def prefix_partial_name(run):
    run.call("list_objects_v2", Bucket=_fill(run), Prefix="b/c")


@S("list_v2")
def delimiter(run):
    run.call("list_objects_v2", Bucket=_fill(run), Delimiter="/")


@S("list_v2")
def prefix_and_delimiter(run):
    run.call("list_objects_v2", Bucket=_fill(run), Prefix="b/", Delimiter="/")


@S("list_v2")
def multi_char_delimiter(run):
    b = _fill(run, ["x--1", "x--2--3", "y", "z--"])
    run.call("list_objects_v2", Bucket=b, Delimiter="--")


@S("list_v2")
def delimiter_not_slash(run):
    b = _fill(run, ["2024-01.csv", "2024-02.csv", "2025-01.csv", "other"])
    run.call("list_objects_v2", Bucket=b, Delimiter="-")


for _n in (0, 1, 2, 1000):
    def _max_keys(run, n=_n):
        run.call("list_objects_v2", Bucket=_fill(run), MaxKeys=n)
    S.add("list_v2", f"max_keys_{_n}", _max_keys)


@S("list_v2")
def max_keys_5000(run):
    # what AWS echoes in MaxKeys for a request over 1000 is not documented; what a client sees is
    page = run.s3.list_objects_v2(Bucket=_fill(run), MaxKeys=5000)
    run.note("returned", [len(page.get("Contents", [])), page["IsTruncated"]])


@S("list_v2")
def max_keys_zero_with_delimiter(run):
    run.call("list_objects_v2", Bucket=_fill(run), MaxKeys=0, Delimiter="/")


@S("list_v2")
@aws_differs_from_moto(CONTINUATION_ECHO, _echo_tokens)
def paging(run):
    _pages(run, "list_objects_v2", "ContinuationToken", "NextContinuationToken", Bucket=_fill(run), MaxKeys=2)


@S("list_v2")
@aws_differs_from_moto(CONTINUATION_ECHO, _echo_tokens)
def paging_with_delimiter(run):
    _pages(run, "list_objects_v2", "ContinuationToken", "NextContinuationToken", Bucket=_fill(run), MaxKeys=2,
           Delimiter="/")


@S("list_v2")
@aws_differs_from_moto(CONTINUATION_ECHO, _echo_tokens)
def paging_with_prefix_and_delimiter(run):
    _pages(run, "list_objects_v2", "ContinuationToken", "NextContinuationToken", Bucket=_fill(run), MaxKeys=1,
           Prefix="b/", Delimiter="/")


@S("list_v2")
def start_after(run):
    run.call("list_objects_v2", Bucket=_fill(run), StartAfter="b/2.txt")


@S("list_v2")
def start_after_not_a_key(run):
    run.call("list_objects_v2", Bucket=_fill(run), StartAfter="c")


@S("list_v2")
def start_after_past_end(run):
    run.call("list_objects_v2", Bucket=_fill(run), StartAfter="zzz")


def _prefix_after_start(records):
    body = records[0]["body"]
    body["CommonPrefixes"].insert(0, {"Prefix": "b/"})
    body["KeyCount"] += 1


@S("list_v2")
@aws_differs_from_moto("StartAfter is where you want Amazon S3 to start listing from. Amazon S3 starts listing after "
                       "this specified key. StartAfter can be any key in the bucket.", _prefix_after_start)
def start_after_with_delimiter(run):
    # b/2.txt and b/c/3.txt follow b/1.txt, so the listing that starts after b/1.txt rolls them into b/
    run.call("list_objects_v2", Bucket=_fill(run), StartAfter="b/1.txt", Delimiter="/")


@S("list_v2")
@aws_differs_from_moto(CONTINUATION_ECHO, _echo_tokens)
def start_after_then_continue(run):
    b = _fill(run)
    first = run.call("list_objects_v2", Bucket=b, StartAfter="b/1.txt", MaxKeys=2)
    run.call("list_objects_v2", Bucket=b, StartAfter="b/1.txt", MaxKeys=2,
             ContinuationToken=first["NextContinuationToken"])


@S("list_v2")
def fetch_owner_true(run):
    run.call("list_objects_v2", Bucket=_fill(run, ["k1", "k2"]), FetchOwner=True)


def _no_owner(records):
    for obj in records[0]["body"]["Contents"]:
        obj.pop("Owner", None)


@S("list_v2")
@aws_differs_from_moto("The owner field is not present in ListObjectsV2 by default. If you want to return the owner "
                       "field with each key in the result, then set the FetchOwner field to true.", _no_owner)
def fetch_owner_false(run):
    run.call("list_objects_v2", Bucket=_fill(run, ["k1", "k2"]), FetchOwner=False)


@S("list_v2")
def special_keys_decoded_by_boto3(run):
    run.call("list_objects_v2", Bucket=_fill(run, SPECIAL))


@S("list_v2")
def special_keys_with_delimiter(run):
    run.call("list_objects_v2", Bucket=_fill(run, SPECIAL), Delimiter="/")


@S("list_v2")
def special_prefix(run):
    run.call("list_objects_v2", Bucket=_fill(run, SPECIAL), Prefix="dir one/", Delimiter="/")


@S("list_v2")
def unicode_order(run):
    run.call("list_objects_v2", Bucket=_fill(run, ["z", "é", "a", "B", "ä", "日本", "~", "0"]))


@S("list_v2")
@aws_differs_from_moto(V2_ENCODING, _aws_encoding)
def raw_encoding_url(run):
    b = _fill(run, SPECIAL)
    run.raw("GET", "/" + b, query="list-type=2&encoding-type=url")


@S("list_v2")
@aws_differs_from_moto(V2_ENCODING, _aws_encoding)
def raw_encoding_url_delimiter_prefix(run):
    b = _fill(run, SPECIAL)
    run.raw("GET", "/" + b, query="delimiter=%2F&encoding-type=url&list-type=2&prefix=dir%20one%2F")


@S("list_v2")
@aws_differs_from_moto(V2_ENCODING, _aws_encoding)
def raw_encoding_url_common_prefixes(run):
    b = _fill(run, SPECIAL)
    run.raw("GET", "/" + b, query="delimiter=%2F&encoding-type=url&list-type=2")


@S("list_v2")
@aws_differs_from_moto(V2_ENCODING, _aws_encoding)
def raw_encoding_url_start_after(run):
    b = _fill(run, SPECIAL)
    run.raw("GET", "/" + b, query="encoding-type=url&list-type=2&start-after=a%20b.txt")


@S("list_v2")
def raw_without_encoding(run):
    b = _fill(run, SPECIAL)
    run.raw("GET", "/" + b, query="list-type=2")


@S("list_v2")
@aws_differs_from_moto("EncodingType ... Valid Values: url; " + INVALID_ARGUMENT, _invalid_argument)
def raw_invalid_encoding_type(run):
    run.raw("GET", "/" + run.bucket(), query="encoding-type=base64&list-type=2")


@S("list_v2")
@aws_differs_from_moto(INVALID_ARGUMENT, _invalid_argument)
def raw_max_keys_negative(run):
    run.raw("GET", "/" + run.bucket(), query="list-type=2&max-keys=-1")


@S("list_v2")
@aws_differs_from_moto(INVALID_ARGUMENT, _invalid_argument)
def raw_max_keys_not_a_number(run):
    run.raw("GET", "/" + run.bucket(), query="list-type=2&max-keys=abc")


@S("list_v2")
def missing_bucket(run):
    run.call("list_objects_v2", Bucket=run.bucket(create=False))


# ----------------------------------------------------------------------------- ListObjects (v1)
@S("list_v1", "basic")
@aws_differs_from_moto(V1_SAMPLE if "basic" != "paging_without_delimiter" else V1_NEXT_MARKER, _v1_fix)
def v1_basic(run):
    run.call("list_objects", Bucket=_fill(run))


@S("list_v1", "empty_bucket")
@aws_differs_from_moto(V1_SAMPLE if "empty_bucket" != "paging_without_delimiter" else V1_NEXT_MARKER, _v1_fix)
def v1_empty_bucket(run):
    run.call("list_objects", Bucket=run.bucket())


@S("list_v1", "marker")
@aws_differs_from_moto(V1_SAMPLE if "marker" != "paging_without_delimiter" else V1_NEXT_MARKER, _v1_fix)
def v1_marker(run):
    run.call("list_objects", Bucket=_fill(run), Marker="b/2.txt")


@S("list_v1", "delimiter")
@aws_differs_from_moto(V1_SAMPLE if "delimiter" != "paging_without_delimiter" else V1_NEXT_MARKER, _v1_fix)
def v1_delimiter(run):
    run.call("list_objects", Bucket=_fill(run), Delimiter="/")


@S("list_v1", "prefix_and_delimiter")
@aws_differs_from_moto(V1_SAMPLE if "prefix_and_delimiter" != "paging_without_delimiter" else V1_NEXT_MARKER, _v1_fix)
def v1_prefix_and_delimiter(run):
    run.call("list_objects", Bucket=_fill(run), Prefix="b/", Delimiter="/")


def _v1_pages_like_v2(records):
    v2_pages = records[0]["value"]
    records[1]["value"] = v2_pages
    records[2]["value"] = [max(page) for page in v2_pages[:-1]]


@S("list_v1", "paging_next_marker_with_delimiter")
@aws_differs_from_moto(V1_NEXT_MARKER.replace("... ", "When the response is truncated (the IsTruncated element value "
                                              "in the response is true), you can use the key name in this field as "
                                              "the marker parameter in the subsequent request to get the next set of "
                                              "objects. "), _v1_pages_like_v2)
def v1_paging_next_marker_with_delimiter(run):
    """v1 pages with a delimiter hold what v2 pages hold; NextMarker is the last key or prefix of a page."""
    b = _fill(run)
    pages, token = [], None
    for _ in range(10):
        page = run.s3.list_objects_v2(Bucket=b, MaxKeys=2, Delimiter="/", **({"ContinuationToken": token} if token else {}))
        pages.append(sorted([o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]))
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    run.note("v2 pages", pages)
    pages, markers, marker = [], [], ""
    for _ in range(10):
        page = run.s3.list_objects(Bucket=b, MaxKeys=2, Delimiter="/", Marker=marker)
        pages.append(sorted([o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]))
        if not page["IsTruncated"]:
            break
        marker = page.get("NextMarker")
        markers.append(marker)
    run.note("v1 pages", pages)
    run.note("v1 next markers", markers)


@S("list_v1", "paging_without_delimiter")
@aws_differs_from_moto(V1_SAMPLE if "paging_without_delimiter" != "paging_without_delimiter" else V1_NEXT_MARKER, _v1_fix)
def v1_paging_without_delimiter(run):
    _pages(run, "list_objects", "Marker", "NextMarker", Bucket=_fill(run), MaxKeys=3)


@S("list_v1", "max_keys_0")
@aws_differs_from_moto(V1_SAMPLE if "max_keys_0" != "paging_without_delimiter" else V1_NEXT_MARKER, _v1_fix)
def v1_max_keys_0(run):
    run.call("list_objects", Bucket=_fill(run), MaxKeys=0)


@S("list_v1", "max_keys_1")
@aws_differs_from_moto(V1_SAMPLE if "max_keys_1" != "paging_without_delimiter" else V1_NEXT_MARKER, _v1_fix)
def v1_max_keys_1(run):
    run.call("list_objects", Bucket=_fill(run), MaxKeys=1)


@S("list_v1", "special_keys")
@aws_differs_from_moto(V1_SAMPLE if "special_keys" != "paging_without_delimiter" else V1_NEXT_MARKER, _v1_fix)
def v1_special_keys(run):
    run.call("list_objects", Bucket=_fill(run, SPECIAL), Delimiter="/")


@S("list_v1", "raw_encoding_url")
@aws_differs_from_moto(V1_SAMPLE, _raw_v1_fix)
def v1_raw_encoding_url(run):
    b = _fill(run, SPECIAL)
    run.raw("GET", "/" + b, query="delimiter=%2F&encoding-type=url&marker=a%20b.txt")


@S("list_v1", "missing_bucket")
def v1_missing_bucket(run):
    run.call("list_objects", Bucket=run.bucket(create=False))


# ----------------------------------------------------------------------------- ListObjectVersions
@S("list_versions", "unversioned_bucket")
@aws_differs_from_moto(VERSIONS_ENCODING, _versions_echo_encoding)
def versions_unversioned_bucket(run):
    run.call("list_object_versions", Bucket=_fill(run, ["k1", "k2", "dir/k3"]))


@S("list_versions", "empty_bucket")
@aws_differs_from_moto(VERSIONS_ENCODING, _versions_echo_encoding)
def versions_empty_bucket(run):
    run.call("list_object_versions", Bucket=run.bucket())


@S("list_versions", "prefix_and_delimiter")
@aws_differs_from_moto(VERSIONS_ENCODING, _versions_echo_encoding)
def versions_prefix_and_delimiter(run):
    run.call("list_object_versions", Bucket=_fill(run), Prefix="b/", Delimiter="/")


@S("list_versions", "delimiter")
@aws_differs_from_moto(VERSIONS_ENCODING, _versions_echo_encoding)
def versions_delimiter(run):
    run.call("list_object_versions", Bucket=_fill(run), Delimiter="/")


@S("list_versions", "paging")
@aws_differs_from_moto(VERSIONS_ENCODING, _versions_echo_encoding)
def versions_paging(run):
    _pages(run, "list_object_versions", "KeyMarker", "NextKeyMarker", Bucket=_fill(run), MaxKeys=4)


@S("list_versions", "missing_bucket")
def versions_missing_bucket(run):
    run.call("list_object_versions", Bucket=run.bucket(create=False))


@S("list_versions", "get_object_after_listing")
@aws_differs_from_moto(VERSIONS_ENCODING, _versions_echo_encoding)
def versions_get_object_after_listing(run):
    b = _fill(run, ["k1"])
    run.call("list_object_versions", Bucket=b)
    run.call("head_object", Bucket=b, Key="k1")
