"""Property tests of fastad.Array (docs/api.md section 7): random whole-array
programs (elementwise operations of the rule table in every spelling of
tests/catalogue.py, broadcasting against other results, Vars, numbers and
float arrays, slicing and moving elements, reductions, products, masks and
fastad.where, assignment) run on the Array argument and on the object array
np.asarray(x), and on floats for central differences.

For each program:
- values are the same bits as on object arrays; gradients (and Jacobians of
  array outputs, Hessian-vector products) equal them to rounding (where NumPy's
  object loops visit elements in another order, an element used several times
  gets the same adjoint terms added in another order);
- gradients agree with central differences where the program is smooth at the
  scale of the step (differences at h and h/2 agree), by Richardson's estimate;
- the recording has no branch guard (masks and where are evaluated again at
  every replay), so a Function traced with retrace=False replays the program
  at a point with other signs without calling f, with the bits of a fresh
  recording there.

`--stress` (or FASTAD_STRESS=1) runs many more programs.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastad
from catalogue import ops
from conftest import Counted, assert_close, fd_step, richardson, same_bits, smooth_at_step

QUICK_EXAMPLES = 60
STRESS_EXAMPLES = 1500
MAX_STEPS = 10
MAX_SIZE = 48
MAX_ABS = 1e4          # intermediate values of a program stay below this at x0
SHAPES = [(5,), (3, 4), (2, 3, 2), (1, 4)]

# ---- the operations ---------------------------------------------------------------------
# Every spelling of every operation of the catalogue (not the masks' internal
# rows), its operands mapped into its domain by the catalogue's map.

UNARY = {f"{op.name}:{label}": (op, f) for op in ops(arity=1)
         for label, f in op.spellings.items() if "_core" not in label}
BINARY = {f"{op.name}:{label}": (op, f) for op in ops(arity=2)
          for label, f in op.spellings.items() if "_core" not in label}



def _element_by_element(ufunc):
    """ufunc on an object array holding Vars and plain numbers (NumPy's object loop
    calls a method of the element, which a float lacks)."""
    def on_element(e):
        if type(e) is fastad.Var:
            return ufunc(np.array([e], dtype=object))[0]
        return ufunc(np.float64(e))
    return np.frompyfunc(on_element, 1, 1)


def _on_objects(op, f):
    """The spelling on object arrays, where results of constants (np.maximum(x, 0.0)
    returns the number 0.0, np.zeros_like gives 0) sit among the Vars: fastad.<name>
    for a public operation (the same rule, bit for bit, as the ufunc on an Array),
    the operator or ufunc itself otherwise."""
    if op.public:
        return op.function
    if op.name in ("trunc", "rint"):
        return _element_by_element(f)
    return f


OBJECT_UNARY = {key: _on_objects(op, f) for key, (op, f) in UNARY.items()}

MOVES = ["rev", "tail", "T", "ravel", "reshape", "newaxis", "flip", "roll", "concat",
         "stack", "cumsum", "diff", "fancy", "boolidx", "swapaxes", "broadcast", "tile",
         "repeat", "triu", "diagonal", "ellipsis", "copy-assign"]
REDUCTIONS = ["sum", "mean", "prod", "max", "min", "sum-method", "max-method", "norm",
              "norm-axis"]
PRODUCTS = ["@W", "W@", "gram", "dot", "outer", "tensordot"]
SELECTIONS = ["where", "np.where", "mask-product", "mask-and", "mask-not", "np.maximum",
              "fastad.minimum", "clip", "mask-assign", "const-mask-assign"]
KINDS = ["unary"] * 2 + ["binary"] * 3 + ["move"] * 3 + ["reduce"] * 2 + ["product"] \
    + ["select"] * 3


def _is_object_array(v):
    return isinstance(v, np.ndarray) and v.dtype == object


def _copy(n):
    """A copy to assign into: an Array, an object array or a float array."""
    return n.copy() if type(n) is fastad.Array else np.array(n)


def operand(spec, nodes):
    kind = spec[0]
    if kind == "node":
        return nodes[spec[1]]
    if kind == "var":
        n = nodes[spec[1]]
        return n[(0,) * np.ndim(n)] if np.ndim(n) else n
    if kind == "num":
        return spec[1]
    return np.array(spec[1], dtype=np.float64).reshape(spec[2])   # a float array


def step(instr, nodes, objects=False):
    """One instruction on the nodes (Arrays, object arrays or floats alike)."""
    kind = instr[0]
    if kind == "unary":
        _, key, i = instr
        op, f = UNARY[key]
        if objects and _is_object_array(nodes[i]):
            f = OBJECT_UNARY[key]
        return f(op.domain(nodes[i]))
    if kind == "binary":
        _, key, i, spec, swap = instr
        op, f = BINARY[key]
        a, b = nodes[i], operand(spec, nodes)
        if swap:
            a, b = b, a
        return f(*op.domain(a, b))
    if kind == "move":
        return move(instr[1], nodes[instr[2]], nodes[instr[3]])
    if kind == "reduce":
        _, name, i, axis, keepdims = instr
        return reduce(name, nodes[i], axis, keepdims)
    if kind == "product":
        _, name, i, w = instr
        return product(name, nodes[i], w)
    if kind == "select":
        _, name, i, spec, c = instr
        return select(name, nodes[i], operand(spec, nodes), c)
    raise AssertionError(kind)


def move(name, n, m):
    if name == "rev":
        return n[::-1]
    if name == "tail":
        return n[1:]
    if name == "T":
        return n.T
    if name == "ravel":
        return np.ravel(n)
    if name == "reshape":
        return n.reshape(2, -1)
    if name == "newaxis":
        return n[None]
    if name == "flip":
        return np.flip(n, -1)
    if name == "roll":
        return np.roll(n, 1, axis=0)
    if name == "concat":
        return np.concatenate([n, n[:1] * 2.0])
    if name == "stack":
        return np.stack([n, m], axis=-1)
    if name == "cumsum":
        return np.cumsum(n, axis=-1)
    if name == "diff":
        return np.diff(n, axis=-1)
    if name == "fancy":
        return n[[0, -1, 0]]
    if name == "boolidx":
        return n[np.arange(np.shape(n)[0]) % 2 == 0]
    if name == "swapaxes":
        return np.swapaxes(n, 0, -1)
    if name == "broadcast":
        return np.broadcast_to(n, (2,) + np.shape(n))
    if name == "tile":
        return np.tile(n, 2)
    if name == "repeat":
        return np.repeat(n, 2, axis=0)
    if name == "triu":
        return np.triu(n)
    if name == "diagonal":
        return np.diagonal(n)
    if name == "ellipsis":
        return n[..., 0]
    if name == "copy-assign":          # r = zeros_like; r[0] = ...; r[1:] = ... (residuals)
        r = np.zeros_like(n)
        r[0] = n[-1] * 2.0
        r[1:] = n[1:] - n[:-1] ** 2
        return r
    raise AssertionError(name)


def reduce(name, n, axis, keepdims):
    if name == "sum":
        return np.sum(n, axis=axis, keepdims=keepdims)
    if name == "mean":
        return np.mean(n, axis=axis, keepdims=keepdims)
    if name == "prod":
        return np.prod(n, axis=axis, keepdims=keepdims)
    if name == "max":
        return np.max(n, axis=axis, keepdims=keepdims)
    if name == "min":
        return np.min(n, axis=axis, keepdims=keepdims)
    if name == "sum-method":
        return n.sum(axis=axis, keepdims=keepdims)
    if name == "max-method":
        return n.max(axis=axis, keepdims=keepdims)
    if name == "norm":
        return np.linalg.norm(n)
    if name == "norm-axis":
        return np.linalg.norm(n, axis=axis, keepdims=keepdims)
    raise AssertionError(name)


def product(name, n, w):
    if name == "@W":
        return n @ np.array(w[0]).reshape(w[1])
    if name == "W@":
        return np.array(w[0]).reshape(w[1]) @ n
    if name == "gram":
        return n @ n.T
    if name == "dot":
        return np.dot(n, n[::-1])
    if name == "outer":
        return np.outer(n, n[:3])
    if name == "tensordot":
        return np.tensordot(n, n, axes=np.ndim(n))
    raise AssertionError(name)


def select(name, n, other, c):
    if name == "where":
        return fastad.where(n > c, n, other)
    if name == "np.where":
        return np.where(n < c, other * 2.0, n)
    if name == "mask-product":
        return n * (n > c) + other
    if name == "mask-and":
        return fastad.where((n > c) & (n < c + 1.0), n * n, other)
    if name == "mask-not":
        return fastad.where(~(n >= c), other, n)
    if name == "np.maximum":
        return np.maximum(n, c)
    if name == "fastad.minimum":
        return fastad.minimum(n, other)
    if name == "clip":
        return np.clip(n, c, c + 0.75)
    if name == "mask-assign":
        y = _copy(n)
        y[n < c] = c
        return y
    if name == "const-mask-assign":
        y = _copy(n)
        y[(np.arange(np.size(n)) % 3 == 0).reshape(np.shape(n))] = c
        return y
    raise AssertionError(name)


# ---- generating programs -------------------------------------------------------------------

def _fits(shape):
    return int(np.prod(shape, dtype=np.int64)) <= MAX_SIZE and len(shape) <= 3


def _broadcastable(nodes, shape):
    """Indices of the nodes whose shape broadcasts with `shape` into a small array."""
    out = []
    for j, n in enumerate(nodes):
        try:
            joint = np.broadcast_shapes(shape, np.shape(n))
        except ValueError:
            continue
        if _fits(joint):
            out.append(j)
    return out


def _applicable_moves(s, nodes):
    nd = len(s)
    moves = []
    if nd >= 1:
        moves += ["rev", "flip", "roll", "concat", "cumsum", "fancy", "boolidx", "tile",
                  "repeat"]
        if s[0] >= 2:
            moves += ["tail", "copy-assign"]
        if s[-1] >= 2:
            moves.append("diff")
        if any(np.shape(m) == s for m in nodes) and nd <= 2:
            moves.append("stack")
        if nd <= 2:
            moves += ["newaxis", "broadcast"]
    if nd >= 2:
        moves += ["T", "ravel", "swapaxes", "ellipsis"]
    if nd == 2:
        moves += ["triu", "diagonal"]
    if nd >= 1 and int(np.prod(s)) % 2 == 0:
        moves.append("reshape")
    return moves


# Values on a grid of sixteenths in [-2, 2] (zero, ties and sign changes
# included): no input so close to a singular point that derivatives reach 1e15
# and forward and reverse mode, or adjoints added in another order, differ in
# every digit by rounding alone.
_VALUE = st.integers(-32, 32).map(lambda k: k / 16.0)


@st.composite
def _instruction(draw, nodes):
    i = draw(st.integers(0, len(nodes) - 1))
    n = nodes[i]
    s = np.shape(n)
    nd = len(s)
    kind = draw(st.sampled_from(KINDS))
    if kind == "unary":
        return ("unary", draw(st.sampled_from(sorted(UNARY))), i)
    if kind == "binary" or nd == 0:       # a 0-d node (a Var): only arithmetic
        key = draw(st.sampled_from(sorted(BINARY)))
        return ("binary", key, i, draw(_operand_spec(nodes, s)), draw(st.booleans()))
    if kind == "move":
        moves = _applicable_moves(s, nodes)
        name = draw(st.sampled_from(moves))
        j = i
        if name == "stack":
            j = draw(st.sampled_from([k for k, m in enumerate(nodes) if np.shape(m) == s]))
        return ("move", name, i, j)
    if kind == "reduce":
        name = draw(st.sampled_from(REDUCTIONS))
        axis = draw(st.one_of(st.none(), st.integers(-nd, nd - 1)))
        if name == "norm-axis" and axis is None:
            axis = -1
        return ("reduce", name, i, axis, draw(st.booleans()))
    if kind == "product":
        names = ["@W"] if nd <= 2 else []
        if nd <= 2:
            names.append("W@")
        if nd == 2:
            names.append("gram")
        if nd == 1:
            names += ["dot", "outer"]
        if nd >= 1:
            names.append("tensordot")
        name = draw(st.sampled_from(names))
        w = None
        if name == "@W":
            shape = (s[-1], 2)
            w = (tuple(draw(st.lists(_VALUE, min_size=s[-1] * 2, max_size=s[-1] * 2))), shape)
        elif name == "W@":
            shape = (2, s[0])
            w = (tuple(draw(st.lists(_VALUE, min_size=s[0] * 2, max_size=s[0] * 2))), shape)
        return ("product", name, i, w)
    name = draw(st.sampled_from(SELECTIONS))
    spec = draw(_operand_spec(nodes, s))
    return ("select", name, i, spec, draw(_VALUE))


@st.composite
def _operand_spec(draw, nodes, s):
    # (a Var with a float array makes an object array, not an Array: not for a 0-d node)
    kinds = ["node", "var", "num", "floats"] if s else ["node", "var", "num"]
    choice = draw(st.sampled_from(kinds))
    if choice == "node":
        return ("node", draw(st.sampled_from(_broadcastable(nodes, s))))
    if choice == "var":
        return ("var", draw(st.integers(0, len(nodes) - 1)))
    if choice == "num":
        return ("num", draw(_VALUE))
    shape = draw(st.sampled_from([s[-1:], (), (1,) + s[-1:]] if s else [(), (3,)]))
    size = int(np.prod(shape, dtype=np.int64))
    return ("floats", tuple(draw(st.lists(_VALUE, min_size=size, max_size=size))), shape)


def _acceptable(out):
    """A result the program keeps: a small array of finite values of moderate size."""
    arr = np.asarray(out)
    if arr.dtype == object or not _fits(arr.shape):
        return False
    return bool(np.all(np.isfinite(arr)) and np.all(np.abs(arr) <= MAX_ABS))


@st.composite
def programs(draw):
    shape = draw(st.sampled_from(SHAPES))
    size = int(np.prod(shape))
    x0 = np.array(draw(st.lists(_VALUE, min_size=size, max_size=size))).reshape(shape)
    nodes = [x0]
    program = []
    for _ in range(draw(st.integers(2, MAX_STEPS))):
        instr = draw(_instruction(nodes))
        with np.errstate(all="ignore"):
            out = step(instr, nodes)
        if _acceptable(out):
            nodes.append(np.asarray(out, dtype=np.float64) if np.ndim(out) else out)
            program.append(instr)
    scale = max(float(np.max(np.abs(np.asarray(n, dtype=np.float64)), initial=0.0))
                for n in nodes)
    return x0, tuple(program), scale


def run_nodes(program, x, objects=False):
    nodes = [x]
    for instr in program:
        nodes.append(step(instr, nodes, objects))
    return nodes


def run(program, x, objects=False):
    """The program's last result."""
    return run_nodes(program, x, objects)[-1]


