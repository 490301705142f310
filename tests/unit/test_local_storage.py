"""LocalFolderStore: photos round-trip, keys are unguessable, and no key can leave the folder."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.storage import LocalFolderStore, S3Store, build_storage
from bot.config import Settings

KEY = re.compile(r"[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9a-f]{32}\.(jpg|png|webp|gif|bin)")


def test_round_trip(tmp_path: Path) -> None:
    store = LocalFolderStore(str(tmp_path / "images"))
    data = b"\xff\xd8\xff\xe0 pretend jpeg \x00\x01"

    key = store.put(data, "image/jpeg")

    assert store.get(key) == data
    assert (tmp_path / "images" / key).read_bytes() == data


def test_folder_is_created_on_first_put_not_before(tmp_path: Path) -> None:
    root = tmp_path / "nested" / "images"
    store = LocalFolderStore(str(root))
    assert not root.exists()

    store.put(b"x", "image/png")

    assert root.is_dir()


def test_keys_are_dated_random_and_carry_the_extension(tmp_path: Path) -> None:
    store = LocalFolderStore(str(tmp_path))
    today = datetime.now(UTC).strftime("%Y/%m/%d")

    keys = [store.put(b"same bytes", ct) for ct in ("image/jpeg", "image/png", "image/webp", "image/gif")]
    keys += [store.put(b"same bytes", "image/jpeg") for _ in range(20)]

    assert len(set(keys)) == len(keys)
    assert all(KEY.fullmatch(k) for k in keys)
    assert [k.rsplit(".", 1)[1] for k in keys[:4]] == ["jpg", "png", "webp", "gif"]
    # the date is UTC today (allow the test to straddle midnight)
    assert {k[:10] for k in keys} <= {today, datetime.now(UTC).strftime("%Y/%m/%d")}


def test_unknown_content_type_gets_a_neutral_extension(tmp_path: Path) -> None:
    store = LocalFolderStore(str(tmp_path))

    key = store.put(b"?", "text/html")

    assert key.endswith(".bin")
    assert store.get(key) == b"?"


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    store = LocalFolderStore(str(tmp_path))

    key = store.put(b"data", "image/jpeg")

    assert [p.name for p in (tmp_path / key).parent.iterdir()] == [Path(key).name]


def test_unknown_key_is_a_key_error(tmp_path: Path) -> None:
    store = LocalFolderStore(str(tmp_path))

    with pytest.raises(KeyError):
        store.get("2026/11/21/" + "0" * 32 + ".jpg")


@pytest.mark.parametrize(
    "key",
    [
        "../secret.txt",
        "../../etc/passwd",
        "/etc/passwd",
        "2026/11/21/../../../../etc/passwd",
        "2026/11/21/" + "a" * 32 + ".jpg/../../x",
        "..\\..\\windows\\win.ini",
        "2026/11/21/" + "A" * 32 + ".jpg",  # hex is lower-case only
        "2026/11/21/" + "a" * 31 + ".jpg",
        "2026/11/21/" + "a" * 32 + ".exe",
        "2026/11/21/" + "a" * 32 + ".jpg\n",
        "prefix/2026/11/21/" + "a" * 32 + ".jpg",
        "٢٠٢٦/11/21/" + "a" * 32 + ".jpg",  # non-ASCII digits
        "",
    ],
)
def test_keys_outside_the_shape_are_rejected(tmp_path: Path, key: str) -> None:
    root = tmp_path / "images"
    store = LocalFolderStore(str(root))
    store.put(b"x", "image/jpeg")
    (tmp_path / "secret.txt").write_text("do not serve")

    with pytest.raises(KeyError):
        store.get(key)
    with pytest.raises(KeyError):
        store.url(key)


def test_non_string_key_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        LocalFolderStore(str(tmp_path)).get(None)  # type: ignore[arg-type]


def test_local_store_has_no_urls(tmp_path: Path) -> None:
    store = LocalFolderStore(str(tmp_path))
    key = store.put(b"x", "image/jpeg")

    assert store.url(key) is None


def test_build_storage_picks_the_local_folder_without_a_bucket(tmp_path: Path) -> None:
    store = build_storage(Settings(storage_dir=str(tmp_path)))

    assert isinstance(store, LocalFolderStore)
    assert store.get(store.put(b"abc", "image/png")) == b"abc"


def test_build_storage_picks_s3_with_a_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    # constructing the client does no network I/O
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    store = build_storage(Settings(s3_bucket="photos", s3_endpoint_url="http://127.0.0.1:9", s3_region="us-east-1"))

    assert isinstance(store, S3Store)
