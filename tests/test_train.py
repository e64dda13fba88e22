"""Training: gradients reach every parameter, resume is exact, NaN seeds are isolated."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dagmm_jax.core import objective, regularizers
from dagmm_jax.training import checkpoint, train
from dagmm_jax.core.model import build_net
from helpers import load_config, synthetic_data


def _config(**kw):
  base = dict(batch_size=100, num_epochs=2, model__hidden=(16, 8), checkpoint_every=1)
  return load_config('kdd', **{**base, **kw})


def test_gradients_are_finite_and_nonzero_for_every_parameter():
  config = _config()
  data = synthetic_data(n_seeds=1)
  net = build_net(config)
  params = net.init({'params': jax.random.PRNGKey(0)}, data.x[:1], train=False)
  loss_fn = lambda p: objective.dagmm_loss(
      p, net, data.x[:100], jax.random.PRNGKey(1), regularizers.get_regularizer('jitter(eps=1e-6)'),
      config.lambda_energy, config.lambda_cov)[0]
  grads = jax.grad(loss_fn)(params)
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert np.all(np.isfinite(g)), path
    assert np.any(g != 0), f'zero gradient for {jax.tree_util.keystr(path)}'


def test_one_epoch_changes_every_parameter_and_logs_diagnostics():
  config = _config(num_epochs=1)
  data = synthetic_data(n_seeds=2)
  state = train.init_state(config, [0, 1], data.x.shape[1])
  before = jax.device_get(state.params)
  logged = []
  after = train.fit(config, state, data, on_epoch=lambda e, m, s, st: logged.append(m)).params
  (m,) = logged
  k = config.model.n_mixtures
  assert m.min_eig.shape == m.cond.shape == m.phi.shape == m.min_phi.shape == (2, k)
  assert np.all(m.min_phi <= m.phi) and np.all(m.min_phi > 0)
  assert np.all(m.min_eig > 0) and np.all(m.cond >= 1) and np.all(np.isfinite(m.cond))
  np.testing.assert_allclose(m.phi.sum(axis=1), 1.0, rtol=1e-5)
  assert m.cholesky_failures.tolist() == [0, 0] and m.n_nonfinite.tolist() == [0, 0]
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(before), jax.tree_util.tree_leaves(after)):
    changed = np.any(np.asarray(a) != np.asarray(b), axis=tuple(range(1, np.ndim(a))))
    assert changed.all(), f'{jax.tree_util.keystr(path)} unchanged for some seed'


def test_dropout_only_in_training():
  config = _config()
  net = build_net(config)
  x = synthetic_data(n_seeds=1).x[:50]
  params = net.init({'params': jax.random.PRNGKey(0)}, x, train=False)
  g_eval = [net.apply(params, x, train=False).gamma for _ in range(2)]
  np.testing.assert_array_equal(g_eval[0], g_eval[1])
  g_train = [net.apply(params, x, train=True, rngs={'dropout': jax.random.PRNGKey(i)}).gamma
             for i in range(2)]
  assert np.any(np.asarray(g_train[0]) != np.asarray(g_train[1]))


def test_resume_equals_uninterrupted(tmp_path):
  data = synthetic_data(n_seeds=2)
  full = train.fit(_config(num_epochs=4), train.init_state(_config(), [0, 1], 8), data)

  mngr = checkpoint.manager(tmp_path / 'ckpt')
  train.fit(_config(num_epochs=2), train.init_state(_config(), [0, 1], 8), data, ckpt_mngr=mngr)
  fresh = train.init_state(_config(), [0, 1], 8)
  restored = checkpoint.restore(checkpoint.manager(tmp_path / 'ckpt'), fresh)
  assert int(restored.epoch) == 2
  resumed = train.fit(_config(num_epochs=4), restored, data)
  assert int(resumed.epoch) == 4
  for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(resumed)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_nan_seed_is_marked_and_does_not_poison_others():
  data = synthetic_data(n_seeds=3)
  scale = np.ones((3, 8), np.float32)
  scale[1, 0] = 0.0                      # seed 1 divides by zero: inf inputs, NaN loss
  bad = data._replace(scale=jnp.asarray(scale))
  config = _config(num_epochs=2)
  state = train.fit(config, train.init_state(config, [0, 1, 2], 8), bad)
  assert list(np.asarray(state.failed_step)) == [-1, 0, -1]
  assert list(np.asarray(state.failed_epoch)) == [-1, 0, -1]
  assert [objective.nonfinite_name(c) if c else None for c in np.asarray(state.failed_cause)] == [
      None, 'reconstruction', None]
  assert all(np.all(np.isfinite(l)) for l in jax.tree_util.tree_leaves(state.params))
  # Seeds 0 and 2 end where they end when trained without seed 1.
  keep = jnp.array([0, 2])
  good = data._replace(train_idx=data.train_idx[keep], n_train=data.n_train[keep],
                       shift=data.shift[keep], scale=data.scale[keep])
  alone = train.fit(config, train.init_state(config, [0, 2], 8), good)
  for a, b in zip(jax.tree_util.tree_leaves(state.params), jax.tree_util.tree_leaves(alone.params)):
    np.testing.assert_allclose(np.asarray(a)[[0, 2]], np.asarray(b), rtol=1e-5, atol=1e-6)


def test_batch_plan_covers_the_largest_set_and_shrinks_to_small_sets():
  assert train.batch_plan(np.array([1000, 1050]), 100) == (100, 11)
  assert train.batch_plan(np.array([60, 70]), 128) == (70, 1)
  assert train.batch_plan(np.array([1840]), 1024) == (1024, 2)


def _epoch_rows(n: int, batch: int, n_pad: int, steps: int, seed: int = 0):
  """Rows and weights of every step of one epoch, as the training step takes them."""
  train_idx = jnp.asarray(np.r_[np.arange(100, 100 + n), np.zeros(n_pad - n, int)], jnp.int32)
  order = jnp.asarray(np.r_[np.random.default_rng(seed).permutation(n), np.arange(n, n_pad)], jnp.int32)
  fn = jax.jit(jax.vmap(lambda t: train.step_rows(train_idx, order, jnp.int32(n), batch, t)))
  rows, weights = jax.device_get(fn(jnp.arange(steps, dtype=jnp.int32)))
  return rows, weights


@pytest.mark.parametrize('n,batch', [(1840, 1024), (1024 + 511, 1024), (1024 + 512, 1024), (2048, 1024),
                                     (193, 128), (130, 128), (3 * 128 + 1, 128), (50, 128), (7, 7)])
def test_full_pass_visits_every_row_once_and_no_step_is_tiny(n, batch):
  steps = -(-n // batch)
  rows, weights = _epoch_rows(n, batch, n + 5, steps + 2)    # two empty steps (another seed's longer epoch)
  taken = rows[weights]
  assert sorted(taken.tolist()) == list(range(100, 100 + n))         # every row, exactly once
  sizes = weights.sum(axis=1)
  assert sizes[steps:].tolist() == [0, 0] and np.all(sizes[:steps] > 0)
  assert np.all(sizes[:steps] >= min(n, batch / 2)) and np.all(sizes <= batch)
  if n % batch >= batch / 2 or n % batch == 0:          # a large remainder is the last batch, as in TF
    assert np.all(sizes[:steps - 1] == batch) and sizes[steps - 1] == n - (steps - 1) * batch


def test_steps_per_epoch_are_logged_per_seed():
  """Two seeds with 250 and 120 rows, batch 100: 3 and 2 steps per epoch (all rows)."""
  config = _config(num_epochs=3, checkpoint_every=3)
  data = synthetic_data(n_seeds=2)
  data = data._replace(n_train=jnp.asarray([250, 120], jnp.int32))
  logged = []
  train.fit(config, train.init_state(config, [0, 1], 8), data,
            on_epoch=lambda e, m, s, st: logged.append((e, m)))
  assert sum(int(jnp.asarray(m.steps)[0]) for _, m in logged) == 3 * 3
  assert sum(int(jnp.asarray(m.steps)[1]) for _, m in logged) == 3 * 2


def test_singular_mixture_without_regularizer_is_counted_and_fails_the_seed():
  """All rows identical: every covariance is exactly zero. With regularizer 'none'
  the Cholesky failures and NaN energies are counted and the seed is marked
  failed at its first step; with jitter the same data trains."""
  data = synthetic_data(n_seeds=1)
  data = data._replace(x=jnp.broadcast_to(data.x[:1], data.x.shape))
  for spec, fails in (('none', True), ('jitter(eps=1e-6)', False)):
    config = _config(num_epochs=1, gmm__regularizer=spec)
    logged = []
    state = train.fit(config, train.init_state(config, [0], 8), data,
                      on_epoch=lambda e, m, s, st: logged.append(m))
    assert (int(state.failed_step[0]) == 0) == fails
    # 'none' is a loading: the factor is formed from the rows, and it is exactly zero.
    assert objective.nonfinite_name(int(state.failed_cause[0])) == ('energy' if fails else 'unknown')
    assert (int(logged[0].cholesky_failures[0]) > 0) == fails
    assert (int(logged[0].n_nonfinite[0]) > 0) == fails


def test_epochs_per_call_divides_the_period():
  assert train.epochs_per_call(1, 1000) == 125      # tiny data: ~128 steps per call, divides 1000
  assert train.epochs_per_call(59, 10) == 2
  assert train.epochs_per_call(193, 10) == 1        # KDDCUP: one epoch per call
  assert train.epochs_per_call(6, 10) == 10
  assert train.epochs_per_call(1, 7) == 7


def test_padding_rows_of_a_partial_batch_take_no_part_in_the_loss():
  """A batch padded with extreme rows and weighted 0/1 gives the loss, the terms and
  the gradients of the real rows alone (dropout off: its masks depend on the shape)."""
  config = _config(model__dropout_rate=0.0)
  net = build_net(config)
  x = synthetic_data(n_seeds=1).x[:60]
  params = net.init({'params': jax.random.PRNGKey(0)}, x[:1], train=False)
  reg = regularizers.get_regularizer('jitter(eps=1e-6)')
  junk = jnp.full((40, x.shape[1]), 1e30, x.dtype)
  loss = lambda p, xb, w: objective.dagmm_loss(p, net, xb, jax.random.PRNGKey(1), reg,
                                               config.lambda_energy, config.lambda_cov, weights=w)
  (l_real, t_real), g_real = jax.value_and_grad(loss, has_aux=True)(params, x, None)
  w = jnp.r_[jnp.ones(60), jnp.zeros(40)]
  (l_pad, t_pad), g_pad = jax.value_and_grad(loss, has_aux=True)(params, jnp.r_[x, junk], w)
  np.testing.assert_allclose(l_pad, l_real, rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(t_pad), jax.tree_util.tree_leaves(t_real)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  for a, b in zip(jax.tree_util.tree_leaves(g_pad), jax.tree_util.tree_leaves(g_real)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_kernel_init_is_configurable():
  """'glorot_uniform' (TensorFlow's default) draws kernels within sqrt(6 / (fan_in +
  fan_out)); 'lecun_normal' (Flax's) is a different draw; an unknown name is refused."""
  x = synthetic_data(n_seeds=1).x[:2]
  kernels = {}
  for name in ('lecun_normal', 'glorot_uniform'):
    params = build_net(_config(model__kernel_init=name)).init({'params': jax.random.PRNGKey(0)}, x)
    kernels[name] = [l for p, l in jax.tree_util.tree_leaves_with_path(params) if 'kernel' in str(p)]
  assert len(kernels['glorot_uniform']) == len(kernels['lecun_normal']) > 0
  for k in kernels['glorot_uniform']:
    assert np.max(np.abs(k)) <= np.sqrt(6.0 / (k.shape[0] + k.shape[1])) + 1e-7
  assert any(np.any(a != b) for a, b in zip(kernels['glorot_uniform'], kernels['lecun_normal']))
  with pytest.raises(ValueError, match='glorot_uniform'):
    build_net(_config(model__kernel_init='ones')).init({'params': jax.random.PRNGKey(0)}, x)


def test_a_multi_process_run_waits_once_per_period_with_the_same_records(monkeypatch):
  """With several processes ``fit`` dispatches a whole checkpoint period before it
  waits: the same per-call records and final state, the state handed over only at
  the period's end (3, 6 and the last epoch, 7)."""
  config = _config(num_epochs=7, checkpoint_every=3)
  data = synthetic_data(n_seeds=2)
  monkeypatch.setattr(train, 'MIN_STEPS_PER_CALL', 1)   # one epoch per call

  def run():
    logged = []
    state = train.fit(config, train.init_state(config, [0, 1], 8), data,
                      on_epoch=lambda e, m, s, st: logged.append((e, m, st is not None)))
    return jax.device_get(state), logged

  one_state, one = run()
  monkeypatch.setattr(jax, 'process_count', lambda: 2)
  many_state, many = run()
  assert [e for e, _, _ in one] == [e for e, _, _ in many] == list(range(1, 8))
  assert all(given for _, _, given in one)
  assert [e for e, _, given in many if given] == [3, 6, 7]
  for (_, a, _), (_, b, _) in zip(one, many):
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
  jax.tree_util.tree_map(np.testing.assert_array_equal, one_state, many_state)


def test_a_checkpoint_older_than_a_state_field_restores_with_its_initial_value(tmp_path):
  """Runs checkpointed before ``TrainState.failed_cause`` existed resume: the field takes
  the fresh state's value (0, healthy) and every saved field comes back as saved."""
  config = _config()
  state = train.init_state(config, [0, 1], 8)
  saved = state._replace(failed_step=jnp.asarray([-1, 5], jnp.int32))
  with checkpoint.opened(tmp_path / 'ckpt') as mngr:
    mngr.save(3, args=checkpoint.ocp.args.StandardSave(
        {k: v for k, v in saved._asdict().items() if k != 'failed_cause'}), force=True)
    mngr.wait_until_finished()
  with checkpoint.opened(tmp_path / 'ckpt') as mngr:
    restored = checkpoint.restore(mngr, state._replace(failed_cause=jnp.full((2,), 0, jnp.int32)))
  assert restored.failed_step.tolist() == [-1, 5] and restored.failed_cause.tolist() == [0, 0]
  for a, b in zip(jax.tree_util.tree_leaves(restored.params), jax.tree_util.tree_leaves(saved.params)):
    np.testing.assert_array_equal(a, b)
