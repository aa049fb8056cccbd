"""boto3 with its default settings validates, through the proxy, the full-object checksum of what it stored.

boto3 (>= 1.36) sends a CRC32 header with put_object over HTTP and x-amz-checksum-mode: ENABLED with
get_object; it validates the body against any full-object x-amz-checksum-* the response carries, by wrapping
the body in botocore's StreamingChecksumBody (and raises FlexibleChecksumError on a mismatch). A response
without one is returned as a plain StreamingBody: not validated.

Run by test/compat/checksums.test.ts with PROXY_ENDPOINT and BUCKET in the environment.
"""
import os
import sys

from botocore.httpchecksum import StreamingChecksumBody

from patterns import pattern, proxy_client

SIZES = [0, 3, 1024, 65537, 300_000]


def main() -> int:
    bucket = os.environ["BUCKET"]
    s3 = proxy_client()
    s3.create_bucket(Bucket=bucket)
    failures = []
    for size in SIZES:
        data = pattern(size, size + 5)
        key = f"checksum/{size}"
        s3.put_object(Bucket=bucket, Key=key, Body=data)

        got = s3.get_object(Bucket=bucket, Key=key)
        body = got["Body"]
        if not isinstance(body, StreamingChecksumBody):
            failures.append(f"get_object {size}: not validated ({type(body).__name__}, headers {got['ResponseMetadata']['HTTPHeaders']})")
        if body.read() != data:
            failures.append(f"get_object {size}: content differs")
        if got.get("ChecksumCRC32") is None or got.get("ChecksumType") != "FULL_OBJECT":
            failures.append(f"get_object {size}: ChecksumCRC32 {got.get('ChecksumCRC32')} type {got.get('ChecksumType')}")

        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        if head.get("ChecksumCRC32") != got.get("ChecksumCRC32"):
            failures.append(f"head_object {size}: ChecksumCRC32 {head.get('ChecksumCRC32')}")
        attributes = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectSize"])
        if attributes.get("Checksum", {}).get("ChecksumCRC32") != got.get("ChecksumCRC32"):
            failures.append(f"get_object_attributes {size}: {attributes.get('Checksum')}")

        if size >= 10:
            ranged = s3.get_object(Bucket=bucket, Key=key, Range="bytes=1-8")
            if isinstance(ranged["Body"], StreamingChecksumBody) or ranged.get("ChecksumCRC32") is not None:
                failures.append(f"ranged get_object {size}: carries the full-object checksum")
            if ranged["Body"].read() != data[1:9]:
                failures.append(f"ranged get_object {size}: content differs")

    # A copy keeps a checksum that is still right (the same plaintext under the same key): boto3 validates it.
    s3.copy_object(Bucket=bucket, Key="copy/replaced", CopySource=f"{bucket}/checksum/1024",
                   MetadataDirective="REPLACE", Metadata={"colour": "green"})
    s3.copy_object(Bucket=bucket, Key="copy/copied", CopySource=f"{bucket}/checksum/1024")
    for key in ["copy/replaced", "copy/copied"]:
        got = s3.get_object(Bucket=bucket, Key=key)
        if not isinstance(got["Body"], StreamingChecksumBody) or got["Body"].read() != pattern(1024, 1029):
            failures.append(f"{key}: not validated, or content differs")

    for failure in failures:
        print("FAIL", failure)
    print(f"boto3 checksums: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
