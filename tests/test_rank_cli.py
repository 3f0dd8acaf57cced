"""``python -m tt_rnn.rank bracket FILE.npy``: the bracket of a stored tensor, one-line errors."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest

from tt_rnn.rank.__main__ import main as rank_cli
from tt_rnn.tt import random_tt


def _run(capsys, *argv):
    status = rank_cli(["bracket", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def test_bracket_of_a_stored_tensor(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, random_tt(2, 3, 4, shared=True, seed=0, integer=True).to_tensor())
    status, out, err = _run(capsys, path, "--seed", 1, "--time-limit", 60)
    assert status == 0 and err == ""
    assert out.startswith("CP rank in [4, 4]") and "certified" in out


def test_bracket_rank_max_caps_the_search(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, random_tt(2, 3, 6, shared=True, seed=0, integer=True).to_tensor())
    status, out, _ = _run(capsys, path, "--rank-max", 8)
    assert status == 0 and out.startswith("CP rank in [8, 8]")
    # a cap below the certified lower end 8 is refused, in one line
    status, out, err = _run(capsys, path, "--rank-max", 2)
    assert status == 2 and out == "" and "rank_max = 2 is below rank_min = 8" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"not an array at all", "cannot read it as an array saved with numpy.save"),
    (np.arange(5), "need a tensor of order >= 2"),
    (np.ones((2, 2), dtype=complex), "must be real"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "non-finite"),
    (np.array([["a", "b"], ["c", "d"]]), "numeric dtype"),
    (np.empty((2, 0)), "empty"),
    ("npz", "an .npz archive"),
    ("pickle", "cannot read it as an array"),
])
def test_bracket_errors_are_one_line_with_status_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, np.ndarray):
        np.save(path, content)
    elif content == "npz":
        path = tmp_path / "bad.npz"
        np.savez(path, a=np.ones((2, 2)))
    elif content == "pickle":
        np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    status, out, err = _run(capsys, path)
    assert status == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_bracket_bad_arguments_are_one_line(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((2, 2, 2), dtype=np.int64))
    status, _, err = _run(capsys, path, "--seed", -1)
    assert status == 2 and "seed must be a non-negative integer" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        rank_cli(["bracket", str(path), "--rank-max", "many"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
