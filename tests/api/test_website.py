"""Bucket websites: PutBucketWebsite's checks, and the website endpoint (<bucket>.<S3_WEBSITE_DOMAIN>)
serving index documents, folder redirects, error documents, object redirects and routing rules,
only what the bucket policy lets everyone read."""
from __future__ import annotations

import json

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import WEBSITE_DOMAIN


def err(exc) -> tuple[int, str, str]:
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


def public_read(s3, bucket: str, *, listing: bool = False) -> None:
    statements = [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]
    if listing:
        statements.append({"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
                           "Resource": f"arn:aws:s3:::{bucket}"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))


def site(system, bucket: str, path: str, method: str = "GET", **kw) -> requests.Response:
    """A request to the bucket's website endpoint (Host: <bucket>.<website domain>)."""
    return requests.request(method, f"{system.endpoint}{path}", allow_redirects=False,
                            headers={"Host": f"{bucket}.{WEBSITE_DOMAIN}", **kw.pop("headers", {})}, **kw)


@pytest.fixture
def wbucket(s3, bucket):
    yield bucket
    s3.delete_bucket_policy(Bucket=bucket)


def test_configuration_round_trip(s3, wbucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=wbucket)
    assert err(e)[:2] == (404, "NoSuchWebsiteConfiguration")
    cfg = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"},
           "RoutingRules": [{"Condition": {"KeyPrefixEquals": "docs/"},
                             "Redirect": {"ReplaceKeyPrefixWith": "documents/", "HttpRedirectCode": "302"}},
                            {"Condition": {"HttpErrorCodeReturnedEquals": "404"},
                             "Redirect": {"HostName": "example.com", "Protocol": "https"}}]}
    s3.put_bucket_website(Bucket=wbucket, WebsiteConfiguration=cfg)
    got = s3.get_bucket_website(Bucket=wbucket)
    assert {k: got[k] for k in ("IndexDocument", "ErrorDocument", "RoutingRules")} == cfg
    s3.put_bucket_website(Bucket=wbucket, WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "example.org"}})
    assert s3.get_bucket_website(Bucket=wbucket)["RedirectAllRequestsTo"] == {"HostName": "example.org"}
    assert s3.delete_bucket_website(Bucket=wbucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=wbucket)
    assert err(e)[1] == "NoSuchWebsiteConfiguration"


BAD = [
    ({"ErrorDocument": {"Key": "e.html"}},
     "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty"),
    ({"IndexDocument": {"Suffix": "a/index.html"}}, "The IndexDocument Suffix is not well formed"),
    ({"IndexDocument": {"Suffix": ""}}, "The IndexDocument Suffix is not well formed"),
    ({"RedirectAllRequestsTo": {"HostName": "x.org"}, "IndexDocument": {"Suffix": "i.html"}},
     "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules."),
    ({"RedirectAllRequestsTo": {"HostName": "x.org", "Protocol": "ftp"}},
     "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically."),
    ({"IndexDocument": {"Suffix": "i.html"}, "RoutingRules": [{"Redirect": {"HttpRedirectCode": "200"}}]},
     "The provided HTTP redirect code (200) is not valid. Valid codes are 3XX except 300."),
    ({"IndexDocument": {"Suffix": "i.html"},
      "RoutingRules": [{"Condition": {"HttpErrorCodeReturnedEquals": "200"}, "Redirect": {"HostName": "x"}}]},
     "The provided HTTP error code (200) is not valid. Valid codes are 4XX or 5XX."),
    ({"IndexDocument": {"Suffix": "i.html"},
      "RoutingRules": [{"Redirect": {"ReplaceKeyPrefixWith": "a", "ReplaceKeyWith": "b"}}]},
     "You can only define ReplaceKeyPrefix or ReplaceKey but not both."),
]


@pytest.mark.parametrize("cfg,message", BAD, ids=[m[:32] for _, m in BAD])
def test_bad_configurations_are_refused(s3, wbucket, cfg, message):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_website(Bucket=wbucket, WebsiteConfiguration=cfg)
    assert err(e) == (400, "InvalidArgument", message)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=wbucket)
    assert err(e)[1] == "NoSuchWebsiteConfiguration"


