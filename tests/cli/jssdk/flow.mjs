// The AWS SDK for JavaScript v3 against s3server: every step checks what it got and throws on
// a difference (exit code 1, the step named on stderr). Run by tests/cli/test_jssdk.py:
//   node flow.mjs <endpoint> <access key> <secret key> <bucket>
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { Readable } from "node:stream";
import {
  S3Client, CreateBucketCommand, HeadBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsV2Command, DeleteObjectsCommand, CopyObjectCommand, GetObjectAttributesCommand,
  PutObjectTaggingCommand, GetObjectTaggingCommand, DeleteBucketCommand, ListBucketsCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const [endpoint, accessKeyId, secretAccessKey, bucket] = process.argv.slice(2);
const s3 = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, maxAttempts: 1,
  credentials: { accessKeyId, secretAccessKey } });
const md5 = (b) => crypto.createHash("md5").update(b).digest("hex");
const bytes = async (r) => Buffer.from(await r.Body.transformToByteArray());
let step = "";
const check = (name) => { step = name; };

try {
  check("CreateBucket, HeadBucket");
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new HeadBucketCommand({ Bucket: bucket }));

  check("PutObject with the SDK's default checksum (CRC32), GetObject with checksum mode");
  const key = "dir/hello é+%&=?.txt";
  const body = Buffer.from("hello from the JS SDK v3 ✓");
  let r = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "text/plain",
    Metadata: { colour: "blue" } }));
  assert.equal(r.ETag, `"${md5(body)}"`);
  const crc32 = r.ChecksumCRC32;
  assert.ok(crc32, "no CRC32 echoed");
  r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
  assert.ok((await bytes(r)).equals(body));
  assert.equal(r.ContentType, "text/plain");
  assert.deepEqual(r.Metadata, { colour: "blue" });
  assert.equal(r.ChecksumCRC32, crc32);

  check("PutObject of a stream (aws-chunked, trailing checksum)");
  const big = crypto.randomBytes(3 * 1024 * 1024 + 17);
  r = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "stream.bin", ContentLength: big.length,
    Body: Readable.from([big.subarray(0, 1000000), big.subarray(1000000)]) }));
  assert.equal(r.ETag, `"${md5(big)}"`);
  r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "stream.bin" }));
  assert.equal(md5(await bytes(r)), md5(big));

  check("PutObject with each checksum algorithm");
  for (const algo of ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]) {
    r = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `algo-${algo}`, Body: body, ChecksumAlgorithm: algo }));
    assert.ok(r[`Checksum${algo}`], `${algo} not echoed`);
    const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `algo-${algo}`, ChecksumMode: "ENABLED" }));
    assert.equal(h[`Checksum${algo}`], r[`Checksum${algo}`], algo);
  }

  check("multipart upload with lib-storage (5 MiB parts), ranged and whole GET, GetObjectAttributes");
  const mp = crypto.randomBytes(12 * 1024 * 1024 + 5);
  r = await new Upload({ client: s3, params: { Bucket: bucket, Key: "multi.bin", Body: Readable.from([mp]) },
    partSize: 5 * 1024 * 1024, queueSize: 3 }).done();
  assert.match(r.ETag, /-3"$/);
  r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "multi.bin", Range: "bytes=5242870-5242889" }));
  assert.ok((await bytes(r)).equals(mp.subarray(5242870, 5242890)));
  assert.equal(r.ContentRange, `bytes 5242870-5242889/${mp.length}`);
  r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "multi.bin" }));
  assert.equal(md5(await bytes(r)), md5(mp));
  r = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: "multi.bin",
    ObjectAttributes: ["ETag", "ObjectParts", "ObjectSize"] }));
  assert.equal(r.ObjectSize, mp.length);
  assert.equal(r.ObjectParts.TotalPartsCount, 3);

  check("CopyObject of a key with special characters, tagging");
  r = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy.txt",
    CopySource: `${bucket}/${encodeURIComponent(key).replace(/%2F/g, "/")}` }));
  assert.equal(r.CopyObjectResult.ETag, `"${md5(body)}"`);
  await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: "copy.txt", Tagging: { TagSet: [{ Key: "a", Value: "b c" }] } }));
  r = await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "copy.txt" }));
  assert.deepEqual(r.TagSet, [{ Key: "a", Value: "b c" }]);

  check("ListObjectsV2 with a delimiter, and paged");
  r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "dir/", Delimiter: "/" }));
  assert.deepEqual(r.Contents.map((c) => c.Key), [key]);
  const all = [];
  let token;
  do {
    r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 3, ContinuationToken: token }));
    all.push(...r.Contents.map((c) => c.Key));
    token = r.NextContinuationToken;
  } while (r.IsTruncated);
  assert.equal(all.length, 9);
  assert.deepEqual([...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), all);

  check("presigned GET and PUT (s3-request-presigner) with fetch");
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 60 });
  let res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), body.toString());
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: "presigned put" }), { expiresIn: 60 });
  res = await fetch(putUrl, { method: "PUT", body: "via a presigned PUT" });
  assert.equal(res.status, 200);
  r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "presigned put" }));
  assert.equal((await bytes(r)).toString(), "via a presigned PUT");

  check("errors: HeadObject and GetObject of a missing key");
  await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "nope" })),
    (e) => e.name === "NotFound" && e.$metadata.httpStatusCode === 404);
  await assert.rejects(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "nope" })),
    (e) => e.name === "NoSuchKey" && e.$metadata.httpStatusCode === 404);
  await assert.rejects(s3.send(new DeleteBucketCommand({ Bucket: bucket })),
    (e) => e.name === "BucketNotEmpty" && e.$metadata.httpStatusCode === 409);

  check("DeleteObjects (the SDK sends a CRC32 of the body), DeleteBucket, ListBuckets");
  r = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  r = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: r.Contents.map((c) => ({ Key: c.Key })) } }));
  assert.equal(r.Deleted.length, 10);
  assert.equal(r.Errors, undefined);
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  r = await s3.send(new ListBucketsCommand({}));
  assert.ok(!(r.Buckets ?? []).some((b) => b.Name === bucket));
  console.log("all steps passed");
} catch (e) {
  console.error(`step failed: ${step}\n`, e);
  process.exit(1);
}
