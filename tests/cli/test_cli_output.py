"""The CLI's tables (tabulate) and progress bars (tqdm): readable on a terminal, silent in CI."""

from __future__ import annotations

import io
import sys

from pepr_desktop.cli._common import print_table, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_table_aligns_numbers_right_and_says_n_a(capsys) -> None:
    print_table(
        [[1, "resnet18", 0.91234, None], [22, "lcnet_050", 0.5, 12.0]], ["id", "m", "a", "e"]
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "m", "a", "e"] and set(lines[1]) == {"-", " "}
    assert lines[2].split() == ["1", "resnet18", "0.912", "n/a"]
    assert lines[3].startswith("  22") and lines[2].startswith("   1")  # right-aligned ids
    assert all(line == line.rstrip() for line in lines)


def test_progress_bar_on_a_terminal_only(monkeypatch) -> None:
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    with progress_bar("measuring") as update:
        for i in range(3):
            update(i + 1, 3, f"model{i}")
    shown = tty.getvalue()
    assert "measuring" in shown and "3/3" in shown and "model2" in shown and "\r" in shown
    pipe = io.StringIO()  # CI, a pipe, a log file
    monkeypatch.setattr(sys, "stderr", pipe)
    with progress_bar("measuring") as update:
        update(1, 3, "m")
    assert pipe.getvalue() == ""
    quiet = Terminal()  # --json: never, even on a terminal
    monkeypatch.setattr(sys, "stderr", quiet)
    with progress_bar("probing", enabled=False) as update:
        update(1, 2, "m")
    assert quiet.getvalue() == ""


def test_the_run_summary_names_a_run_trained_on_fewer_cpu_threads(tmp_path, capsys) -> None:
    from pepr_desktop.cli import main
    from pepr_desktop.core.store import Store

    db = tmp_path / "p.sqlite"
    with Store(db) as store:
        rid = store.create_run(dataset="sample", model="resnet10t", epochs_planned=1)
        threads = {"cap": 2, "lowest": 1, "changes": 1}
        store.add_epoch(rid, {"epoch": 0, "extra": {"cpu_threads": threads}}, {"epochs_done": 1})
        store.update_run(rid, status="finished")
        quiet = store.create_run(dataset="sample", model="resnet10t", epochs_planned=1)
        threads = {"cap": 2, "lowest": 2, "changes": 0}
        store.add_epoch(quiet, {"epoch": 0, "extra": {"cpu_threads": threads}}, {"epochs_done": 1})
        store.update_run(quiet, status="finished")
    assert main(["--db", str(db), "runs", "--show", str(rid)]) == 0
    assert "note: trained with as few as 1 of 2 CPU threads" in capsys.readouterr().out
    assert main(["--db", str(db), "runs", "--show", str(quiet)]) == 0
    assert "CPU threads" not in capsys.readouterr().out
