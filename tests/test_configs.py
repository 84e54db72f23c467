"""Every config composes; each method preset builds its imputer and mirrors its constructor."""
import inspect

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class

from knewimp import vocab
from knewimp.base import RUNTIME_PARAMS
from knewimp.harness.identity import META_KEYS, method_params
from knewimp.harness.run import valid_choices

CONFIGS = vocab.CONFIG_DIR
PRESETS = valid_choices("method")                      # e.g. "tdm/paper"
METHODS = sorted({p.split("/")[0] for p in PRESETS})
EXPERIMENTS = valid_choices("experiment")


@pytest.fixture(scope="module", autouse=True)
def hydra_context():
    # One Hydra initialisation for the module: re-initialising per compose costs more than composing.
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        yield


def _compose(overrides):
    return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def test_the_vocabulary_matches_the_config_files():
    assert valid_choices("dataset") == sorted(vocab.DATASETS + vocab.TOY_DATASETS + vocab.LARGE_DATASETS
                                              + vocab.MIXED_DATASETS)
    assert valid_choices("mechanism") == sorted(vocab.MECHANISMS)
    assert set(METHODS) <= set(vocab.METHOD_ORDER)


@pytest.mark.parametrize("dataset", vocab.DATASETS + vocab.TOY_DATASETS + vocab.MIXED_DATASETS)
def test_every_dataset_composes(dataset):
    assert _compose([f"dataset={dataset}"]).dataset.name == dataset


@pytest.mark.parametrize("mechanism", vocab.MECHANISMS)
def test_every_mechanism_composes(mechanism):
    assert _compose([f"mechanism={mechanism}"]).mechanism.name == mechanism


@pytest.mark.parametrize("choice", PRESETS)
def test_every_preset_builds_its_imputer_and_names_itself(choice):
    method, preset = choice.split("/")
    cfg = _compose([f"method={choice}"])
    assert (cfg.method.name, cfg.method.preset) == (method, preset), "a preset file names its method and preset"
    imputer = get_class(cfg.method._target_)(**method_params(cfg.method), random_state=0, device="cpu")
    assert imputer.random_state == 0


@pytest.mark.parametrize("method", METHODS)
def test_a_method_config_mirrors_its_constructor(method):
    """One preset file per method is complete (the others state differences on top of it): it
    holds every constructor argument but the runtime ones the harness sets (random_state, device,
    standardize, num_threads; a preset may still fix one, as the diffusion presets fix
    num_threads), nothing else, at the constructor's defaults."""
    (choice,) = [p for p in PRESETS if p.startswith(method + "/")
                 and "\ndefaults:" not in "\n" + (CONFIGS / "method" / f"{p}.yaml").read_text()]
    cfg = _compose([f"method={choice}"])
    cls = get_class(cfg.method._target_)
    signature = inspect.signature(cls.__init__)
    # arguments added after records existed, which the class lets the complete preset omit
    optional = set(getattr(cls, "config_optional", ())) - set(cfg.method)
    arguments = {name for name in signature.parameters
                 if name != "self" and name not in optional and (name not in RUNTIME_PARAMS or name in cfg.method)}
    assert set(cfg.method) - set(META_KEYS) == arguments
    defaults = {k: p.default for k, p in signature.parameters.items() if k in arguments}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in method_params(cfg.method).items()}
    assert values == {k: (tuple(v) if isinstance(v, list) else v) for k, v in defaults.items()}, \
        "the complete preset holds the constructor's defaults"


@pytest.mark.parametrize("method", METHODS)
def test_every_method_has_a_quick_preset(method):
    assert f"{method}/quick" in PRESETS


def test_cli_override_beats_preset():
    cfg = _compose(["method=mice/quick", "method.max_iter=7"])
    assert cfg.method.max_iter == 7 and cfg.method.preset == "quick"
