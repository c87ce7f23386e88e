import copy
import json

import pytest
from conftest import RELEASE_CONFIGS, RELEASE_FILES, TINY_STANDARD

from gpunet_hub import ArchSpecError
from gpunet_hub.arch import from_list, load


@pytest.mark.parametrize("name", sorted(RELEASE_FILES))
def test_release_files_round_trip_exactly(name, tmp_path):
    path = RELEASE_CONFIGS / RELEASE_FILES[name]
    raw = json.loads(path.read_text())
    spec = load(path)
    assert spec.to_list() == raw
    # Same keys in the same order, so the written file is the release's file.
    assert json.dumps(spec.to_list(), indent=4) == json.dumps(raw, indent=4)
    assert load(spec.save(tmp_path / "a.json")) == spec


def test_families_and_quirks():
    p0 = load(RELEASE_CONFIGS / RELEASE_FILES["gpunet_p0"])
    assert p0.family == "standard" and p0.layers[6].expansion == 7.67
    d2 = load(RELEASE_CONFIGS / RELEASE_FILES["gpunet_d2"])
    assert d2.family == "distill" and d2.layers[0].layer_type == "head_large"
    assert d2.layers[-1].extra == (("stage:", 5),)  # the release's stray key, kept for the round trip
    g0 = load(RELEASE_CONFIGS / RELEASE_FILES["gpunet_0"])
    assert g0.layers[0].act is None and g0.layers[0].effective_act == "swish"


def _mutated(index, **changes):
    config = copy.deepcopy(TINY_STANDARD)
    for key, value in changes.items():
        if value is None:
            del config[index][key]
        else:
            config[index][key] = value
    return config


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        (_mutated(3, layer_type="fused_ibr"), ["entry 3", "unknown layer_type 'fused_ibr'", "fused_irb"]),
        (_mutated(4, num_in_channels=12), ["entry 4 (fused_irb)", "'num_in_channels' is 12", "entry 3", "outputs 16"]),
        (_mutated(5, kernel_size=None), ["entry 5 (irb)", "missing key 'kernel_size'"]),
        (_mutated(2, stride=-1), ["entry 2 (conv)", "'stride' must be 1 or 2, got -1"]),
        (_mutated(2, act="gelu"), ["entry 2 (conv)", "'act' must be one of relu, swish"]),
        (_mutated(5, use_se="yes"), ["entry 5 (irb)", "'use_se' must be true or false"]),
        (_mutated(5, kernal_size=3), ["entry 5 (irb)", "unknown key 'kernal_size'", "kernel_size"]),
        (_mutated(0, img_resolution=0), ["entry 0 (data)", "'img_resolution'"]),
        (_mutated(7, layer_type="irb", stride=1, expansion=2, kernel_size=3, act="relu", use_se=False), ["last layer must be 'tail'"]),
        ([], ["non-empty JSON list"]),
    ],
)
def test_bad_specs_name_the_layer_and_key(config, fragments):
    with pytest.raises(ArchSpecError) as info:
        from_list(config)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_distill_family_needs_whole_expansions():
    config = json.loads((RELEASE_CONFIGS / RELEASE_FILES["gpunet_d1"]).read_text())
    config[3]["expansion"] = 3.5
    with pytest.raises(ArchSpecError, match=r"entry 3 \(irb\).*whole number, got 3.5"):
        from_list(config)


def test_missing_file_is_a_typed_error(tmp_path):
    with pytest.raises(ArchSpecError, match="no architecture file"):
        load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(ArchSpecError, match="not valid JSON"):
        load(tmp_path / "bad.json")
