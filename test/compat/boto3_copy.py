"""boto3's managed copy (s3transfer) through the proxy: it HEADs the source and sends its metadata
back, the proxy's envelope included; big sources go as UploadPartCopy in plaintext ranges.

Run by test/compat/python-clients.test.ts with PROXY_ENDPOINT and BUCKET in the environment.
"""
import io
import os
import sys


from patterns import pattern, proxy_client

MiB = 1024 * 1024


def main() -> int:
    bucket = os.environ["BUCKET"]
    s3 = proxy_client()
    s3.create_bucket(Bucket=bucket)
    failures = []
    # upload_fileobj with the default TransferConfig: 17 MiB goes up as a multipart upload of 8 MiB parts.
    for name, size in (("small", 1024), ("multipart", 17 * MiB)):
        data = pattern(size, size + 7)
        s3.upload_fileobj(io.BytesIO(data), bucket, f"src/{name}", ExtraArgs={"Metadata": {"colour": "red"}})
        head = s3.head_object(Bucket=bucket, Key=f"src/{name}")
        if name == "multipart" and "-" not in head["ETag"]:
            failures.append(f"{name}: the source is not a multipart object ({head['ETag']})")
        s3.copy({"Bucket": bucket, "Key": f"src/{name}"}, bucket, f"dst/{name}")
        body = s3.get_object(Bucket=bucket, Key=f"dst/{name}")["Body"].read()
        if body != data:
            failures.append(f"copy {name} ({size} bytes): {len(body)} bytes back, content differs")
        copied = s3.head_object(Bucket=bucket, Key=f"dst/{name}")
        if copied["ContentLength"] != size or copied["Metadata"].get("colour") != "red":
            failures.append(f"copy {name}: HEAD {copied['ContentLength']} {copied['Metadata']}")
        sink = io.BytesIO()
        s3.download_fileobj(bucket, f"dst/{name}", sink)
        if sink.getvalue() != data:
            failures.append(f"copy {name}: download_fileobj content differs")
    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    print(f"boto3 copy: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
