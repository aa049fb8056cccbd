"""boto3 transfers through the proxy: multipart upload, ranged download with If-Match, unaligned parts.

Run by test/compat/python-clients.test.ts with PROXY_ENDPOINT, BUCKET and WORKDIR in the environment.
"""
import os
import sys

from boto3.s3.transfer import TransferConfig

from patterns import pattern, proxy_client


def main() -> int:
    bucket, workdir = os.environ["BUCKET"], os.environ["WORKDIR"]
    s3 = proxy_client()
    s3.create_bucket(Bucket=bucket)
    failures = []
    cases = [
        ("default TransferConfig, 40 MiB", 40 * 1024 * 1024, TransferConfig()),
        # s3transfer raises a chunk size below S3's 5 MiB minimum to 5 MiB, as it does against S3.
        (
            "5,000,000-byte parts",
            23_000_017,
            TransferConfig(multipart_threshold=5_000_000, multipart_chunksize=5_000_000),
        ),
        (
            "5,300,000-byte parts (not a multiple of the 64 KiB segment)",
            23_000_017,
            TransferConfig(multipart_threshold=5_300_000, multipart_chunksize=5_300_000),
        ),
    ]
    for name, size, config in cases:
        data = pattern(size, size)
        source = os.path.join(workdir, f"up-{size}")
        target = os.path.join(workdir, f"down-{size}")
        with open(source, "wb") as f:
            f.write(data)
        key = f"transfer/{size}"
        s3.upload_file(source, bucket, key, Config=config)
        head = s3.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] != size:
            failures.append(f"{name}: HEAD says {head['ContentLength']}")
        if "-" not in head["ETag"]:
            failures.append(f"{name}: expected a multipart upload, ETag {head['ETag']}")
        # download_file HEADs, then GETs 8 MiB ranges with If-Match on the HEAD's ETag.
        s3.download_file(bucket, key, target, Config=config)
        with open(target, "rb") as f:
            if f.read() != data:
                failures.append(f"{name}: downloaded bytes differ")
    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    print(f"boto3 multipart: {len(cases)} cases, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
