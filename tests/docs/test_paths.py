"""Every file or folder of the project that the documentation names exists: a module
moved or renamed takes its mentions in the docs with it."""

from __future__ import annotations

import re

from tests.conftest import ROOT

PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "gateway/README.md"]
# the project's own folders; paths under others (demo/, plots/, ../shared/…) are outputs
# of a command or data beside the project
OWN = ("core", "selector", "features", "models", "training", "simulator", "bench", "tests",
       "gateway", "docs", ".ci")  # fmt: skip
FOLDERS = "|".join(re.escape(o) for o in OWN)
NAMED = re.compile(rf"`((?:{FOLDERS})/[\w./-]*)(?:::\w+)?`")


def named_paths() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for page in PAGES:
        for path in NAMED.findall(page.read_text(encoding="utf-8")):
            out.setdefault(path, []).append(page.relative_to(ROOT).as_posix())
    return out


def test_the_docs_name_paths() -> None:
    assert len(named_paths()) > 50  # the pattern reads them


def test_every_path_the_docs_name_exists() -> None:
    missing = {
        path: pages
        for path, pages in named_paths().items()
        if not (ROOT / path).exists() and not (ROOT / "gateway" / path).exists()
    }
    assert not missing, f"paths named in the docs that do not exist: {missing}"
