"""Reading small metadata artefacts with damage turned into findings.

Docker writes its small metadata files (``cache-id``, ``diff``, ``parent``, ``size``,
``mount-id``, ...) without a trailing newline but trims whitespace when reading them; so do we.
Every read is bounded, so a hostile multi-gigabyte "ID file" costs nothing.
"""

from __future__ import annotations

import json
from typing import Any

from storagekit.errors import SourceError, SourceNotFoundError
from storagekit.model import Findings
from storagekit.source import Source

SMALL_LIMIT = 1 << 16
JSON_LIMIT = 64 << 20


def read_small(
    source: Source,
    path: str,
    findings: Findings,
    *,
    what: str,
    required: bool = True,
    code: str = "missing-file",
) -> str | None:
    """Read a small text file, stripped; ``None`` (and a finding) when missing or unreadable.

    Args:
        source: the Docker root.
        path: the file inside the root.
        findings: where problems are recorded.
        what: a few words for messages (``"layer cache-id"``).
        required: whether absence is a finding.
        code: the finding code for absence.
    """
    try:
        raw = source.read_bytes(path, SMALL_LIMIT + 1)
    except SourceNotFoundError:
        if required:
            findings.error(code, path, f"{what} file is missing")
        return None
    except SourceError as exc:
        findings.error("unreadable-file", path, f"{what} file cannot be read: {exc}")
        return None
    if len(raw) > SMALL_LIMIT:
        findings.error("oversized-file", path, f"{what} file is larger than {SMALL_LIMIT} bytes")
        return None
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        findings.error("bad-encoding", path, f"{what} file is not UTF-8 text")
        return None


def read_json(
    source: Source, path: str, findings: Findings, *, what: str, required: bool = True
) -> Any:
    """Read and parse a JSON file; ``None`` (and a finding) when missing, truncated or invalid."""
    try:
        raw = source.read_bytes(path, JSON_LIMIT + 1)
    except SourceNotFoundError:
        if required:
            findings.error("missing-file", path, f"{what} is missing")
        return None
    except SourceError as exc:
        findings.error("unreadable-file", path, f"{what} cannot be read: {exc}")
        return None
    if len(raw) > JSON_LIMIT:
        findings.error("oversized-file", path, f"{what} is larger than {JSON_LIMIT} bytes")
        return None
    return parse_json(raw, path, findings, what=what)


def parse_json(raw: bytes, path: str, findings: Findings, *, what: str) -> Any:
    """Parse JSON bytes; ``None`` and a finding that says whether it looks truncated."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        findings.error("bad-json", path, f"{what} is not UTF-8 JSON")
    except json.JSONDecodeError as exc:
        body = raw.rstrip()
        truncated = (
            exc.pos >= len(body) - 1
            or exc.msg.startswith("Unterminated")
            or body.count(b"{") > body.count(b"}")
            or body.count(b"[") > body.count(b"]")
        )
        kind = "truncated" if truncated else "invalid"
        findings.error("bad-json", path, f"{what} is {kind} JSON ({exc.msg} at byte {exc.pos})")
    except RecursionError:
        findings.error("bad-json", path, f"{what} nests too deeply to parse")
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (damage is reported by the caller)."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any, default: str = "") -> str:
    """``value`` if it is a string, else ``default``."""
    return value if isinstance(value, str) else default


def as_int(value: Any, default: int = 0) -> int:
    """``value`` if it is an integer (not a bool), else ``default``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default
