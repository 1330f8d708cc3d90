"""The hardened XML parser of request bodies (api/xmlparse.py)."""
import pytest

from s3server.api import xmlparse
from s3server.errors import S3Error


def test_parser_strips_namespace_and_reads():
    root = xmlparse.parse(b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                     b"<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>")
    assert root.tag == "CreateBucketConfiguration"
    assert xmlparse.child_text(root, "LocationConstraint") == "eu-west-1"


@pytest.mark.parametrize("body", [
    b"", b"   ", b"<a>", b"<a></b>", b"\xff\xfe",
    b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
    b'<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><a>&b;</a>',
])
def test_parser_rejects(body):
    with pytest.raises(S3Error) as e:
        xmlparse.parse(body)
    assert e.value.code == "MalformedXML"


def test_read_body_cap():
    data = iter([b"x" * 1000] * 10)
    with pytest.raises(S3Error):
        xmlparse.read_xml_body(lambda n: next(data, b""), limit=5000)
