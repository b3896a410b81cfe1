"""A detect-secrets plugin (Yelp's, https://pypi.org/project/detect-secrets/) for Sesame
Tokens passwords: `sesame_`, 36 base62 characters, then a 6-character checksum, CRC32 of
those 36 characters in base62 (alphabet 0-9A-Za-z, left-padded with 0). Only strings whose
checksum is right are reported, so look-alikes in docs and tests are not.

    detect-secrets scan --plugin docs/secret-scanning/sesame_detect_secrets.py FILE...

Tested by the project's suite (tests/api/secret_scanning.rs) with detect-secrets 1.5.
"""
import re
import zlib

from detect_secrets.plugins.base import RegexBasedDetector

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "sesame_"
RANDOM_CHARS = 36


def checksum(random: str) -> str:
    """CRC32 of the random part's ASCII bytes, in base62, six characters."""
    value = zlib.crc32(random.encode("ascii"))
    digits = []
    for _ in range(6):
        digits.append(ALPHABET[value % 62])
        value //= 62
    return "".join(reversed(digits))


class SesameTokenDetector(RegexBasedDetector):
    """Scans for Sesame Tokens API token passwords (checksum verified)."""

    secret_type = "Sesame Tokens password"

    denylist = (
        re.compile(r"(?<![0-9A-Za-z_])(sesame_[0-9A-Za-z]{42})(?![0-9A-Za-z_])"),
    )

    def analyze_string(self, string: str):
        for candidate in super().analyze_string(string):
            start = len(PREFIX)
            random = candidate[start:start + RANDOM_CHARS]
            if checksum(random) == candidate[start + RANDOM_CHARS:]:
                yield candidate
