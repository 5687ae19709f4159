"""The GradBench tool (benchmarks/gradbench/tool.py) driven by recorded protocol messages.

tests/data/gradbench_messages.jsonl holds a session as GradBench's evals send it (start,
define, evaluate), recorded at small sizes (ba's counts cut to 3 cameras, 4 points, 5
observations; ht on a synthetic 22-bone hand). Every derivative the tool answers is checked
against central finite differences of the objective the same tool answers, perturbing the
message's input; no GradBench checkout is needed. The numba tool (`tool.py --backend numba`)
answers a few of the same messages (small ones: numba's compile is slow).
"""

import importlib.util
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import s2sad
from s2sad.api import numba_backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "benchmarks", "gradbench")
sys.path.insert(0, TOOL)

import tool  # noqa: E402  (benchmarks/gradbench/tool.py)

with open(os.path.join(ROOT, "tests", "data", "gradbench_messages.jsonl")) as _f:
    SESSION = [json.loads(line) for line in _f]
EVALUATIONS = [m for m in SESSION if m["kind"] == "evaluate"]
STEP = 1e-6


def answer(message, backend="python"):
    response = tool.respond(message, backend)
    assert response["id"] == message["id"]
    assert response["success"], response.get("error")
    names = [t["name"] for t in response["timings"]]
    warm = tool.WARM_UP
    assert names[:warm] == [tool.FIRST_CALL] * warm and names[warm:] == ["evaluate"] * (len(names) - warm)
    assert len(names) > warm
    return response["output"]


def evaluate(module, function, inputs, message_id=1000, backend="python"):
    return answer(
        {"id": message_id, "kind": "evaluate", "module": module, "function": function, "input": inputs},
        backend,
    )


def message(module, function, description=None):
    """The first recorded evaluate message of `module.function` (with that description, if given)."""
    return next(
        m
        for m in EVALUATIONS
        if (m["module"], m["function"]) == (module, function) and description in (None, m.get("description"))
    )


def central_difference(module, function, inputs, field, index, value_of, backend="python"):
    """d value_of(output) / d inputs[field].flat[index], by central differences through the tool."""
    values = []
    for sign in (1.0, -1.0):
        changed = dict(inputs)
        array = np.array(inputs[field], dtype=float)
        if array.ndim == 0:
            changed[field] = float(array) + sign * STEP
        else:
            array.flat[index] += sign * STEP
            changed[field] = array.tolist()
        values.append(np.asarray(value_of(evaluate(module, function, changed, backend=backend)), dtype=float))
    return (values[0] - values[1]) / (2 * STEP)


def assert_close(derivative, expected, scale=1.0):
    derivative, expected = np.asarray(derivative, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_allclose(derivative, expected, rtol=1e-5, atol=1e-6 * scale)


def check_gradient(module, objective, gradient, fields, value_of=lambda out: out, backend="python"):
    """The gradient message's answer (a list, or a dict by field) against differences of the objective."""
    m = message(module, gradient)
    got = answer(m, backend)
    for field in fields:
        size = np.size(m["input"][field])
        expected = [
            central_difference(module, objective, m["input"], field, i, value_of, backend)
            for i in range(size)
        ]
        ours = got[field] if isinstance(got, dict) else got
        assert_close(np.ravel(ours), expected, scale=np.max(np.abs(expected)))


def test_session_answers_every_message_in_order():
    out = io.StringIO()
    tool.main(io.StringIO("".join(json.dumps(m) + "\n" for m in SESSION[:4])), out)
    responses = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in responses] == [m["id"] for m in SESSION[:4]]
    assert responses[0]["tool"] == "s2sad"
    assert responses[1]["success"] is True
    assert isinstance(responses[2]["output"], float) and len(responses[3]["output"]) == len(
        SESSION[3]["input"]["x"]
    )


def test_unknown_module_is_declined_and_analysis_acknowledged():
    assert tool.respond({"id": 3, "kind": "define", "module": "hello_world"})["success"] is False
    assert tool.respond({"id": 4, "kind": "analysis", "of": 2, "valid": True}) == {"id": 4}


def test_failure_is_reported_not_raised():
    response = tool.respond({"id": 5, "kind": "evaluate", "module": "lse", "function": "primal", "input": {}})
    assert response["success"] is False and "KeyError" in response["error"]


def test_runs_repeat_until_min_runs():
    m = dict(message("lse", "primal"))
    m["input"] = dict(m["input"], min_runs=3)
    assert [t["name"] for t in tool.respond(m)["timings"]] == [tool.FIRST_CALL] * tool.WARM_UP + [
        "evaluate"
    ] * 3


