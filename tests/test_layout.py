"""The package's shape: layers that import only downwards, no import cycles, and
console commands that start."""
import ast
import pathlib
import subprocess
import sys
import tomllib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'dagmm_jax'

# Each layer may import itself and the layers listed for it (never upwards).
LAYERS = {
    'base': set(),                                   # files.py, host.py, errors.py
    'core': {'base'},
    'data': {'base', 'core'},
    'training': {'base', 'core'},
    'scoring': {'base', 'core', 'data', 'training'},
    'reports': {'base', 'core', 'data', 'training', 'scoring'},
    'top': {'base', 'core', 'data', 'training', 'scoring', 'reports'},   # experiment, grid, estimator, ...
    'cli': {'base', 'core', 'data', 'training', 'scoring', 'reports', 'top'},
}


def _layer(module: str) -> str:
  parts = module.split('.')[1:]
  if not parts or parts[0] in ('files', 'host', 'errors', '__init__'):
    return 'base'
  return parts[0] if parts[0] in LAYERS else 'top'


def _imports(path: pathlib.Path) -> list[tuple[str, bool]]:
  """``[(imported dagmm_jax module, at module level)]``, leaving out imports under
  ``if TYPE_CHECKING:`` (annotations only)."""
  tree = ast.parse(path.read_text())
  skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
          and getattr(node.test, 'id', '') == 'TYPE_CHECKING' for n in ast.walk(node)}
  top = {id(n) for n in tree.body}
  out = []
  for node in ast.walk(tree):
    if id(node) in skip:
      continue
    if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('dagmm_jax'):
      for alias in node.names:
        sub = f'{node.module}.{alias.name}'
        is_module = (PACKAGE.parent / (sub.replace('.', '/') + '.py')).exists() or \
            (PACKAGE.parent / sub.replace('.', '/')).is_dir()
        out.append((sub if is_module else node.module, id(node) in top))
    elif isinstance(node, ast.Import):
      out += [(a.name, id(node) in top) for a in node.names if a.name.startswith('dagmm_jax')]
  return out


def _module(path: pathlib.Path) -> str:
  rel = path.relative_to(PACKAGE.parent).with_suffix('')
  return '.'.join(rel.parts[:-1] if rel.name == '__init__' else rel.parts)


def test_layers_import_only_downwards():
  wrong = []
  for path in PACKAGE.rglob('*.py'):
    me = _module(path)
    if me == 'dagmm_jax':
      continue   # the public API: lazy exports of the top layer
    for imported, _ in _imports(path):
      a, b = _layer(me), _layer(imported)
      if b != a and b not in LAYERS[a]:
        wrong.append(f'{me} ({a}) imports {imported} ({b})')
  assert not wrong, '\n'.join(wrong)


def test_no_import_cycles():
  graph = {}
  for path in PACKAGE.rglob('*.py'):
    graph[_module(path)] = {m for m, top in _imports(path) if top}
  seen, stack = set(), []

  def visit(node):
    if node in stack:
      raise AssertionError('import cycle: ' + ' -> '.join(stack[stack.index(node):] + [node]))
    if node in seen:
      return
    stack.append(node)
    for nxt in graph.get(node, ()):
      visit(nxt)
    stack.pop()
    seen.add(node)

  for node in graph:
    visit(node)


def test_every_console_command_starts():
  """Each ``[project.scripts]`` entry imports and its --help lists its own flags
  (absl ends --help with exit status 1)."""
  scripts = tomllib.loads((PACKAGE.parent / 'pyproject.toml').read_text())['project']['scripts']
  own = {'dagmm-train-images': '--train', 'dagmm-report': '--test_ok', 'dagmm-score': '--input',
         'dagmm-make-synthetic-images': '--n_train'}
  procs = {name: subprocess.Popen([sys.executable, '-c', f'from {target.split(":")[0]} import '
                                   f'{target.split(":")[1]} as m; import sys; sys.argv[1:] = ["--help"]; m()'],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for name, target in scripts.items()}
  for name, p in procs.items():
    out, _ = p.communicate(timeout=300)
    assert p.returncode in (0, 1) and f'{own.get(name, "--workdir")}:' in out, f'{name} --help:\n{out[-2000:]}'
