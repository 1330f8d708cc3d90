"""Keys with characters XML 1.0 cannot carry (C0 controls, U+FFFF) and the NUL character: the
former are stored and listed (as numeric character references without encoding-type=url, the
URL-encoded key with it), the latter refused with 400 everywhere a key or a listing parameter
can bring it, on both backends: never a 500."""
from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError

from tests.sigv4util import signed_request


def code_of(r: requests.Response) -> str:
    return r.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in r.text else ""


def test_control_characters_are_listed_as_character_references(system, s3, bucket):
    keys = ["a\x01b", "tab\tkey", "cr\rkey", "z\ue000private", "\uffffend"]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
    # boto3 asks for encoding-type=url: every key comes back as it was
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == sorted(keys)
    assert s3.get_object(Bucket=bucket, Key="a\x01b")["Body"].read() == b"0"
    for query in ("list-type=2", "", "versions"):
        r = signed_request("GET", f"{system.endpoint}/{bucket}?{query}")
        assert r.status_code == 200, (query, r.text[:300])
        body = r.content
        assert b"<Key>a&#x1;b</Key>" in body and b"<Key>cr&#13;key</Key>" in body
        assert b"<Key>&#xFFFF;end</Key>" in body and "<Key>z\ue000private</Key>".encode() in body
        assert b"<Key>tab\tkey</Key>" in body
    r = signed_request("GET", f"{system.endpoint}/{bucket}?list-type=2&encoding-type=url")
    assert b"<Key>a%01b</Key>" in r.content
    # an error naming such a key
    r = signed_request("GET", f"{system.endpoint}/{bucket}/missing%02key")
    assert r.status_code == 404 and b"<Key>missing&#x2;key</Key>" in r.content
    for key in keys:
        s3.delete_object(Bucket=bucket, Key=key)


def test_nul_is_refused_wherever_a_key_can_bring_it(system, s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    base = f"{system.endpoint}/{bucket}"
    for method, url, headers in (
            ("PUT", f"{base}/a%00b", {}),
            ("GET", f"{base}/a%00b", {}),
            ("DELETE", f"{base}/a%00b", {}),
            ("GET", f"{base}?list-type=2&prefix=a%00", {}),
            ("GET", f"{base}?marker=%00", {}),
            ("PUT", f"{base}/dst", {"x-amz-copy-source": f"/{bucket}/src%00"})):
        r = signed_request(method, url, b"x" if method == "PUT" and not headers else b"", headers)
        assert (r.status_code, code_of(r)) == (400, "InvalidArgument"), (method, url, r.text[:300])
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="m\x00")
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    post = s3.generate_presigned_post(bucket, "form\x00key")
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")})
    assert r.status_code == 400 and b"InvalidArgument" in r.content
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["src"]


def test_control_characters_in_header_values_never_break_a_read(system, s3, bucket):
    """User metadata may hold control characters (decoded from an RFC 2047 encoded-word): they go
    back encoded, as non-ASCII values do. Content headers and redirect locations may not hold them
    (a form field can bring them): 400, nothing stored. Before, such an object answered 500."""
    r = signed_request("PUT", f"{system.endpoint}/{bucket}/m", b"x",
                       {"x-amz-meta-x": "=?UTF-8?B?AQ==?=", "x-amz-meta-y": "=?UTF-8?B?YQ1iCmM=?="})
    assert r.status_code == 200
    head = s3.head_object(Bucket=bucket, Key="m")
    assert head["Metadata"] == {"x": "=?UTF-8?B?AQ==?=", "y": "=?UTF-8?B?YQ1iCmM=?="}     # as AWS sends them
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"x"
    bad = "text/plain\x01"
    post = s3.generate_presigned_post(bucket, "f", Fields={"Content-Type": bad}, Conditions=[{"Content-Type": bad}])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")})
    assert r.status_code == 400 and b"InvalidArgument" in r.content
    post = s3.generate_presigned_post(bucket, "g", Fields={"Content-Disposition": "a\r\nX-Evil: 1"},
                                      Conditions=[{"Content-Disposition": "a\r\nX-Evil: 1"}])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")})
    assert r.status_code == 400 and b"InvalidArgument" in r.content
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["m"]


