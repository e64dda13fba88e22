"""Throughput benchmark: training (1 and S seeds), scoring, matmul roofline, load, memory.

Everything is measured in one process on the current machine, so the ratios
(model FLOP/s over matmul FLOP/s, S seeds over 1 seed) are comparable even on
a noisy shared machine; absolute times are not.
"""
import collections
import gzip
import json
import os
import pathlib
import re
import subprocess
import tempfile
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dagmm_jax import files, host
from dagmm_jax.scoring.evalset import EvalSet, make_score_fn
from dagmm_jax.data import load_dataset
from dagmm_jax.training import cpu, distributed, pinning, sharding, train


def _best_seconds(fn, repeats: int) -> float:
  """Best wall time of ``repeats`` calls (each blocked until ready)."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return min(times)


def matmul_flops(n: int = 2048, repeats: int = 5, dtype=jnp.float32) -> float:
  """Achievable dense matmul FLOP/s of the default device (an ``n x n`` product)."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), dtype)
  f = jax.jit(jnp.dot)
  jax.block_until_ready(f(a, b))
  return 2 * n ** 3 / _best_seconds(lambda: f(a, b), repeats)


def model_flops_per_sample(params: Any) -> float:
  """Forward + backward FLOPs per sample of the dense layers of one seed's network:
  ``6 * fan_in * fan_out`` per kernel (2 forward, 4 backward: input and weight
  gradients). Elementwise work and the K x D x D mixture algebra are left out."""
  kernels = [l for path, l in jax.tree_util.tree_leaves_with_path(params)
             if 'kernel' in jax.tree_util.keystr(path)]
  return float(sum(6 * np.prod(k.shape[-2:]) for k in kernels))


def _training_program(config: ml_collections.ConfigDict, data, seeds: list[int], mesh=None):
  """``(state, train data, run_epochs, batch, steps)`` of the real training program
  (with ``mesh``, the seeds sharded over it as in a multi-process run)."""
  evalset = EvalSet.build(config, data, seeds, mesh)
  state = sharding.shard_state(train.init_state(config, seeds, data.x.shape[1]), mesh)
  batch, steps = train.batch_plan(distributed.gather(evalset.train.n_train), config.batch_size)
  return state, evalset.train, train.make_epoch_fn(config, batch, steps, mesh), batch, steps


def train_throughput(config: ml_collections.ConfigDict, data, seeds: list[int],
                     epochs: int, repeats: int, mesh=None, barrier=lambda: None) -> dict[str, float]:
  """Samples/s of training ``len(seeds)`` seeds together (``epochs`` fused epochs per call);
  ``barrier()`` is called between the first (compiling) call and the timed ones.
  In a multi-process run the time is the slowest process's."""
  state, train_data, run_epochs, batch, steps = _training_program(config, data, seeds, mesh)
  start = time.perf_counter()
  state, m = run_epochs(state, train_data, epochs)
  jax.block_until_ready(m)
  first = time.perf_counter() - start
  barrier()
  holder = [state]

  def call():
    holder[0], metrics = run_epochs(holder[0], train_data, epochs)
    return metrics

  seconds = _best_seconds(call, repeats)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    seconds = float(np.max(multihost_utils.process_allgather(np.asarray([seconds]))))
  rows = int(np.sum(distributed.gather(train_data.n_train)))   # every seed's rows: a full pass
  samples = epochs * rows
  one_seed = train.init_state(config, [0], data.x.shape[1]).params   # FLOPs depend on shapes only
  flops = model_flops_per_sample(jax.tree_util.tree_map(lambda a: a[0], one_seed)) * samples
  return {'seeds': len(seeds), 'processes': jax.process_count(), 'steps_per_epoch': steps,
          'batch': batch, 'rows_per_epoch': rows, 'seconds_per_epoch': seconds / epochs,
          'samples_per_s': samples / seconds, 'model_flops_per_s': flops / seconds,
          'compile_s': first - seconds}


