"""The resource registry is the one list of resources: every layer's choices come from it."""

from __future__ import annotations

import pytest

from pepr_desktop.core import resources
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.resources import RESOURCES, resources_for
from pepr_desktop.core.store import RUN_COLUMNS


def test_every_resource_has_a_stored_column_and_a_prediction() -> None:
    from pepr_desktop.core.search.recommend import BY, Candidate

    fields = set(Candidate.__dataclass_fields__)
    for r in RESOURCES.values():
        assert r.run_column in RUN_COLUMNS
        assert r.predicted in fields and BY[r.resource] == r.predicted
    assert len({r.key for r in RESOURCES.values()}) == len(RESOURCES)


def test_names_letters_and_all() -> None:
    assert [r.resource for r in resources_for("all")] == list(resources.NAMES)
    assert resources_for("E")[0].resource == "energy"
    assert resources_for("pepr-m")[0].resource == "memory"
    with pytest.raises(UserError, match="unknown resource 'watts'"):
        resources_for("watts")


def test_cli_choices_come_from_the_registry() -> None:
    import argparse

    from pepr_desktop.cli import score_cmds

    parser = argparse.ArgumentParser()
    score_cmds.register(parser.add_subparsers())
    compare = parser.parse_args(["compare", "1", "--resource", "memory"])
    assert compare.resource == "memory"
    with pytest.raises(SystemExit):
        parser.parse_args(["compare", "1", "--resource", "watts"])


def test_display_scale() -> None:
    assert RESOURCES["energy"].display({"energy_j": 7200.0}) == pytest.approx(2.0)
    assert RESOURCES["energy"].display({"energy_j": None}) is None
