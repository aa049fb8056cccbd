"""boto3 with its default settings and a listed client credential, against a proxy that requires signed
requests: path and virtual-hosted style, single-part, multipart (s3transfer), copies and presigned URLs
(SigV2, botocore's default for S3 presigning, and SigV4 with signature_version='s3v4') work unchanged; a
wrong secret, a tampered URL and a bucket outside the grants are refused with S3's errors.

Run by test/compat/client-auth-clients.test.ts with PROXY_ENDPOINT, BUCKET, OTHER_BUCKET, ACCESS_KEY and
SECRET_KEY in the environment.
"""
import io
import os
import socket
import sys
import urllib.error
import urllib.request

import urllib3

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from patterns import pattern

# *.localhost is loopback (RFC 6761), but this machine's resolver does not know it.
_getaddrinfo = socket.getaddrinfo


def _loopback_getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_getaddrinfo


def client(style: str, secret: str | None = None, signature_version: str | None = None):
    endpoint = os.environ["PROXY_ENDPOINT"]
    if style == "virtual":
        endpoint = endpoint.replace("127.0.0.1", "localhost")
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ["ACCESS_KEY"],
        aws_secret_access_key=secret or os.environ["SECRET_KEY"],
        config=Config(
            s3={"addressing_style": style},
            retries={"max_attempts": 1},
            **({} if signature_version is None else {"signature_version": signature_version}),
        ),
    )


def error_code(call) -> str:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return "no error"


def main() -> int:
    bucket = os.environ["BUCKET"]
    other = os.environ["OTHER_BUCKET"]
    failures = []
    for style in ["path", "virtual"]:
        s3 = client(style)
        small = pattern(70_000, 1)
        key = f"{style}/small key+ü.bin"
        put = s3.put_object(Bucket=bucket, Key=key, Body=small)
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if got != small:
            failures.append(f"{style}: put_object/get_object content differs")
        if s3.head_object(Bucket=bucket, Key=key)["ETag"] != put["ETag"]:
            failures.append(f"{style}: head_object ETag differs from the PUT's")

        big = pattern(12 * 1024 * 1024 + 7, 2)
        config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
        s3.upload_fileobj(io.BytesIO(big), bucket, f"{style}/multipart.bin", Config=config)
        sink = io.BytesIO()
        s3.download_fileobj(bucket, f"{style}/multipart.bin", sink, Config=config)
        if sink.getvalue() != big:
            failures.append(f"{style}: multipart upload_fileobj/download_fileobj content differs")

        s3.copy_object(Bucket=bucket, Key=f"{style}/copy.bin", CopySource={"Bucket": bucket, "Key": key})
        if s3.get_object(Bucket=bucket, Key=f"{style}/copy.bin")["Body"].read() != small:
            failures.append(f"{style}: copy_object content differs")
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{style}/")
        sizes = {o["Key"]: o["Size"] for o in listed.get("Contents", [])}
        if sizes.get(key) != len(small):
            failures.append(f"{style}: list_objects_v2 shows {sizes.get(key)} for {key}")

        v4_url = client(style, signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
        )
        if "X-Amz-Signature=" not in v4_url:
            failures.append(f"{style}: s3v4 did not presign with SigV4")
        with urllib.request.urlopen(v4_url) as response:
            if response.read() != small:
                failures.append(f"{style}: SigV4 presigned GET content differs")

        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": f"{style}/presigned"}, ExpiresIn=300)
        # urllib3, not urllib: urllib adds a Content-Type to PUTs, which the URL (like S3's) did not sign.
        response = urllib3.request("PUT", put_url, body=small)
        if response.status != 200:
            failures.append(f"{style}: presigned PUT answered {response.status}: {response.data.decode()}")
            continue
        get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": f"{style}/presigned"}, ExpiresIn=300)
        if "AWSAccessKeyId=" not in get_url:
            failures.append(f"{style}: the default presigning is no longer SigV2: {get_url}")
        with urllib.request.urlopen(get_url) as response:
            if response.read() != small:
                failures.append(f"{style}: presigned GET content differs")
        try:
            urllib.request.urlopen(get_url.replace("presigned", "presignex"))
            failures.append(f"{style}: a tampered presigned URL was accepted")
        except urllib.error.HTTPError as error:
            if error.code != 403 or b"SignatureDoesNotMatch" not in error.read():
                failures.append(f"{style}: a tampered presigned URL got {error.code}")

        wrong = error_code(lambda: client(style, secret="not-the-secret-0123456789").get_object(Bucket=bucket, Key=key))
        if wrong != "SignatureDoesNotMatch":
            failures.append(f"{style}: a wrong secret got {wrong}")
        forbidden = error_code(lambda: s3.put_object(Bucket=other, Key="planted", Body=b"x"))
        if forbidden != "AccessDenied":
            failures.append(f"{style}: a bucket outside the grants got {forbidden}")

    for failure in failures:
        print(failure)
    print(f"boto3 client auth: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
