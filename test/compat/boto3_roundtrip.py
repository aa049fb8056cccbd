"""boto3 with its default settings, pointed at the proxy: objects round-trip byte for byte.

Run by test/compat/python-clients.test.ts with PROXY_ENDPOINT and BUCKET in the environment.
"""
import io
import os
import sys

from boto3.s3.transfer import TransferConfig

from patterns import pattern, proxy_client

SIZES = [0, 1, 65535, 65536, 65537, 1024 * 1024 + 3, 20 * 1024 * 1024]


def main() -> int:
    bucket = os.environ["BUCKET"]
    s3 = proxy_client()
    s3.create_bucket(Bucket=bucket)
    failures = []
    for size in SIZES:
        data = pattern(size, size)
        key = f"boto3/put-{size}"
        put = s3.put_object(Bucket=bucket, Key=key, Body=data)
        got = s3.get_object(Bucket=bucket, Key=key)
        body = got["Body"].read()
        if body != data:
            failures.append(f"put_object/get_object {size}: {len(body)} bytes back, content differs")
        if got["ContentLength"] != size:
            failures.append(f"get_object {size}: ContentLength {got['ContentLength']}")
        head = s3.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] != size or head["ETag"] != put["ETag"]:
            failures.append(f"head_object {size}: {head['ContentLength']} {head['ETag']} vs PUT {put['ETag']}")

        # upload_fileobj / download_fileobj: s3transfer's path (single part below its threshold).
        key = f"boto3/transfer-{size}"
        config = TransferConfig(multipart_threshold=64 * 1024 * 1024)
        s3.upload_fileobj(io.BytesIO(data), bucket, key, Config=config)
        sink = io.BytesIO()
        s3.download_fileobj(bucket, key, sink, Config=TransferConfig(multipart_threshold=64 * 1024 * 1024))
        if sink.getvalue() != data:
            failures.append(f"upload_fileobj/download_fileobj {size}: content differs")

    # Ranged GETs as s3transfer issues them for big downloads (8 MiB parts, last one open-ended, If-Match).
    size = 20 * 1024 * 1024
    data = pattern(size, size)
    key = "boto3/ranged"
    etag = s3.put_object(Bucket=bucket, Key=key, Body=data)["ETag"]
    assembled = b""
    for start in range(0, size, 8 * 1024 * 1024):
        end = min(start + 8 * 1024 * 1024, size) - 1
        rng = f"bytes={start}-{end}" if end < size - 1 else f"bytes={start}-"
        part = s3.get_object(Bucket=bucket, Key=key, Range=rng, IfMatch=etag)
        assembled += part["Body"].read()
    if assembled != data:
        failures.append("ranged download with If-Match: content differs")

    listed = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="boto3/put-")["Contents"]}
    for size in SIZES:
        if listed.get(f"boto3/put-{size}") != size:
            failures.append(f"list_objects_v2 size for {size}: {listed.get(f'boto3/put-{size}')}")

    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    print(f"boto3: {len(SIZES)} sizes, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
