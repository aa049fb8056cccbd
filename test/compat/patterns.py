"""Test data and the boto3 client shared by the Python client scripts."""
import hashlib
import os

import boto3
from botocore.config import Config


def proxy_client(**config):
    """boto3's S3 client with its default settings, pointed at the proxy (PROXY_ENDPOINT), path-style."""
    return boto3.client(
        "s3",
        endpoint_url=os.environ["PROXY_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id="AKIDBOTO3CLIENT",
        aws_secret_access_key="boto3-client-secret",
        config=Config(s3={"addressing_style": "path"}, **config),
    )


def pattern(length: int, seed: int) -> bytes:
    """Deterministic, position-dependent bytes (not a repeating short cycle), so misplaced data shows."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:length])
