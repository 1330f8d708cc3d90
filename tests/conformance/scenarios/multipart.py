"""Multipart scenarios: CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload
(and its errors), AbortMultipartUpload, ListParts, ListMultipartUploads; GET by part and range
across parts. 5 MiB parts are used only where a non-final part must be full-size."""
from __future__ import annotations

import base64
import hashlib

from awscrt.checksums import crc64nvme

from tests.conformance.harness import SCENARIOS, as_error, aws_differs_from_moto

S = SCENARIOS
MIB5 = bytes(range(256)) * (5 * 1024 * 1024 // 256)
TAIL = b"the last part may be small"


DEFAULT_CRC64 = ("ChecksumCRC64NVME: The Base64 encoded, 64-bit CRC64NVME checksum of the object. This checksum is "
                 "present if the object was uploaded with the CRC64NVME checksum algorithm, or if the object was "
                 "uploaded without a checksum (and Amazon S3 added the default checksum, CRC64NVME, to the uploaded "
                 "object). VersionId: Version ID of the newly created object, in case the bucket has versioning "
                 "turned on. PartsCount: ... This value is only returned if you specify partNumber in your request "
                 "and the object was uploaded as a multipart upload.")
NO_SUCH_UPLOAD = ("NoSuchUpload: The specified multipart upload does not exist. The upload ID might not be valid, or "
                  "the multipart upload might have been aborted or completed.")


def _crc64(data: bytes) -> str:
    return base64.b64encode(crc64nvme(data).to_bytes(8, "big")).decode()


def _default_checksum(data: bytes):
    """moto stores no checksum for a multipart object uploaded without one; AWS adds CRC64NVME (a
    full-object checksum), reports it from Complete and from checksum-mode reads, and lists it."""
    value = _crc64(data)

    def expect(records):
        for rec in records:
            body, headers = rec.get("body"), rec.get("headers")
            if body is None:
                continue
            if rec["step"] == "complete_multipart_upload":
                body.pop("VersionId", None)
                body.update(ChecksumCRC64NVME=value, ChecksumType="FULL_OBJECT")
            elif rec["step"] == "get_object" and "Range" not in rec["args"] and "PartNumber" not in rec["args"]:
                body.update(ChecksumCRC64NVME=value, ChecksumType="FULL_OBJECT")
                headers.update({"x-amz-checksum-crc64nvme": value, "x-amz-checksum-type": "FULL_OBJECT"})
            elif rec["step"] == "list_objects_v2":
                for obj in body.get("Contents", []):
                    obj.update(ChecksumAlgorithm=["CRC64NVME"], ChecksumType="FULL_OBJECT")
    return expect


def _create(run, b, key="mp", **kw):
    return run.call("create_multipart_upload", Bucket=b, Key=key, **kw)["UploadId"]


def _part(run, b, uid, n, body, key="mp", **kw):
    return run.call("upload_part", Bucket=b, Key=key, UploadId=uid, PartNumber=n, Body=body, **kw)


def _complete(run, b, uid, parts, key="mp", **kw):
    return run.call("complete_multipart_upload", Bucket=b, Key=key, UploadId=uid,
                    MultipartUpload={"Parts": parts}, **kw)


def _single_part_expect(records):
    _default_checksum(b"only part")(records)
    part = records[6]            # GET ?partNumber=1 of a one-part multipart object: the whole object as a range
    part["status"] = 206
    part["headers"].update({"content-range": "bytes 0-8/9", "x-amz-mp-parts-count": "1"})
    part["body"].update(ContentRange="bytes 0-8/9", PartsCount=1)
    records[7]["body"].setdefault("Prefix", "")


@S("multipart")
@aws_differs_from_moto(DEFAULT_CRC64, _single_part_expect)
def single_small_part(run):
    b = run.bucket()
    uid = _create(run, b)
    p1 = _part(run, b, uid, 1, b"only part")
    run.call("list_parts", Bucket=b, Key="mp", UploadId=uid)
    _complete(run, b, uid, [{"PartNumber": 1, "ETag": p1["ETag"]}])
    run.call("head_object", Bucket=b, Key="mp")
    run.call("get_object", Bucket=b, Key="mp")
    run.call("get_object", Bucket=b, Key="mp", PartNumber=1)
    run.call("list_multipart_uploads", Bucket=b)


@S("multipart")
@aws_differs_from_moto(DEFAULT_CRC64, _default_checksum(MIB5 + TAIL))
def two_parts_and_ranges(run):
    b = run.bucket()
    uid = _create(run, b, ContentType="text/x-mp", Metadata={"origin": "conformance"})
    p1 = _part(run, b, uid, 1, MIB5)
    p2 = _part(run, b, uid, 2, TAIL)
    _complete(run, b, uid, [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}])
    run.call("head_object", Bucket=b, Key="mp")
    run.call("get_object", Bucket=b, Key="mp", Range=f"bytes={len(MIB5) - 5}-{len(MIB5) + 4}")
    run.call("get_object", Bucket=b, Key="mp", Range="bytes=-10")
    run.call("list_objects_v2", Bucket=b)
    run.note("etag is md5 of part md5s", '"' + hashlib.md5(hashlib.md5(MIB5).digest() + hashlib.md5(TAIL).digest())
             .hexdigest() + '-2"')


