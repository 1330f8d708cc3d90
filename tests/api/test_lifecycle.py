"""Bucket lifecycle rules carried out: ``s3server lifecycle`` (and every ``s3server repair``
pass) expires the objects and aborts the uploads the rules reach, at the instant AWS's
arithmetic says (``--now`` stands in for a later day), and the documents AWS refuses are
refused here too. The configuration round trips are compared with moto in
tests/conformance/scenarios/lifecycle.py."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from botocore.exceptions import ClientError

from s3server.service.lifecycle import expires_at
from tests.adminutil import new_user
from tests.conftest import node_blob_ids
from tests.sigv4util import sign

UTC = timezone.utc


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"], e.value.response["Error"]["Code"]


def run_cli(system, bucket: str, now: datetime | None = None, *args: str) -> list[dict]:
    """``s3server lifecycle --data-dir`` for one bucket: its JSON lines (the summary last)."""
    cmd = [sys.executable, "-m", "s3server", "lifecycle", "--data-dir", str(system.data_dir), "--bucket", bucket,
           *(["--now", now.isoformat()] if now else []), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=system.env)
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines and lines[-1]["event"] == "lifecycle", r.stdout
    return lines


def run_lifecycle(system, bucket: str, now: datetime | None = None, *args: str) -> list[dict]:
    """One lifecycle pass over one bucket, as ``s3server lifecycle`` runs it (the same runner on
    the system's database and storage nodes, in this process: a second of interpreter start saved
    per pass), its events then its summary, as the command prints them. Its blob deletes are
    finished when it returns, as the command's are when it exits."""
    from s3server.blobs import BlobStore
    from s3server.config import parse_nodes
    from s3server.meta.store import MetadataStore
    from s3server.service.lifecycle import LifecycleRunner

    state = system.state
    store = MetadataStore.from_url(state["database_url"], pool_size=1)
    blobs = BlobStore(dict(parse_nodes(state["storage_nodes"])))
    events: list[dict] = []
    try:
        report = LifecycleRunner(store, blobs, now=(lambda: now) if now else None, dry_run="--dry-run" in args,
                                 bucket=bucket, on_event=events.append).run()
    finally:
        blobs.close()
        store.close()
    return [json.loads(json.dumps(e)) for e in events] + [report.summary()]


def keys(s3, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def put_rules(s3, bucket: str, *rules: dict) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def rule(rule_id: str, days: int = 1, prefix: str = "", **kw) -> dict:
    return {"ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": prefix}, "Expiration": {"Days": days}, **kw}


def all_blobs(system) -> set[str]:
    return set().union(*(node_blob_ids(d) for d in system.node_dirs()))


def blob_ids(system, bucket: str, key: str) -> set[str]:
    from s3server.meta.store import MetadataStore
    store = MetadataStore.from_url(system.state["database_url"], pool_size=1)
    try:
        return {b.blob_id for b in store.get_object(bucket, key).blobs}
    finally:
        store.close()


# ------------------------------------------------------------------------------ expiration
def test_objects_expire_at_the_midnight_after_their_days(system, s3, bucket):
    """Days 2 under ``logs/``: nothing goes a second before the rounded-up midnight, every object
    under the prefix goes at it, with its blobs; the rest of the bucket stays."""
    for key in ("logs/a", "logs/b", "logs/sub/c", "logsx", "other"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode() * 1000)
    put_rules(s3, bucket, rule("logs", 2, "logs/"))
    written = max(s3.head_object(Bucket=bucket, Key=k)["LastModified"] for k in ("logs/a", "logs/b", "logs/sub/c"))
    first = min(s3.head_object(Bucket=bucket, Key=k)["LastModified"] for k in ("logs/a", "logs/b", "logs/sub/c"))
    due = expires_at(written, 2)
    assert due == expires_at(first, 2), "written across midnight: run the test again"
    doomed = set().union(*(blob_ids(system, bucket, k) for k in ("logs/a", "logs/b", "logs/sub/c")))
    assert doomed <= all_blobs(system)

    early = run_lifecycle(system, bucket, due - timedelta(seconds=1))
    assert early[-1]["expired"] == 0 and len(early) == 1
    assert keys(s3, bucket) == ["logs/a", "logs/b", "logs/sub/c", "logsx", "other"]

    lines = run_cli(system, bucket, due)              # the command itself
    assert sorted(e["key"] for e in lines if e["event"] == "expired") == ["logs/a", "logs/b", "logs/sub/c"]
    assert {e["rule"] for e in lines[:-1]} == {"logs"}
    assert lines[-1]["expired"] == 3
    assert keys(s3, bucket) == ["logsx", "other"]
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="logs/a")) == (404, "NoSuchKey")
    assert s3.get_object(Bucket=bucket, Key="other")["Body"].read() == b"other" * 1000
    assert not doomed & all_blobs(system)          # the CLI waits for its blob deletes before it exits
    assert run_lifecycle(system, bucket, due + timedelta(days=30))[-1]["expired"] == 0   # idempotent