def total(program, x, objects=False):
    """A scalar of every result of the program (no step is dead code)."""
    out = 0.0
    for k, node in enumerate(run_nodes(program, x, objects)[1:]):
        out = out + scalar(node) * (0.5 + k % 3)
    return out


def weights(shape):
    n = int(np.prod(shape, dtype=np.int64))
    return (np.arange(n) % 5 + 1.0).reshape(shape) * 0.5


def scalar(out):
    return np.sum(out * weights(np.shape(out))) if np.ndim(out) else out * 1.5


def on_array(program):
    def f(x):
        assert type(x) is fastad.Array
        return total(program, x)
    return f


def on_objects(program):
    def f(x):
        return total(program, np.asarray(x), objects=True)
    return f


def on_floats(program):
    def f(x):
        with np.errstate(all="ignore"):
            return float(total(program, x))
    return f


def _other_point(x0):
    """A point with other signs: every second element negated, the rest shifted."""
    flat = x0.reshape(-1)
    other = np.where(np.arange(flat.size) % 2 == 0, -flat, flat * 1.1 + 0.05)
    return other.reshape(x0.shape)


def close_to_rounding(a, b, same_singularities=True):
    """Equal to rounding: the same sums of adjoint terms, added in another order.
    Where one is not finite (a singular point: inf + -inf is nan in one order, inf
    in another) the other is not finite either (same_singularities), or the entry
    is not compared (forward against reverse mode, which differ there by design:
    docs/api.md section 1)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    finite = np.isfinite(b)
    if same_singularities:
        assert np.array_equal(np.isfinite(a), finite), (a, b)
    else:
        finite &= np.isfinite(a)
    scale = 1.0 + float(np.max(np.abs(b[finite]), initial=0.0))
    assert_close(a[finite], b[finite], rtol=1e-10, atol=1e-10 * scale)


def on_object_arrays(compute):
    """compute() on the object arrays, or None where NumPy's object loops cannot run
    the program: a result of constants only is plain numbers there (np.maximum(x,
    0.0) gives the number 0.0), and np.sqrt has no object loop for a float."""
    try:
        return compute()
    except TypeError as error:
        if "loop of ufunc does not support" in str(error):
            return None
        raise


def check_program(x0, program, scale):
    f = on_array(program)
    v, g = fastad.value_and_grad(f)(x0)
    reference = on_object_arrays(lambda: fastad.value_and_grad(on_objects(program))(x0))
    if reference is not None:
        # values: the same bits; gradients: the same to rounding
        assert same_bits(v, reference[0]), (v, reference[0])
        close_to_rounding(g, reference[1])

    # whole-array code stays on Arrays: every result is an Array or a Var
    with fastad.Tape() as t:
        nodes = run_nodes(program, t.var(x0))
    assert all(type(n) in (fastad.Array, fastad.Var) for n in nodes), \
        [type(n).__name__ for n in nodes]

    # central differences where the program is smooth at the scale of the step
    plain = on_floats(program)
    flat = x0.reshape(-1)
    for k in range(flat.size):
        step_k = fd_step(flat[k])

        def along(t, k=k):
            x = flat.copy()
            x[k] += t
            return plain(x.reshape(x0.shape))

        up, down, middle = along(step_k), along(-step_k), along(0.0)
        half_up, half_down = along(step_k / 2), along(-step_k / 2)
        fd_h = (up - down) / (2 * step_k)
        fd_half = (half_up - half_down) / step_k
        if not (np.isfinite(fd_h) and np.isfinite(fd_half) and smooth_at_step(fd_h, fd_half)):
            continue
        if not np.isfinite(g.reshape(-1)[k]):
            continue     # an infinite partial met a cancelling sum: nan by design
        # A kink at x (abs at 0, a tie of maximum) leaves the central differences
        # smooth. The one-sided ones tell: their difference is f'' h where f is
        # smooth, the jump of the slope (the same at h / 2) at a kink.
        jump_h = (up - 2 * middle + down) / step_k
        jump_half = (half_up - 2 * middle + half_down) / (step_k / 2)
        noise = 1e-9 * (1.0 + scale)
        if abs(jump_h) > noise and abs(jump_half) > 0.75 * abs(jump_h):
            continue
        estimate = richardson(fd_h, fd_half)
        assert abs(g.reshape(-1)[k] - estimate) <= 1e-5 * abs(estimate) + 1e-6 * (1.0 + scale), \
            (k, g.reshape(-1)[k], estimate, program)

    # no guard: a Function replays at other signs without calling f
    with fastad.Tape() as t:
        f(t.var(x0))
    assert t.n_guards == 0
    counted = Counted(f)
    F = fastad.trace(counted, x0, retrace=False)
    x1 = _other_point(x0)
    with np.errstate(all="ignore"):
        v1, g1 = F.value_and_grad(x1)
        v1_ref, g1_ref = fastad.value_and_grad(f)(x1)
    assert same_bits(v1, v1_ref) and same_bits(g1, g1_ref)
    assert counted.calls == 1

    # array outputs: Jacobians; and a Hessian-vector product
    out_shape = np.shape(run(program, x0))
    if out_shape and int(np.prod(out_shape)) <= 24:
        def out_array(x):
            return run(program, x) * 1.0

        J = fastad.jacobian(out_array, mode="reverse")(x0)
        J_obj = on_object_arrays(lambda: fastad.jacobian(
            lambda x: run(program, np.asarray(x), objects=True) * 1.0, mode="reverse")(x0))
        if J_obj is not None:
            close_to_rounding(J, J_obj)
        close_to_rounding(fastad.jacobian(out_array, mode="forward")(x0), J,
                          same_singularities=False)
    direction = weights(x0.shape) - 1.0
    hv = fastad.hvp(f, x0, direction)
    hv_obj = on_object_arrays(lambda: fastad.hvp(on_objects(program), x0, direction))
    if hv_obj is not None:
        close_to_rounding(hv, hv_obj)


def test_random_array_programs(stress):
    @settings(max_examples=STRESS_EXAMPLES if stress else QUICK_EXAMPLES)
    @given(programs())
    def check(case):
        check_program(*case)

    check()


# ---- every step once, deterministically ------------------------------------------------------
# Each operation, move, reduction, product and selection as a program of its own
# (after one elementwise step, so that it meets entries and constants both),
# checked as the random programs are.

P0 = np.array([[0.37, -1.21, 1.83, 0.64],
               [-0.52, 0.29, 1.12, -1.67],
               [0.91, -0.08, 2.41, -2.33]])
V0 = np.array([0.71, -0.45, 1.38, -1.92, 0.26])
SPECS = [("node", 1), ("var", 0), ("num", 0.85), ("floats", (0.4, -1.3, 2.2, 0.6), (4,)),
         ("node", 0)]
WARMUP = ("binary", "multiply:*", 0, ("floats", (1.0, 0.5, 0.0, -1.5), (4,)), False)


def _step_cases():
    cases = {}
    for k, key in enumerate(sorted(UNARY)):
        cases[f"unary-{key}"] = (P0, ("unary", key, 1))
    for k, key in enumerate(sorted(BINARY)):
        for swap in (False, True):
            spec = SPECS[(k + swap) % len(SPECS)]
            cases[f"binary-{key}-{spec[0]}-{'swapped' if swap else 'straight'}"] = (
                P0, ("binary", key, 1, spec, swap))
    for name in MOVES:
        cases[f"move-{name}"] = (P0, ("move", name, 1, 1))
    for name in REDUCTIONS:
        for axis, keepdims in ((None, False), (-1, True), (0, False)):
            cases[f"reduce-{name}-{axis}-{keepdims}"] = (P0, ("reduce", name, 1, axis, keepdims))
    weights_w = ((0.5, -1.0, 2.0, 0.25, 1.5, -0.75, 1.0, 0.0), (4, 2))
    weights_l = ((0.5, -1.0, 2.0, 0.25, 1.5, -0.75), (2, 3))
    cases["product-@W"] = (P0, ("product", "@W", 1, weights_w))
    cases["product-W@"] = (P0, ("product", "W@", 1, weights_l))
    cases["product-gram"] = (P0, ("product", "gram", 1, None))
    cases["product-tensordot"] = (P0, ("product", "tensordot", 1, None))
    cases["product-dot"] = (V0, ("product", "dot", 1, None))
    cases["product-outer"] = (V0, ("product", "outer", 1, None))
    for k, name in enumerate(SELECTIONS):
        for spec in (SPECS[k % len(SPECS)], SPECS[(k + 2) % len(SPECS)]):
            cases[f"select-{name}-{spec[0]}"] = (P0, ("select", name, 1, spec, 0.3))
    return cases


STEP_CASES = _step_cases()


@pytest.mark.parametrize("name", STEP_CASES)
def test_every_step(name):
    x0, instr = STEP_CASES[name]
    warmup = WARMUP if x0.shape[-1] == 4 else ("binary", "multiply:*", 0, ("num", 0.5), False)
    program = (warmup, instr)
    with np.errstate(all="ignore"):
        nodes = run_nodes(program, x0)
    scale = max(float(np.max(np.abs(np.asarray(n, dtype=np.float64)))) for n in nodes)
    check_program(x0, program, scale)