@S("multipart")
def entity_too_small(run):
    b = run.bucket()
    uid = _create(run, b)
    p1 = _part(run, b, uid, 1, b"small one")
    p2 = _part(run, b, uid, 2, b"small two")
    _complete(run, b, uid, [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}])
    run.call("list_parts", Bucket=b, Key="mp", UploadId=uid)


@S("multipart")
def invalid_part_etag(run):
    b = run.bucket()
    uid = _create(run, b)
    _part(run, b, uid, 1, b"data")
    _complete(run, b, uid, [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}])


@S("multipart")
def invalid_part_missing_number(run):
    b = run.bucket()
    uid = _create(run, b)
    p1 = _part(run, b, uid, 1, b"data")
    _complete(run, b, uid, [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 3, "ETag": p1["ETag"]}])


def _part_order(records):
    records[3] = as_error(records[3], 400, "InvalidPartOrder")


@S("multipart")
@aws_differs_from_moto("InvalidPartOrder: The list of parts was not in ascending order. The parts list must be "
                       "specified in order by part number.", _part_order)
def invalid_part_order(run):
    b = run.bucket()
    uid = _create(run, b)
    p1 = _part(run, b, uid, 1, MIB5)
    p2 = _part(run, b, uid, 2, MIB5)
    _complete(run, b, uid, [{"PartNumber": 2, "ETag": p2["ETag"]}, {"PartNumber": 1, "ETag": p1["ETag"]}])


def _no_such_upload(records):
    for i in range(4):
        records[i] = as_error(records[i], 404, "NoSuchUpload")


