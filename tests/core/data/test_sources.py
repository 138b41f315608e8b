"""Dataset reading, validation, import and MedMNIST download errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pepr_desktop.core.data import registry as datasets
from pepr_desktop.core.data import sources as data
from pepr_desktop.core.errors import DataError


def make_npz(path: Path, **overrides: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 20), ("val", 6), ("test", 6)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 8, 8), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).astype(np.uint8)[:, None]
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_real_pneumonia_file_reads_with_expected_counts(pneumonia_npz: Path) -> None:
    a = data.read_npz(pneumonia_npz)
    assert a.sizes() == {"train": 3882, "val": 524, "test": 624}
    assert a.class_counts()["train"] == [388, 3494]
    assert a.channels == 1 and a.image_size == (28, 28) and a.task == "binary-class"


def test_import_real_file_registers_it(pneumonia_npz: Path, store) -> None:
    info = datasets.import_dataset(
        pneumonia_npz, "pneu", store, class_names=["normal", "pneumonia"]
    )
    assert info.split_sizes == {"train": 3882, "val": 524, "test": 624}
    assert info.path.is_file() and info.path.parent.parent == store.data_dir
    again = datasets.resolve("pneu", store)
    assert again.content_hash == info.content_hash and len(info.content_hash) == 64
    assert again.class_names == ["normal", "pneumonia"]
    with pytest.raises(DataError, match="already imported"):
        datasets.import_dataset(pneumonia_npz, "pneu", store)


BAD_FILES = {
    "missing key": (dict(val_labels=None), "lacks val_labels"),
    "float images": (
        dict(train_images=np.zeros((20, 8, 8), dtype=np.float32)),
        "must be uint8",
    ),
    "zero images": (
        dict(test_images=np.zeros((0, 8, 8), np.uint8), test_labels=np.zeros((0, 1), np.uint8)),
        "0 images",
    ),
    "label out of range": (
        dict(val_labels=np.full((6, 1), 7, np.uint8)),
        "only 2 classes",
    ),
    "length mismatch": (dict(train_labels=np.zeros((19, 1), np.uint8)), "19 labels for 20"),
    "one class": (
        dict(
            train_labels=np.zeros((20, 1), np.uint8),
            val_labels=np.zeros((6, 1), np.uint8),
            test_labels=np.zeros((6, 1), np.uint8),
        ),
        "only one class",
    ),
    "shape mismatch": (dict(val_images=np.zeros((6, 9, 9), np.uint8)), "shapes differ"),
    "float labels": (dict(train_labels=np.full((20, 1), 0.5)), "labels must be integers"),
    "negative labels": (dict(train_labels=np.full((20, 1), -1, np.int64)), "negative"),
    "multi-label": (dict(train_labels=np.zeros((20, 3), np.uint8)), "multi-label"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_npz_is_refused_with_one_line(case: str, tmp_path: Path, store) -> None:
    overrides, expected = BAD_FILES[case]
    path = make_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(DataError, match=expected) as err:
        datasets.import_dataset(path, "bad", store)
    assert "\n" not in str(err.value)
    assert store.datasets() == []  # nothing registered, nothing half-written
    assert not (store.data_dir / "datasets" / "bad.npz").exists()


def test_truncated_and_non_npz_files(tmp_path: Path, store) -> None:
    good = make_npz(tmp_path / "good.npz")
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[:300])
    with pytest.raises(DataError, match="not a readable .npz"):
        datasets.import_dataset(trunc, "t", store)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(DataError, match="not a readable .npz"):
        datasets.import_dataset(text, "t", store)
    with pytest.raises(DataError, match="no such file"):
        datasets.import_dataset(tmp_path / "absent.npz", "t", store)
    with pytest.raises(DataError, match="not allowed"):
        datasets.import_dataset(good, "bad name!", store)


def _write_folder(root: Path, per_class: dict[str, int], size: int = 12) -> Path:
    from PIL import Image

    rng = np.random.default_rng(1)
    for cls, n in per_class.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(
                root / cls / f"{i}.png"
            )
    return root


def test_image_folder_is_split_stratified_and_seeded(tmp_path: Path, store) -> None:
    folder = _write_folder(tmp_path / "imgs", {"cats": 20, "dogs": 40})
    a = data.read_image_folder(folder, seed=3)
    b = data.read_image_folder(folder, seed=3)
    assert a.class_names == ["cats", "dogs"]
    assert sum(a.sizes().values()) == 60
    for s in data.SPLITS:
        counts = a.class_counts()[s]
        assert counts[1] == pytest.approx(2 * counts[0], abs=1)  # the 1:2 mix kept per split
        assert np.array_equal(a.images[s], b.images[s])
    info = datasets.import_dataset(folder, "pets", store)
    assert info.n_classes == 2 and info.image_size == 12


def test_image_folder_errors(tmp_path: Path, store) -> None:
    folder = _write_folder(tmp_path / "imgs", {"a": 5, "b": 5})
    (folder / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png is not a readable image"):
        datasets.import_dataset(folder, "x", store)
    one = _write_folder(tmp_path / "one", {"only": 5})
    with pytest.raises(DataError, match="at least two"):
        datasets.import_dataset(one, "x", store)


def test_stratified_subset_keeps_each_class() -> None:
    labels = np.array([0] * 10 + [1] * 90)
    idx = data.stratified_subset(labels, 0.1, seed=0)
    assert np.bincount(labels[idx]).tolist() == [1, 9]
    with pytest.raises(DataError):
        data.stratified_subset(labels, 0.0, seed=0)


def test_medmnist_offline_names_file_and_suggests_import(tmp_path: Path, monkeypatch) -> None:
    import torchvision.datasets.utils as tvu

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(tvu, "download_url", offline)
    with pytest.raises(DataError) as err:
        data.fetch_medmnist("dermamnist", 64, tmp_path)
    msg = str(err.value)
    assert "dermamnist_64.npz" in msg and "pepr import-data" in msg
    assert not (tmp_path / "dermamnist_64.npz").exists()


def test_medmnist_md5_mismatch_is_explained(pneumonia_npz: Path, tmp_path: Path) -> None:
    (tmp_path / "pneumoniamnist.npz").write_bytes(pneumonia_npz.read_bytes())
    with pytest.raises(DataError, match="does not match MedMNIST's MD5.*import-data"):
        data.fetch_medmnist("pneumoniamnist", 28, tmp_path)


def test_medmnist_names_resolve(store) -> None:
    info = datasets.resolve("dermamnist_64", store)
    assert (info.n_classes, info.channels, info.image_size) == (7, 3, 64)
    with pytest.raises(DataError, match="Did you mean: dermamnist"):
        datasets.resolve("dermamnst", store)
    with pytest.raises(DataError, match="no size 100"):
        datasets.resolve("dermamnist_100", store)


def test_bundled_sample_is_small_and_valid() -> None:
    path = data.bundled_sample_path()
    assert path.stat().st_size <= 1_000_000
    a = data.read_npz(path)
    assert min(a.sizes().values()) > 100 and a.n_classes == 2


# --------------------------------------------------------------------------- reliability pass


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG that declares w x h grey pixels and holds almost no data (an image bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def _save_16bit(path: Path, values: np.ndarray) -> None:
    from PIL import Image

    im = Image.fromarray(values.astype(np.uint16))
    assert im.mode == "I;16"
    im.save(path)


def test_16bit_folder_keeps_its_content_scaled_by_bit_depth(tmp_path: Path) -> None:
    """Bug 1: 16-bit PNGs (I;16) came out all 255, both classes identical."""
    rng = np.random.default_rng(0)
    raw_max = 0
    for cls, level in (("dark", 600), ("bright", 3000)):  # 12-bit data in 16-bit files
        (tmp_path / "f" / cls).mkdir(parents=True)
        for i in range(6):
            values = level + rng.integers(0, 900, (8, 8))
            raw_max = max(raw_max, int(values.max()))
            _save_16bit(tmp_path / "f" / cls / f"{i}.png", values)
    a = data.read_image_folder(tmp_path / "f")
    x = np.concatenate([a.images[s] for s in data.SPLITS])
    y = np.concatenate([a.labels[s] for s in data.SPLITS])
    dark, bright = x[y == a.class_names.index("dark")], x[y == a.class_names.index("bright")]
    assert (x < 255).mean() > 0.9  # not saturated
    assert dark.mean() < bright.mean() - 50  # the classes stay apart
    assert len(np.unique(x)) > 50  # and keep their texture
    # 12 significant bits (max < 4096): a plain shift by 4, the same for every image
    assert raw_max < 4096 and bright.max() == raw_max >> 4


def test_16bit_full_range_is_shifted_by_8(tmp_path: Path) -> None:
    for cls, value in (("a", 0x1234), ("b", 0xFFFF)):
        (tmp_path / "f" / cls).mkdir(parents=True)
        for i in range(3):
            _save_16bit(tmp_path / "f" / cls / f"{i}.png", np.full((4, 4), value))
    a = data.read_image_folder(tmp_path / "f")
    x = np.concatenate([a.images[s] for s in data.SPLITS])
    assert sorted(np.unique(x).tolist()) == [0x12, 0xFF]


@pytest.mark.parametrize("side", [20000, 10000], ids=["bomb_error", "bomb_warning"])
def test_image_bomb_in_folder_is_refused(side: int, tmp_path: Path, store) -> None:
    """Bug 2: PIL's DecompressionBombError escaped; its Warning let a bomb be decoded."""
    folder = _write_folder(tmp_path / "f", {"a": 3, "b": 3})
    (folder / "b" / "bomb.png").write_bytes(_png_header_only(side, side))
    with pytest.raises(DataError, match="bomb.png.*image bomb") as err:
        datasets.import_dataset(folder, "x", store)
    assert "\n" not in str(err.value)
    assert store.datasets() == []


