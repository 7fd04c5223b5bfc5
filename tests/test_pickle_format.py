"""The pickle format of a Function: defined field by field and versioned."""

import pickle

import numpy as np
import pytest

import fastad


def branchy(x):
    return x * x if x > 0 else -x


def test_identical_recordings_pickle_to_identical_bytes():
    # Guards are written field by field: no uninitialised padding byte.
    blobs = {pickle.dumps(fastad.trace(branchy, 1.0)) for _ in range(30)}
    assert len(blobs) == 1
    structured = {pickle.dumps(fastad.trace(lambda p: p["w"] @ p["w"] + p["b"],
                                            {"w": np.ones(3), "b": 0.5})) for _ in range(10)}
    assert len(structured) == 1


def test_the_state_is_versioned_and_named():
    F = fastad.trace(branchy, 1.0)
    load, (state,) = F.__reduce__()
    assert list(state) == ["format", "retrace", "input", "output_shape", "complex_output",
                           "recordings"]
    assert state["format"] == 2
    recording = state["recordings"][0]
    assert set(recording) == {"tape", "outputs", "output_values", "n_inputs"}
    assert recording["tape"][:8] == b"fastadTP"
    with pytest.raises(ValueError, match="format 7; this fastad reads format 2"):
        load(dict(state, format=7))
    tape = bytearray(recording["tape"])
    tape[8] = 9  # the tape's own format number
    with pytest.raises(ValueError, match="tape of format 9"):
        load(dict(state, recordings=[dict(recording, tape=bytes(tape))]))


def test_a_loaded_function_replays_every_kept_branch_and_refuses_others():
    F = fastad.trace(branchy, 1.0)
    F(-2.0)  # a second branch pattern
    G = pickle.loads(pickle.dumps(F))
    assert G.value_and_grad(3.0) == F.value_and_grad(3.0)
    assert G.value_and_grad(-3.0) == F.value_and_grad(-3.0)
    H = pickle.loads(pickle.dumps(fastad.trace(branchy, 1.0)))
    with pytest.raises(fastad.BranchError, match="unpickled"):
        H(-1.0)


def _format_1(state):
    """A format-2 state of a recording without matrix products, rewritten in
    format 1 (the tape header without its product count)."""
    import struct
    old = dict(state, format=1, recordings=[])
    for recording in state["recordings"]:
        tape = recording["tape"]
        magic, version, reserved, n, m, g, n_products = struct.unpack_from("<8sIIqqqq", tape)
        assert version == 2 and n_products == 0
        body = tape[struct.calcsize("<8sIIqqqq"):]
        old["recordings"].append(dict(recording,
                                      tape=struct.pack("<8sIIqqq", magic, 1, 0, n, m, g) + body))
    return old


def test_a_format_1_pickle_still_loads():
    F = fastad.trace(branchy, 1.0)
    load, (state,) = F.__reduce__()
    G = load(_format_1(state))
    assert G(3.0) == 9.0 and G.grad(3.0) == 6.0
    with pytest.raises(ValueError, match="format 7.*format 2"):
        load(dict(state, format=7))


X_PRODUCT = np.arange(12.0).reshape(4, 3) / 5.0 - 1.0


def _product_loss(p):
    h = np.tanh(X_PRODUCT @ p["W"])          # constant @ Array
    return np.sum((h @ p["v"] - 1.0) ** 2)   # Array @ Array


def test_matrix_products_pickle_by_value_and_replay_the_same():
    x0 = {"W": np.linspace(-1.0, 1.0, 6).reshape(3, 2), "v": np.array([0.5, -1.5])}
    F = fastad.trace(_product_loss, x0)
    G = pickle.loads(pickle.dumps(F))
    x1 = {"W": x0["W"] * 0.7 + 0.1, "v": x0["v"][::-1].copy()}
    v1, g1 = F.value_and_grad(x1)
    v2, g2 = G.value_and_grad(x1)
    assert v1 == v2
    for key in g1:
        assert np.array_equal(g1[key], g2[key])
    # the tape's bytes are the same each time, the constant stored by value
    assert pickle.dumps(F) == pickle.dumps(G)
    state = F.__reduce__()[1][0]
    assert X_PRODUCT.tobytes() in state["recordings"][0]["tape"]


def test_corrupt_matrix_products_are_refused():
    import struct
    x0 = {"W": np.ones((3, 2)), "v": np.ones(2)}
    load, (state,) = fastad.trace(_product_loss, x0).__reduce__()
    tape = state["recordings"][0]["tape"]
    header = struct.calcsize("<8sIIqqqq")
    n, m, g, n_products = struct.unpack_from("<qqqq", tape, 16)
    assert n_products == 2   # X @ W, h @ v (the sum is small: a chain of adds)
    start = header + n * 17 + m * 8 + g * 11

    def refused(new_tape):
        bad = dict(state, recordings=[dict(state["recordings"][0], tape=new_tape)])
        with pytest.raises(ValueError, match="corrupt Function pickle"):
            load(bad)

    first, rows, cols, inner, careful = struct.unpack_from("<qqqqq", tape, start)
    assert careful == 0
    for change in ((first + 1, rows, cols, inner, 0), (first, rows + 1, cols, inner, 0),
                   (first, rows, cols, 0, 0), (-1, rows, cols, inner, 0),
                   (first, rows, cols, 2 ** 40, 0), (first, rows, cols, inner, 2)):
        refused(tape[:start] + struct.pack("<qqqqq", *change) + tape[start + 40:])
    refused(tape[:-1])                               # cut short
    refused(tape + b"\x00")                           # trailing bytes
    refused(tape[:start + 40] + b"\x02" + tape[start + 41:])   # unknown factor kind
    # a factor of codes pointing at the product itself (not before it)
    second = start + 40 + 1 + rows * inner * 8        # after the constant X
    assert tape[second] == 0
    bad_code = struct.pack("<i", first + rows * cols - 1 + 10 ** 6)
    refused(tape[:second + 1] + bad_code + tape[second + 5:])
    # an OP_MATMUL entry outside any product
    ops = header
    assert tape[ops + first] == 255
    refused(tape[:ops] + b"\xff" + tape[ops + 1:])
