"""The routing table, checked with request shapes from the AWS S3 API reference examples."""
import pytest

from s3server.api.routing import OPERATIONS, match, split_target
from s3server.errors import S3Error

CASES = [
    # (method, path, query, headers, operation)   -- path-style
    ("GET", "/", {}, {}, "ListBuckets"),
    ("PUT", "/examplebucket", {}, {}, "CreateBucket"),
    ("HEAD", "/examplebucket", {}, {}, "HeadBucket"),
    ("DELETE", "/examplebucket", {}, {}, "DeleteBucket"),
    ("GET", "/examplebucket", {"list-type": "2"}, {}, "ListObjectsV2"),
    ("GET", "/examplebucket", {"prefix": "photos/", "delimiter": "/"}, {}, "ListObjects"),
    ("GET", "/examplebucket", {"location": ""}, {}, "GetBucketLocation"),
    ("GET", "/examplebucket", {"versions": ""}, {}, "ListObjectVersions"),
    ("GET", "/examplebucket", {"uploads": ""}, {}, "ListMultipartUploads"),
    ("POST", "/examplebucket", {"delete": ""}, {}, "DeleteObjects"),
    ("PUT", "/examplebucket/my-image.jpg", {}, {}, "PutObject"),
    ("PUT", "/examplebucket/my-image.jpg", {}, {"x-amz-copy-source": "/src/k"}, "CopyObject"),
    ("PUT", "/examplebucket/k", {"partNumber": "1", "uploadId": "u"}, {}, "UploadPart"),
    ("PUT", "/examplebucket/k", {"partNumber": "1", "uploadId": "u"}, {"x-amz-copy-source": "/a/b"}, "UploadPartCopy"),
    ("GET", "/examplebucket/my-image.jpg", {}, {}, "GetObject"),
    ("GET", "/examplebucket/k", {"uploadId": "u"}, {}, "ListParts"),
    ("HEAD", "/examplebucket/my-image.jpg", {}, {}, "HeadObject"),
    ("DELETE", "/examplebucket/my-image.jpg", {}, {}, "DeleteObject"),
    ("DELETE", "/examplebucket/k", {"uploadId": "u"}, {}, "AbortMultipartUpload"),
    ("POST", "/examplebucket/k", {"uploads": ""}, {}, "CreateMultipartUpload"),
    ("POST", "/examplebucket/k", {"uploadId": "u"}, {}, "CompleteMultipartUpload"),
]


@pytest.mark.parametrize("method,path,query,headers,op", CASES)
def test_operation_table(method, path, query, headers, op):
    target = split_target(path, "s3.amazonaws.com", "")
    assert match(method, target.kind, query, headers) == op


def test_no_match_is_none():
    assert match("POST", "bucket", {}, {}) is None
    assert match("PATCH", "object", {}, {}) is None


def test_table_rows_are_reachable():
    """No row is shadowed by an earlier, more general row."""
    for i, route in enumerate(OPERATIONS):
        query = {q: "" for q in route.query}
        headers = {route.header: "x"} if route.header else {}
        assert match(route.method, route.kind, query, headers) == route.operation, route


@pytest.mark.parametrize("raw,bucket,key", [
    ("/b/k", "b", "k"), ("/b", "b", None), ("/b/", "b", None), ("/", None, None),
    ("/b/a%20b", "b", "a b"), ("/b/a+b", "b", "a+b"), ("/b/100%25.csv", "b", "100%.csv"),
    ("/b/a//b/./c/../d", "b", "a//b/./c/../d"), ("/b/%E2%9C%93", "b", "\u2713"), ("/b/dir/", "b", "dir/"),
])
def test_path_style(raw, bucket, key):
    t = split_target(raw, "127.0.0.1:7841", "s3.example.com")
    assert (t.bucket, t.key, t.vhost) == (bucket, key, False)


