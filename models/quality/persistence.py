"""The quality model's files: a LightGBM booster in its text format, the text scorers'
arrays in an ``.npz`` without pickles, a JSON description, and a SHA-256 manifest
checked before anything is read. Nothing here can run code on load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.artifacts import save_arrays, verify_manifest, write_manifest
from core.errors import ArtifactError
from features.schema import SCHEMA_VERSION
from models.quality.embedded import EmbeddedScorers
from models.quality.familiarity import Familiarity
from models.quality.layout import CATEGORICAL, FEATURE_NAMES, MAX_TEXT_CHARS, NGRAM_RANGE

__all__ = ["BOOSTER", "FORMAT", "FORMAT_VERSION", "Saved", "read", "write"]

FORMAT = "model-selector-quality"
FORMAT_VERSION = 1
BOOSTER, _ARRAYS, _SPEC = "booster.txt", "text_scorers.npz", "model.json"
_COMPLETION, _EMBEDDED = "completion.txt", "embedded_scorers.npz"


class Saved(Protocol):
    """What is written of a fitted predictor."""

    models: list[str]
    intents: list[str]
    vocab: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    shape_mean: np.ndarray
    shape_std: np.ndarray
    booster_text: str
    completion_text: str | None
    calibration: tuple[float, float] | None
    use_text_scores: bool
    meta: dict[str, Any]
    embedded: EmbeddedScorers | None
    familiarity: Familiarity | None


def write(model: Saved, folder: Path) -> Path:
    """Write ``model`` to ``folder`` (created) with its manifest; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BOOSTER).write_text(model.booster_text, encoding="utf-8")
    files = [BOOSTER, _ARRAYS, _SPEC]
    if model.completion_text is not None:
        (folder / _COMPLETION).write_text(model.completion_text, encoding="utf-8")
        files.append(_COMPLETION)
    if model.embedded is not None:
        save_arrays(folder / _EMBEDDED, model.embedded.arrays())
        files.append(_EMBEDDED)
    terms = sorted(model.vocab, key=model.vocab.__getitem__)
    arrays = {
        "vocab": np.array(terms, dtype=np.str_),
        "idf": model.idf,
        "coef": model.coef,
        "intercept": model.intercept,
        "shape_mean": model.shape_mean,
        "shape_std": model.shape_std,
        **_familiarity_arrays(model.familiarity),
    }
    save_arrays(folder / _ARRAYS, arrays)
    cal = model.calibration
    spec = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "feature_schema_version": SCHEMA_VERSION,
        "features": FEATURE_NAMES,
        "categorical": CATEGORICAL,
        "models": model.models,
        "intents": model.intents,
        "text": {"ngram_range": list(NGRAM_RANGE), "max_chars": MAX_TEXT_CHARS},
        "use_text_scores": model.use_text_scores,
        "calibration": None if cal is None else {"method": "platt", "a": cal[0], "b": cal[1]},
        "completion": None
        if model.completion_text is None
        else {"file": _COMPLETION, "objective": "poisson", "unit": "tokens"},
        "embedded": None
        if model.embedded is None
        else {"file": _EMBEDDED, **model.embedded.spec()},
        "familiarity": None
        if model.familiarity is None
        else {"outside_for_fallback": model.familiarity.outside},
        "meta": model.meta,
    }
    (folder / _SPEC).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    write_manifest(folder, files, {"format": FORMAT})
    return folder


def _familiarity_arrays(found: Familiarity | None) -> dict[str, np.ndarray]:
    if found is None:
        return {}
    return {"shape_low": found.low, "shape_high": found.high, "model_rates": found.rates}


def _spec(folder: Path) -> dict[str, Any]:
    try:
        spec: dict[str, Any] = json.loads((folder / _SPEC).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{folder / _SPEC}: unreadable model description: {exc}") from exc
    if spec.get("format") != FORMAT or spec.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{folder} holds {spec.get('format')!r} v{spec.get('format_version')}, "
            f"not {FORMAT!r} v{FORMAT_VERSION}: retrain with `selector train`"
        )
    if spec.get("features") != FEATURE_NAMES:
        raise ArtifactError(
            f"{folder}: the model's features differ from this selector's "
            f"(schema v{spec.get('feature_schema_version')}): retrain with `selector train`"
        )
    return spec


def _embedded(folder: Path, spec: dict[str, Any] | None) -> EmbeddedScorers | None:
    if spec is None:
        return None
    with np.load(folder / _EMBEDDED, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return EmbeddedScorers.from_files(spec, arrays)


def read(folder: Path) -> dict[str, Any]:
    """The constructor arguments of the model saved in ``folder``, after checking every
    file against the manifest."""
    folder = Path(folder)
    files = [BOOSTER, _ARRAYS, _SPEC]
    if (folder / _COMPLETION).exists():
        files.append(_COMPLETION)
    if (folder / _EMBEDDED).exists():
        files.append(_EMBEDDED)
    verify_manifest(folder, files)
    spec = _spec(folder)
    try:
        with np.load(folder / _ARRAYS, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        cal = spec["calibration"]
        return {
            "models": spec["models"],
            "intents": spec["intents"],
            "vocab": {str(t): i for i, t in enumerate(arrays["vocab"])},
            **{k: arrays[k] for k in ("idf", "coef", "intercept", "shape_mean", "shape_std")},
            "booster_text": (folder / BOOSTER).read_text(encoding="utf-8"),
            "calibration": None if cal is None else (float(cal["a"]), float(cal["b"])),
            "use_text_scores": bool(spec["use_text_scores"]),
            "meta": spec.get("meta", {}),
            "completion_text": (folder / _COMPLETION).read_text(encoding="utf-8")
            if spec.get("completion")
            else None,
            "embedded": _embedded(folder, spec.get("embedded")),
            "familiarity": None
            if spec.get("familiarity") is None
            else Familiarity(
                arrays["shape_low"],
                arrays["shape_high"],
                arrays["model_rates"],
                int(spec["familiarity"]["outside_for_fallback"]),
            ),
        }
    except (KeyError, ValueError, OSError) as exc:
        raise ArtifactError(f"quality model in {folder} is malformed: {exc}") from exc
