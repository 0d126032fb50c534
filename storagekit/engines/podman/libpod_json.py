"""libpod's container configs decoded without decoding the same seccomp profile every time.

The facts: a ``ContainerConfig`` (:mod:`.libpod`) holds the container's whole OCI spec, and in
it ``spec.linux.seccomp`` is the seccomp profile podman applied: some 7 KB of about 400 syscall
names, 60 % of the document, written by Go's ``encoding/json`` as ``"seccomp":{...}`` (compact,
no space), and the same text in every container made with the same profile (podman's default
one, nearly always). No command shows it, yet ``json.loads`` spends 60 % of its time on it.

:meth:`ConfigDecoder.loads` returns exactly what ``json.loads`` returns, and raises exactly what
it raises; it only decodes each distinct profile text once:

1. ``T``, the text after the first ``"seccomp":``, is a JSON object that has been decoded by
   itself (a text seen before, or ``raw_decode`` from there now);
2. the document with ``T`` replaced by a string of a random per-process ``NONCE`` (which the
   document must not contain) is decoded, and must hold the nonce at ``spec.linux.seccomp``.

Why that is exact: the nonce occurs nowhere else, so the string token holding it is the one put
in for ``T``, and it is the (winning) value of ``spec.linux.seccomp``: ``T`` stands at a value
position, outside any string, at nesting depth 3. A JSON value can be replaced by any other
self-delimiting value at a value position without changing whether the document is valid or
what the rest decodes to, so the document is valid and decodes to the same thing with ``T``'s
value there, which is put back (one object shared by all configs that have that text: never
modified, nothing reads it). Anything else, including a document that is not UTF-8 JSON text as
``json.loads`` would decode it, is decoded by ``json.loads`` whole, with its own errors.
"""

from __future__ import annotations

import json
import os
from typing import Any

KEY = '"seccomp":'
NONCE = "storagekit-placeholder-" + os.urandom(16).hex()  # not secrets: it imports random
#: Distinct profile texts kept (with their decoded value) per process.
MAX_KNOWN = 16


class ConfigDecoder:
    """``json.loads`` for container configs, decoding each seccomp profile text once."""

    def __init__(self) -> None:
        self._known: dict[str, Any] = {}
        self._decoder = json.JSONDecoder()

    def loads(self, raw: bytes | str) -> Any:
        """``json.loads(raw)``: the same value, or the same exception.

        Raises:
            ValueError: not JSON (as ``json.loads``).
            RecursionError: nested too deep (as ``json.loads``).
        """
        try:
            doc = self._skipping(raw)
        except (ValueError, RecursionError):
            doc = None
        return json.loads(raw) if doc is None else doc

    def _skipping(self, raw: bytes | str) -> dict[str, Any] | None:
        """The document decoded with a known profile put back, or ``None`` (not applicable)."""
        if isinstance(raw, bytes):
            if json.detect_encoding(raw) != "utf-8":
                return None
            text = raw.decode("utf-8")  # strict: what json.loads decodes, when it succeeds
        else:
            text = raw
        at = text.find(KEY)
        if at < 0:
            return None
        start = at + len(KEY)
        known = next((t for t in self._known if text.startswith(t, start)), None)
        if known is None:
            if not text.startswith("{", start):
                return None
            value, end = self._decoder.raw_decode(text, start)
            known = text[start:end]
            if len(self._known) < MAX_KNOWN:
                self._known[known] = value
        else:
            value = self._known[known]
        if NONCE in text:
            return None
        doc = json.loads(f'{text[:start]}"{NONCE}"{text[start + len(known) :]}')
        if not isinstance(doc, dict):
            return None
        spec = doc.get("spec")
        linux = spec.get("linux") if isinstance(spec, dict) else None
        if not isinstance(linux, dict) or linux.get("seccomp") != NONCE:
            return None
        linux["seccomp"] = value
        return doc


#: The decoder libpod's container configs are read with (its profiles kept per process).
CONFIGS = ConfigDecoder()
