"""Image folders (data/images.py): patterns, loading, bit depths, channels; synthetic parts."""
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, TINY, load_config
from PIL import Image
from scipy import ndimage

from dagmm_jax.data import DataError
from dagmm_jax.data import images as img
from dagmm_jax.data import synthetic_images as synth


# -- patterns -------------------------------------------------------------------

def test_config_patterns_are_valid():
  config = load_config('images')
  for name in ('whole', 'connector'):
    assert img.get_pattern(config.patterns, name)
  connector = img.get_pattern(config.patterns, 'connector')
  assert any(r.boxes is not None and len(r.boxes) > 1 for r in connector)


@pytest.mark.parametrize('pattern,message', [
    ({'r': {'width': 8, 'height': 8, 'region': 'all'}}, r"misses \['filters'\]"),
    ({'r': {'width': 8, 'height': 8, 'region': (5, 0, 2, 4), 'filters': (4,)}}, 'empty or negative'),
    ({'r': {'width': 8, 'height': 8, 'region': (0, 0, 4), 'filters': (4,)}}, '4 integers'),
    ({'r': {'width': 0, 'height': 8, 'region': 'all', 'filters': (4,)}}, 'width must be a positive'),
    ({'r': {'width': 8, 'height': 8, 'region': 'everything', 'filters': (4,)}}, "'all', a box"),
    ({'r': {'width': 8, 'height': 8, 'region': 'all', 'filters': ()}}, 'filters must be'),
    ({'r': {'width': 8, 'height': 8, 'region': 'all', 'filters': (4,), 'colour': 1}}, 'unknown keys'),
    ({}, 'at least one region'),
])
def test_pattern_validation_errors(pattern, message):
  with pytest.raises(DataError, match=message):
    img.validate_pattern(pattern)


def test_unknown_pattern_lists_known():
  with pytest.raises(DataError, match=r"unknown pattern 'nope'.*'connector'.*'whole'"):
    img.get_pattern(load_config('images').patterns, 'nope')


# -- folder loading -------------------------------------------------------------

