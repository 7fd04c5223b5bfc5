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
    assert state["format"] == 1
    recording = state["recordings"][0]
    assert set(recording) == {"tape", "outputs", "output_values", "n_inputs"}
    assert recording["tape"][:8] == b"fastadTP"
    with pytest.raises(ValueError, match="format 7; this fastad reads format 1"):
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
