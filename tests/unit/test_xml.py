"""XML builders (api/xml*.py) checked against whole golden strings."""
from datetime import datetime, timezone

from s3server.api import xmlbuckets, xmllisting
from s3server.models import Bucket, ListPage, ObjectMeta

T = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)


def test_list_buckets_golden():
    body = xmllisting.list_buckets([Bucket("photos", 1, "us-east-1", T)], "abc", "admin")
    assert body == (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                    b'<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    b"<Owner><ID>abc</ID><DisplayName>admin</DisplayName></Owner>"
                    b"<Buckets><Bucket><Name>photos</Name><CreationDate>2024-05-06T07:08:09.123Z</CreationDate>"
                    b"</Bucket></Buckets></ListAllMyBucketsResult>")


def test_list_v2_url_encoding_golden():
    objs = tuple(ObjectMeta("b", k, 3, '"e"', T, checksums={"CRC32": "AAAAAA=="}, checksum_type="FULL_OBJECT")
                 for k in ("a b.txt", "a+b.txt", "100%.csv"))
    page = ListPage(objs, ("dir x/",), True, "dir x/")
    body = xmllisting.list_objects_v2(bucket="b", prefix="", delimiter="/", max_keys=4, page=page, encode=True,
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
    assert xmlbuckets.location("us-east-1").endswith(b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>')
    assert b">eu-west-1</LocationConstraint>" in xmlbuckets.location("eu-west-1")
