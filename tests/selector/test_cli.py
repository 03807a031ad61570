"""The command line finds the commands of the packages above the service through entry
points: every one is listed, a missing extra says what to install, and a broken command
module is an error rather than commands that silently vanish."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
import pytest
from click.testing import CliRunner

from selector import cli as cli_module
from selector.cli import cli

Commands = type(cli)  # the group class that finds the commands of the entry points


@dataclass
class FakeEntryPoint:
    name: str
    loader: Callable[[], Any]

    def load(self) -> Any:
        return self.loader()


def group_with(monkeypatch: pytest.MonkeyPatch, *eps: FakeEntryPoint) -> click.Group:
    monkeypatch.setattr(cli_module, "entry_points", lambda group: list(eps))

    @click.group(cls=Commands)
    def selector() -> None:
        """test group"""

    @selector.command()
    def serve() -> None:
        """the service's own command"""

    return selector


def raising(exc: Exception) -> Callable[[], Any]:
    def load() -> Any:
        raise exc

    return load


def test_every_command_of_every_entry_point_is_listed() -> None:
    from simulator.cli import COMMANDS as SIMULATOR
    from training.cli import COMMANDS as TRAINING

    listed = set(cli.list_commands(click.Context(cli)))
    assert {c.name for c in [*TRAINING, *SIMULATOR]} <= listed
    assert {"serve", "policies", "schema", "train", "evaluate", "demo"} <= listed


def test_a_missing_extra_leaves_its_commands_out_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = ModuleNotFoundError("No module named 'sklearn'", name="sklearn.linear_model")
    group = group_with(
        monkeypatch,
        FakeEntryPoint("training", raising(missing)),
        FakeEntryPoint("simulator", lambda: [click.Command("demo")]),
    )
    assert group.list_commands(click.Context(group)) == ["demo", "serve"]
    result = CliRunner().invoke(group, ["train"])
    assert result.exit_code == 2
    assert "the training commands need sklearn" in result.output
    assert "pip install 'model-selector-server[train]'" in result.output


@pytest.mark.parametrize(
    "failure",
    [
        ModuleNotFoundError("No module named 'training.cli.gone'", name="training.cli.gone"),
        ImportError("cannot import name 'COMMANDS' from 'training.cli'"),
        ModuleNotFoundError("a module without a name"),
    ],
)
def test_a_broken_command_module_is_an_error(
    monkeypatch: pytest.MonkeyPatch, failure: ImportError
) -> None:
    group = group_with(monkeypatch, FakeEntryPoint("training", raising(failure)))
    with pytest.raises(ImportError):
        group.list_commands(click.Context(group))