LAPACK_OPS = ('triangular_solve', 'cholesky', 'eigh', 'lapack', 'custom-call')
HLO_NAME = re.compile(r'^[a-z][\w\-]*(\.\d+)?$')   # trace events of XLA ops (not runtime/Python)


def write_report(out: pathlib.Path, stem: str, result: dict[str, Any], text: str) -> None:
  """Writes ``out/<stem>.json`` (the figures) and ``out/<stem>.md`` (``text``), and prints ``text``."""
  files.write_json(pathlib.Path(out) / f'{stem}.json', result)
  files.write_text(pathlib.Path(out) / f'{stem}.md', text)
  print(text)


def interleaved_medians(programs: dict[str, Callable[[], Any]], rounds: int, calls: int = 1) -> dict[str, float]:
  """Median seconds per call of each already-compiled ``programs[name]()`` (which
  waits for its result), timed in ``rounds`` rounds that run every program
  ``calls`` times in turn, so that all of them see the same machine load."""
  times = {k: [] for k in programs}
  for _ in range(rounds):
    for k, f in programs.items():
      start = time.perf_counter()
      for _ in range(calls):
        f()
      times[k].append((time.perf_counter() - start) / calls)
  return {k: float(np.median(v)) for k, v in times.items()}


def _timed_program(fn, arg, repeats: int) -> tuple[float, float, Any]:
  """``(compile + first call s, best call s, output)`` of a fresh ``jit(fn)``."""
  jitted = jax.jit(fn)
  start = time.perf_counter()
  out = jax.block_until_ready(jitted(arg))
  return time.perf_counter() - start, _best_seconds(lambda: jitted(arg), repeats), out


