"""The one error table: every code has a status and a message; S3Error renders fields CamelCase."""
import pytest

from s3server.api import xml
from s3server.errors import ERRORS, S3Error


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_code_has_status_and_message(code):
    status, message = ERRORS[code]
    assert 300 <= status < 600
    assert message and message[0].isupper()
    err = S3Error(code)
    assert err.status == status and err.message == message


def test_known_statuses_match_aws():
    expected = {"NoSuchBucket": 404, "NoSuchKey": 404, "BucketAlreadyOwnedByYou": 409, "BucketAlreadyExists": 409,
                "InvalidBucketName": 400, "BucketNotEmpty": 409, "InvalidRange": 416, "AccessDenied": 403,
                "MethodNotAllowed": 405, "MalformedXML": 400, "SignatureDoesNotMatch": 403,
                "InvalidAccessKeyId": 403, "RequestTimeTooSkewed": 403, "XAmzContentSHA256Mismatch": 400,
                "BadDigest": 400, "KeyTooLongError": 400, "SlowDown": 503, "ServiceUnavailable": 503,
                "PreconditionFailed": 412, "NotModified": 304, "MissingContentLength": 411, "EntityTooLarge": 400}
    for code, status in expected.items():
        assert ERRORS[code][0] == status, code


def test_unknown_code_is_a_programming_error():
    with pytest.raises(KeyError):
        S3Error("NoSuchThing")


def test_fields_and_error_xml():
    err = S3Error("NoSuchKey", key="a/b", bucket_name="bk")
    assert err.fields == {"Key": "a/b", "BucketName": "bk"}
    body = xml.error(err.code, err.message, err.fields, "REQ1", "host1")
    assert body == (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
                    b"<Message>The specified key does not exist.</Message><Key>a/b</Key><BucketName>bk</BucketName>"
                    b"<RequestId>REQ1</RequestId><HostId>host1</HostId></Error>")
