"""Every config composes, and each method's presets instantiate its imputer class."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class

from knewimp.cell import method_params

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DATASETS = sorted(p.stem for p in (CONFIGS / "dataset").glob("*.yaml"))
MECHANISMS = sorted(p.stem for p in (CONFIGS / "mechanism").glob("*.yaml"))
METHODS = sorted(p.stem for p in (CONFIGS / "method").glob("*.yaml"))
PRESETS = [(m, p.stem) for m in METHODS for p in sorted((CONFIGS / "method_preset" / m).glob("*.yaml"))]
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


@pytest.fixture(scope="module", autouse=True)
def hydra_context():
    # One Hydra initialisation for the module: re-initialising per compose costs more than composing.
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        yield


def _compose(overrides):
    return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_the_eight_datasets_and_five_mechanisms_exist():
    assert DATASETS == sorted("bt bcd cc cbv is pk qb wqw".split())
    assert MECHANISMS == sorted("mcar mar mnar mnar_self mnar_quantile".split())


@pytest.mark.parametrize("method", METHODS)
def test_every_dataset_mechanism_method_composes(method):
    for dataset in DATASETS:
        for mechanism in MECHANISMS:
            cfg = _compose([f"dataset={dataset}", f"mechanism={mechanism}", f"method={method}"])
            assert (cfg.dataset.name, cfg.mechanism.name, cfg.method.name) == (dataset, mechanism, method)


@pytest.mark.parametrize("method,preset", PRESETS)
def test_every_preset_builds_its_imputer(method, preset):
    cfg = _compose([f"method={method}", f"preset={preset}"])
    assert cfg.method.preset not in ("default", "reproduce"), "aliases must resolve to a named preset"
    cls = get_class(cfg.method._target_)
    imputer = cls(**method_params(cfg.method), random_state=0, device="cpu")
    assert imputer.random_state == 0


@pytest.mark.parametrize("method", METHODS)
def test_every_method_has_quick_default_and_reproduce(method):
    names = {p for m, p in PRESETS if m == method}
    assert {"quick", "default", "reproduce"} <= names


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    cfg = _compose([f"experiment={experiment}"])
    assert cfg.hydra.sweeper.params, "experiments are sweeps"


def test_cli_override_beats_preset():
    cfg = _compose(["method=mice", "preset=quick", "method.max_iter=7"])
    assert cfg.method.max_iter == 7 and cfg.method.preset == "quick"
