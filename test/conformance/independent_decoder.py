#!/usr/bin/env python3
"""Independent decoder for the cloudtaser-s3 envelope format v1.

Written from docs/FORMAT.md alone, sharing no code with the TypeScript proxy, so that the two can
only agree by both following the document. Section numbers below refer to docs/FORMAT.md.

Modes:
  vectors PATH
      Check every vector in the frozen vector file (section 12). Exit 0 when all pass.
  checksum-vectors PATH
      Check every vector of the sealed checksum (section 7.1) in its frozen file. Exit 0 when all pass.
  s3 --endpoint URL --bucket B --key K --vault-addr URL --vault-token T
     --transit-mount M --transit-key NAME --out FILE
      Read the stored object and its metadata directly from S3 (boto3; credentials from the standard
      AWS environment variables), unwrap the DEK(s) with Vault/OpenBao Transit over HTTP, and write
      the plaintext to FILE ('-' for stdout). FILE is written only when the whole object verified,
      and, when the envelope keeps the client's checksum (section 7.1), it opened and matched.
      An object that records another Transit key (section 7) than M/NAME is refused, not unwrapped.

Exit status: 0 success; 1 the object or a vector failed (the format error code is printed);
2 bad usage; 3 S3, Vault or I/O trouble.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
import zlib
from typing import Callable, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Section 1.
S = 65536
T = 16
B = S + T
MAX_P = 2**52
H = 256

# Sections 5.3 and 9.2.
AAD = b"cloudtaser-s3/v1"
PART_MAGIC = b"CTS3PRT1"
PART_FIXED = 50
MAX_PART_DEK = H - PART_FIXED
MAX_PART_NUMBER = 10000
BINDING = 16

# Section 7.
PREFIX = "x-amz-meta-cloudtaser-"
META_FORMAT = PREFIX + "format"
META_DEK = PREFIX + "dek"
META_NONCE = PREFIX + "nonce"
META_SIZE = PREFIX + "size"
META_TRANSIT_KEY = PREFIX + "transit-key"
MAX_META_DEK = 1024
MAX_META_TRANSIT_KEY = 256
NONCE_RE = re.compile(r"[A-Za-z0-9+/]{16}")
SIZE_RE = re.compile(r"0|[1-9][0-9]*")
VISIBLE_RE = re.compile(rb"[\x21-\x7e]+")

# Section 7.1.
META_CHECKSUM = PREFIX + "checksum"
CHECKSUM_LABEL = b"cloudtaser-s3/v1/checksum"
DIGEST_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32, "SHA512": 64, "MD5": 16}
MIN_SEALED_CHECKSUM = 12 + len("CRC32:") + 8 + T
MAX_SEALED_CHECKSUM_TEXT = 256
BASE64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class FormatError(Exception):
    """A failure named in section 11."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class NoEnvelope(Exception):
    """The object has no x-amz-meta-cloudtaser-format: it was not written through the proxy."""


class EnvironmentTrouble(Exception):
    """S3, Vault or local I/O failed: not a property of the stored object."""