def test_tag_size_and_disabled_filters(system, s3, bucket):
    s3.put_object(Bucket=bucket, Key="t/match", Body=b"x" * 50, Tagging="env=dev&tmp=")
    s3.put_object(Bucket=bucket, Key="t/wrong-value", Body=b"x" * 50, Tagging="env=prod&tmp=")
    s3.put_object(Bucket=bucket, Key="t/one-tag", Body=b"x" * 50, Tagging="env=dev")
    s3.put_object(Bucket=bucket, Key="t/too-big", Body=b"x" * 500, Tagging="env=dev&tmp=")
    s3.put_object(Bucket=bucket, Key="size/small", Body=b"x" * 5)
    s3.put_object(Bucket=bucket, Key="size/big", Body=b"x" * 5000)
    s3.put_object(Bucket=bucket, Key="off/x", Body=b"x")
    put_rules(s3, bucket,
              {"ID": "tags", "Status": "Enabled", "Expiration": {"Days": 1},
               "Filter": {"And": {"Prefix": "t/", "ObjectSizeLessThan": 100,
                                  "Tags": [{"Key": "env", "Value": "dev"}, {"Key": "tmp", "Value": ""}]}}},
              rule("big", 1, Filter={"ObjectSizeGreaterThan": 1000}),
              rule("off", 1, "off/", Status="Disabled"))
    later = datetime.now(UTC) + timedelta(days=3)
    dry = run_cli(system, bucket, later, "--dry-run")
    assert sorted(e["key"] for e in dry if e["event"] == "expired") == ["size/big", "t/match"]
    assert all(e["dry_run"] for e in dry) and len(keys(s3, bucket)) == 7      # a dry run changes nothing
    lines = run_lifecycle(system, bucket, later)
    assert sorted((e["rule"], e["key"]) for e in lines if e["event"] == "expired") == [
        ("big", "size/big"), ("tags", "t/match")]
    assert lines[-1]["rules"] == 2                   # the disabled rule is not carried out
    assert keys(s3, bucket) == ["off/x", "size/small", "t/one-tag", "t/too-big", "t/wrong-value"]
    s3.put_object_tagging(Bucket=bucket, Key="t/one-tag",
                          Tagging={"TagSet": [{"Key": "env", "Value": "dev"}, {"Key": "tmp", "Value": ""}]})
    assert [e["key"] for e in run_lifecycle(system, bucket, later) if e["event"] == "expired"] == ["t/one-tag"]