def _halves(path, size=(40, 30)):
  """RGB image: left half black, right half white (W x H = size)."""
  a = np.zeros((size[1], size[0], 3), np.uint8)
  a[:, size[0] // 2:] = 255
  Image.fromarray(a).save(path)


def test_load_formats_resize_and_range(tmp_path):
  for suffix in ('png', 'bmp', 'jpg', 'jpeg'):
    _halves(tmp_path / f'im_{suffix}.{suffix}')
  (tmp_path / 'notes.txt').write_text('not an image')
  for channels in (1, 3):
    region = img.validate_pattern({'r': {'width': 16, 'height': 12, 'region': 'all', 'filters': (4,)}})
    s = img.load_folder(tmp_path, region, channels)
    assert s.names == ['im_bmp.bmp', 'im_jpeg.jpeg', 'im_jpg.jpg', 'im_png.png']
    assert s.arrays['r'].shape == (4, 12, 16, channels) and s.arrays['r'].dtype == np.uint8
    x = img.to_unit(s.arrays['r'])
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert x[:, :, :6].max() < 0.1 and x[:, :, 10:].min() > 0.9   # black left, white right


def test_crop_and_stack(tmp_path):
  _halves(tmp_path / 'a.png')
  regions = img.validate_pattern({
      'right': {'width': 8, 'height': 8, 'region': (20, 0, 40, 30), 'filters': (4,)},
      'stack': {'width': 8, 'height': 8, 'region': [(25, 0, 40, 10), (0, 10, 15, 30)], 'filters': (4,)}})
  s = img.load_folder(tmp_path, regions, 1)
  assert img.to_unit(s.arrays['right']).min() > 0.99
  stack = img.to_unit(s.arrays['stack'])[0, ..., 0]
  assert stack.shape == (8, 8)
  assert stack[:4].min() > 0.99 and stack[4:].max() < 0.01   # white box on top of black box


def test_box_larger_than_image(tmp_path):
  _halves(tmp_path / 'small.png', size=(20, 20))
  regions = img.validate_pattern({'r': {'width': 8, 'height': 8, 'region': (0, 0, 30, 10), 'filters': (4,)}})
  with pytest.raises(DataError, match=r'small\.png is 20x20.*smaller than box \(0, 0, 30, 10\)'):
    img.load_folder(tmp_path, regions, 1)


def test_bad_file_and_skip(tmp_path):
  _halves(tmp_path / 'good.png')
  (tmp_path / 'broken.png').write_bytes(b'\x89PNG garbage')
  regions = img.validate_pattern(TINY)
  with pytest.raises(DataError, match=r'cannot read image .*broken\.png'):
    img.load_folder(tmp_path, regions, 1)
  with pytest.warns(UserWarning, match=r'skipped 1 unreadable image'):
    s = img.load_folder(tmp_path, regions, 1, skip_bad_images=True)
  assert s.names == ['good.png'] and s.n_skipped == 1


def test_empty_and_missing_folder(tmp_path):
  with pytest.raises(DataError, match='holds no images'):
    img.load_folder(tmp_path, img.validate_pattern(TINY), 1)
  with pytest.raises(DataError, match='does not exist'):
    img.load_folder(tmp_path / 'nope', img.validate_pattern(TINY), 1)
  with pytest.raises(DataError, match='channels must be 1'):
    img.read_image(tmp_path / 'x.png', 2)


@pytest.mark.parametrize('suffix', ['png', 'tif'])
def test_sixteen_bit_images_scale_by_their_bit_depth(tmp_path, suffix):
  a = np.zeros((24, 32), np.uint16)
  a[:, 8:16], a[:, 16:24], a[:, 24:] = 4000, 40000, 65535
  Image.fromarray(a).save(tmp_path / f'x.{suffix}')
  region = img.validate_pattern({'all': {'width': 32, 'height': 24, 'region': 'all', 'filters': (4,)}})[0]
  raw = img.load_folder(tmp_path, [region], channels=1).arrays['all']
  assert raw.dtype == np.uint16
  x = img.to_unit(raw)[0, :, :, 0]
  # 4000 is 0.061, not 255 -> 1.0 as convert('L') made it; the columns away from the edges are exact.
  np.testing.assert_allclose(x[:, [2, 12, 20, 30]], np.tile([0, 4000 / 65535, 40000 / 65535, 1.0], (24, 1)),
                             atol=1e-6)
  with pytest.raises(DataError, match=r'x\.%s is grayscale \(mode I;16.*channels=1' % suffix):
    img.load_folder(tmp_path, [region], channels=3)


def _old_float_loader(path, channels, size, box=None):
  """What load_folder gave before images stayed integer (issue 16 item 6): float32
  in [0, 1], 16-bit images resized in mode 'F' after the division by 65535."""
  from PIL import ImageOps
  with Image.open(path) as im:
    im.load()
    im = ImageOps.exif_transpose(im)
    if im.mode in img.SIXTEEN_BIT_MODES:
      im = Image.fromarray(np.asarray(im, np.float32) / 65535.0)
    else:
      im = im.convert('L' if channels == 1 else 'RGB')
  im = (im if box is None else im.crop(box)).resize(size, Image.BILINEAR)
  a = np.asarray(im, np.float32)
  a = a if im.mode == 'F' else a / 255.0
  return a[..., None] if a.ndim == 2 else a


def test_integer_arrays_match_the_old_float_loader(tmp_path):
  """uint8 for 8-bit files, uint16 for 16-bit PNG/TIFF; to_unit gives the old float
  loader's values: exactly for 8-bit, within half a count (0.5 / 65535) for 16-bit
  after a resize (the new path rounds the resized counts to uint16)."""
  rng = np.random.default_rng(0)
  smooth = np.cumsum(rng.integers(-2000, 2000, (37, 45)), axis=1) + 30000
  a16 = np.clip(smooth + rng.integers(-500, 500, (37, 45)), 0, 65535).astype(np.uint16)
  a8 = rng.integers(0, 256, (37, 45, 3), np.uint8)
  for d in ('png16', 'tif16', 'gray8', 'rgb8'):
    (tmp_path / d).mkdir()
  Image.fromarray(a16).save(tmp_path / 'png16' / 'a.png')
  Image.fromarray(a16).save(tmp_path / 'tif16' / 'a.tif')
  Image.fromarray(a8).save(tmp_path / 'rgb8' / 'a.png')
  Image.fromarray(a8[..., 1]).save(tmp_path / 'gray8' / 'a.png')
  regions = img.validate_pattern({
      'down': {'width': 17, 'height': 13, 'region': 'all', 'filters': (4,)},
      'up': {'width': 50, 'height': 41, 'region': (3, 2, 40, 30), 'filters': (4,)}})
  worst16 = 0.0
  for d, channels, dtype in [('png16', 1, np.uint16), ('tif16', 1, np.uint16), ('gray8', 1, np.uint8),
                             ('rgb8', 3, np.uint8)]:
    s = img.load_folder(tmp_path / d, regions, channels)
    for r in regions:
      assert s.arrays[r.name].dtype == dtype and s.arrays[r.name].shape == (1, r.height, r.width, channels)
      old = _old_float_loader(tmp_path / d / 'a.png' if d != 'tif16' else tmp_path / d / 'a.tif',
                              channels, (r.width, r.height), None if r.boxes is None else r.boxes[0])
      new = img.to_unit(s.arrays[r.name])[0]
      assert new.dtype == np.float32
      if dtype == np.uint8:
        np.testing.assert_array_equal(new, old)
      else:
        worst16 = max(worst16, float(np.abs(new - old).max()))
  print(f'16-bit max deviation from the old float loader: {worst16 * 65535:.4f} counts')
  assert worst16 <= 0.51 / 65535, worst16 * 65535   # within half a count (measured 0.50); exact passes too


def test_to_unit_and_pixel_scale():
  assert img.pixel_scale(np.uint8) == 255.0 and img.pixel_scale(np.uint16) == 65535.0
  assert img.pixel_scale(np.float32) == img.pixel_scale(np.float64) == 1.0
  with pytest.raises(TypeError, match='uint8, uint16 or float'):
    img.pixel_scale(np.int32)
  np.testing.assert_array_equal(img.to_unit(np.array([0, 51, 255], np.uint8)), np.float32([0, 0.2, 1.0]))
  np.testing.assert_array_equal(img.to_unit(np.array([0, 65535], np.uint16)), [0, 1.0])
  f = np.array([0.25, 0.5], np.float32)
  assert img.to_unit(f) is f and img.to_unit(f.astype(np.float64)).dtype == np.float32


def test_folder_mixing_bit_depths_names_one_file_of_each(tmp_path):
  Image.fromarray(np.full((20, 20), 100, np.uint8)).save(tmp_path / 'a8.png')
  Image.fromarray(np.full((20, 20), 1000, np.uint16)).save(tmp_path / 'b16.png')
  Image.fromarray(np.full((20, 20), 100, np.uint8)).save(tmp_path / 'c8.png')
  for skip in (False, True):
    with pytest.raises(DataError, match=r'mixes bit depths: a8\.png is 8-bit, b16\.png is 16-bit'):
      img.load_folder(tmp_path, img.validate_pattern(TINY), 1, skip_bad_images=skip)


@pytest.mark.parametrize('name,mode', [('c.png', 'RGB'), ('c.jpg', 'RGB'), ('rgba.png', 'RGBA'),
                                       ('pal.png', 'P'), ('cmyk.jpg', 'CMYK')])
def test_colour_image_with_one_channel_names_file_and_mode(tmp_path, name, mode):
  a = np.zeros((20, 24, 3), np.uint8)
  a[..., 0], a[..., 1] = 200, 50   # red-ish
  im = Image.fromarray(a)
  im = im.convert('P', palette=Image.ADAPTIVE) if mode == 'P' else im.convert(mode)
  im.save(tmp_path / name)
  with Image.open(tmp_path / name) as check:
    assert check.mode == mode
  Image.fromarray(np.full((20, 24), 9, np.uint8)).save(tmp_path / 'a_gray.png')   # read first, fine
  for skip in (False, True):   # a configuration error: never skipped
    with pytest.raises(DataError, match=r'%s is a colour image \(mode %s\).*--config\.channels=3'
                       % (name.replace('.', r'\.'), mode)):
      img.load_folder(tmp_path, img.validate_pattern(TINY), 1, skip_bad_images=skip)


@pytest.mark.parametrize('mode', ['L', 'LA', '1', 'I;16', 'P'])
def test_gray_image_with_three_channels_names_file(tmp_path, mode):
  g = np.tile(np.arange(0, 240, 10, dtype=np.uint8), (20, 1))
  im = Image.fromarray(g)
  if mode == 'I;16':
    im = Image.fromarray(g.astype(np.uint16) * 250)
  elif mode == 'P':   # a palette of grays only
    im = Image.fromarray(np.stack([g] * 3, -1)).convert('P', palette=Image.ADAPTIVE)
  elif mode != 'L':
    im = im.convert(mode)
  im.save(tmp_path / 'g.png')
  with Image.open(tmp_path / 'g.png') as check:
    assert check.mode == mode
  for skip in (False, True):
    with pytest.raises(DataError, match=r'g\.png is grayscale \(mode %s.*--config\.channels=1' % mode):
      img.load_folder(tmp_path, img.validate_pattern(TINY), 3, skip_bad_images=skip)
  assert img.load_folder(tmp_path, img.validate_pattern(TINY), 1).arrays['all'].shape[-1] == 1


def test_gray_content_in_a_colour_file_is_grayscale(tmp_path):
  """An RGB file whose three channels are equal everywhere (a gray JPEG saved as
  RGB) is taken with channels=1: exactly the pixels of the same image saved as L."""
  g = np.random.default_rng(0).integers(0, 256, (30, 40), np.uint8)
  for d in ('rgb', 'l', 'pal'):
    (tmp_path / d).mkdir()
  Image.fromarray(np.stack([g] * 3, -1)).save(tmp_path / 'rgb' / 'g.png')
  Image.fromarray(np.stack([g] * 3, -1)).save(tmp_path / 'rgb' / 'g.jpg', quality=90)
  Image.fromarray(g).save(tmp_path / 'l' / 'g.png')
  Image.fromarray(g).save(tmp_path / 'l' / 'g.jpg', quality=90)
  regions = img.validate_pattern({'r': {'width': 16, 'height': 12, 'region': 'all', 'filters': (4,)}})
  rgb, gray = (img.load_folder(tmp_path / d, regions, 1).arrays['r'] for d in ('rgb', 'l'))
  assert rgb.dtype == np.uint8
  np.testing.assert_array_equal(rgb, gray)
  assert img.load_folder(tmp_path / 'rgb', regions, 3).arrays['r'].shape == (2, 12, 16, 3)   # RGB files
def test_exif_rotated_jpeg_loads_upright(tmp_path):
  upright = np.zeros((40, 20), np.uint8)   # tall, white top half
  upright[:20] = 255
  stored = Image.fromarray(np.rot90(upright, k=1))   # stored lying on its side (20 x 40)...
  exif = Image.Exif()
  exif[0x0112] = 6   # ...with EXIF orientation 6: rotate 90 degrees clockwise to view
  stored.save(tmp_path / 'r.jpg', exif=exif, quality=95)
  im = img.read_image(tmp_path / 'r.jpg', 1)
  assert im.size == (20, 40)                                       # width, height: upright
  a = np.asarray(im, np.float32)
  assert a[:15].mean() > 240 and a[25:].mean() < 15


# -- synthetic data -------------------------------------------------------------

def test_synthetic_deterministic(tmp_path):
  a = synth.write_dataset(tmp_path / 'a', seed=3, size=32, channels=3, n_train=3, n_val=1,
                          n_test_ok=1, n_test_ng=3)
  b = synth.write_dataset(tmp_path / 'b', seed=3, size=32, channels=3, n_train=3, n_val=1,
                          n_test_ok=1, n_test_ng=3)
  c = synth.write_dataset(tmp_path / 'c', seed=4, size=32, channels=3, n_train=3, n_val=1,
                          n_test_ok=1, n_test_ng=3)
  files = lambda d: sorted(p.relative_to(d) for p in d.rglob('*') if p.is_file())
  assert files(tmp_path / 'a') == files(tmp_path / 'b')
  assert {p.suffix for p in files(tmp_path / 'a')} == {'.png', '.bmp', '.jpg'}
  for p in files(tmp_path / 'a'):
    assert (tmp_path / 'a' / p).read_bytes() == (tmp_path / 'b' / p).read_bytes()
  assert (a['train'] / 'train_0000.png').read_bytes() != (c['train'] / 'train_0000.png').read_bytes()
  ng = sorted(q.name for q in b['test_ng'].iterdir())
  assert [n.split('_')[-1].split('.')[0] for n in ng] == ['scratch', 'spot', 'missing']


def test_defects_change_the_part():
  rng = np.random.default_rng(0)
  good = synth.good_part(rng, 32, 1)
  for kind in synth.DEFECTS:
    diff = np.abs(synth.add_defect(good, kind, rng) - good)
    assert diff.max() > 0.3 and np.sum(diff > 0.2) >= 10      # seen: at least 13 pixels
  faint = synth.add_defect(good, 'spot', np.random.default_rng(1), contrast=0.1)
  assert 0.05 < np.abs(faint - good).max() <= 0.1 + 1e-6
  with pytest.raises(ValueError, match="unknown defect 'dent'"):
    synth.add_defect(good, 'dent', rng)
  with pytest.raises(ValueError, match='defect_scale must be positive'):
    synth.defect_mask('spot', 32, rng, defect_scale=0)


@pytest.mark.parametrize('kind', synth.DEFECTS)
def test_defect_scale_grows_the_defect(kind):
  area = lambda scale: np.mean([synth.defect_mask(kind, 64, np.random.default_rng(i), scale).sum()
                                for i in range(20)])
  assert area(0.5) < area(1.0) < area(2.0)
  assert all(synth.defect_mask(kind, 64, np.random.default_rng(i), 3.0).any() for i in range(20))



# -- synthetic surfaces -----------------------------------------------------------

def _random_box(rng, shape):
  """A part box with margins in the generator's range."""
  (h, w), (lo, hi) = shape, synth.SURFACE.margin
  m = [max(2, int(rng.uniform(lo, hi) * side)) for side in (w, h, w, h)]
  return m[0], m[1], w - m[2], h - m[3]


def test_surface_images_are_deterministic():
  arrays = lambda seed: [(a.tobytes(), a.shape, k) for a, k in synth.surface_images(seed, 2, 4)]
  a, b, c = arrays(7), arrays(7), arrays(8)
  assert a == b
  assert [x[0] for x in a] != [x[0] for x in c]
  assert [x[2] for x in a] == ['', '', 'pit', 'crack', 'frayed_edge', 'patch']


def test_surface_sizes_and_aspects_vary_within_range():
  rng = np.random.default_rng(0)
  h, w = np.array([synth.surface_size(rng) for _ in range(400)]).T
  assert h.min() >= 96 and w.min() >= 96 and h.max() <= 256 and w.max() <= 256
  aspect = w / h
  assert (aspect >= 0.6 - 1 / 96).all() and (aspect <= 1.6 + 1 / 96).all()   # rounding: 1 px
  assert aspect.min() < 0.7 and aspect.max() > 1.45 and np.mean(aspect < 1) > 0.3
  assert h.max() - h.min() > 120 and w.max() - w.min() > 120
  img = synth.surface_part(rng, 101, 157)
  assert img.shape == (101, 157, 1) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1


@pytest.mark.parametrize('kind', synth.SURFACE_DEFECTS)
def test_surface_defect_area_is_1_to_3_percent_on_the_part(kind):
  rng = np.random.default_rng(1)
  fractions = []
  for _ in range(40):
    shape = synth.surface_size(rng)
    box = _random_box(rng, shape)
    mask = synth.surface_defect_mask(kind, shape, box, rng)
    fractions.append(mask.mean())
    x0, y0, x1, y1 = box
    assert mask[y0:y1, x0:x1].sum() == mask.sum()   # on the part only
    if kind == 'frayed_edge':   # starts at one side of the part
      assert mask[y0].any() or mask[y1 - 1].any() or mask[:, x0].any() or mask[:, x1 - 1].any()
    if kind == 'crack':   # a hairline: few pixels (at crossings) have all 8 neighbours in it
      assert ndimage.binary_erosion(mask, np.ones((3, 3))).sum() <= 0.1 * mask.sum()
  assert 0.01 <= min(fractions) and max(fractions) <= 0.03
  assert max(fractions) - min(fractions) > 0.01   # the area is drawn, not fixed


def test_surface_defects_show_where_their_mask_is():
  for i, kind in enumerate(synth.SURFACE_DEFECTS * 3):
    img, box = synth.surface_part_with_box(np.random.default_rng(i), 150, 200)
    mask = synth.surface_defect_mask(kind, img.shape[:2], box, np.random.default_rng(100 + i))
    ng = synth.add_surface_defect(img, kind, np.random.default_rng(100 + i), box=box)
    a, b = img[..., 0].astype(np.float64), ng[..., 0].astype(np.float64)
    near = ndimage.binary_dilation(mask, np.ones((3, 3)), 17 if kind == 'patch' else 3)   # blur: 4 sigma
    assert np.array_equal(a[~near], b[~near]), kind   # nothing changes away from the defect
    if kind in ('pit', 'crack'):   # darker by 35-60%
      assert 0.3 < 1 - b[mask].sum() / a[mask].sum() < 0.65
    elif kind == 'frayed_edge':   # torn away: the background shows
      assert np.median(b[mask]) < 0.15 < 0.25 < np.median(a[mask])
    else:   # a low-contrast step of 12-20% (partly softened at the edge), texture smoothed
      step = abs(b[mask].mean() / a[mask].mean() - 1)
      assert 0.06 < step < 0.21 and np.std(b[mask] / b[mask].mean()) < np.std(a[mask] / a[mask].mean())
  with pytest.raises(ValueError, match="unknown surface defect 'dent'"):
    synth.surface_defect_mask('dent', (100, 100), (5, 5, 95, 95), np.random.default_rng(0))


def test_find_part_box_within_a_pixel():
  rng = np.random.default_rng(2)
  for _ in range(30):
    img, box = synth.surface_part_with_box(rng, *synth.surface_size(rng))
    assert np.abs(np.subtract(synth.find_part_box(img), box)).max() <= 1


def test_surface_dataset_files_are_readable(tmp_path):
  folders = synth.write_surface_dataset(tmp_path / 'a', seed=3, n_train=6, n_test_ok=3, n_test_ng=8)
  synth.write_surface_dataset(tmp_path / 'b', seed=3, n_train=6, n_test_ok=3, n_test_ng=8)
  assert set(folders) == {'train', 'test_ok', 'test_ng'}
  files = sorted(p for p in (tmp_path / 'a').rglob('*') if p.is_file())
  assert {p.suffix for p in files} == {'.png', '.jpg'}
  for p in files:
    assert p.read_bytes() == (tmp_path / 'b' / p.relative_to(tmp_path / 'a')).read_bytes()
  region = img.validate_pattern({'all': {'width': 64, 'height': 64, 'region': 'all', 'filters': (16, 32)}})
  sizes = set()
  for split, n in (('train', 6), ('test_ok', 3), ('test_ng', 8)):
    got = img.load_folder(folders[split], region, channels=1)
    assert got.arrays['all'].shape == (n, 64, 64, 1) and got.arrays['all'].dtype == np.uint8
    sizes |= {Image.open(folders[split] / name).size for name in got.names}
  assert len(sizes) == 17   # every image its own size
  kinds = [p.stem.split('_', 3)[3] for p in sorted(folders['test_ng'].iterdir())]
  assert kinds == list(synth.SURFACE_DEFECTS) * 2


def test_make_synthetic_images_surface_command(tmp_path):
  cmd = [sys.executable, '-m', 'dagmm_jax.cli.make_synthetic_images', '--kind', 'surface',
         '--n_train', '2', '--n_test', '1']
  good, bad = (subprocess.Popen(cmd + extra, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)   # both at once: each start imports JAX
               for extra in (['--out', str(tmp_path / 's')], ['--out', str(tmp_path / 'x'), '--size', '32']))
  (_, good_err), (_, bad_err) = good.communicate(timeout=300), bad.communicate(timeout=300)
  assert good.returncode == 0, good_err
  assert [len(list((tmp_path / 's' / d).iterdir())) for d in ('train', 'test/ok', 'test/ng')] == [2, 1, 1]
  assert bad.returncode != 0 and '--size applies to --kind parts only' in bad_err


def test_importing_the_plotting_modules_keeps_the_users_matplotlib_backend():
  code = ('import matplotlib; import dagmm_jax.study, dagmm_jax.reports.inspection; '
          'print(matplotlib.get_backend())')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT,
                       env={**__import__('os').environ, 'MPLBACKEND': 'svg'}, check=True).stdout
  assert out.strip() == 'svg'


