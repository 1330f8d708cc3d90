"""XML: the hardened parser, and builders checked against whole golden strings."""
from datetime import datetime, timezone

import pytest

from s3server.api import xml
from s3server.errors import S3Error
from s3server.models import Bucket, ListPage, ObjectMeta

T = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)


def test_parser_strips_namespace_and_reads():
    root = xml.parse(b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                     b"<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>")
    assert root.tag == "CreateBucketConfiguration"
    assert xml.child_text(root, "LocationConstraint") == "eu-west-1"


@pytest.mark.parametrize("body", [
    b"", b"   ", b"<a>", b"<a></b>", b"\xff\xfe",
    b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>',
    b'<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><a>&b;</a>',
])
def test_parser_rejects(body):
    with pytest.raises(S3Error) as e:
        xml.parse(body)
    assert e.value.code == "MalformedXML"


def test_read_body_cap():
    data = iter([b"x" * 1000] * 10)
    with pytest.raises(S3Error):
        xml.read_xml_body(lambda n: next(data, b""), limit=5000)


def test_list_buckets_golden():
    body = xml.list_buckets([Bucket("photos", 1, "us-east-1", T)], "abc", "admin")
    assert body == (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                    b'<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    b"<Owner><ID>abc</ID><DisplayName>admin</DisplayName></Owner>"
                    b"<Buckets><Bucket><Name>photos</Name><CreationDate>2024-05-06T07:08:09.123Z</CreationDate>"
                    b"</Bucket></Buckets></ListAllMyBucketsResult>")


def test_list_v2_url_encoding_golden():
    objs = tuple(ObjectMeta("b", k, 3, '"e"', T, checksums={"CRC32": "AAAAAA=="}, checksum_type="FULL_OBJECT")
                 for k in ("a b.txt", "a+b.txt", "100%.csv"))
    page = ListPage(objs, ("dir x/",), True, "dir x/")
    body = xml.list_objects_v2(bucket="b", prefix="", delimiter="/", max_keys=4, page=page, encode=True,
                               continuation_token=None, next_token="tok", start_after=None, owner=None)
    assert body == (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
                    b"<Prefix></Prefix><Delimiter>/</Delimiter><MaxKeys>4</MaxKeys><EncodingType>url</EncodingType>"
                    b"<KeyCount>4</KeyCount><IsTruncated>true</IsTruncated>"
                    b"<NextContinuationToken>tok</NextContinuationToken>"
                    b"<Contents><Key>a+b.txt</Key><LastModified>2024-05-06T07:08:09.123Z</LastModified>"
                    b"<ETag>\"e\"</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>"
                    b"<Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>"
                    b"<Contents><Key>a%2Bb.txt</Key><LastModified>2024-05-06T07:08:09.123Z</LastModified>"
                    b"<ETag>\"e\"</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>"
                    b"<Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>"
                    b"<Contents><Key>100%25.csv</Key><LastModified>2024-05-06T07:08:09.123Z</LastModified>"
                    b"<ETag>\"e\"</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>"
                    b"<Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>"
                    b"<CommonPrefixes><Prefix>dir+x/</Prefix></CommonPrefixes></ListBucketResult>")


def test_location_us_east_1_is_empty():
    assert xml.location("us-east-1").endswith(b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>')
    assert b">eu-west-1</LocationConstraint>" in xml.location("eu-west-1")