def test_a_date_expires_every_matching_object_from_that_day(system, s3, bucket):
    s3.put_object(Bucket=bucket, Key="old/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="new/b", Body=b"b")
    day = (datetime.now(UTC) + timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    put_rules(s3, bucket, {"ID": "date", "Status": "Enabled", "Filter": {"Prefix": "old/"},
                           "Expiration": {"Date": day}})
    assert run_lifecycle(system, bucket, day - timedelta(microseconds=1))[-1]["expired"] == 0
    assert run_lifecycle(system, bucket, day)[-1]["expired"] == 1
    assert keys(s3, bucket) == ["new/b"]
    s3.put_object(Bucket=bucket, Key="old/c", Body=b"written after the date")   # still under the rule
    assert run_lifecycle(system, bucket, day + timedelta(days=1))[-1]["expired"] == 1
    assert keys(s3, bucket) == ["new/b"]


def test_an_overwrite_restarts_the_clock(system, s3, bucket):
    """The rule is judged on the object as it is when the pass comes: a newer write under the same
    key is not expired by its predecessor's age."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    put_rules(s3, bucket, rule("one", 1))
    due = expires_at(s3.head_object(Bucket=bucket, Key="k")["LastModified"], 1)
    time.sleep(1.1)
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert run_lifecycle(system, bucket, due - timedelta(seconds=1))[-1]["expired"] == 0
    second = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    if expires_at(second, 1) > due:                  # the overwrite came after midnight UTC
        assert run_lifecycle(system, bucket, due)[-1]["expired"] == 0
    assert run_lifecycle(system, bucket, expires_at(second, 1))[-1]["expired"] == 1


# ------------------------------------------------------------------------------ uploads
def test_incomplete_uploads_are_aborted_after_their_days(system, s3, bucket):
    mine = s3.create_multipart_upload(Bucket=bucket, Key="up/a")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="up/a", UploadId=mine, PartNumber=1, Body=b"p" * 70_000)
    other = s3.create_multipart_upload(Bucket=bucket, Key="elsewhere")["UploadId"]
    s3.put_object(Bucket=bucket, Key="up/object", Body=b"an object is not an upload")
    put_rules(s3, bucket, {"ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": "up/"},
                           "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})
    initiated = s3.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["Initiated"]
    due = expires_at(max(u["Initiated"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]), 1)
    assert due == expires_at(initiated, 1)
    before = all_blobs(system)
    assert run_lifecycle(system, bucket, due - timedelta(seconds=1))[-1]["aborted"] == 0
    lines = run_lifecycle(system, bucket, due)
    assert [(e["key"], e["upload_id"]) for e in lines if e["event"] == "aborted"] == [("up/a", mine)]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [other]
    assert error_of(lambda: s3.list_parts(Bucket=bucket, Key="up/a", UploadId=mine)) == (404, "NoSuchUpload")
    assert keys(s3, bucket) == ["up/object"]
    assert len(before - all_blobs(system)) >= 1      # the part's blob went with the upload
    s3.abort_multipart_upload(Bucket=bucket, Key="elsewhere", UploadId=other)


def test_repair_passes_carry_out_the_rules(system, s3, bucket):
    """``s3server repair`` (the background loop of serve, the k8s CronJob) runs a lifecycle pass
    first: a date in the past expires at once."""
    s3.put_object(Bucket=bucket, Key="gone/x", Body=b"x")
    s3.put_object(Bucket=bucket, Key="kept/y", Body=b"y")
    put_rules(s3, bucket, {"ID": "past", "Status": "Enabled", "Filter": {"Prefix": "gone/"},
                           "Expiration": {"Date": datetime(2020, 1, 1, tzinfo=UTC)}})
    r = subprocess.run([sys.executable, "-m", "s3server", "repair", "--data-dir", str(system.data_dir),
                        "--no-scrub", "--no-gc", "--no-rebalance"],
                       capture_output=True, text=True, timeout=300, env=system.env)
    events = [json.loads(x) for x in r.stdout.splitlines()]
    assert {"event": "expired", "bucket": bucket, "key": "gone/x", "rule": "past"}.items() <= next(
        e for e in events if e["event"] == "expired" and e["bucket"] == bucket).items()
    assert [e["event"] for e in events][-1] == "summary"
    assert any(e["event"] == "lifecycle" and e["expired"] >= 1 for e in events)
    assert keys(s3, bucket) == ["kept/y"]


def test_answers_say_when_a_rule_will_expire_or_abort(s3, bucket):
    """``x-amz-expiration`` (boto3's ``Expiration``) on PutObject, HeadObject, GetObject, CopyObject
    and CompleteMultipartUpload of an object a rule will expire, the earliest rule if several;
    ``x-amz-abort-date`` / ``x-amz-abort-rule-id`` on CreateMultipartUpload and ListParts."""
    date = datetime(2031, 1, 1, tzinfo=UTC)
    put_rules(s3, bucket, rule("logs 30 days", 30, "logs/"),
              {"ID": "dated", "Status": "Enabled", "Filter": {"Prefix": "logs/old"}, "Expiration": {"Date": date}},
              rule("tagged", 2, Filter={"Tag": {"Key": "tmp", "Value": "yes"}}),
              rule("off", 1, "logs/", Status="Disabled"),
              {"ID": "uploads", "Status": "Enabled", "Filter": {"Prefix": "big/"},
               "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3}})
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"a")
    head = s3.head_object(Bucket=bucket, Key="logs/a")
    due = expires_at(head["LastModified"], 30).strftime("%a, %d %b %Y %H:%M:%S GMT")
    expected = f'expiry-date="{due}", rule-id="logs%2030%20days"'
    assert put["Expiration"] == head["Expiration"] == expected
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == expected
    old = s3.put_object(Bucket=bucket, Key="logs/old-1", Body=b"o")      # 2031 comes later than 30 days
    assert old["Expiration"] == expected
    plain = s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    assert "Expiration" not in plain and "Expiration" not in s3.head_object(Bucket=bucket, Key="other")
    s3.put_object_tagging(Bucket=bucket, Key="other", Tagging={"TagSet": [{"Key": "tmp", "Value": "yes"}]})
    assert 'rule-id="tagged"' in s3.head_object(Bucket=bucket, Key="other")["Expiration"]
    copied = s3.copy_object(Bucket=bucket, Key="logs/copy", CopySource={"Bucket": bucket, "Key": "other"})
    assert 'rule-id="tagged"' in copied["Expiration"]      # the tags came along: 2 days is sooner than 30
    up = s3.create_multipart_upload(Bucket=bucket, Key="big/file")
    assert up["AbortRuleId"] == "uploads"
    assert up["AbortDate"] == expires_at(s3.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["Initiated"], 3)
    listed = s3.list_parts(Bucket=bucket, Key="big/file", UploadId=up["UploadId"])
    assert (listed["AbortDate"], listed["AbortRuleId"]) == (up["AbortDate"], "uploads")
    assert "AbortRuleId" not in s3.create_multipart_upload(Bucket=bucket, Key="logs/mp")
    part = s3.upload_part(Bucket=bucket, Key="big/file", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big/file", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert "Expiration" not in done
    for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])


# ------------------------------------------------------------------------------ the documents
def test_rules_of_millions_of_days(system, s3, bucket):
    """The largest Days AWS takes (2**31 - 1) lies past the year 9999: objects and uploads report
    no expiration, and a pass expires nothing (never a 500)."""
    put_rules(s3, bucket, rule("forever", 2**31 - 1),
              {"ID": "uploads", "Status": "Enabled", "Filter": {},
               "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2**31 - 1}})
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="k")
    up = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert "AbortDate" not in up
    lines = run_lifecycle(system, bucket, datetime(9999, 12, 30, tzinfo=UTC))
    assert (lines[-1]["expired"], lines[-1]["aborted"]) == (0, 0)
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=up["UploadId"])


def test_configuration_is_kept_with_a_generated_id_and_the_size_mode(s3, bucket):
    r = s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, TransitionDefaultMinimumObjectSize="varies_by_storage_class",
        LifecycleConfiguration={"Rules": [{"Status": "Enabled", "Filter": {}, "Expiration": {"Days": 3}}]})
    assert r["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    again = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert got["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    [only] = got["Rules"]
    assert only["ID"] and only["ID"] == again["Rules"][0]["ID"]     # generated once, as AWS does
    assert only["Filter"] == {} and only["Expiration"] == {"Days": 3}
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert error_of(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == (
        404, "NoSuchLifecycleConfiguration")


@pytest.mark.parametrize("bad, expected", [
    ({"Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}, (501, "NotImplemented")),
    ({"NoncurrentVersionTransitions": [{"NoncurrentDays": 30, "StorageClass": "GLACIER"}]}, (501, "NotImplemented")),
    ({"Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Expiration": {"ExpiredObjectDeleteMarker": True}},
     (400, "InvalidRequest")),
    ({"Expiration": {"Days": 1}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 0}},
     (400, "InvalidArgument")),
    ({"Filter": {"And": {"ObjectSizeGreaterThan": 100, "ObjectSizeLessThan": 100}}}, (400, "InvalidArgument")),
    ({"Filter": {"And": {"Prefix": "a", "Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}}},
     (400, "InvalidRequest")),
    ({"Expiration": {"Days": -3}}, (400, "InvalidArgument")),
    ({"Status": "enabled"}, (400, "MalformedXML")),
    ({"Expiration": {"Days": 2**31}}, (400, "InvalidArgument")),
    ({"Filter": {"ObjectSizeGreaterThan": 2**63}}, (400, "InvalidArgument")),
    ({"Expiration": {}}, (400, "MalformedXML")),
], ids=["transition", "noncurrent-transition", "marker-with-tags", "abort-0-days", "sizes-reversed",
        "duplicate-tag-keys", "negative-days", "status-case", "days-over-32-bits", "size-over-64-bits",
        "empty-expiration"])
def test_refused_rules_store_nothing(s3, bucket, bad, expected):
    put_rules(s3, bucket, rule("first", 5, "keep/"))
    bad_rule = {**rule("bad", 1, "x/"), **bad}
    assert error_of(lambda: put_rules(s3, bucket, bad_rule)) == expected
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["first"]


def _raw_put(system, bucket: str, body: bytes, headers: dict | None = None) -> tuple[int, str]:
    url = f"{system.endpoint}/{bucket}?lifecycle"
    r = requests.put(url, data=body, headers=sign("PUT", url, body, headers), timeout=30)
    code = r.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in r.text else ""
    return r.status_code, code


@pytest.mark.parametrize("body", [
    b"not xml at all",
    b"<LifecycleConfiguration/>",                                        # no rule
    b"<Lifecycle><Rule><ID>a</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
    b"</Lifecycle>",                                                     # wrong root
    b"<LifecycleConfiguration><Rule><ID>a</ID><Filter/><Status>Enabled</Status><Colour>red</Colour>"
    b"<Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>",     # unknown element
    b"<LifecycleConfiguration><Rule><ID>a</ID><Filter/><Status>Enabled</Status>"
    b"<Expiration><Days>soon</Days></Expiration></Rule></LifecycleConfiguration>",  # not a number
    b"<LifecycleConfiguration><Rule><ID>a</ID><Filter/><Status>Enabled</Status><Status>Enabled</Status>"
    b"<Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>",     # twice
    b"<LifecycleConfiguration>" + b"<Rule><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"
    b"</Rule>" * 1001 + b"</LifecycleConfiguration>",                   # over 1000 rules
], ids=["not-xml", "no-rule", "wrong-root", "unknown-element", "days-not-a-number", "status-twice", "1001-rules"])
def test_malformed_documents(system, bucket, body):
    assert _raw_put(system, bucket, body) == (400, "MalformedXML")


def test_bad_date_and_size_mode(system, s3, bucket):
    doc = (b"<LifecycleConfiguration><Rule><ID>a</ID><Filter/><Status>Enabled</Status><Expiration><Date>%s</Date>"
           b"</Expiration></Rule></LifecycleConfiguration>")
    assert _raw_put(system, bucket, doc % b"tomorrow") == (400, "InvalidArgument")
    assert _raw_put(system, bucket, doc % b"2031-01-01T00:00:00.000Z") == (200, "")
    when = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Expiration"]["Date"]
    assert when == datetime(2031, 1, 1, tzinfo=UTC)
    assert _raw_put(system, bucket, doc % b"2031-01-01T00:00:00Z",
                    {"x-amz-transition-default-minimum-object-size": "tiny"}) == (400, "InvalidRequest")


def test_missing_bucket_and_another_users_bucket(system, s3, bucket):
    assert error_of(lambda: put_rules(s3, "no-such-bucket-lc", rule("x"))) == (404, "NoSuchBucket")
    made = new_user(system, "lc-other")
    other = system.client(made["access_key"], made["secret_key"])
    assert error_of(lambda: put_rules(other, bucket, rule("x"))) == (403, "AccessDenied")
    assert error_of(lambda: other.get_bucket_lifecycle_configuration(Bucket=bucket))[1] == "AccessDenied"
