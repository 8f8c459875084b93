"""An alert's identity: the same label set is the same alert, across rounds and restarts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping


def fingerprint(labels: Mapping[str, str]) -> str:
    """sha256 hex of the sorted (name, value) pairs; label order never matters.

    JSON-encoding the pairs keeps `{"a": "b,c"}` and `{"a": "b", "c": ""}` apart, which a
    naive "a=b,c=" join would not.
    """
    pairs = sorted((str(k), str(v)) for k, v in labels.items())
    encoded = json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()
