from storagekit.ids import chain_id, chain_ids, is_digest, is_safe_component
from storagekit.timefmt import normalize

D1 = "sha256:87f80e8765085c2f35807bfa5dc6d4b8b72ecefda871be188b306018f08b679a"
D2 = "sha256:8906c10f9195e5598feca026705a3229fb2be03064c3b0ebc5561ed0e4555d2e"


def test_chain_id_vector_from_format_reference():
    assert chain_id(None, D1) == D1
    assert list(chain_ids([D1, D2])) == [
        D1,
        "sha256:4e6c29be423fdb6f65db62ae3bcf85e20a28a1a218ad7b3bd20f45bb08d6c808",
    ]


def test_safe_component():
    assert is_safe_component("a" * 64 + "-init")
    for bad in ("", ".", "..", "../..", "a/b", "x\0y", "x\ny", "a" * 256):
        assert not is_safe_component(bad)


def test_digest():
    assert is_digest(D1)
    assert not is_digest(D1.upper())
    assert not is_digest(D1[7:])


def test_timestamps():
    assert normalize("2026-11-28T01:07:40.757166685Z") == "2026-11-28T01:07:40.757166685Z"
    assert normalize("2026-11-28T02:07:40.5+01:00") == "2026-11-28T01:07:40.5Z"
    assert normalize("2026-11-28T00:30:00-01:00") == "2026-11-28T01:30:00Z"
    assert normalize("0001-01-01T00:00:00Z") is None
    assert normalize(None) is None
    assert normalize("yesterday") is None