@S("multipart")
@aws_differs_from_moto(NO_SUCH_UPLOAD, _no_such_upload)
def no_such_upload(run):
    b = run.bucket()
    bogus = "bogus-upload-id"
    run.call("upload_part", Bucket=b, Key="mp", UploadId=bogus, PartNumber=1, Body=b"x")
    run.call("list_parts", Bucket=b, Key="mp", UploadId=bogus)
    run.call("complete_multipart_upload", Bucket=b, Key="mp", UploadId=bogus,
             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
    run.call("abort_multipart_upload", Bucket=b, Key="mp", UploadId=bogus)


def _prefix_echo(records):
    for rec in records:
        if rec["step"] == "list_multipart_uploads" and rec.get("body") is not None:
            rec["body"].setdefault("Prefix", rec["args"].get("Prefix", ""))
            for up in rec["body"].get("Uploads", []):
                up["Initiated"] = "<now>"
                up["Initiator"] = up["Owner"]


LIST_UPLOADS = ("ListMultipartUploads: Prefix: Lists in-progress uploads only for those keys that begin with the "
                "specified prefix. Initiated: Date and time at which the multipart upload was initiated. Initiator: "
                "Identifies who initiated the multipart upload.")


@S("multipart")
@aws_differs_from_moto(LIST_UPLOADS, _prefix_echo)
def abort(run):
    b = run.bucket()
    uid = _create(run, b)
    _part(run, b, uid, 1, b"data")
    run.call("abort_multipart_upload", Bucket=b, Key="mp", UploadId=uid)
    run.call("list_parts", Bucket=b, Key="mp", UploadId=uid)
    run.call("list_multipart_uploads", Bucket=b)
    run.call("head_object", Bucket=b, Key="mp")


@S("multipart")
@aws_differs_from_moto(LIST_UPLOADS, _prefix_echo)
def list_uploads(run):
    b = run.bucket()
    for key in ("a/1", "a/2", "b", "c/d/e"):
        _create(run, b, key=key)
    run.call("list_multipart_uploads", Bucket=b)
    run.call("list_multipart_uploads", Bucket=b, Prefix="a/")


@S("multipart")
def list_parts_paging(run):
    b = run.bucket()
    uid = _create(run, b)
    for n in (1, 2, 3):
        _part(run, b, uid, n, f"part {n}".encode())
    first = run.call("list_parts", Bucket=b, Key="mp", UploadId=uid, MaxParts=2)
    run.call("list_parts", Bucket=b, Key="mp", UploadId=uid, MaxParts=2,
             PartNumberMarker=first["NextPartNumberMarker"])
    run.call("abort_multipart_upload", Bucket=b, Key="mp", UploadId=uid)


@S("multipart")
@aws_differs_from_moto(DEFAULT_CRC64, _default_checksum(b"second version"))
def reupload_part_replaces(run):
    b = run.bucket()
    uid = _create(run, b)
    _part(run, b, uid, 1, b"first version")
    p1 = _part(run, b, uid, 1, b"second version")
    run.call("list_parts", Bucket=b, Key="mp", UploadId=uid)
    _complete(run, b, uid, [{"PartNumber": 1, "ETag": p1["ETag"]}])
    run.call("get_object", Bucket=b, Key="mp")


def _part_zero(records):
    records[2] = as_error(records[2], 400, "InvalidArgument")


@S("multipart")
@aws_differs_from_moto("PartNumber: Part number of part being uploaded. This is a positive integer between 1 and "
                       "10,000.", _part_zero)
def part_number_out_of_range(run):
    b = run.bucket()
    uid = _create(run, b)
    _part(run, b, uid, 10001, b"x")
    _part(run, b, uid, 0, b"x")


def _malformed(records):
    records[1] = as_error(records[1], 400, "MalformedXML")


@S("multipart")
@aws_differs_from_moto("MalformedXML: The XML that you provided was not well-formed or did not validate against "
                       "our published schema.", _malformed)
def complete_malformed_xml(run):
    b = run.bucket()
    uid = _create(run, b)
    run.raw("POST", run.key_path(b, "mp"), query=f"uploadId={uid}", body=b"<CompleteMultipartUpload><Part>",
            label="complete malformed")


@S("multipart")
def complete_without_parts(run):
    b = run.bucket()
    uid = _create(run, b)
    run.raw("POST", run.key_path(b, "mp"), query=f"uploadId={uid}",
            body=b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CompleteMultipartUpload>',
            label="complete empty")


@S("multipart")
@aws_differs_from_moto(DEFAULT_CRC64, _default_checksum(b"56789abcde"))
def upload_part_copy(run):
    b = run.bucket()
    run.setup("put_object", Bucket=b, Key="src", Body=b"0123456789abcdefghij")
    uid = _create(run, b)
    c1 = run.call("upload_part_copy", Bucket=b, Key="mp", UploadId=uid, PartNumber=1,
                  CopySource={"Bucket": b, "Key": "src"}, CopySourceRange="bytes=5-14")
    _complete(run, b, uid, [{"PartNumber": 1, "ETag": c1["CopyPartResult"]["ETag"]}])
    run.call("get_object", Bucket=b, Key="mp")


def _no_such_key(records):
    records[1] = as_error(records[1], 404, "NoSuchKey")


@S("multipart")
@aws_differs_from_moto("NoSuchKey: The specified key does not exist.", _no_such_key)
def upload_part_copy_missing_source(run):
    b = run.bucket()
    uid = _create(run, b)
    run.call("upload_part_copy", Bucket=b, Key="mp", UploadId=uid, PartNumber=1,
             CopySource={"Bucket": b, "Key": "nope"})


@S("multipart")
def create_in_missing_bucket(run):
    run.call("create_multipart_upload", Bucket=run.bucket(create=False), Key="mp")


COMPOSITE_PARTS = ("A multipart upload created with a COMPOSITE checksum (SHA1 and SHA256 always, CRC32 and CRC32C "
                   "by default) needs each part's checksum from the client, on UploadPart and again in "
                   "CompleteMultipartUpload; AWS answers InvalidRequest 'Checksum Type mismatch occurred, expected "
                   "checksum Type: sha256, actual checksum Type: null' and 'The upload was created using a sha256 "
                   "checksum. The complete request must include the checksum for each part. It was missing for part "
                   "1 in the request.' (moto computes and accepts both)")


def _composite_parts_needed(records):
    records[0] = as_error(records[0], 400, "InvalidRequest")
    records[1] = as_error(records[1], 400, "InvalidRequest")


@S("multipart")
@aws_differs_from_moto(COMPOSITE_PARTS, _composite_parts_needed)
def composite_parts_need_their_checksums(run):
    b = run.bucket()
    uid = run.setup("create_multipart_upload", Bucket=b, Key="mp", ChecksumAlgorithm="SHA256")["UploadId"]
    run.raw("PUT", run.key_path(b, "mp"), query=f"partNumber=1&uploadId={uid}", body=b"no checksum sent",
            label="upload_part")
    sha = base64.b64encode(hashlib.sha256(b"with its checksum").digest()).decode()
    etag = run.setup("upload_part", Bucket=b, Key="mp", UploadId=uid, PartNumber=1, Body=b"with its checksum",
                     ChecksumSHA256=sha)["ETag"]
    _complete(run, b, uid, [{"PartNumber": 1, "ETag": etag}])


def _full_object_parts(records):
    listed = records[2]["body"]
    listed["Parts"][0]["ChecksumCRC32"] = "BAxXAw=="      # CRC32 of b"no checksum sent"
    listed.update(ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")


@S("multipart")
@aws_differs_from_moto("ListParts: ChecksumCRC32: The Base64 encoded, 32-bit CRC32 checksum of the part. This checksum "
                       "is present if the multipart upload request was created with the CRC32 checksum algorithm. "
                       "ChecksumAlgorithm: The algorithm that was used to create a checksum of the object. "
                       "ChecksumType: The checksum type, which determines how part-level checksums are combined to "
                       "create an object-level checksum for multipart objects. (moto reports none of them)",
                       _full_object_parts)
def full_object_parts_may_omit_their_checksums(run):
    b = run.bucket()
    uid = _create(run, b, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    run.raw("PUT", run.key_path(b, "mp"), query=f"partNumber=1&uploadId={uid}", body=b"no checksum sent",
            label="upload_part")
    run.call("list_parts", Bucket=b, Key="mp", UploadId=uid)