def test_non_utf8_file_names_import_and_class_names_are_refused(
    tmp_path: Path, store, capsys
) -> None:
    """Bug 3: non-UTF-8 bytes in a path gave UnicodeEncodeError tracebacks."""
    import os

    from PIL import Image

    from pepr_desktop.cli import main

    root = Path(os.fsdecode(str(tmp_path).encode() + b"/dir\xff"))
    folder = _write_folder(root, {"a": 3, "b": 3})
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(folder / "a" / os.fsdecode(b"\xfe.png"))
    code = main(["--db", str(tmp_path / "p.sqlite"), "import-data", str(folder), "--name", "u"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "imported 'u'" in out.out
    (folder / os.fsdecode(b"c\xff")).mkdir()
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(folder / os.fsdecode(b"c\xff") / "0.png")
    code = main(["--db", str(tmp_path / "p.sqlite"), "import-data", str(folder), "--name", "v"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "not valid UTF-8" in err and "Traceback" not in err
    err.encode("utf-8")  # printable as it is


def _npz_with_header(path: Path, key: str, shape: tuple[int, ...]) -> Path:
    """A .npz whose member `key` has a .npy header claiming `shape` but holds a few bytes."""
    import io
    import zipfile

    make_npz(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    members[f"{key}.npy"] = buf.getvalue() + b"\0" * 64
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return path


@pytest.mark.timeout(20)
def test_npz_header_with_impossible_shape_is_refused(tmp_path: Path, store) -> None:
    """Bug 4: a header claiming (10**12, 28, 28) made numpy try to allocate it."""
    path = _npz_with_header(tmp_path / "big.npz", "train_images", (10**12, 28, 28))
    with pytest.raises(DataError, match="train_images claims shape") as err:
        datasets.import_dataset(path, "big", store)
    assert "\n" not in str(err.value)


def test_npz_larger_than_free_memory_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(data, "_available_memory", lambda: 1000)
    with pytest.raises(DataError, match="memory"):
        data.read_npz(make_npz(tmp_path / "a.npz"))


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "labels",
    [
        np.array([0, 1] * 9 + [2**31, 1], np.int64),
        np.array([0, 1] * 9 + [2**63 + 5, 1], np.uint64),
        np.array([0, 1] * 9 + [1e300, 1]),
    ],
    ids=["int64_2_31", "uint64_wraps", "float_1e300"],
)
def test_label_far_outside_the_classes_is_refused_without_allocating(
    labels: np.ndarray, tmp_path: Path, store
) -> None:
    """Bug 5: labels up to 2**31 built 2**31 class names (memory exhaustion)."""
    path = make_npz(tmp_path / "l.npz", train_labels=labels[:, None])
    with pytest.raises(DataError, match=r"0\.\.K-1") as err:
        datasets.import_dataset(path, "l", store)
    assert "\n" not in str(err.value)
    assert store.datasets() == []


@pytest.mark.timeout(10)
def test_fifo_among_images_is_skipped_not_waited_on(tmp_path: Path, store) -> None:
    """Bug 6: a FIFO named x.png blocked the import forever in open()."""
    import os

    folder = _write_folder(tmp_path / "f", {"a": 4, "b": 4})
    os.mkfifo(folder / "a" / "x.png")
    info = datasets.import_dataset(folder, "fifo", store)
    assert sum(info.split_sizes.values()) == 8


def test_sparse_labels_are_refused_naming_the_values(tmp_path: Path, store) -> None:
    """Bug 7: one stray 255 among 0/1 labels made 256 classes. Refused (not remapped)."""
    labels = np.array([0, 1] * 9 + [255, 1], np.uint8)[:, None]
    path = make_npz(tmp_path / "s.npz", train_labels=labels)
    with pytest.raises(DataError, match=r"0, 1, 255.*0\.\.K-1"):
        datasets.import_dataset(path, "s", store)
    assert store.datasets() == []


@pytest.mark.parametrize("name", ["mine\n", "mine\r\n", "\nmine", "mi\nne"])
def test_dataset_name_with_newline_is_refused(name: str, tmp_path: Path, store) -> None:
    """Bug 8: NAME_RE.match with `$` accepted a name ending in a newline."""
    with pytest.raises(DataError, match="not allowed") as err:
        datasets.import_dataset(make_npz(tmp_path / "a.npz"), name, store)
    assert "\\n" in str(err.value)  # shown escaped, so the user sees why
    assert store.datasets() == []


def test_duplicate_class_names_are_refused(tmp_path: Path, store) -> None:
    """Bug 9: --classes a,a registered two classes called 'a'."""
    with pytest.raises(DataError, match="repeat.*'a'"):
        datasets.import_dataset(make_npz(tmp_path / "a.npz"), "d", store, class_names=["a", "a"])
    assert store.datasets() == []


@pytest.mark.parametrize(
    "content", [np.random.default_rng(1).bytes(4096), b"hello" * 50, b"\x80\x04K\x01."]
)
def test_random_bytes_npz_gives_no_advice_to_unpickle(
    content: bytes, tmp_path: Path, store
) -> None:
    """Bug 10: numpy's 'load it unsafely using allow_pickle' text was passed on to the user."""
    path = tmp_path / "r.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a readable .npz") as err:
        datasets.import_dataset(path, "r", store)
    msg = str(err.value).lower()
    assert "pickle" not in msg and "unsafe" not in msg


RACER = """
import sys, time
from pathlib import Path
from pepr_desktop.cli import main
db, src, go, me = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
for name in sys.argv[5:]:  # both processes start each import together
    Path(f"{go}.{name}.{me}").touch()
    deadline = time.monotonic() + 3  # (the other one may have died)
    while not all(Path(f"{go}.{name}.{i}").exists() for i in "01"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.001)
    extra = ["--overwrite"] if name.endswith("o") else []
    code = main(["--db", db, "import-data", src, "--name", name, *extra])
    print("RESULT", name, code, flush=True)
"""


@pytest.mark.timeout(60)
def test_concurrent_imports_to_one_name_agree_with_the_file(tmp_path: Path) -> None:
    """Bug 11: two imports to one name shared `name.npz.part`: tracebacks, and a row saying 2
    classes over a file holding 3. Each name below is raced by two processes (2 vs 3 classes)."""
    import subprocess
    import sys

    from pepr_desktop.core.store import Store

    db = tmp_path / "p.sqlite"
    Store(db).close()
    two = make_npz(tmp_path / "two.npz")
    three = make_npz(
        tmp_path / "three.npz",
        **{f"{s}_labels": (np.arange(n) % 3).astype(np.uint8)[:, None]
           for s, n in (("train", 20), ("val", 6), ("test", 6))},
    )  # fmt: skip
    names = [f"race{i}" for i in range(2)] + [f"race{i}o" for i in range(2)]
    sync = tmp_path / "sync" / "ready"
    sync.parent.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(db), str(src), str(sync), me, *names],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, src in (("0", two), ("1", three))
    ]
    try:
        results = [p.communicate(timeout=40) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    codes: dict[str, list[int]] = {n: [] for n in names}
    for (out, err), p in zip(results, procs):
        assert p.returncode == 0 and "Traceback" not in err, err
        for line in err.strip().splitlines():
            assert "already imported" in line, err
        for line in out.splitlines():
            if line.startswith("RESULT "):
                _, name, code = line.split()
                codes[name].append(int(code))
    for name, got in codes.items():
        if name.endswith("o"):
            assert got == [0, 0], (name, got)
        else:  # one wins, the other is told the name is taken
            assert sorted(got) == [0, 2], (name, got)
    with Store(db) as store:
        rows = {r["name"]: r for r in store.datasets()}
        files_dir = store.data_dir / "datasets"
    assert sorted(rows) == sorted(names)
    for row in rows.values():
        arrays = data.read_npz(row["path"], row["class_names"])
        assert len(np.unique(arrays.labels["train"])) == row["n_classes"] == len(arrays.class_names)
        assert data.content_hash(arrays) == row["content_hash"]
    # nothing left over: no temporary files, no file that no row points to
    assert sorted(p.name for p in files_dir.iterdir()) == sorted(
        Path(r["path"]).name for r in rows.values()
    )


def test_disk_full_during_import_removes_the_partial_file(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """Bug 12: ENOSPC while writing gave 3 tracebacks and left a 2 MB .part file behind."""
    import errno
    import hashlib
    import sqlite3

    from pepr_desktop.cli import main

    db = tmp_path / "p.sqlite"
    src = make_npz(tmp_path / "a.npz")
    assert main(["--db", str(db), "import-data", str(src), "--name", "first"]) == 0
    capsys.readouterr()
    files_dir = db.parent / (db.stem + "_files")

    def state() -> tuple[str, list[tuple[str, str]]]:
        conn = sqlite3.connect(db)
        dump = "\n".join(conn.iterdump())
        conn.close()
        files = sorted(
            (str(p.relative_to(files_dir)), hashlib.sha256(p.read_bytes()).hexdigest())
            for p in files_dir.rglob("*")
            if p.is_file()
        )
        return dump, files

    before = state()

    def full(file, *args, **kwargs):
        file.write(b"\0" * 200_000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    code = main(["--db", str(db), "import-data", str(src), "--name", "second"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "disk is full" in err and "free some space" in err
    assert state() == before  # no .part file, no row


def test_an_import_killed_while_writing_leaves_no_temporary_file_for_long(tmp_path: Path) -> None:
    """A SIGKILL while writing leaves `.import-PID-*.npz.part` (as large as the dataset): the next
    import into the folder removes it; a running import's file is left alone."""
    import os
    import subprocess
    import sys

    from pepr_desktop.core.data.sources import ArraySet, write_npz_temp

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".import-{dead.pid}-00ff00ff00ff00ff.npz.part"
    running = tmp_path / f".import-{os.getpid()}-11aa11aa11aa11aa.npz.part"
    foreign = tmp_path / ".import-notes.npz.part"  # not a name this app writes
    for f in (stale, running, foreign):
        f.write_bytes(b"x" * 1000)
    x = {s: np.zeros((2, 4, 4), np.uint8) for s in ("train", "val", "test")}
    y = {s: np.array([0, 1], np.int64) for s in ("train", "val", "test")}
    tmp = write_npz_temp(ArraySet(x, y, ["a", "b"], "binary-class"), tmp_path)
    assert not stale.exists()
    assert running.exists() and foreign.exists() and tmp.exists()
    assert f"-{os.getpid()}-" in tmp.name