def test_the_tool_speaks_the_protocol_as_a_process():
    lines = "".join(json.dumps(m) + "\n" for m in SESSION[:4])
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run(
        [sys.executable, os.path.join(TOOL, "tool.py")],
        input=lines,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == [0, 1, 2, 3]


@pytest.mark.parametrize("module, field", [("lse", "x"), ("llsq", "x"), ("det", "A")])
def test_scalar_gradients(module, field):
    check_gradient(module, "primal", "gradient", [field])


def test_det_primal_is_the_determinant():
    m = message("det", "primal")
    ell = m["input"]["ell"]
    assert answer(m) == pytest.approx(np.linalg.det(np.reshape(m["input"]["A"], (ell, ell))), rel=1e-12)


def test_ode_gradient_is_that_of_the_last_component():
    check_gradient("ode", "primal", "gradient", ["x"], value_of=lambda out: out[-1])


def test_gmm_gradient():
    check_gradient("gmm", "objective", "jacobian", ["alpha", "mu", "q", "l"])


def test_lstm_gradient():
    m = message("lstm", "jacobian")
    got = answer(m)
    expected = []
    for field in ("main_params", "extra_params"):
        for i in range(np.size(m["input"][field])):
            expected.append(central_difference("lstm", "objective", m["input"], field, i, lambda out: out))
    assert_close(got, expected, scale=np.max(np.abs(expected)))


def test_kmeans_direction_is_gradient_over_hessian_diagonal():
    m = message("kmeans", "dir")
    got = np.array(answer(m))
    inputs, h = m["input"], 1e-3
    centroids = np.array(inputs["centroids"])
    gradient, curvature = np.zeros_like(centroids), np.zeros_like(centroids)
    cost = evaluate("kmeans", "cost", inputs)
    for i in range(centroids.size):
        values = []
        for sign in (1.0, -1.0):
            moved = centroids.copy()
            moved.flat[i] += sign * h
            values.append(evaluate("kmeans", "cost", dict(inputs, centroids=moved.tolist())))
        gradient.flat[i] = (values[0] - values[1]) / (2 * h)
        curvature.flat[i] = (values[0] - 2 * cost + values[1]) / h**2
    assert_close(got, gradient / curvature)


def test_ba_objective_and_sparse_jacobian():
    m = message("ba", "jacobian")
    got = answer(m)
    inputs = m["input"]
    n, points, p = inputs["n"], inputs["m"], inputs["p"]
    row_starts = [15 * i for i in range(2 * p + 1)] + [30 * p + i for i in range(1, p + 1)]
    assert got["rows"] == row_starts[:30] + [row_starts[-1]]  # GradBench keeps the first 30 and the last
    camera_columns = list(range(11))
    point_columns = [11 * n, 11 * n + 1, 11 * n + 2]
    assert got["cols"] == 2 * (camera_columns + point_columns + [11 * n + 3 * points]) + [
        11 * n + 3 * points + p - 1
    ]
    # observation 0 sees camera 0 and point 0 only: moving every camera / point moves its residuals as theirs
    residuals = lambda out: out["reproj_error"]["elements"]  # noqa: E731
    block = np.zeros((2, 15))
    for j in range(11):
        block[:, j] = central_difference("ba", "objective", inputs, "cam", j, residuals)
    for j in range(3):
        block[:, 11 + j] = central_difference("ba", "objective", inputs, "x", j, residuals)
    block[:, 14] = central_difference("ba", "objective", inputs, "w", 0, residuals)
    assert_close(got["vals"][:30], block.ravel(), scale=np.max(np.abs(block)))
    weight = central_difference("ba", "objective", inputs, "w", 0, lambda out: out["w_err"]["element"])
    assert_close(got["vals"][30], weight)
    objective = answer(message("ba", "objective"))
    assert objective["reproj_error"]["repeated"] == p and objective["w_err"]["repeated"] == p


@pytest.mark.parametrize("variant", ["simple", "complicated"])
def test_ht_jacobian(variant):
    m = message("ht", "jacobian", f"synthetic {variant}")
    got = np.array(answer(m))
    inputs = m["input"]
    columns = []
    if inputs["us"]:
        for k in range(2):  # a residual depends on its own point's u only: all points' u[k] move together
            values = []
            for sign in (1.0, -1.0):
                us = np.array(inputs["us"])
                us[:, k] += sign * STEP
                values.append(np.array(evaluate("ht", "objective", dict(inputs, us=us.tolist()))))
            columns.append((values[0] - values[1]) / (2 * STEP))
    for i in range(len(inputs["theta"])):
        columns.append(central_difference("ht", "objective", inputs, "theta", i, lambda out: out))
    expected = np.column_stack(columns)
    assert got.shape == expected.shape == (3 * len(inputs["data"]["points"]), 28 if inputs["us"] else 26)
    assert_close(got, expected, scale=np.max(np.abs(expected)))


def test_saddle_answer_is_a_saddle_point():
    from evals import saddle  # noqa: E402  (benchmarks/gradbench/evals)

    rr = np.array(answer(message("saddle", "rr")))  # the other modes' derivatives: the test below
    p1, p2 = rr[:2], rr[2:]
    for k in range(2):  # both gradients vanish there (the descent stops below 1e-5)
        e = np.eye(2)[k] * STEP
        assert abs(saddle.f(p1, p2 + e) - saddle.f(p1, p2 - e)) / (2 * STEP) < 1e-4
        moved = [saddle.max_over_p2(p1 + sign * e, np.array([1.0, 1.0]), False) for sign in (1.0, -1.0)]
        assert abs(moved[0] - moved[1]) / (2 * STEP) < 1e-4


@pytest.mark.parametrize("outer", ["r", "f"])
@pytest.mark.parametrize("inner", ["r", "f"])
def test_nested_derivatives_of_saddle_and_particle(outer, inner):
    from evals import particle, saddle  # noqa: E402

    forward = inner == "f"
    p1, start = np.array([0.7, -0.4]), np.array([1.0, 1.0])
    expected = [
        (
            saddle.max_over_p2(p1 + STEP * e, start, forward)
            - saddle.max_over_p2(p1 - STEP * e, start, forward)
        )
        / (2 * STEP)
        for e in np.eye(2)
    ]
    assert_close(saddle.GRADIENTS[outer](p1, start, forward), expected)
    w = np.array([0.1])
    expected = (particle.miss(w + STEP, forward) - particle.miss(w - STEP, forward)) / (2 * STEP)
    assert_close(particle.GRADIENTS[outer](w, forward), [expected], scale=abs(expected))


needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")


@needs_numba
def test_numba_tool_names_itself_and_leaves_s2sad_as_it_was():
    transforms = {name: getattr(s2sad, name) for name in tool.WITH_BACKEND}
    assert tool.respond(SESSION[0], "numba")["tool"] == "s2sad-numba"
    assert tool.respond(SESSION[1], "numba")["success"] is True
    assert {name: getattr(s2sad, name) for name in tool.WITH_BACKEND} == transforms
    assert tool.respond(SESSION[0])["tool"] == "s2sad"


@needs_numba
@pytest.mark.parametrize("module, field", [("lse", "x"), ("llsq", "x")])
def test_numba_tool_gradients(module, field):
    check_gradient(module, "primal", "gradient", [field], backend="numba")
    # the eval module as the numba tool imported it: its gradient is the numba target's
    gradient = tool.load(module, "numba").gradient
    assert gradient.__code__.co_filename == numba_backend.__file__
    assert tool.load(module).gradient.__code__.co_filename != numba_backend.__file__


@needs_numba
def test_numba_tool_lstm_gradient():
    """lstm's layer loop overwrites items of lists of layer states inside the time loop: the numba tool
    answers it, against central differences of the objective and to rounding as the Python tool does."""
    m = message("lstm", "jacobian")
    got = np.array(answer(m, "numba"))
    expected = [
        central_difference("lstm", "objective", m["input"], field, i, lambda out: out)
        for field in ("main_params", "extra_params")
        for i in range(np.size(m["input"][field]))
    ]
    assert_close(got, expected, scale=np.max(np.abs(expected)))
    python = np.array(answer(m))
    assert np.max(np.abs(got - python)) <= 1e-12 * max(1.0, float(np.max(np.abs(python))))


@needs_numba
def test_numba_tool_answers_or_refuses_with_an_s2sad_error():
    """det's gradient recurses: the numba target either answers it (then correctly) or answers the
    message with its s2sad error, naming the eval's line, never a crash of the tool."""
    m = message("det", "gradient")
    response = tool.respond(m, "numba")
    assert response["id"] == m["id"]
    if response["success"]:
        check_gradient("det", "primal", "gradient", ["A"], backend="numba")
    else:
        first = response["error"].splitlines()[0]
        assert first.startswith(("NumbaTargetError: ", "UnsupportedSyntaxError: ")), first
        assert os.path.join("evals", "det.py:") in first