def cpu_paths(seeds: int = 10, rows: int = 198_372, steps: int = 193, repeats: int = 3,
              batch: int = 1024, units: int = 10) -> dict[str, Any]:
  """JAX's default CPU paths against ``cpu.py``'s, in one process, with a check that
  each pair computes the same bits: an epoch's dropout masks (``steps`` x ``seeds`` x
  ``batch`` x ``units``, rolled vs unrolled Threefry) and the epoch shuffle's stable
  argsort of ``seeds`` x ``rows`` keys (XLA sort vs ``cpu.stable_argsort``)."""
  keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seeds))

  def masks(k):
    def step(count, t):
      m = jax.vmap(lambda s: jax.random.bernoulli(jax.random.fold_in(s, t), 0.5, (batch, units)))(k)
      return count + jnp.sum(m), m[:, 0, 0]
    return jax.lax.scan(step, jnp.zeros((), jnp.int32), jnp.arange(steps))

  out = {'seeds': seeds, 'rows': rows, 'steps': steps, 'batch': batch, 'units': units}
  drawn = {}
  for name, unrolled in (('rolled', False), ('unrolled', True)):
    if not cpu.unroll_threefry_on_cpu(unrolled):
      raise RuntimeError('this JAX version has no Threefry lowering rules to choose between')
    # A new function object, so that it is traced (and lowered) afresh with this rule.
    compile_s, run_s, result = _timed_program(lambda k: masks(k), keys, repeats)
    out[f'masks_{name}'] = {'compile_s': compile_s, 'epoch_s': run_s}
    drawn[name] = jax.device_get(result)
  out['masks_identical'] = all(np.array_equal(a, b)
                               for a, b in zip(drawn['rolled'], drawn['unrolled']))

  u = jax.vmap(lambda k: jax.random.uniform(k, (rows,)))(keys)
  u = u.at[:, rows - rows // 100:].set(2.0)       # padding sorts last, as in training
  xla = lambda v: jnp.argsort(v, axis=-1, stable=True).astype(jnp.int32)
  sorts = {}
  for name, fn in (('xla', xla), ('numpy', jax.vmap(cpu.stable_argsort))):
    compile_s, run_s, result = _timed_program(fn, u, repeats)
    out[f'sort_{name}'] = {'compile_s': compile_s, 'epoch_s': run_s}
    sorts[name] = np.asarray(result)
  out['sort_identical'] = bool(np.array_equal(sorts['xla'], sorts['numpy']))
  return out


def cpu_paths_markdown(r: dict[str, Any]) -> str:
  """``cpu_paths`` as a markdown table."""
  speedup = lambda slow, fast: r[slow]['epoch_s'] / r[fast]['epoch_s']
  row = lambda label, d: f"| {label} | {d['epoch_s'] * 1e3:.1f} ms | {d['compile_s']:.2f} s |"
  return '\n'.join([
      f"JAX's default CPU paths vs `cpu.py` on `{jax.devices()[0]}`, one process, best of "
      'the timed calls.', '',
      '| path | per epoch | compile + first call |', '|---|---|---|',
      row(f"dropout masks, rolled Threefry (JAX's CPU rule): {r['steps']} steps x {r['seeds']} "
          f"seeds x {r['batch']} x {r['units']}", r['masks_rolled']),
      row('dropout masks, unrolled Threefry (`cpu.unroll_threefry_on_cpu`)', r['masks_unrolled']),
      row(f"shuffle: stable argsort of {r['seeds']} x {r['rows']:,} keys, XLA sort", r['sort_xla']),
      row('shuffle: `cpu.stable_argsort` (NumPy, packed keys)', r['sort_numpy']), '',
      f"Masks {speedup('masks_rolled', 'masks_unrolled'):.1f}x faster, bit-identical: "
      f"{r['masks_identical']}. Sort {speedup('sort_xla', 'sort_numpy'):.1f}x faster, "
      f"identical order: {r['sort_identical']}.", ''])


def op_kind(name: str) -> str:
  """The kind of an XLA CPU op, from its HLO name."""
  if name.startswith(('ynn_fusion', 'xnn_fusion', 'dot')):
    return 'dots and YNNPACK library fusions'
  if any(k in name for k in LAPACK_OPS):
    return 'LAPACK calls (Cholesky, triangular solve, eigh)'
  return 'other XLA kernels (elementwise, reductions, gathers, copies)'


def profile_steps(config: ml_collections.ConfigDict, seeds: int, epochs: int,
                  out: pathlib.Path) -> dict[str, Any]:
  """Traces ``epochs`` epochs of ``seeds`` seeds (after a warm-up call) and sums op
  times from the trace: milliseconds per step by kind and the slowest ops."""
  data = load_dataset(config.dataset)
  state, train_data, run_epochs, batch, steps = _training_program(config, data, list(range(seeds)))
  compiled = run_epochs.lower(state, train_data, epochs).compile()   # compiled once, run twice
  hlo = compiled.as_text()
  files.write_text(out / 'program.hlo.txt', hlo)
  origin = dict(re.findall(r'%([\w.\-]+) = .*?op_name="([^"]+)"', hlo))
  state, m = compiled(state, train_data)
  jax.block_until_ready(m)
  trace_dir = out / 'trace'
  with jax.profiler.trace(str(trace_dir), create_perfetto_trace=True):
    start = time.perf_counter()
    state, m = compiled(state, train_data)
    jax.block_until_ready(m)
    wall = time.perf_counter() - start
  path = max(trace_dir.glob('plugins/profile/*/perfetto_trace.json.gz'), key=os.path.getmtime)
  events = json.load(gzip.open(path))
  events = events['traceEvents'] if isinstance(events, dict) else events
  per_op = collections.Counter()
  for e in events:
    if e.get('ph') == 'X' and HLO_NAME.match(e.get('name', '')):
      per_op[e['name']] += e.get('dur', 0) / 1e3                   # microseconds -> ms
  n_steps = epochs * steps
  kinds = collections.Counter()
  for name, ms in per_op.items():
    kinds[op_kind(name)] += ms / n_steps
  return {'device': str(jax.devices()[0]), 'dataset': config.dataset, 'seeds': seeds,
          'batch': batch, 'steps': n_steps, 'wall_ms_per_step': 1e3 * wall / n_steps,
          'kinds_ms_per_step': dict(kinds.most_common()),
          'top_ops': [{'op': name, 'ms_per_step': ms / n_steps, 'kind': op_kind(name),
                       'from': origin.get(name, '')} for name, ms in per_op.most_common(40)]}


def profile_markdown(r: dict[str, Any]) -> str:
  """The profile as markdown tables."""
  total = sum(r['kinds_ms_per_step'].values())
  lines = [f"Profile on `{r['device']}`: {r['dataset']}, {r['seeds']} seeds, batch {r['batch']}, "
           f"{r['steps']} steps traced; wall {r['wall_ms_per_step']:.1f} ms per step. Op times are "
           'summed over the threads that ran them.', '',
           '| kind | ms per step | share |', '|---|---|---|']
  lines += [f'| {k} | {v:.2f} | {100 * v / total:.0f}% |' for k, v in r['kinds_ms_per_step'].items()]
  lines += ['', '| op | ms per step | from |', '|---|---|---|']
  lines += [f"| `{o['op']}` | {o['ms_per_step']:.2f} | {o['from'].split('/while/body/')[-1][-90:]} |"
            for o in r['top_ops']]
  return '\n'.join(lines) + '\n'


def parallel_train_throughput(config: ml_collections.ConfigDict, seeds: int, epochs: int,
                              repeats: int, processes: int) -> dict[str, float]:
  """``train_throughput`` of ``seeds`` seeds in ``processes`` processes of JAX's
  multi-controller runtime, each pinned to its own cores, the seeds sharded over
  them: the program ``--processes`` runs. Timed after a global barrier once every
  process has compiled; the time is the slowest process's, the peak host memory
  every process's summed."""
  with tempfile.TemporaryDirectory() as tmp:
    files.write_json(pathlib.Path(tmp) / 'config.json', config.to_dict())
    coordinator = f'127.0.0.1:{distributed.free_port()}'
    procs = [pinning.spawn('benchmarks.lib:runtime_worker',
                           [tmp, coordinator, str(processes), str(i), str(seeds), str(epochs),
                            str(repeats)], cores, stdout=subprocess.PIPE)
             for i, cores in enumerate(pinning.core_groups(processes))]
    try:
      outs = [p.communicate()[0] for p in procs]
    finally:   # interrupted (Ctrl-C): no process outlives the benchmark
      for p in procs:
        if p.poll() is None:
          p.terminate()
  if any(p.returncode for p in procs):
    raise RuntimeError(f'benchmark process(es) failed: exit statuses {[p.returncode for p in procs]}')
  return json.loads(outs[0].decode().strip().splitlines()[-1])


def runtime_worker(argv: list[str]) -> None:
  """``DIR COORDINATOR N I SEEDS EPOCHS REPEATS``: process ``I`` of
  ``parallel_train_throughput`` (started pinned by ``pinning.spawn``); process 0
  prints the result as JSON."""
  from jax.experimental import multihost_utils
  directory, coordinator, n, i, seeds, epochs, repeats = argv
  cpu.unroll_threefry_on_cpu()   # as the commands do
  distributed.initialize(coordinator, int(n), int(i))
  config = pinning.read_config(directory)
  mesh = sharding.seed_mesh(int(seeds))
  out = train_throughput(config, load_dataset(config.dataset), list(range(int(seeds))), int(epochs),
                         int(repeats), mesh, lambda: multihost_utils.sync_global_devices('compiled'))
  peak = distributed.peak_host_memory()
  if distributed.is_writer():
    print(json.dumps({**out, 'peak_host_memory_gib': peak['total'], 'peak_host_memory': peak}))


def score_throughput(config: ml_collections.ConfigDict, data, seeds: list[int],
                     repeats: int) -> dict[str, float]:
  """Energies/s of the final step (exact GMM fit over training rows + test energies)."""
  evalset = EvalSet.build(config, data, seeds)
  state = train.init_state(config, seeds, data.x.shape[1])
  score = make_score_fn(config)
  call = lambda: score(state.params, evalset.train, evalset.test_idx).energies
  start = time.perf_counter()
  jax.block_until_ready(call())
  first = time.perf_counter() - start
  seconds = _best_seconds(call, repeats)
  n_test = int(np.sum(evalset.n_test))
  return {'seeds': len(seeds), 'energies_per_s': n_test / seconds,
          'rows_embedded_per_s': (n_test + int(np.sum(evalset.train.n_train))) / seconds,
          'compile_s': first - seconds}


def run(config: ml_collections.ConfigDict, seeds: int, epochs: int, repeats: int,
        processes: int = 1) -> dict[str, Any]:
  """The whole benchmark; returns a JSON-able dict. With ``processes > 1`` the
  ``seeds`` seeds are also measured in that many processes of the multi-controller
  runtime (``parallel_train_throughput``)."""
  start = time.perf_counter()
  load_dataset.cache_clear()
  data = load_dataset(config.dataset)
  load_s = time.perf_counter() - start
  out = {'device': str(jax.devices()[0]), 'backend': jax.default_backend(),
         'dataset': config.dataset, 'dtype': config.dtype, 'load_s': load_s,
         'matmul_flops_per_s': matmul_flops()}
  out['train'] = [train_throughput(config, data, list(range(s)), epochs, repeats)
                  for s in sorted({1, seeds})]
  if processes > 1:
    out['train'].append(parallel_train_throughput(config, seeds, epochs, repeats, processes))
  for t in out['train']:
    t['fraction_of_matmul'] = t['model_flops_per_s'] / out['matmul_flops_per_s']
  out['score'] = score_throughput(config, data, list(range(seeds)), repeats)
  out['peak_host_memory_gib'] = max([host.peak_host_memory_gib()] + [t.get('peak_host_memory_gib', 0)
                                                                  for t in out['train']])
  return out


def markdown(r: dict[str, Any]) -> str:
  """The benchmark as a markdown table."""
  lines = [f"Benchmark on `{r['device']}` ({r['dataset']}, {r['dtype']})", '',
           '| measure | value |', '|---|---|',
           f"| dense matmul (2048², {r['dtype']}) | {r['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s |"]
  for t in r['train']:
    s = f"{t['seeds']} seed(s)" + (f" in {t['processes']} processes" if t.get('processes', 1) > 1 else '')
    lines += [f"| training, {s}: samples/s | {t['samples_per_s']:,.0f} |",
              f"| training, {s}: seconds per epoch ({t['steps_per_epoch']} steps of "
              f"{t['batch']}) | {t['seconds_per_epoch']:.3f} |",
              f"| training, {s}: model FLOP/s (fraction of matmul) | "
              f"{t['model_flops_per_s'] / 1e9:.1f} GFLOP/s ({100 * t['fraction_of_matmul']:.0f}%) |",
              f"| training, {s}: compile | {t['compile_s']:.1f} s |"]
  sc = r['score']
  lines += [f"| scoring, {sc['seeds']} seeds: test energies/s (incl. exact GMM fit) | "
            f"{sc['energies_per_s']:,.0f} |",
            f"| scoring: compile | {sc['compile_s']:.1f} s |",
            f"| load + preprocess {r['dataset']} (warm TFDS) | {r['load_s']:.2f} s |",
            f"| peak host memory (one process, or the processes together) | "
            f"{r['peak_host_memory_gib']:.2f} GiB |"]
  return '\n'.join(lines) + '\n'

