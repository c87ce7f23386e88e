import numpy as np
import pytest
from conftest import RELEASED_ENCODINGS, release_config

from gpunet_hub import EncodingError, decode, encode
from gpunet_hub.arch import from_list
from gpunet_hub import space as space_module
from gpunet_hub.space import NUM_DIGITS, TABLE1, check_many, get_space, validate, validate_many


@pytest.mark.parametrize("name", sorted(RELEASED_ENCODINGS))
def test_released_vectors_decode_to_the_released_json(name):
    assert decode(RELEASED_ENCODINGS[name], "release").to_list() == release_config(name)


@pytest.mark.parametrize("name", sorted(RELEASED_ENCODINGS))
def test_released_json_encodes_to_the_paper_vector(name):
    spec = from_list(release_config(name))
    vector = encode(spec, "release")
    assert vector == RELEASED_ENCODINGS[name]
    assert decode(vector) == spec


def test_table1_names_the_first_digit_out_of_range():
    with pytest.raises(EncodingError) as info:
        decode(RELEASED_ENCODINGS["gpunet_0"], "table1")
    assert str(info.value) == "digit 17 = stage 4 filters: 256 is not in 96..192 step 16"
    # GPUNet-2 is inside Table 1 except for its tail, which is a space convention.
    assert decode(RELEASED_ENCODINGS["gpunet_2"], "table1").layers[-1].num_out_channels == 1792


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("gpunet_p0", "entry 1 (head): act 'relu'"),
        ("gpunet_d1", "distill-family"),
    ],
)
def test_non_uniform_release_models_have_no_encoding(name, fragment):
    with pytest.raises(EncodingError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        encode(from_list(release_config(name)))


def test_first_non_uniform_stage_is_named():
    config = release_config("gpunet_0")
    config[10]["kernel_size"] = 5  # second layer of stage 4
    with pytest.raises(EncodingError, match="stage 4 is not uniform: entry 10 has kernel_size 5, entry 9 has 3"):
        encode(from_list(config))
    config = release_config("gpunet_p1")
    config[1]["act"] = "swish"  # P1's remaining obstacle is its mixed stage 2
    with pytest.raises(EncodingError, match="stage 2 is not expressible: entry 4 is a 'conv' layer"):
        encode(from_list(config))


@pytest.mark.parametrize(
    ("position", "value", "message"),
    [
        (0, 300, "digit 0 = resolution: 300 is not in 224..512 step 32"),
        (2, 7, "digit 2 = stage 1 kernel: 7 is not in {3, 5}"),
        (8, 2, "digit 8 = stage 2 se: 2 is not in {0, 1}"),
        (9, 3, "digit 9 = stage 2 act: 3 is not in {0 = relu, 1 = swish}"),
        (23, 112, "digit 23 = stage 5 filters: stage 5 has 0 layers, so its digits must all be 0 (got 112)"),
        (3, 0.5, "digit 3 = stage 1 act: 0.5 is not an integer"),
    ],
)
def test_validation_messages(position, value, message):
    vector = list(RELEASED_ENCODINGS["gpunet_0"])
    vector[position] = value
    with pytest.raises(EncodingError) as info:
        validate(vector)
    assert str(info.value) == message


def test_wrong_length_and_unknown_space():
    with pytest.raises(EncodingError, match="has 41 integers, got 40"):
        validate(RELEASED_ENCODINGS["gpunet_0"][:-1])
    with pytest.raises(EncodingError, match="unknown search space 'tabel1'.*'table1'"):
        get_space("tabel1")


def _random_vectors(n, space, rng):
    columns = []
    for digit in space.digits:
        columns.append(rng.choice(np.asarray(digit.values), size=n))
    return space.canonical(np.stack(columns, axis=1))


@pytest.mark.parametrize("chunk", [None, 33])
def test_vectorised_check_agrees_with_scalar_validation(chunk, monkeypatch):
    if chunk:  # checked in chunks of rows: several chunk edges in 400 rows
        monkeypatch.setattr(space_module, "_CHECK_ROWS", chunk)
    rng = np.random.default_rng(0)
    vectors = _random_vectors(400, TABLE1, rng)
    # Corrupt a third of the rows in one random digit each.
    bad_rows = rng.choice(400, size=130, replace=False)
    vectors[bad_rows, rng.integers(0, NUM_DIGITS, size=130)] += rng.integers(1, 40, size=130)
    mask = check_many(vectors, "table1")
    for row, ok in zip(vectors, mask):
        try:
            validate([int(v) for v in row], "table1")
            scalar_ok = True
        except EncodingError:
            scalar_ok = False
        assert scalar_ok == ok
    assert 0 < mask.sum() < 400
    with pytest.raises(EncodingError, match=r"^row \d+ \(\d+ invalid of 400\): digit"):
        validate_many(vectors, "table1")
    validate_many(vectors[mask], "table1")
    with pytest.raises(EncodingError, match=r"\(N, 41\)"):
        check_many(vectors[:, :40])


def test_stage_slices_locate_each_stage_digit():
    for digit in TABLE1.digits[5:]:
        assert TABLE1.stage_slice(digit.stage).start <= digit.index < TABLE1.stage_slice(digit.stage).stop
        assert TABLE1.digit_index(digit.stage, digit.field) == digit.index
    assert TABLE1.stage_slice(7).stop == NUM_DIGITS
    with pytest.raises(EncodingError, match="block stages"):
        TABLE1.stage_slice(1)
    with pytest.raises(EncodingError, match="layers"):
        TABLE1.digit_index(3, "layer")


def test_canonical_zeroes_only_the_hidden_digits_of_empty_stages():
    vectors = _random_vectors(200, TABLE1, np.random.default_rng(3))
    stage7 = TABLE1.stage_slice(7)
    filled = vectors.copy()
    filled[:, stage7.start : stage7.stop - 1] = 7  # junk where stage 7 is empty
    hidden = TABLE1.hidden(filled)
    empty = filled[:, TABLE1.digit_index(7, "layers")] == 0
    assert empty.any() and (~empty).any()
    assert hidden[empty, stage7.start : stage7.stop - 1].all() and not hidden[~empty, stage7].any()
    assert np.array_equal(TABLE1.canonical(filled)[empty], vectors[empty])
    assert np.array_equal(TABLE1.canonical(filled)[~empty], filled[~empty])


def test_sobol_is_seeded_prefix_stable_and_valid():
    a, b = TABLE1.sobol(100, seed=4), TABLE1.sobol(256, seed=4)
    assert np.array_equal(a, b[:100])
    assert not np.array_equal(a, TABLE1.sobol(100, seed=5))
    assert check_many(b, TABLE1).all() and b.dtype == np.int16
    with pytest.raises(EncodingError, match=">= 1"):
        TABLE1.sobol(0)
