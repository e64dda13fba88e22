"""MNIST test set (data/mnist.py): IDX reading, errors on corrupt files, the one-class split and folders."""
import gzip
import struct

import numpy as np
import pytest

from dagmm_jax.data import DataError, download
from dagmm_jax.data import images as img
from dagmm_jax.data import mnist

DIGIT_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]   # shared/data/README.md
REGION = img.validate_pattern({'digit': {'width': 28, 'height': 28, 'region': 'all', 'filters': (4,)}})


@pytest.fixture
def real(data_file):
  """The real MNIST test set (skips without the files)."""
  data_file(mnist.IMAGES_FILE)
  data_file(mnist.LABELS_FILE)
  return mnist.load_mnist_test()


def _idx(path, magic, sizes, payload: bytes):
  """Writes a gzip IDX file: big-endian magic and sizes, then ``payload``."""
  with gzip.open(path, 'wb') as f:
    f.write(struct.pack(f'>{1 + len(sizes)}I', magic, *sizes) + payload)
  return path


def _pair(tmp_path, n=6, seed=0):
  """A small valid (images, labels) pair of IDX files: digit i % 10 for image i."""
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
  labels = (np.arange(n) % 10).astype(np.uint8)
  return (_idx(tmp_path / 'im.gz', mnist.IMAGES_MAGIC, (n, 28, 28), images.tobytes()),
          _idx(tmp_path / 'lb.gz', mnist.LABELS_MAGIC, (n,), labels.tobytes()), images, labels)


# -- reading --------------------------------------------------------------------

def test_files_are_registered_with_their_official_digests():
  for name in (mnist.IMAGES_FILE, mnist.LABELS_FILE):
    remote = download.FILES[name]
    assert remote.url.endswith(f'/mnist/{name}') and remote.url.startswith('https://')
  assert download.FILES[mnist.IMAGES_FILE].sha256.startswith('8d422c7b')
  assert download.FILES[mnist.LABELS_FILE].sha256.startswith('f7ae60f9')


def test_real_test_set(real):
  images, labels = real
  assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
  assert labels.shape == (10_000,) and labels.dtype == np.uint8
  assert np.bincount(labels, minlength=10).tolist() == DIGIT_COUNTS
  assert images.min() == 0 and images.max() == 255
  # digits are bright strokes on a black background: the border is dark, the centre is not
  assert images[:, 0, :].mean() < 1 and images[:, 10:18, 10:18].mean() > 60


def test_small_pair_round_trips(tmp_path):
  im_path, lb_path, images, labels = _pair(tmp_path)
  got_images, got_labels = mnist.load_idx_pair(im_path, lb_path)
  np.testing.assert_array_equal(got_images, images)
  np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize('which,magic,sizes,n_bytes,message', [
    ('images', 0x00000801, (2, 28, 28), 2 * 784, r'bad magic number 0x00000801: expected 0x00000803'),
    ('labels', 0x00000803, (2,), 2, r'bad magic number 0x00000803: expected 0x00000801'),
    ('images', mnist.IMAGES_MAGIC, (3, 28, 28), 2 * 784 + 5,
     r'truncated: .*3 x 28 x 28 = 2352 bytes.*holds 1573'),
    ('labels', mnist.LABELS_MAGIC, (9,), 4, r'truncated: .*9 = 9 bytes.*holds 4'),
    ('images', mnist.IMAGES_MAGIC, (2, 28, 28), 2 * 784 + 3, r'3 bytes after the 1568'),
    ('images', mnist.IMAGES_MAGIC, (2, 32, 32), 2 * 1024, r'32 x 32, expected 28 x 28'),
])
def test_corrupt_idx_names_file_and_expectation(tmp_path, which, magic, sizes, n_bytes, message):
  path = _idx(tmp_path / f'{which}.gz', magic, sizes, bytes(n_bytes))
  read = mnist.read_images if which == 'images' else mnist.read_labels
  with pytest.raises(DataError, match=message) as e:
    read(path)
  assert str(path) in str(e.value)


def test_truncated_header_and_gzip(tmp_path):
  short = tmp_path / 'short.gz'
  with gzip.open(short, 'wb') as f:
    f.write(struct.pack('>2I', mnist.IMAGES_MAGIC, 5))
  with pytest.raises(DataError, match=f'{short}: truncated: an IDX images header needs 16 bytes, .* holds 8'):
    mnist.read_images(short)
  im_path, *_ = _pair(tmp_path)
  cut = tmp_path / 'cut.gz'
  cut.write_bytes(im_path.read_bytes()[:200])
  with pytest.raises(DataError, match=f'{cut}: not a complete gzip file'):
    mnist.read_images(cut)
  plain = tmp_path / 'plain'
  plain.write_bytes(b'not gzip at all')
  with pytest.raises(DataError, match=f'{plain}: not a complete gzip file'):
    mnist.read_labels(plain)


