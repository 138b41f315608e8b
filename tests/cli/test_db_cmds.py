"""`pepr db check|backups|backup|recover`: exit codes, one-line errors, nothing changed on refusal."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from pepr_desktop.cli import main
from pepr_desktop.core.store import Store, backup
from tests.conftest import damage_a_middle_page

PAGE = 4096


def _make_db(path: Path, runs: int = 3) -> Path:
    with Store(path) as s:
        for i in range(runs):
            rid = s.create_run(name=f"run{i}", dataset="d", model="m")
            s.add_epoch(rid, {"epoch": 0, "train_loss": 0.5}, {"epochs_done": 1})
            s.add_samples([{"run_id": rid, "t": float(k), "power_w": 5.0} for k in range(400)])
    return path


def _damage_middle(path: Path) -> None:
    damage_a_middle_page(path, page_size=PAGE)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(err: str) -> None:
    assert err.startswith("pepr db: error: ") and err.strip().count("\n") == 0, err


def test_check_ok_and_json(tmp_path: Path, capsys) -> None:
    db = _make_db(tmp_path / "p.sqlite")
    code, out, _ = run(["--db", str(db), "db", "check"], capsys)
    assert code == 0 and out.startswith(f"{db}: ok") and "3 runs" in out
    code, out, _ = run(["--db", str(db), "db", "check", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["ok"] is True and data["counts"]["runs"] == 3


def test_check_damaged_exits_1_and_names_the_backup(tmp_path: Path, capsys) -> None:
    db = _make_db(tmp_path / "p.sqlite")
    assert backup.make_backup(None, db, "start") is not None
    _damage_middle(db)
    code, out, _ = run(["--db", str(db), "db", "check"], capsys)
    assert code == 1 and "damaged" in out.splitlines()[0]
    assert "newest good backup" in out and "pepr db recover" in out
    code, out, _ = run(["--db", str(db), "db", "check", "--json"], capsys)
    assert code == 1 and json.loads(out)["status"] == "damaged"


def test_check_missing_database_is_a_user_error(tmp_path: Path, capsys) -> None:
    code, _out, err = run(["--db", str(tmp_path / "none.sqlite"), "db", "check"], capsys)
    assert code == 2
    _one_line_error(err)
    assert not (tmp_path / "none.sqlite").exists()


def test_backup_and_backups(tmp_path: Path, capsys) -> None:
    db = _make_db(tmp_path / "p.sqlite")
    code, out, _ = run(["--db", str(db), "db", "backups"], capsys)
    assert code == 0 and out.startswith("no backups of")
    code, out, _ = run(["--db", str(db), "db", "backup"], capsys)
    assert code == 0 and out.startswith("backup written: ")
    code, out, _ = run(["--db", str(db), "db", "backup"], capsys)  # forced: a second one
    assert code == 0
    code, out, _ = run(["--db", str(db), "db", "backups"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:5] == ["time", "reason", "size", "runs", "state"]
    assert len([ln for ln in lines if "manual" in ln]) == 2 and " ok " in lines[2]
    code, out, _ = run(["--db", str(db), "db", "backups", "--json"], capsys)
    items = json.loads(out)
    assert code == 0 and len(items) == 2 and all(b["ok"] and b["runs"] == 3 for b in items)


def test_backup_of_missing_or_damaged_database(tmp_path: Path, capsys) -> None:
    code, _out, err = run(["--db", str(tmp_path / "none.sqlite"), "db", "backup"], capsys)
    assert code == 2
    _one_line_error(err)
    db = _make_db(tmp_path / "p.sqlite")
    _damage_middle(db)
    code, out, _ = run(["--db", str(db), "db", "backup"], capsys)
    assert code == 1 and "damaged" in out and "pepr db recover" in out
    assert backup.list_backups(db) == []


def test_recover_without_yes_and_without_a_terminal_refuses(tmp_path: Path) -> None:
    db = _make_db(tmp_path / "p.sqlite")
    backup.make_backup(None, db, "start")
    _damage_middle(db)
    digest = _digest(db)
    r = subprocess.run(
        [sys.executable, "-m", "pepr_desktop.cli", "--db", str(db), "db", "recover"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert r.returncode == 2 and "--yes" in r.stderr
    _one_line_error(r.stderr)
    assert _digest(db) == digest and not list(tmp_path.glob("*.damaged-*"))


def test_recover_yes_restores_and_salvages(tmp_path: Path, capsys) -> None:
    db = _make_db(tmp_path / "p.sqlite")
    backup.make_backup(None, db, "start")
    with Store(db) as s:
        s.create_run(name="after the backup")
    _damage_middle(db)
    code, out, _ = run(["--db", str(db), "db", "recover", "--yes"], capsys)
    assert code == 0 and out.startswith(f"Recovered {db} (ok).")
    assert "Salvaged from the damaged file:" in out and "1 run" in out
    assert len(list(tmp_path.glob("p.sqlite.damaged-*"))) >= 1
    with Store(db) as s:
        assert len(s.runs()) == 4
    code, out, _ = run(["--db", str(db), "db", "recover", "--yes"], capsys)
    assert code == 0 and "nothing to recover" in out


def test_recover_asks_on_a_terminal(tmp_path: Path, capsys, monkeypatch) -> None:
    db = _make_db(tmp_path / "p.sqlite")
    backup.make_backup(None, db, "start")
    _damage_middle(db)
    digest = _digest(db)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda _prompt="": "n")
    code, out, _ = run(["--db", str(db), "db", "recover"], capsys)
    assert code == 1 and "restore the backup of" in out and "nothing was changed" in out
    assert _digest(db) == digest
    monkeypatch.setattr("builtins.input", lambda _prompt="": "y")
    code, out, _ = run(["--db", str(db), "db", "recover"], capsys)
    assert code == 0 and "Recovered" in out


def test_recover_mistakes_are_one_line(tmp_path: Path, capsys) -> None:
    db = _make_db(tmp_path / "p.sqlite")
    _damage_middle(db)
    code, _out, err = run(
        ["--db", str(db), "db", "recover", "--yes", "--backup", str(tmp_path / "x.sqlite")],
        capsys,
    )
    assert code == 2 and "does not exist" in err
    _one_line_error(err)
    other = _make_db(tmp_path / "other.sqlite", runs=1)
    with open(other, "r+b") as fh:
        fh.write(random.Random(0).randbytes(PAGE))
    digest = _digest(other)
    code, _out, err = run(["--db", str(other), "db", "recover", "--yes"], capsys)
    assert code == 2 and "no good backup" in err
    _one_line_error(err)
    assert _digest(other) == digest


def test_db_without_an_action_prints_its_help(capsys) -> None:
    code, out, _ = run(["db"], capsys)
    assert code == 2 and "check" in out and "recover" in out


@pytest.mark.parametrize("action", ["check", "backups", "backup", "recover"])
def test_help(action: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["db", action, "--help"])
    assert exc.value.code == 0 and action in capsys.readouterr().out
