"""JSON listings are written as ``click.echo`` writes them, in pieces: the same bytes."""

from __future__ import annotations

import io
import sys

import click
import pytest

from storagekit.cli import common

TEXT = '[{"name":"caf\u00e9","path":"/a/\u20ac"},' + ",".join(['"x"'] * 300) + "]"


def _written(monkeypatch: pytest.MonkeyPatch, encoding: str, write: object) -> bytes:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding=encoding, newline="\n")
    monkeypatch.setattr(sys, "stdout", stream)
    write()  # type: ignore[operator]
    stream.flush()
    return raw.getvalue()


@pytest.mark.parametrize("chunk", [1, 7, 1 << 18])
def test_the_same_bytes_as_click_echo(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(common, "JSON_CHUNK", chunk)
    for encoding in ("utf-8", "ascii"):  # ascii: a stream click rewraps as UTF-8
        echoed = _written(monkeypatch, encoding, lambda: click.echo(TEXT))
        assert _written(monkeypatch, encoding, lambda: common.echo_json(TEXT)) == echoed
    assert echoed == (TEXT + "\n").encode("utf-8")


def test_no_standard_output_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    common.echo_json(TEXT)  # as click.echo: nothing, no error
