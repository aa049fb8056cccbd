"""Test data shared by the Python client scripts."""
import hashlib


def pattern(length: int, seed: int) -> bytes:
    """Deterministic, position-dependent bytes (not a repeating short cycle), so misplaced data shows."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:length])
