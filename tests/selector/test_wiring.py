"""The service as its settings build it: served on the prior, it loads none of the model
or data libraries (they cost memory and start-up time and are needed only with a
learned model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

HEAVY = ["pandas", "pyarrow", "lightgbm", "sklearn", "scipy", "mlflow", "matplotlib", "litellm"]

BUILD = """
import json, sys
from selector.api.app import create_app
from selector.config import load_settings
from selector.wiring import build_service
import selector.cli
settings = load_settings(db_path=sys.argv[1], quality_model="prior")
service = build_service(settings)
service.start()
create_app(settings, service)
service.stop()
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_served_on_the_prior_the_service_loads_no_heavy_library(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BUILD, str(tmp_path / "selector.db")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert sorted(loaded & set(HEAVY)) == []
    assert {"fastapi", "orjson", "numpy"} <= loaded  # the check sees what is loaded


def test_the_quality_model_s_problems_name_what_it_cannot_score() -> None:
    from selector.health import QualityStatus

    assert QualityStatus("models:/q@champion", "q/v1", loaded=True).problems() == []
    [gap] = QualityStatus("m", "q/v1", loaded=True, unknown_models=("a", "b")).problems()
    assert (gap.part, gap.reason) == (
        "quality_model",
        "q/v1 was not trained on a, b: scored by their prices alone",
    )
    [lost] = QualityStatus("m", "prior", loaded=False, reason="gone").problems()
    assert lost.reason == "m not loaded, serving prior: gone"