# Section 6.
def segment_count(p: int) -> int:
    return 1 if p == 0 else -(-p // S)


def stored_size(p: int) -> int:
    return p + T * segment_count(p)


MAX_C = stored_size(MAX_P)


def plaintext_size(c: int) -> int:
    if c < T or c > MAX_C:
        raise FormatError("SIZE_IMPOSSIBLE", f"stored size {c} is outside {T}..{MAX_C}")
    if c == T:
        return 0
    q, r = divmod(c, B)
    if 1 <= r <= T:
        raise FormatError("SIZE_IMPOSSIBLE", f"stored size {c} ends in a sealed segment of {r} bytes")
    n = q if r == 0 else q + 1
    return c - T * n


def check_stored_length(p: int, length: int) -> None:
    """Section 8.1 step 2."""
    if length == stored_size(p):
        return
    actual = plaintext_size(length)
    raise FormatError("SIZE_MISMATCH", f"stored length {length} holds {actual} plaintext bytes, metadata says {p}")


# Section 5.2.
def segment_nonce(object_nonce: bytes, i: int, last: bool) -> bytes:
    mask = b"\x00\x00\x00" + i.to_bytes(8, "big") + (b"\x01" if last else b"\x00")
    return bytes(a ^ b for a, b in zip(object_nonce, mask))


# Section 7.
def read_envelope(headers: dict) -> Optional[dict]:
    values: dict[str, list[str]] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(PREFIX):
            values.setdefault(lowered, []).extend(value if isinstance(value, list) else [value])

    def one(name: str) -> Optional[str]:
        found = values.get(name, [])
        if len(found) > 1:
            raise FormatError("ENVELOPE_BAD_FIELD", f"{name} appears more than once")
        return found[0] if found else None

    def required(name: str) -> str:
        value = one(name)
        if value is None:
            raise FormatError("ENVELOPE_MISSING_FIELD", f"{name} is missing")
        return value

    fmt = one(META_FORMAT)
    if fmt is None:
        return None
    transit_key = one(META_TRANSIT_KEY)
    if transit_key is not None and (
        not (1 <= len(transit_key) <= MAX_META_TRANSIT_KEY) or not VISIBLE_RE.fullmatch(transit_key.encode("utf-8"))
    ):
        raise FormatError(
            "ENVELOPE_BAD_FIELD", f"{META_TRANSIT_KEY} is not 1..{MAX_META_TRANSIT_KEY} visible ASCII characters"
        )
    if fmt == "v1-multipart":
        return {"format": "v1-multipart", "transit_key": transit_key}
    if fmt != "v1":
        raise FormatError("ENVELOPE_UNKNOWN_FORMAT", f"unknown format {fmt!r}")

    dek = required(META_DEK)
    if not (1 <= len(dek) <= MAX_META_DEK) or not VISIBLE_RE.fullmatch(dek.encode("utf-8")):
        raise FormatError("ENVELOPE_BAD_FIELD", f"{META_DEK} is not 1..{MAX_META_DEK} visible ASCII characters")
    nonce_text = required(META_NONCE)
    if not NONCE_RE.fullmatch(nonce_text):
        raise FormatError("ENVELOPE_BAD_FIELD", f"{META_NONCE} is not 16 base64 characters")
    nonce = base64.b64decode(nonce_text, validate=True)
    size_text = required(META_SIZE)
    if not SIZE_RE.fullmatch(size_text) or int(size_text) > MAX_P:
        raise FormatError("ENVELOPE_BAD_FIELD", f"{META_SIZE} is not a decimal integer in 0..{MAX_P}")
    envelope = {"format": "v1", "wrapped_dek": dek, "nonce": nonce, "size": int(size_text), "checksum": None, "transit_key": transit_key}
    sealed = one(META_CHECKSUM)
    if sealed is not None:
        envelope["checksum"] = sealed_checksum_bytes(sealed)
    return envelope


# Section 7.1.
def canonical_base64(text: str) -> Optional[bytes]:
    if not BASE64_RE.fullmatch(text):
        return None
    data = base64.b64decode(text, validate=True)
    return data if base64.b64encode(data).decode("ascii") == text else None


def sealed_checksum_bytes(text: str) -> bytes:
    data = canonical_base64(text) if len(text) <= MAX_SEALED_CHECKSUM_TEXT else None
    if data is None or len(data) < MIN_SEALED_CHECKSUM:
        raise FormatError("ENVELOPE_BAD_FIELD", f"{META_CHECKSUM} is not Base64 of a sealed checksum")
    return data


def checksum_key(dek: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CHECKSUM_LABEL).derive(dek)


def open_checksum(dek: bytes, sealed: bytes) -> tuple[str, str]:
    """The (algorithm, Base64 digest) sealed in META_CHECKSUM under the object's DEK."""
    try:
        text = AESGCM(checksum_key(dek)).decrypt(sealed[:12], sealed[12:], CHECKSUM_LABEL)
    except InvalidTag:
        raise FormatError("CHECKSUM_AUTH_FAILED", f"{META_CHECKSUM} does not open under the object's key") from None
    algorithm, colon, value = text.decode("latin-1").partition(":")
    digest = canonical_base64(value) if colon else None
    if algorithm not in DIGEST_SIZES or digest is None or len(digest) != DIGEST_SIZES[algorithm]:
        raise FormatError("ENVELOPE_BAD_FIELD", f"{META_CHECKSUM} does not hold a checksum of a known algorithm")
    return algorithm, value


def reflected_table(polynomial: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        table.append(crc)
    return table


class ReflectedCrc:
    """CRC32C (Castagnoli) and CRC64/NVME, as S3 computes them: reflected, all-ones start and final XOR."""

    def __init__(self, polynomial: int, bits: int):
        self.table = reflected_table(polynomial)
        self.mask = (1 << bits) - 1
        self.bytes = bits // 8
        self.crc = self.mask

    def update(self, data: bytes) -> None:
        crc, table = self.crc, self.table
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self.crc = crc

    def digest(self) -> bytes:
        return (self.crc ^ self.mask).to_bytes(self.bytes, "big")


class Crc32:
    def __init__(self):
        self.crc = 0

    def update(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)

    def digest(self) -> bytes:
        return self.crc.to_bytes(4, "big")


def new_hasher(algorithm: str):
    if algorithm == "CRC32":
        return Crc32()
    if algorithm == "CRC32C":
        return ReflectedCrc(0x82F63B78, 32)
    if algorithm == "CRC64NVME":
        return ReflectedCrc(0x9A6C9329AC4BC9B5, 64)
    return hashlib.new({"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512", "MD5": "md5"}[algorithm])


def checksum_of(algorithm: str, data: bytes) -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return base64.b64encode(hasher.digest()).decode("ascii")


# Section 9.2.
def upload_binding(upload_id: str) -> bytes:
    return hashlib.sha256(upload_id.encode("utf-8")).digest()[:BINDING]


def parse_part_header(header: bytes) -> dict:
    if header[0:8] != PART_MAGIC:
        raise FormatError("PART_HEADER_INVALID", "magic is not CTS3PRT1")
    p = int.from_bytes(header[8:16], "big")
    if p > MAX_P:
        raise FormatError("PART_HEADER_INVALID", f"part size {p} is above {MAX_P}")
    nonce = header[16:28]
    number = int.from_bytes(header[28:32], "big")
    if not 1 <= number <= MAX_PART_NUMBER:
        raise FormatError("PART_HEADER_INVALID", f"part number {number} is outside 1..{MAX_PART_NUMBER}")
    binding = header[32:48]
    k = int.from_bytes(header[48:50], "big")
    if not 1 <= k <= MAX_PART_DEK:
        raise FormatError("PART_HEADER_INVALID", f"wrapped DEK length {k} is outside 1..{MAX_PART_DEK}")
    dek = header[PART_FIXED : PART_FIXED + k]
    if not VISIBLE_RE.fullmatch(dek):
        raise FormatError("PART_HEADER_INVALID", "wrapped DEK has bytes outside 0x21..0x7e")
    if any(header[PART_FIXED + k : H]):
        raise FormatError("PART_HEADER_INVALID", "padding is not zero")
    return {
        "size": p,
        "nonce": nonce,
        "number": number,
        "binding": binding,
        "wrapped_dek": dek.decode("ascii"),
        "aad": bytes(header[:H]),
    }


def check_part_position(part: dict, k: int, first_binding: Optional[bytes]) -> None:
    """Section 9.3 step 4: the k-th part carries number k and part 1's upload binding."""
    if part["number"] != k:
        raise FormatError("PART_ORDER", f"part {k} of the body carries part number {part['number']}")
    if first_binding is not None and part["binding"] != first_binding:
        raise FormatError("PART_UPLOAD_MISMATCH", f"part {k} belongs to another upload than part 1")


def encode_part_header(wrapped_dek: str, nonce: bytes, p: int, number: int, binding: bytes) -> bytes:
    dek = wrapped_dek.encode("ascii")
    header = (
        PART_MAGIC + p.to_bytes(8, "big") + nonce + number.to_bytes(4, "big") + binding + len(dek).to_bytes(2, "big") + dek
    )
    return header + b"\x00" * (H - len(header))


# Section 9.4.
def locate_parts(length: int, read_at: Callable[[int], bytes]) -> list[dict]:
    """Walks the part headers of a stored body of `length` bytes without reading part bodies."""
    parts: list[dict] = []
    offset = 0
    while offset < length or not parts:
        if length - offset < H:
            raise FormatError("TRUNCATED", f"stored data ends inside the header of part {len(parts) + 1}")
        if len(parts) == MAX_PART_NUMBER:
            raise FormatError("PART_ORDER", f"the body continues after part {MAX_PART_NUMBER}")
        part = parse_part_header(read_at(offset))
        check_part_position(part, len(parts) + 1, parts[0]["binding"] if parts else None)
        part["offset"] = offset
        part["stored"] = H + stored_size(part["size"])
        if offset + part["stored"] > length:
            raise FormatError("TRUNCATED", f"part {len(parts) + 1} extends past the end of the stored data")
        parts.append(part)
        offset += part["stored"]
    return parts


# Section 9.6.
def listing_plaintext_size(c: int, n: int) -> int:
    if not 1 <= n <= MAX_PART_NUMBER:
        raise FormatError("SIZE_IMPOSSIBLE", f"part count {n} is outside 1..{MAX_PART_NUMBER}")
    x = c - H * n
    if x < T * n or x > MAX_C:
        raise FormatError("SIZE_IMPOSSIBLE", f"stored size {c} cannot hold {n} parts")
    if n == 1:
        return plaintext_size(x)
    q, r = divmod(x, B)
    return q * S + max(0, r - T)


class Source:
    """Reads exact byte counts from a stream that may return short reads, and can tell its end."""

    def __init__(self, stream):
        self.stream = stream

    def read_exact(self, n: int) -> bytes:
        parts = []
        remaining = n
        while remaining > 0:
            try:
                chunk = self.stream.read(min(remaining, 1 << 20))
            except (OSError, ValueError) as error:
                raise EnvironmentTrouble(f"reading the stored object failed: {error}") from error
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    def at_end(self) -> bool:
        extra = self.read_exact(1)
        return len(extra) == 0


Release = Callable[[bytes], None]
Unwrap = Callable[[str], bytes]


def check_dek(dek: bytes) -> bytes:
    if len(dek) != 32:
        raise EnvironmentTrouble(f"unwrapped DEK has {len(dek)} bytes, not 32")
    return dek


def open_segments(source: Source, dek: bytes, nonce: bytes, p: int, aad: bytes, release: Release) -> bytes:
    """Section 8.2 steps 1-2: releases all segments but the final one, and returns the final one."""
    aead = AESGCM(dek)
    n = segment_count(p)
    for i in range(n):
        last = i == n - 1
        length = (p - (n - 1) * S if last else S) + T
        sealed = source.read_exact(length)
        if len(sealed) < length:
            raise FormatError("TRUNCATED", f"stored data ended inside segment {i}")
        try:
            plaintext = aead.decrypt(segment_nonce(nonce, i, last), sealed, aad)
        except InvalidTag:
            raise FormatError("SEGMENT_AUTH_FAILED", f"segment {i} failed authentication") from None
        if last:
            return plaintext
        release(plaintext)
    raise AssertionError("unreachable")


def decode_single(source: Source, envelope: dict, unwrap: Unwrap, release: Release) -> None:
    dek = check_dek(unwrap(envelope["wrapped_dek"]))
    final = open_segments(source, dek, envelope["nonce"], envelope["size"], AAD, release)
    if not source.at_end():
        raise FormatError("TRAILING_DATA", "stored data continues after the final segment")
    release(final)


def decode_multipart(source: Source, unwrap: Unwrap, release: Release) -> None:
    """Section 9.3."""
    held: Optional[bytes] = None
    parts = 0
    first_binding: Optional[bytes] = None
    while True:
        header = source.read_exact(H)
        if not header and parts > 0:
            if held:
                release(held)
            return
        if len(header) < H:
            raise FormatError("TRUNCATED", f"stored data ended inside the header of part {parts + 1}")
        part = parse_part_header(header)
        check_part_position(part, parts + 1, first_binding)
        if first_binding is None:
            first_binding = part["binding"]
        if held:
            release(held)
        held = None
        dek = check_dek(unwrap(part["wrapped_dek"]))
        held = open_segments(source, dek, part["nonce"], part["size"], part["aad"], release)
        parts += 1


def seal_segments(dek: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """A writer per section 5, used only to rebuild long vectors and to check them."""
    aead = AESGCM(dek)
    n = segment_count(len(plaintext))
    return b"".join(
        aead.encrypt(segment_nonce(nonce, i, i == n - 1), plaintext[i * S : (i + 1) * S], aad) for i in range(n)
    )


# ---------------------------------------------------------------------------------------------
# Mode "vectors" (section 12).


def vector_plaintext(spec: dict) -> bytes:
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if spec.get("pattern") == "i%251":
        length = spec["length"]
        return (bytes(range(251)) * (length // 251 + 1))[:length]
    raise ValueError(f"unknown plaintext spec {spec}")


def build_stored(vector: dict, by_name: dict, cache: dict) -> bytes:
    name = vector["name"]
    if name in cache:
        return cache[name]
    spec = vector["stored"]
    unwrap = vector["unwrap"]
    if "hex" in spec:
        stored = bytes.fromhex(spec["hex"])
    elif spec.get("seal"):
        metadata = vector["metadata"]
        nonce = base64.b64decode(metadata[META_NONCE])
        stored = seal_segments(
            bytes.fromhex(unwrap[metadata[META_DEK]]), nonce, vector_plaintext(vector["plaintext"]), AAD
        )
    elif spec.get("seal_parts"):
        pieces = []
        for part in vector["parts"]:
            plaintext = vector_plaintext(part["plaintext"])
            nonce = bytes.fromhex(part["nonce"])
            binding = upload_binding(part["upload_id"])
            if binding.hex() != part["upload_binding"]:
                raise ValueError(f"{name}: upload binding of {part['upload_id']!r} is not {part['upload_binding']}")
            header = encode_part_header(part["wrapped_dek"], nonce, len(plaintext), part["part_number"], binding)
            pieces.append(header)
            pieces.append(seal_segments(bytes.fromhex(unwrap[part["wrapped_dek"]]), nonce, plaintext, header))
        stored = b"".join(pieces)
    elif "from" in spec:
        base = build_stored(by_name[spec["from"]], by_name, cache)
        if "pieces" in spec:
            base = b"".join(
                base[piece[0] : piece[1]] if isinstance(piece, list) else bytes.fromhex(piece["hex"])
                for piece in spec["pieces"]
            )
        if "cut" in spec:
            base = base[: spec["cut"]]
        if "append" in spec:
            base = base + bytes.fromhex(spec["append"])
        edited = bytearray(base)
        for offset in spec.get("flip", []):
            edited[offset] ^= 0x01
        stored = bytes(edited)
    else:
        raise ValueError(f"unknown stored spec in {name}")
    cache[name] = stored
    return stored


def decode_vector(vector: dict, stored: bytes) -> tuple[str, Optional[str], bytes]:
    """Returns (outcome, error code, released bytes) for a streaming reader without the length check."""
    released = []

    def unwrap(wrapped: str) -> bytes:
        return bytes.fromhex(vector["unwrap"][wrapped])

    try:
        envelope = read_envelope(vector["metadata"])
    except FormatError as error:
        return "envelope failure", error.code, b""
    if envelope is None:
        return "no envelope", None, stored
    source = Source(io.BytesIO(stored))
    try:
        if envelope["format"] == "v1":
            decode_single(source, envelope, unwrap, released.append)
        else:
            decode_multipart(source, unwrap, released.append)
    except FormatError as error:
        return "payload failure", error.code, b"".join(released)
    return "success", None, b"".join(released)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_vectors(path: str) -> int:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    failures: list[str] = []
    checked = 0

    def fail(name: str, reason: str) -> None:
        failures.append(f"{name}: {reason}")

    for pair in data["size_vectors"]:
        checked += 1
        p, c = pair["plaintext_size"], pair["stored_size"]
        if stored_size(p) != c or plaintext_size(c) != p:
            fail(f"size {p}", f"expected stored size {c}, got {stored_size(p)}")
    for c in data["impossible_stored_sizes"]:
        checked += 1
        try:
            plaintext_size(c)
            fail(f"impossible size {c}", "was accepted")
        except FormatError as error:
            if error.code != "SIZE_IMPOSSIBLE":
                fail(f"impossible size {c}", error.code)
    for v in data["nonce_vectors"]:
        checked += 1
        got = segment_nonce(bytes.fromhex(v["object_nonce"]), v["index"], v["last"]).hex()
        if got != v["segment_nonce"]:
            fail(f"nonce {v['index']}", f"expected {v['segment_nonce']}, got {got}")
    for v in data["upload_binding_vectors"]:
        checked += 1
        got = upload_binding(v["upload_id"]).hex()
        if got != v["upload_binding"]:
            fail(f"binding {v['upload_id']!r}", f"expected {v['upload_binding']}, got {got}")
    for v in data["multipart_size_vectors"]:
        checked += 1
        sizes = v["part_plaintext_sizes"]
        if isinstance(sizes, dict):
            sizes = [sizes["repeat"]] * sizes["count"]
        n = len(sizes)
        c = sum(H + stored_size(p) for p in sizes)
        listing = listing_plaintext_size(c, n)
        if (n, c, sum(sizes), listing) != (v["part_count"], v["stored_size"], v["plaintext_size"], v["listing_plaintext_size"]):
            fail(f"multipart size {v['stored_size']}/{v['part_count']}", f"got stored {c}, listing {listing}")
        if not 0 <= listing - sum(sizes) <= T * (n - 1):
            fail(f"multipart size {v['stored_size']}/{v['part_count']}", "listing size outside the documented bound")
    for v in data["impossible_multipart_sizes"]:
        checked += 1
        try:
            listing_plaintext_size(v["stored_size"], v["part_count"])
            fail(f"impossible multipart size {v['stored_size']}/{v['part_count']}", "was accepted")
        except FormatError as error:
            if error.code != "SIZE_IMPOSSIBLE":
                fail(f"impossible multipart size {v['stored_size']}/{v['part_count']}", error.code)

    vectors = data["object_vectors"] + data["multipart_vectors"]
    by_name = {v["name"]: v for v in vectors}
    cache: dict = {}
    for vector in vectors:
        checked += 1
        name = vector["name"]
        stored = build_stored(vector, by_name, cache)
        if len(stored) != vector["stored_length"] or sha256(stored) != vector["stored_sha256"]:
            fail(name, "the stored body built from the vector does not match stored_sha256")
            continue
        if vector["stored"].get("hex") and vector["expect"] == "success" and "plaintext" in vector:
            metadata = vector["metadata"]
            resealed = seal_segments(
                bytes.fromhex(vector["unwrap"][metadata[META_DEK]]),
                base64.b64decode(metadata[META_NONCE]),
                vector_plaintext(vector["plaintext"]),
                AAD,
            )
            if resealed != stored:
                fail(name, "sealing the plaintext does not give the listed stored bytes")
        outcome, code, released = decode_vector(vector, stored)
        if "transit_key" in vector and outcome == "success":
            recorded = read_envelope(vector["metadata"])["transit_key"]
            if recorded != vector["transit_key"]:
                fail(name, f"recorded Transit key read as {recorded!r}, expected {vector['transit_key']!r}")
        if outcome != vector["expect"]:
            fail(name, f"expected {vector['expect']}, got {outcome} ({code})")
            continue
        if outcome == "success":
            if sha256(released) != vector["plaintext_sha256"]:
                fail(name, "decrypted plaintext does not match plaintext_sha256")
        elif outcome != "no envelope":
            if code != vector["error"]:
                fail(name, f"expected {vector['error']}, got {code}")
            if len(released) != vector["released_length"] or sha256(released) != vector["released_sha256"]:
                fail(name, f"released {len(released)} bytes, expected {vector['released_length']} (or other bytes)")
        if outcome in ("success", "payload failure"):
            envelope = read_envelope(vector["metadata"])
            length_code = None
            layout_code = None
            if envelope and envelope["format"] == "v1":
                try:
                    check_stored_length(envelope["size"], len(stored))
                except FormatError as error:
                    length_code = error.code
            if envelope and envelope["format"] == "v1-multipart":
                try:
                    located = locate_parts(len(stored), lambda offset: stored[offset : offset + H])
                    if outcome == "success" and sum(part["size"] for part in located) != len(released):
                        fail(name, "the located parts do not add up to the plaintext size")
                except FormatError as error:
                    layout_code = error.code
            if length_code != vector.get("length_check_error"):
                fail(name, f"length check gave {length_code}, expected {vector.get('length_check_error')}")
            if layout_code != vector.get("layout_error"):
                fail(name, f"locating the parts gave {layout_code}, expected {vector.get('layout_error')}")

    for failure in failures:
        print(f"FAIL {failure}")
    print(f"{checked} checks, {len(failures)} failed ({len(vectors)} object vectors)")
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------------
# Mode "s3".


class TransitUnwrapper:
    def __init__(self, addr: str, token: str, mount: str, key: str, namespace: Optional[str], skip_verify: bool):
        self.url = f"{addr.rstrip('/')}/v1/{mount.strip('/')}/decrypt/{key}"
        self.headers = {"X-Vault-Token": token, "Content-Type": "application/json"}
        if namespace:
            self.headers["X-Vault-Namespace"] = namespace
        self.context = ssl._create_unverified_context() if skip_verify else None
        self.cache: dict[str, bytes] = {}

    def __call__(self, wrapped: str) -> bytes:
        if wrapped in self.cache:
            return self.cache[wrapped]
        body = json.dumps({"ciphertext": wrapped}).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            raise EnvironmentTrouble(f"Transit decrypt answered HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise EnvironmentTrouble(f"Transit decrypt failed: {error}") from None
        try:
            dek = base64.b64decode(answer["data"]["plaintext"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise EnvironmentTrouble("Transit decrypt answer has no base64 data.plaintext") from None
        self.cache[wrapped] = check_dek(dek)
        return self.cache[wrapped]


# ---------------------------------------------------------------------------------------------
# Mode "checksum-vectors" (sections 7.1 and 12).


def check_checksum_vectors(path: str) -> int:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if data.get("label") != CHECKSUM_LABEL.decode("ascii"):
        print(f"FAIL label: {data.get('label')!r}")
        return 1
    failures: list[str] = []
    checked = 0
    for pair in data["key_vectors"]:
        checked += 1
        derived = checksum_key(bytes.fromhex(pair["dek"])).hex()
        if derived != pair["checksum_key"]:
            failures.append(f"key of {pair['dek'][:16]}...: {derived}")
    for check in ["CRC32C", "CRC64NVME"]:
        # The published check values of the two CRCs over "123456789" (the catalogue of CRC parameters).
        checked += 1
        expected = {"CRC32C": "e3069283", "CRC64NVME": "ae8b14860a799888"}[check]
        value = base64.b64decode(checksum_of(check, b"123456789")).hex()
        if value != expected:
            failures.append(f"{check} check value {value}, not {expected}")
    for vector in data["checksum_vectors"]:
        checked += 1
        name = vector["name"]
        plaintext = vector_plaintext(vector["plaintext"])
        stored = build_stored(vector, {}, {})
        if sha256(stored) != vector["stored_sha256"] or sha256(plaintext) != vector["plaintext_sha256"]:
            failures.append(f"{name}: stored or plaintext bytes are not the vector's")
            continue
        outcome, code, released = decode_vector(vector, stored)
        if outcome == "success":
            envelope = read_envelope(vector["metadata"])
            try:
                algorithm, value = open_checksum(bytes.fromhex(vector["unwrap"][envelope["wrapped_dek"]]), envelope["checksum"])
                outcome = "success"
            except FormatError as error:
                outcome, code = "envelope failure", error.code
        if vector["expect"] == "success":
            if outcome != "success":
                failures.append(f"{name}: expected success, got {outcome} ({code})")
            elif f"{algorithm}:{value}" != vector["checksum"]:
                failures.append(f"{name}: opened {algorithm}:{value}, expected {vector['checksum']}")
            elif checksum_of(algorithm, released) != value:
                failures.append(f"{name}: {algorithm}:{value} is not the checksum of the plaintext")
        elif outcome != vector["expect"] or code != vector["error"]:
            failures.append(f"{name}: expected {vector['expect']} {vector['error']}, got {outcome} {code}")
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"{checked} checks, {len(failures)} failed ({len(data['checksum_vectors'])} checksum vectors)")
    return 1 if failures else 0


def decrypt_from_s3(args: argparse.Namespace) -> int:
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as error:
        raise EnvironmentTrouble(f"boto3 is not installed: {error}") from None

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    client = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name=region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )
    try:
        response = client.get_object(Bucket=args.bucket, Key=args.key)
    except (BotoCoreError, ClientError) as error:
        raise EnvironmentTrouble(f"GetObject s3://{args.bucket}/{args.key} failed: {error}") from None

    headers = {f"x-amz-meta-{name}": value for name, value in response.get("Metadata", {}).items()}
    envelope = read_envelope(headers)
    if envelope is None:
        raise NoEnvelope(f"s3://{args.bucket}/{args.key} has no {META_FORMAT}: it was not written through the proxy")
    if envelope["format"] == "v1":
        check_stored_length(envelope["size"], response["ContentLength"])
    # Section 7: the object names the key that wrapped its DEKs; this decoder unwraps only with the key it was
    # given, so that an object the provider moved here from another tenant is not decrypted with that tenant's key.
    given = f"{args.transit_mount.strip('/')}/{args.transit_key}"
    if envelope["transit_key"] is not None and envelope["transit_key"] != given:
        raise FormatError(
            "TRANSIT_KEY_MISMATCH",
            f"s3://{args.bucket}/{args.key} records Transit key {envelope['transit_key']}, not {given} "
            "(--transit-mount/--transit-key); not unwrapped",
        )

    unwrap = TransitUnwrapper(
        args.vault_addr, args.vault_token, args.transit_mount, args.transit_key, args.vault_namespace, args.vault_skip_verify
    )
    source = Source(response["Body"])
    if args.out == "-":
        sink = sys.stdout.buffer
        temporary = None
    else:
        temporary = f"{args.out}.partial-{os.getpid()}"
        sink = open(temporary, "wb")
    written = 0
    stored_checksum = None
    hasher = None
    if envelope["format"] == "v1" and envelope["checksum"] is not None:
        stored_checksum = open_checksum(unwrap(envelope["wrapped_dek"]), envelope["checksum"])
        hasher = new_hasher(stored_checksum[0])

    def release(data: bytes) -> None:
        nonlocal written
        sink.write(data)
        if hasher is not None:
            hasher.update(data)
        written += len(data)

    try:
        if envelope["format"] == "v1":
            decode_single(source, envelope, unwrap, release)
        else:
            decode_multipart(source, unwrap, release)
        if stored_checksum is not None and base64.b64encode(hasher.digest()).decode("ascii") != stored_checksum[1]:
            raise FormatError("CHECKSUM_AUTH_FAILED", f"the plaintext does not have the stored {stored_checksum[0]}")
        sink.flush()
        if temporary is not None:
            sink.close()
            os.replace(temporary, args.out)
            temporary = None
    finally:
        if temporary is not None:
            sink.close()
            os.unlink(temporary)
        response["Body"].close()
    checked = "" if stored_checksum is None else f", checksum {stored_checksum[0]}:{stored_checksum[1]} matches"
    print(f"ok: s3://{args.bucket}/{args.key} format {envelope['format']}, {written} plaintext bytes{checked}", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    vectors = modes.add_parser("vectors", help="check the frozen test vectors")
    vectors.add_argument("path")
    checksum_vectors = modes.add_parser("checksum-vectors", help="check the frozen vectors of the sealed checksum")
    checksum_vectors.add_argument("path")
    s3 = modes.add_parser("s3", help="decrypt one stored object from S3")
    s3.add_argument("--endpoint", required=True)
    s3.add_argument("--bucket", required=True)
    s3.add_argument("--key", required=True)
    env = os.environ.get
    s3.add_argument("--vault-addr", default=env("VAULT_ADDR"), required=env("VAULT_ADDR") is None)
    s3.add_argument("--vault-token", default=env("VAULT_TOKEN"), required=env("VAULT_TOKEN") is None)
    s3.add_argument("--vault-namespace", default=env("VAULT_NAMESPACE"))
    s3.add_argument("--vault-skip-verify", action="store_true")
    s3.add_argument("--transit-mount", default="transit")
    s3.add_argument("--transit-key", required=True)
    s3.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    try:
        if args.mode == "vectors":
            return check_vectors(args.path)
        if args.mode == "checksum-vectors":
            return check_checksum_vectors(args.path)
        return decrypt_from_s3(args)
    except (FormatError, NoEnvelope) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except EnvironmentTrouble as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