def test_count_mismatch_names_both_files(tmp_path):
  im_path, _, _, _ = _pair(tmp_path, n=6)
  lb_path = _idx(tmp_path / 'five.gz', mnist.LABELS_MAGIC, (5,), bytes(5))
  with pytest.raises(DataError, match=f'{im_path} holds 6 images but {lb_path} holds 5 labels'):
    mnist.load_idx_pair(im_path, lb_path)


def test_labels_outside_digits(tmp_path):
  path = _idx(tmp_path / 'lb.gz', mnist.LABELS_MAGIC, (4,), bytes([1, 12, 9, 255]))
  with pytest.raises(DataError, match=rf'{path}: labels must be digits 0-9, found \[12, 255\]'):
    mnist.read_labels(path)


# -- one-class split -------------------------------------------------------------

def test_one_class_split_sizes_disjoint_and_seeded(real):
  images, labels = real
  for digit in (0, 1, 7):
    split = mnist.one_class_split(images, labels, digit, seed=0)
    n = DIGIT_COUNTS[digit]
    assert [len(split[k].index) for k in ('train', 'test_ok', 'test_ng')] == [n // 2, n - n // 2, 10_000 - n]
    train, ok, ng = (set(split[k].index.tolist()) for k in ('train', 'test_ok', 'test_ng'))
    assert not (train & ok) and not (train & ng) and not (ok & ng)
    assert len(train | ok | ng) == 10_000
    assert (labels[split['train'].index] == digit).all() and (labels[split['test_ok'].index] == digit).all()
    assert (labels[split['test_ng'].index] != digit).all()
    for subset in split.values():
      np.testing.assert_array_equal(subset.images, images[subset.index])
      assert (np.diff(subset.index) > 0).all()
  a, b, c = (mnist.one_class_split(images, labels, 3, seed) for seed in (5, 5, 6))
  np.testing.assert_array_equal(a['train'].index, b['train'].index)
  assert not np.array_equal(a['train'].index, c['train'].index)
  np.testing.assert_array_equal(a['test_ng'].index, c['test_ng'].index)   # always every other digit


def test_one_class_split_rejects_bad_digit():
  images, labels = np.zeros((4, 28, 28), np.uint8), np.array([0, 0, 1, 1], np.uint8)
  for digit in (-1, 10, 2.0, True):
    with pytest.raises(ValueError, match='digit must be an integer 0-9'):
      mnist.one_class_split(images, labels, digit, 0)
  with pytest.raises(ValueError, match='digit 5 has 0 images'):
    mnist.one_class_split(images, labels, 5, 0)


def test_write_one_class_round_trip(tmp_path, real):
  images, labels = real
  folders = mnist.write_one_class(tmp_path / 'd4', digit=4, seed=1)
  assert folders == {'train': tmp_path / 'd4' / 'train', 'test_ok': tmp_path / 'd4' / 'test' / 'ok',
                     'test_ng': tmp_path / 'd4' / 'test' / 'ng'}
  split = mnist.one_class_split(images, labels, 4, 1)
  for name, folder in folders.items():
    loaded = img.load_folder(folder, REGION, channels=1)
    assert loaded.names == [f'{i:05d}.png' for i in split[name].index]
    np.testing.assert_array_equal(loaded.arrays['digit'][..., 0], split[name].images)
  with pytest.raises(FileExistsError, match='not empty'):
    mnist.write_one_class(tmp_path / 'd4', digit=5, seed=1)


def test_write_one_class_from_given_arrays(tmp_path):
  *_, images, labels = _pair(tmp_path, n=30)
  folders = mnist.write_one_class(tmp_path / 'out', digit=2, seed=0, data=(images, labels))
  names = {k: sorted(p.name for p in f.iterdir()) for k, f in folders.items()}
  assert len(names['train']) == 1 and len(names['test_ok']) == 2
  assert sorted(names['train'] + names['test_ok']) == ['00002.png', '00012.png', '00022.png']
  loaded = img.load_folder(folders['test_ng'], REGION, channels=1)
  np.testing.assert_array_equal(loaded.arrays['digit'][..., 0], images[labels != 2])