def test_the_website_endpoint(system, s3, wbucket):
    assert site(system, wbucket, "/").status_code == 404                      # no website configuration yet
    assert b"NoSuchWebsiteConfiguration" in site(system, wbucket, "/").content
    for key, body in (("index.html", b"<h1>home</h1>"), ("docs/index.html", b"<h1>docs</h1>"),
                      ("error.html", b"<h1>oops</h1>"), ("style.css", b"body{}")):
        s3.put_object(Bucket=wbucket, Key=key, Body=body, ContentType="text/css" if key.endswith("css") else "text/html")
    s3.put_object(Bucket=wbucket, Key="moved", Body=b"", WebsiteRedirectLocation="/docs/")
    s3.put_bucket_website(Bucket=wbucket, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "docs/"}},
                         {"Condition": {"KeyPrefixEquals": "gone/", "HttpErrorCodeReturnedEquals": "404"},
                          "Redirect": {"HostName": "archive.example.com", "Protocol": "https",
                                       "HttpRedirectCode": "307"}}]})
    # nothing is public yet: the website answers 403 (and says the error document was not readable either)
    r = site(system, wbucket, "/")
    assert r.status_code == 403 and b"AccessDenied" in r.content and r.headers["Content-Type"].startswith("text/html")
    public_read(s3, wbucket)

    r = site(system, wbucket, "/")
    assert (r.status_code, r.content, r.headers["Content-Type"]) == (200, b"<h1>home</h1>", "text/html")
    assert site(system, wbucket, "/docs/").content == b"<h1>docs</h1>"
    r = site(system, wbucket, "/docs")
    assert (r.status_code, r.headers["Location"]) == (302, "/docs/")
    r = site(system, wbucket, "/style.css", headers={"Range": "bytes=0-3"})
    assert (r.status_code, r.content, r.headers["Content-Type"]) == (206, b"body", "text/css")
    r = site(system, wbucket, "/index.html", method="HEAD")
    assert r.status_code == 200 and r.headers["Content-Length"] == "13" and r.content == b""
    # a missing key: 403 while everyone may read but not list (as AWS), with the error document
    r = site(system, wbucket, "/nothing-here")
    assert (r.status_code, r.content) == (403, b"<h1>oops</h1>")
    assert site(system, wbucket, "/gone/x").status_code == 403                    # so no 404 rule applies
    public_read(s3, wbucket, listing=True)
    r = site(system, wbucket, "/nothing-here")
    assert (r.status_code, r.content) == (404, b"<h1>oops</h1>")
    assert site(system, wbucket, "/health").content == b"<h1>oops</h1>"      # the bucket's page, not the probe
    r = site(system, wbucket, "/moved")
    assert (r.status_code, r.headers["Location"]) == (301, "/docs/")
    r = site(system, wbucket, "/old/page.html")
    assert (r.status_code, r.headers["Location"]) == (301, f"http://{wbucket}.{WEBSITE_DOMAIN}/docs/page.html")
    r = site(system, wbucket, "/gone/x")
    assert (r.status_code, r.headers["Location"]) == (307, "https://archive.example.com/gone/x")
    r = site(system, wbucket, "/index.html", method="PUT", data=b"defaced")
    assert r.status_code == 405 and b"MethodNotAllowed" in r.content
    assert s3.get_object(Bucket=wbucket, Key="index.html")["Body"].read() == b"<h1>home</h1>"
    # the same paths on the REST endpoint are still S3's: what the policy allows everyone, no more
    assert requests.get(f"{system.endpoint}/{wbucket}/index.html").status_code == 200       # public object
    assert b"<ListBucketResult" in requests.get(f"{system.endpoint}/{wbucket}/").content    # public listing
    assert requests.put(f"{system.endpoint}/{wbucket}/index.html", data=b"x").status_code == 403

    s3.put_bucket_website(Bucket=wbucket, WebsiteConfiguration={
        "RedirectAllRequestsTo": {"HostName": "www.example.com", "Protocol": "https"}})
    r = site(system, wbucket, "/a/b.html")
    assert (r.status_code, r.headers["Location"]) == (301, "https://www.example.com/a/b.html")
    r = site(system, "no-such-bucket-here", "/")
    assert r.status_code == 404 and b"NoSuchBucket" in r.content
    s3.delete_bucket_website(Bucket=wbucket)
    for key in ("index.html", "docs/index.html", "error.html", "style.css", "moved"):
        s3.delete_object(Bucket=wbucket, Key=key)


