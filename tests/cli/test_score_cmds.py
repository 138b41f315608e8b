"""`pepr score`, `pepr compare`, `pepr paper` end to end through main()."""

from __future__ import annotations

import csv
import json
import time
from collections import defaultdict
from pathlib import Path

import pytest

from pepr_desktop.cli import main

PAPER_CSV = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "pepr_paper"
    / "all_results.csv"
)
RESOURCES = ("energy", "co2", "train_time", "memR")


@pytest.fixture
def paper_csv() -> Path:
    if not PAPER_CSV.is_file():
        pytest.skip(f"paper data not available: {PAPER_CSV}")
    return PAPER_CSV


def one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pepr {command}: error: ") and "\n" not in err, err
    assert "Traceback" not in err
    return err


def test_score_paper_table(paper_csv: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "scored.csv"
    args = [
        "score",
        str(paper_csv),
        "--performance",
        "test_09",
        "--group",
        "dataset",
        "-o",
        str(out),
    ]
    for r in RESOURCES:
        args += ["--resource", r]
    t0 = time.perf_counter()
    assert main(args) == 0
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"pepr score took {elapsed:.2f} s"
    assert "scored 1048 rows in 8 groups" in capsys.readouterr().err

    with paper_csv.open(newline="") as fh:
        src = list(csv.DictReader(fh))
    with out.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = reader.fieldnames
    assert header[: len(src[0])] == list(src[0])
    assert header[len(src[0]) :] == [c for r in RESOURCES for c in (f"{r}_n", f"pepr_{r}")]
    assert [(r["model"], r["dataset"]) for r in rows] == [(r["model"], r["dataset"]) for r in src]
    assert all(r[c] == s[c] for r, s in zip(rows, src, strict=True) for c in s)  # input untouched

    groups = defaultdict(list)
    for r in rows:
        groups[r["dataset"]].append(r)
    for res in RESOURCES:
        for r in rows:
            p, s = float(r["test_09"]), float(r[f"pepr_{res}"])
            assert p / 2 - 1e-12 <= s <= p + 1e-12
            assert 0.0 <= float(r[f"{res}_n"]) <= 1.0
        for g in groups.values():
            least = min(g, key=lambda r, res=res: float(r[res]))
            assert float(least[f"pepr_{res}"]) == float(least["test_09"])
            assert float(least[f"{res}_n"]) == 0.0

    by = {(r["model"], r["dataset"]): r for r in rows}
    # By hand from the CSV: pneumonia energy min 0.005593791909, max 0.163470332261
    r = by[("dla46_c", "pneumonia")]
    e_n = (0.008777283101 - 0.005593791909) / (0.163470332261 - 0.005593791909)
    assert float(r["energy_n"]) == pytest.approx(e_n, rel=1e-12)
    assert float(r["pepr_energy"]) == pytest.approx(0.953947368421053 / (1 + e_n), rel=1e-12)
    # derma: the longest-trained model halves its accuracy
    derma = groups["derma"]
    longest = max(derma, key=lambda r: float(r["train_time"]))
    assert float(longest["pepr_train_time"]) == pytest.approx(float(longest["test_09"]) / 2)


def test_score_json_with_missing_values(tmp_path: Path, capsys) -> None:
    src = tmp_path / "t.json"
    src.write_text(
        json.dumps(
            [
                {"model": "a", "acc": 0.9, "wh": 1.0},
                {"model": "b", "acc": 0.6, "wh": 3.0},
                {"model": "c", "acc": 0.5, "wh": None},
                {"model": "d", "acc": 0.7, "wh": 2.0},
            ]
        )
    )
    out = tmp_path / "o.json"
    assert (
        main(
            [
                "score",
                str(src),
                "--performance",
                "acc",
                "--resource",
                "wh",
                "--rank",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "excluded from pepr_wh: 1 row(s) (row 3: no value for 'wh')" in err
    rows = json.loads(out.read_text())
    assert [r["model"] for r in rows] == ["a", "b", "c", "d"]
    assert [r["wh_n"] for r in rows] == pytest.approx([0.0, 1.0, None, 0.5])
    assert rows[2]["pepr_wh"] is None  # never 0
    assert [r["pepr_wh"] for r in rows] == pytest.approx([0.9, 0.3, None, 0.7 / 1.5])
    assert [r["rank_wh"] for r in rows] == [1, 3, None, 2]
    assert [r["pareto_wh"] for r in rows] == [1, 0, None, 0]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (
            "m,acc,e\na,0.5,1\n",
            ["--performance", "accuracy", "--resource", "e"],
            "column 'accuracy' is not in the table",
        ),
        ("m,acc,e\na,0.5,1\n", ["--performance", "acc", "--resource", "energy"], "column 'energy'"),
        (
            "m,acc,e\na,0.5,abc\n",
            ["--performance", "acc", "--resource", "e"],
            "'abc' is not a number",
        ),
        ("m,acc,e\na,93.5,1\n", ["--performance", "acc", "--resource", "e"], "outside [0, 1]"),
        ("m,acc,e\n", ["--performance", "acc", "--resource", "e"], "has no rows"),
        ("", ["--performance", "acc", "--resource", "e"], "is empty"),
        ("m,acc,e\na,0.5\n", ["--performance", "acc", "--resource", "e"], "line 2 has 2 fields"),
    ],
)
def test_score_user_mistakes(
    tmp_path: Path, capsys, content: str, args: list[str], message: str
) -> None:
    src = tmp_path / "t.csv"
    src.write_text(content)
    assert main(["score", str(src), *args, "-o", str(tmp_path / "o.csv")]) == 2
    assert message in one_line_error(capsys, "score")


def test_score_missing_file(tmp_path: Path, capsys) -> None:
    assert main(["score", str(tmp_path / "no.csv"), "--performance", "a", "--resource", "b"]) == 2
    assert "does not exist" in one_line_error(capsys, "score")


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, list[int]]:
    from pepr_desktop.core.store import Store

    path = tmp_path / "runs.sqlite"
    ids = []
    with Store(path) as store:
        for ds, acc, joules, mem in (
            ("pneumoniamnist", 0.9, 3600.0, 100.0),
            ("pneumoniamnist", 0.8, 7200.0, 50.0),
            ("pneumoniamnist", 0.95, 10800.0, None),
            ("dermamnist", 0.7, 100.0, 10.0),
        ):
            rid = store.create_run(dataset=ds, model="resnet10t")
            store.update_run(
                rid, status="finished", test_acc=acc, energy_j=joules, co2_g=joules / 3600,
                train_time_s=joules / 360, peak_mem_mb=mem, epochs_done=2, epochs_planned=2,
            )  # fmt: skip
            ids.append(rid)
    return str(path), ids


def test_compare_table_json_and_plot(db, tmp_path: Path, capsys) -> None:
    path, ids = db
    a, b, c, _ = map(str, ids)
    assert main(["--db", path, "compare", a, b, c]) == 0
    out = capsys.readouterr().out
    assert "PePR-E" in out and "PePR-M" in out and "* on the Pareto front" in out
    assert f"run {c}: not scored for memory: no memory figure" in out

    png = tmp_path / "cmp.png"
    assert (
        main(
            ["--db", path, "compare", a, b, c, "--resource", "energy", "--json", "--plot", str(png)]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [v["name"] for v in data["variants"]] == ["PePR-E"]
    energy = [r["energy"] for r in data["runs"]]
    assert [e["PePR-E"] for e in energy] == pytest.approx([0.9, 0.8 / 1.5, 0.475])
    assert [e["value"] for e in energy] == pytest.approx([1.0, 2.0, 3.0])  # Wh
    assert [e["pareto"] for e in energy] == [True, False, True]
    assert [e["rank"] for e in energy] == [1, 2, 3]


def test_compare_user_mistakes(db, capsys) -> None:
    path, ids = db
    assert main(["--db", path, "compare", str(ids[0]), "999"]) == 2
    assert "no run with id 999" in one_line_error(capsys, "compare")
    assert main(["--db", path, "compare", str(ids[0]), str(ids[3])]) == 2
    assert "--allow-mixed" in one_line_error(capsys, "compare")
    assert main(["--db", path, "compare", str(ids[0]), str(ids[3]), "--allow-mixed"]) == 0
    assert "mixed datasets" in capsys.readouterr().out
    assert main(["--db", path, "compare", str(ids[0]), "--plot", "x.svg"]) == 2
    assert ".png" in one_line_error(capsys, "compare")


def test_paper(capsys) -> None:
    assert main(["paper", "--experiment", "pneumonia", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 131 and rows[0]["rank_E"] == 1 and rows[0]["model"] == "dla46_c"
    assert all(r["test_acc"] / 2 <= r["pepr_M"] <= r["test_acc"] for r in rows)
    assert main(["paper"]) == 0
    out = capsys.readouterr().out
    assert "pneumonia_small" in out and "NLDL 2025" in out
    assert main(["paper", "--experiment", "pneumonia", "--sort", "M", "--top", "3"]) == 0
    assert "ranked by PePR-M" in capsys.readouterr().out
    assert main(["paper", "--experiment", "mnist"]) == 2
    assert "unknown experiment 'mnist'" in one_line_error(capsys, "paper")