def test_settings_whose_values_become_headers_refuse_control_characters(system, s3, bucket):
    """CORS rules and website redirects go back in response headers: values a header cannot
    carry are refused when put (before, every CORS request or redirect of the bucket was a 500),
    and a key that cannot be sent as it is goes into a Location percent-encoded."""
    from tests.conftest import WEBSITE_DOMAIN

    r = signed_request("PUT", f"{system.endpoint}/{bucket}?cors",
                       b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                       b"<ExposeHeader>x&#13;&#10;y</ExposeHeader></CORSRule></CORSConfiguration>")
    assert (r.status_code, code_of(r)) == (400, "InvalidRequest")
    r = signed_request("PUT", f"{system.endpoint}/{bucket}?website",
                       b"<WebsiteConfiguration><RedirectAllRequestsTo><HostName>a&#13;&#10;b</HostName>"
                       b"</RedirectAllRequestsTo></WebsiteConfiguration>")
    assert (r.status_code, code_of(r)) == (400, "InvalidArgument")
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "new/"}}]})
    r = requests.get(f"{system.endpoint}/old/caf%C3%A9%01", headers={"Host": f"{bucket}.{WEBSITE_DOMAIN}"},
                     allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (301, f"http://{bucket}.{WEBSITE_DOMAIN}/new/caf%C3%A9%01")
    s3.delete_bucket_website(Bucket=bucket)


def test_lifecycle_ids_and_form_redirects_with_odd_characters(system, s3, bucket):
    """A lifecycle rule's ID goes back in x-amz-abort-rule-id, a form's success_action_redirect in
    Location: values a header cannot carry as they are go out encoded (before: a 500, and the
    multipart upload it answered for was made all the same)."""
    r = signed_request("PUT", f"{system.endpoint}/{bucket}?lifecycle",
                       "<LifecycleConfiguration><Rule><ID>caf\u00e9&#13;&#10;x</ID><Filter/><Status>Enabled</Status>"
                       "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>"
                       "</AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>".encode())
    assert r.status_code == 200, r.text
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert up["AbortRuleId"] == "=?UTF-8?B?Y2Fmw6kNCng=?="
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"])
    s3.delete_bucket_lifecycle(Bucket=bucket)
    target = "http://example.com/done\u00e9"
    post = s3.generate_presigned_post(bucket, "f", Fields={"success_action_redirect": target},
                                      Conditions=[{"success_action_redirect": target}])
    r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("http://example.com/done%C3%A9?bucket=")
    s3.delete_object(Bucket=bucket, Key="f")


def test_response_overrides_that_a_header_cannot_carry(system, s3, bucket):
    """response-content-disposition and the other overrides come decoded from the query string:
    non-ASCII or CR/LF there go out RFC 2047-encoded (before: a 500, or a header split in two)."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for value in ("attachment; filename=\u00e9t\u00e9.txt", "inline\r\nX-Injected: 1"):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k",
                                                              "ResponseContentDisposition": value})
        r = requests.get(url)
        assert r.status_code == 200 and r.content == b"x"
        assert "X-Injected" not in r.headers
        assert r.headers["Content-Disposition"].startswith("=?UTF-8?B?")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k",
                                                          "ResponseContentDisposition": "attachment"})
    assert requests.get(url).headers["Content-Disposition"] == "attachment"
    s3.delete_object(Bucket=bucket, Key="k")


def test_form_metadata_names_must_be_header_names(s3, bucket):
    """A form field's name can be anything, a header's cannot: x-amz-meta-* fields whose names
    are not HTTP tokens are refused (before, the object was stored and every read was a 500)."""
    for name in ("x-amz-meta-a b", "x-amz-meta-a:b", "x-amz-meta-\u00e9"):
        post = s3.generate_presigned_post(bucket, "f", Fields={name: "v"}, Conditions=[{name: "v"}])
        r = requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")})
        assert r.status_code == 400 and b"InvalidArgument" in r.content, (name, r.text)
    post = s3.generate_presigned_post(bucket, "f", Fields={"x-amz-meta-ok_Name": "v"},
                                      Conditions=[{"x-amz-meta-ok_Name": "v"}])
    assert requests.post(post["url"], data=post["fields"], files={"file": ("f", b"data")}).status_code == 204
    assert s3.head_object(Bucket=bucket, Key="f")["Metadata"] == {"ok_name": "v"}
    s3.delete_object(Bucket=bucket, Key="f")
