"""`pepr auto`: user mistakes exit 2 with one line; a tiny real search prints one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pepr_desktop.cli import main
from tests.conftest import TINY_MODEL, write_npz


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["auto", "--data", "sample"], "needs a budget"),
        (["auto", "--data", "nope", "--time-min", "1"], "unknown dataset 'nope'"),
        (["auto", "--data", "sample", "--energy-wh", "1", "--no-meter"], "energy metering"),
        (["auto", "--data", "sample", "--time-min", "0"], "must be > 0"),
        (["auto", "--data", "sample", "--time-min", "1", "--metric", "f1"], "invalid choice"),
        (["auto", "--data", "sample", "--time-min", "1", "--backend", "spark"], "invalid choice"),
    ],
)
def test_mistakes_exit_2_with_one_line(argv, words, tmp_path: Path, capsys) -> None:
    try:
        code = main(["--db", str(tmp_path / "p.sqlite"), *argv])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and words in err, err


def test_a_tiny_search_end_to_end(tmp_path: Path, capsys) -> None:
    import timm  # noqa: F401  (imported before the clock starts: its ~3-20 s are not the search)

    db = str(tmp_path / "p.sqlite")
    data = write_npz(tmp_path / "tiny.npz", (64, 32, 32), 28)
    assert main(["--db", db, "import-data", str(data), "--name", "tiny"]) == 0
    capsys.readouterr()
    code = main(
        [
            "--db",
            db,
            "auto",
            "--data",
            "tiny",
            "--time-min",
            "0.3",
            "--models",
            TINY_MODEL,
            "--no-upscale",
            "--trial-epochs",
            "2",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    result = json.loads(out)  # exactly one JSON object on stdout, progress on stderr
    assert code == 0, err
    assert "search auto-" in err and "spent" in err
    assert result["spent"]["spent_s"] <= 30 * 1.03 and result["spent"]["within_budget"]
    w = result["winner"]
    assert w["model"] == TINY_MODEL and w["image_size"] == 28 and w["run_id"]
    for key in (
        "recipe",
        "validation",
        "test_acc",
        "test_bacc",
        "test_auc",
        "energy_wh",
        "time_s",
        "predicted",
    ):
        assert key in w
    board = result["leaderboard"]
    assert board and all("seconds" in r and "energy_wh" in r and "status" in r for r in board)
    assert result["test_split_used_for_choice"] is False
    # every trial and final is a stored run of this search; trials have no test figure
    from pepr_desktop.core.store import Store

    with Store(Path(db)) as store:
        runs = [r for r in store.runs() if (r.get("extra") or {}).get("search")]
    assert {r["extra"]["search"] for r in runs} == {result["search_id"]}
    trials = [r for r in runs if r["extra"]["phase"] == "search"]
    assert all(r["test_acc"] is None for r in trials)
    assert (Path(result["storage"])).is_file()


def test_a_degenerate_run_is_flagged_in_the_summary_and_in_runs(tmp_path: Path, capsys) -> None:
    from pepr_desktop.cli.run_output import print_run_summary
    from pepr_desktop.core.store import Store

    db = tmp_path / "p.sqlite"
    with Store(db) as store:
        rid = store.create_run(dataset="sample", model=TINY_MODEL, epochs_planned=1)
        evaluation = {"confusion": [[0, 234], [0, 390]], "class_names": ["normal", "pneumonia"]}
        store.update_run(
            rid,
            status="finished",
            epochs_done=1,
            test_acc=0.625,
            test_bacc=0.5,
            evaluation=evaluation,
        )
        ok = store.create_run(dataset="sample", model=TINY_MODEL, epochs_planned=1)
        store.update_run(ok, status="finished", epochs_done=1, test_acc=0.9, test_bacc=0.9)
        run = store.get_run(rid)
    print_run_summary(run)
    out = capsys.readouterr().out
    assert "predicts only 'pneumonia' - likely fix: " in out
    assert main(["--db", str(db), "runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "flag" in lines[0]
    assert "predicts only 'pneumonia'" in next(x for x in lines if x.split()[:1] == [str(rid)])
    assert "predicts only" not in next(x for x in lines if x.split()[:1] == [str(ok)])
