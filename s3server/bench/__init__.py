"""``s3server bench``: a benchmark for any S3 endpoint (ours, moto, AWS).

A client tool: nothing in the gateway imports it. The hot loops use this package's own SigV4
presigner and ``http.client`` keep-alive connections (standard library only); boto3 is needed only
for the multipart scenario (boto3's default transfer settings are the point of it) and moto only for
``--compare-moto``. Both come with ``pip install -e '.[bench]'``.
"""
