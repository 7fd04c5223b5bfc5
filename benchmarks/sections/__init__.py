"""The sections of the benchmark suite, one module each.

Each module measures one thing and returns plain data (report.py renders
it, targets.py judges it); run.py runs each in a fresh process:

- checks: gradients against references, before any timing
- record: record + gradient against plain Python, the reverse sweep alone,
  tape bytes per entry, page faults
- replay: fastad.trace replay against re-recording, C and CasADi; per-call
  cost; batches on 1 and 2 threads
- second_order: hvp against the gradient, vector-mode forward Jacobians,
  Hessians and Jacobians against JAX and CasADi
- jacrev: Jacobians by m reverse sweeps over one recording
- complex_numbers: complex gradients against real ones of the same code
- dispatch: single operations by operand kind, and NumPy's dispatch routes
- arrays: whole-array NumPy code (Rosenbrock, a logistic loss, an MLP) against
  the NumPy function itself, for fastad and its peers; tape size, fixed
  costs of one Array operation, ndarray arguments against lists

The comparison with other AD systems is benchmarks/peers.py.
"""
