"""boto3's delete calls through the proxy, as boto3 sends them (with `Content-Length: 0`).

Run by test/compat/python-clients.test.ts with PROXY_ENDPOINT and BUCKET in the environment.
"""
import json
import os
import sys

from botocore.exceptions import ClientError

from patterns import proxy_client


def status_of(call) -> int:
    try:
        call()
        return 200
    except ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"]


def main() -> int:
    bucket = os.environ["BUCKET"]
    s3 = proxy_client(retries={"max_attempts": 1})
    failures = []

    def check(name, call):
        try:
            call()
            print("ok", name)
        except ClientError as error:
            failures.append(f"{name}: {error}")

    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="doomed", Body=b"bye")
    check("delete_object", lambda: s3.delete_object(Bucket=bucket, Key="doomed"))
    if status_of(lambda: s3.head_object(Bucket=bucket, Key="doomed")) != 404:
        failures.append("delete_object: the object is still there")

    s3.put_object(Bucket=bucket, Key="tagged", Body=b"x", Tagging="team=blue")
    check("delete_object_tagging", lambda: s3.delete_object_tagging(Bucket=bucket, Key="tagged"))
    tags = s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"]
    if tags:
        failures.append(f"delete_object_tagging: tags left {tags}")

    upload = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload, PartNumber=1, Body=b"p" * 1024)
    check("abort_multipart_upload", lambda: s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload))
    if any(u["UploadId"] == upload for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])):
        failures.append("abort_multipart_upload: the upload is still listed")

    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "test"}]})
    check("delete_bucket_tagging", lambda: s3.delete_bucket_tagging(Bucket=bucket))
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    check("delete_bucket_policy", lambda: s3.delete_bucket_policy(Bucket=bucket))
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [{"ID": "x", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]},
    )
    check("delete_bucket_lifecycle", lambda: s3.delete_bucket_lifecycle(Bucket=bucket))
    check("get_bucket_location", lambda: s3.get_bucket_location(Bucket=bucket))

    for key in ("tagged",):
        s3.delete_object(Bucket=bucket, Key=key)
    check("delete_bucket", lambda: s3.delete_bucket(Bucket=bucket))
    if status_of(lambda: s3.head_bucket(Bucket=bucket)) != 404:
        failures.append("delete_bucket: the bucket is still there")

    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    print(f"boto3 deletes: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
