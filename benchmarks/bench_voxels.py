"""Reading a CT and rasterising its RTSTRUCT: imgindex against ``plastimatch convert``, same files, same run.

Writes (with :func:`imgindex.examples.write_shapes_dataset`) a 512 x 512 x 130 CT series and an
RTSTRUCT with four ROIs: both lungs (lobed outlines of ``--points`` vertices per slice on 128
slices), a box and a cylinder. Then times, best of ``--repeat`` runs each:

* ``imgindex``: ``image.read()`` (every slice decoded, rescaled) plus
  ``image.associated_masks[0].read(reference=image)`` (all four ROIs), after the index is built
  (indexing is timed separately: it reads headers only);
* ``plastimatch``: ``plastimatch convert --input RS.dcm --referenced-ct DIR --output-prefix OUT
  --xor-contours`` (reads the CT series' geometry, rasterises the four ROIs, writes one .mha per
  ROI); and ``plastimatch convert --input DIR --output-img ct.mha`` for the CT voxels, the sum
  being the closest to what imgindex returns.

It also prints the Dice coefficient and voxel counts of each ROI against plastimatch.

Usage: ``python benchmarks/bench_voxels.py [--slices 130] [--points 400] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk

import imgindex
from imgindex.examples import write_shapes_dataset

SHAPES = ("lung_left", "lung_right", "box", "cylinder")


def best(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=130)
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    plastimatch = shutil.which("plastimatch")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_shapes_dataset(
            root / "data",
            size=(512, 512),
            n_slices=args.slices,
            spacing=(0.8, 0.8, 2.5),
            shapes=SHAPES,
            n_points=args.points,
            seg=False,
        )
        print(
            f"CT {data.size} voxels, RTSTRUCT {data.rtstruct.stat().st_size / 1e6:.1f} MB, ROIs "
            + ", ".join(f"{k} {int(v.sum())} voxels" for k, v in data.expected.items())
        )
        t_index, images = best(
            lambda: imgindex.import_image_and_mask(str(data.image_dir), mask=str(data.rtstruct)), args.repeat
        )
        image = images[0]
        t_image, _ = best(image.read, args.repeat)
        t_masks, masks = best(lambda: image.associated_masks[0].read(reference=image), args.repeat)
        t_both, _ = best(lambda: (image.read(), image.associated_masks[0].read(reference=image)), args.repeat)
        print(f"imgindex index (headers only)         {t_index:7.3f} s")
        print(f"imgindex image.read()                 {t_image:7.3f} s")
        print(f"imgindex mask.read(reference)         {t_masks:7.3f} s  (4 ROIs)")
        print(f"imgindex read + rasterise             {t_both:7.3f} s")
        ours = {k: sitk.GetArrayFromImage(v).astype(bool) for k, v in masks.items()}
        for name, expected in data.expected.items():
            d = 2 * (ours[name] & expected).sum() / (ours[name].sum() + expected.sum())
            print(f"  {name:<11} vs known shape: Dice {d:.5f}, voxels {int(ours[name].sum())} / {int(expected.sum())}")
        if plastimatch is None:
            print("plastimatch is not installed: apt-get install -y plastimatch")
            return
        masks_only = [
            plastimatch,
            "convert",
            "--input",
            str(data.rtstruct),
            "--referenced-ct",
            str(data.image_dir),
            "--output-prefix",
            str(root / "plastimatch"),
            "--xor-contours",
        ]
        ct_only = [plastimatch, "convert", "--input", str(data.image_dir), "--output-img", str(root / "ct.mha")]
        t_plm, _ = best(lambda: subprocess.run(masks_only, check=True, capture_output=True), args.repeat)
        t_ct, _ = best(lambda: subprocess.run(ct_only, check=True, capture_output=True), args.repeat)
        print(
            f"plastimatch convert RTSTRUCT          {t_plm:7.3f} s  ({t_plm / t_both:.1f}x imgindex read + rasterise)"
        )
        print(f"plastimatch convert CT (to .mha)       {t_ct:7.3f} s")
        print(f"plastimatch CT + RTSTRUCT              {t_plm + t_ct:7.3f} s  ({(t_plm + t_ct) / t_both:.1f}x)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = {
                p.stem: sitk.GetArrayFromImage(sitk.ReadImage(str(p))).astype(bool)
                for p in (root / "plastimatch").glob("*.mha")
            }
        for name in SHAPES:
            a, b = ours[name], theirs[name]
            d = 2 * (a & b).sum() / (a.sum() + b.sum())
            print(
                f"  {name:<11} vs plastimatch: Dice {d:.5f}, voxels {int(a.sum())} / {int(b.sum())} "
                f"({100 * (int(a.sum()) - int(b.sum())) / b.sum():+.3f} %)"
            )
        assert np.isfinite(t_both)


if __name__ == "__main__":
    main()
