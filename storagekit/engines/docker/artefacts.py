"""Reading small metadata artefacts with damage turned into findings.

Docker writes its small metadata files (``cache-id``, ``diff``, ``parent``, ``size``,
``mount-id``, ...) without a trailing newline but trims whitespace when reading them; so do we.
Every read is bounded, so a hostile multi-gigabyte "ID file" costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection
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
    return decode_small(raw, path, findings, what=what)


def decode_small(raw: bytes, path: str, findings: Findings, *, what: str) -> str | None:
    """The stripped text of a small file read with a limit of ``SMALL_LIMIT + 1`` bytes."""
    if len(raw) > SMALL_LIMIT:
        findings.error("oversized-file", path, f"{what} file is larger than {SMALL_LIMIT} bytes")
        return None
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        findings.error("bad-encoding", path, f"{what} file is not UTF-8 text")
        return None


class MetadataDir:
    """The small files of one metadata directory, read in one scan (``layerdb/sha256/<id>``).

    Absent, irregular, oversized or non-UTF-8 files become findings when asked for.
    """

    def __init__(
        self,
        source: Source,
        path: str,
        names: Collection[str],
        findings: Findings,
        limit: int = SMALL_LIMIT,
    ) -> None:
        self.path = path
        self.findings = findings
        self.limit = limit
        self.contents, self.present = source.read_small_files(path, names, limit + 1)

    def has(self, name: str) -> bool:
        """True if an entry ``name`` exists in the directory."""
        return name in self.present

    def text(
        self, name: str, *, what: str, required: bool = True, code: str = "missing-file"
    ) -> str | None:
        """The stripped text of file ``name``; ``None`` (and a finding) if it is unusable."""
        path = f"{self.path}/{name}"
        raw = self.contents.get(name)
        if raw is not None:
            return decode_small(raw, path, self.findings, what=f"{what} file")
        self._absent(name, f"{what} file", required, code)
        return None

    def json(self, name: str, *, what: str, required: bool = True) -> Any:
        """File ``name`` parsed as JSON; ``None`` (and a finding) if missing or invalid."""
        path = f"{self.path}/{name}"
        raw = self.contents.get(name)
        if raw is None:
            self._absent(name, what, required, "missing-file")
            return None
        if len(raw) > self.limit:
            self.findings.error("oversized-file", path, f"{what} is larger than {self.limit} bytes")
            return None
        return parse_json(raw, path, self.findings, what=what)

    def _absent(self, name: str, what: str, required: bool, code: str) -> None:
        path = f"{self.path}/{name}"
        if name in self.present:
            self.findings.error("unreadable-file", path, f"{what} is not a regular file")
        elif required:
            self.findings.error(code, path, f"{what} is missing")


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
    except ValueError as exc:
        # Not a syntax error: a number Python refuses to convert (an integer of more than
        # 4,300 digits, ``sys.get_int_max_str_digits``), which Docker could not read either.
        findings.error("bad-json", path, f"{what} is invalid JSON ({exc})")
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