@pytest.mark.parametrize("host,raw,bucket,key", [
    ("photos.s3.example.com", "/2024/cat.jpg", "photos", "2024/cat.jpg"),
    ("photos.s3.example.com:7841", "/", "photos", None),
    ("s3.example.com", "/photos/x", "photos", "x"),
    ("my.dotted.bucket.s3.example.com", "/k", "my.dotted.bucket", "k"),
])
def test_virtual_hosted_style(host, raw, bucket, key):
    t = split_target(raw, host, "s3.example.com")
    assert (t.bucket, t.key) == (bucket, key)


def test_invalid_utf8_path():
    with pytest.raises(S3Error) as e:
        split_target("/b/%FF", "h", "")
    assert e.value.code == "InvalidArgument"


# operations botocore's model names that share another's request shape (older names of the same call)
_SAME_REQUEST = {"GetBucketLifecycle": "GetBucketLifecycleConfiguration",
                 "PutBucketLifecycle": "PutBucketLifecycleConfiguration",
                 "GetBucketNotification": "GetBucketNotificationConfiguration",
                 "PutBucketNotification": "PutBucketNotificationConfiguration"}
_PLAIN = {"PutObject", "GetObject", "HeadObject", "DeleteObject", "CreateBucket", "DeleteBucket", "ListObjects",
          "HeadBucket"}


def _model_operations():
    import botocore.session
    model = botocore.session.get_session().get_service_model("s3")
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = http["requestUri"].partition("?")
        if not query or not path.startswith("/{Bucket}"):
            continue
        flags = {q.split("=", 1)[0]: (q.split("=", 1)[1] if "=" in q else "") for q in query.split("&")}
        shape = model.operation_model(name).input_shape
        for member in (shape.required_members if shape else []):      # e.g. ``id`` of a configuration
            where = shape.members[member].serialization
            if where.get("location") == "querystring":
                flags[where["name"]] = "x"
        yield name, http["method"], "object" if "{Key+}" in path else "bucket", flags


def test_every_sub_resource_in_botocore_has_its_own_route():
    """Every operation botocore's S3 model addresses with a sub-resource (``?retention``,
    ``?analytics``...) routes to itself, never to the plain operation of its method: a PUT
    ?legal-hold taken for PutObject stored the XML as the object. A new botocore naming a new
    sub-resource fails here until it is routed (unset.py answers it, or 501)."""
    seen = 0
    for name, method, kind, flags in _model_operations():
        got = match(method, kind, flags, {})
        assert got not in _PLAIN, f"{method} ?{'&'.join(flags)} ({name}) falls through to {got}"
        assert got == _SAME_REQUEST.get(name, name) or (name.startswith("List") and got.startswith("List")) \
            or got in ("UploadPart", "UploadPartCopy", "ListObjectsV2"), (name, got)
        seen += 1
    assert seen > 60


def test_every_sub_resource_of_botocore_is_known_and_never_falls_through():
    """Every sub-resource name botocore's model knows is in SUB_RESOURCES, and a request naming one
    beside an operation that does not take it matches no row (501), never the plain operation:
    a signed ``PUT /ghost?default-storage-class`` once created bucket ``ghost``."""
    from s3server.api.routing import SUB_RESOURCES, unrouted_sub_resource
    import botocore.session
    model = botocore.session.get_session().get_service_model("s3")
    names = set()
    for name in model.operation_names:
        query = model.operation_model(name).http["requestUri"].partition("?")[2]
        names.update(q.split("=", 1)[0] for q in query.split("&") if q and "=" not in q)
    assert names - SUB_RESOURCES == set()
    for sub in sorted(SUB_RESOURCES):
        for method, kind in (("PUT", "bucket"), ("PUT", "object"), ("GET", "bucket"), ("GET", "object"),
                             ("DELETE", "bucket"), ("DELETE", "object"), ("POST", "bucket"), ("POST", "object"),
                             ("HEAD", "bucket"), ("HEAD", "object")):
            got = match(method, kind, {sub: ""}, {})
            assert got not in _PLAIN, (method, kind, sub, got)
            if got is None:
                assert unrouted_sub_resource({sub: ""}) == sub
    # two sub-resources no row takes together: no row
    assert match("GET", "bucket", {"tagging": "", "versioning": ""}, {}) is None
    assert match("PUT", "object", {"tagging": "", "versionId": "x"}, {}) == "PutObjectTagging"
