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
2. the document with ``T`` replaced by the constant ``NaN`` is decoded with a ``parse_constant``
   that counts the constants it meets: there must be exactly one, and it must be the value of
   ``spec.linux.seccomp``.

Why that is exact. In a valid document the ``"`` before ``:`` in ``"seccomp":`` is unescaped
(it follows ``p``), so it closes a string (were it to open one, ``seccomp`` would stand outside
any string: no JSON), and a string followed by ``:`` is an object key: ``T`` (and ``NaN`` in its
place) stands at a value position, and the text before it reads the same in both documents. A
JSON value can be replaced by any other self-delimiting value at a value position without
changing whether the document is valid or what the rest decodes to. So when the edited document
decodes, the ``NaN`` put in is parsed as a constant; if it is the only constant (no ``NaN`` or
``Infinity`` of the document's own, which ``json.loads`` would make floats) and it is the
(winning) value of ``spec.linux.seccomp``, the original decodes to the same thing with ``T``'s
value there, which is put back (one object shared by all configs that have that text: never
modified, nothing reads it). Anything else, including a document that is not UTF-8 JSON text as
``json.loads`` would decode it, is decoded by ``json.loads`` whole, with its own errors.

Bytes are searched and cut as bytes, and only the text around ``T`` is decoded: ``T`` begins
with ``{`` and ends with ``}``, and the byte before it is ``:``, all ASCII, so the whole decodes
(strictly) exactly when the text before ``T``, ``T`` and the text after it do, to the three put
together; ``T``'s bytes equal a known text's bytes only if its text is that text. A strict
decoding that succeeds is also what ``json.loads``' ``surrogatepass`` decoding gives.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

KEY = '"seccomp":'
BKEY = KEY.encode()
#: A per-process random string no evidence holds (:mod:`.records` marks a place in its JSON
#: with it).
NONCE = "storagekit-placeholder-" + os.urandom(16).hex()  # not secrets: it imports random
#: Distinct profile texts kept (with their decoded value) per process, and per type of text.
MAX_KNOWN = 16


class _Placeholder:
    """What the constant put in for a profile decodes to (no JSON value is this object)."""

    __slots__ = ()


PLACEHOLDER = _Placeholder()


class ConfigDecoder:
    """``json.loads`` for container configs, decoding each seccomp profile text once."""

    def __init__(self) -> None:
        self._known: dict[str, Any] = {}  # profile text -> its value
        self._known_bytes: dict[bytes, Any] = {}  # the same, for documents given as bytes
        self._decoder = json.JSONDecoder()
        self._constants = 0
        self._counting = json.JSONDecoder(parse_constant=self._constant)

    def _constant(self, name: str) -> object:  # noqa: ARG002 - any constant is counted
        self._constants += 1
        return PLACEHOLDER

    def loads(self, raw: bytes | str) -> Any:
        """``json.loads(raw)``: the same value, or the same exception.

        Raises:
            ValueError: not JSON (as ``json.loads``).
            RecursionError: nested too deep (as ``json.loads``).
        """
        try:
            doc = self._skipping(raw)
        except (ValueError, RecursionError):  # also UnicodeDecodeError: decoded whole then
            doc = None
        return json.loads(raw) if doc is None else doc

    def _skipping(self, raw: bytes | str) -> dict[str, Any] | None:
        """The document decoded with a known profile put back, or ``None`` (not applicable)."""
        if isinstance(raw, bytes):
            if json.detect_encoding(raw) != "utf-8":
                return None
            cut = self._cut(raw, BKEY, self._known_bytes, _utf8, _encoded)
        else:
            cut = self._cut(raw, KEY, self._known, str, str)
        if cut is None:
            return None
        before, value, after = cut
        self._constants = 0
        doc = self._counting.decode(f"{before}NaN{after}")
        if not isinstance(doc, dict) or self._constants != 1:
            return None
        spec = doc.get("spec")
        linux = spec.get("linux") if isinstance(spec, dict) else None
        if not isinstance(linux, dict) or linux.get("seccomp") is not PLACEHOLDER:
            return None
        linux["seccomp"] = value
        return doc

    def _cut(
        self,
        raw: Any,
        key: Any,
        known: dict[Any, Any],
        text: Callable[[Any], str],
        back: Callable[[str], Any],
    ) -> tuple[str, Any, str] | None:
        """(the text before the profile, its value, the text after it), or ``None``.

        ``raw`` is bytes (``key`` and ``known`` then bytes too, ``text`` decodes them strictly
        and ``back`` encodes) or text (``str`` both ways): bytes are searched and cut as bytes.
        """
        at = raw.find(key)
        if at < 0:
            return None
        start = at + len(key)
        profile = next((t for t in known if raw.startswith(t, start)), None)
        if profile is None:
            found = self._profile(text(raw[start:]))
            if found is None:
                return None
            profile, value = back(found[0]), found[1]
            if len(known) < MAX_KNOWN:
                known[profile] = value
        else:
            value = known[profile]
        # strict decoding: see the module's last paragraph
        return text(raw[:start]), value, text(raw[start + len(profile) :])

    def _profile(self, text: str) -> tuple[str, Any] | None:
        """The object at the start of ``text`` and its value, ``None`` if none starts there.

        Raises:
            ValueError: it is not valid JSON (as ``raw_decode``).
            RecursionError: nested too deep.
        """
        if not text.startswith("{"):
            return None
        value, end = self._decoder.raw_decode(text)
        return text[:end], value


def _utf8(raw: bytes) -> str:
    return raw.decode("utf-8")


def _encoded(text: str) -> bytes:
    return text.encode("utf-8")


#: The decoder libpod's container configs are read with (its profiles kept per process).
CONFIGS = ConfigDecoder()