# -- tiles -----------------------------------------------------------------------

def test_tiles_come_from_their_grid_positions_and_reassemble():
  from dagmm_jax.data.images import from_tiles, tile_scores, to_tiles
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (3, 12, 8, 2)).astype(np.uint8)
  tiles = to_tiles(images, 4)
  assert tiles.shape == (3 * 16, 3, 2, 2)
  for i in range(3):
    for t in range(16):
      row, col = divmod(t, 4)
      np.testing.assert_array_equal(tiles[i * 16 + t], images[i, 3 * row:3 * row + 3, 2 * col:2 * col + 2])
  np.testing.assert_array_equal(from_tiles(tiles, 4), images)
  scores = np.arange(32.0)[::-1]   # image 0: tiles 31..16, image 1: 15..0
  np.testing.assert_allclose(tile_scores(scores, 4), [31.0, 15.0])
  np.testing.assert_allclose(tile_scores(scores, 4, top_k=2), [30.5, 14.5])
  with pytest.raises(ValueError, match='do not split'):
    to_tiles(images, 5)


def test_tiled_region_is_validated():
  from dagmm_jax.data.images import validate_region
  r = validate_region('t', {'width': 64, 'height': 32, 'region': 'all', 'filters': (8,), 'tiles': 4})
  assert r.tiles == 4 and validate_region('w', {'width': 6, 'height': 6, 'region': 'all',
                                                'filters': (8,)}).tiles == 1
  with pytest.raises(DataError, match='multiples of tiles'):
    validate_region('t', {'width': 64, 'height': 30, 'region': 'all', 'filters': (8,), 'tiles': 4})