def test_cors_on_the_website_endpoint(system, s3, wbucket):
    """A page on another origin fetching from the website: the bucket's CORS rules answer the
    preflight and the GET, as on the REST endpoint."""
    s3.put_object(Bucket=wbucket, Key="index.html", Body=b"home", ContentType="text/html")
    s3.put_object(Bucket=wbucket, Key="data.json", Body=b"{}", ContentType="application/json")
    s3.put_bucket_website(Bucket=wbucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    public_read(s3, wbucket)
    origin = {"Origin": "https://app.example.com"}
    r = site(system, wbucket, "/data.json", headers=origin)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers       # no CORS rules yet
    s3.put_bucket_cors(Bucket=wbucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}]})
    r = site(system, wbucket, "/data.json", headers=origin)
    assert (r.status_code, r.content) == (200, b"{}")
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    r = site(system, wbucket, "/data.json", method="OPTIONS",
             headers={**origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-a"})
    assert r.status_code == 200 and "GET" in r.headers["Access-Control-Allow-Methods"]
    r = site(system, wbucket, "/data.json", method="OPTIONS",
             headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code == 403 and b"AccessForbidden" in r.content
    r = site(system, wbucket, "/missing.json", headers=origin)                 # errors carry them too
    assert r.status_code == 403 and r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    s3.delete_bucket_cors(Bucket=wbucket)
    s3.delete_bucket_website(Bucket=wbucket)
    for key in ("index.html", "data.json"):
        s3.delete_object(Bucket=wbucket, Key=key)


def test_malformed_configurations_on_the_wire(system, s3, wbucket):
    from tests.sigv4util import signed_request

    url = f"{system.endpoint}/{wbucket}?website"
    for body in (b"<WebsiteConfiguration><IndexDocument>", b"not xml",
                 b"<WebsiteConfiguration><IndexDocument><Suffix>i.html</Suffix><Colour>red</Colour>"
                 b"</IndexDocument></WebsiteConfiguration>",
                 b"<Website><IndexDocument><Suffix>i.html</Suffix></IndexDocument></Website>"):
        r = signed_request("PUT", url, body)
        assert r.status_code == 400 and "<Code>MalformedXML</Code>" in r.text, (body, r.text)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=wbucket)
    assert err(e)[1] == "NoSuchWebsiteConfiguration"


def test_odd_paths_never_get_a_500(system, s3, wbucket):
    s3.put_object(Bucket=wbucket, Key="index.html", Body=b"home", ContentType="text/html")
    s3.put_bucket_website(Bucket=wbucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"},
                                                                "ErrorDocument": {"Key": "error.html"}})
    public_read(s3, wbucket, listing=True)
    for path, status in (("/%ff", 400), ("/a%00b", 400), ("/a%01b", 404), ("/" + "k" * 1100, 404),
                         ("//index.html", 404), ("/index.html?versionId=1&response-content-type=x", 200),
                         ("/%2e%2e/", 404)):
        r = site(system, wbucket, path)
        assert r.status_code == status, (path, r.status_code, r.text[:300])
        if status != 200:
            assert r.headers["Content-Type"].startswith("text/html") and b"<li>Code: " in r.content
    r = site(system, wbucket, "/index.html?response-content-type=x")
    assert r.headers["Content-Type"] == "text/html"                # query overrides are REST-only
    s3.delete_bucket_website(Bucket=wbucket)
    s3.delete_object(Bucket=wbucket, Key="index.html")
