"""The dataset report on a cohort of hundreds of images, and a thumbnail of a large CT series.

Writes :func:`imgindex.examples.write_example_dataset` with ``--samples`` samples (12 images and
their masks each: DICOM, NIfTI, NRRD and numpy CT, MR and PET), builds the index, then times
``imgindex.write_report`` with and without thumbnails (best of ``--repeat``) and prints the size
of the page. Then a 512 x 512 x ``--slices`` CT series (:func:`write_series_dataset`): one
thumbnail (reads one slice file) against ``image.read()`` of the whole series.

Usage: ``python benchmarks/bench_report.py [--samples 30] [--slices 130] [--workers 2] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

from bench_voxels import best  # the shortest of `repeat` runs, and the result (run from benchmarks/)

import imgindex
from imgindex.examples import write_example_dataset, write_series_dataset
from imgindex.plot import thumbnail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--slices", type=int, default=130)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_example_dataset(root / "data", n_samples=args.samples, extras=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, index = best(lambda: imgindex.build_index(root / "data", mask=root / "data"), 1)
        print(f"index: {len(index.images)} images, {len(index.masks)} masks in {seconds:.2f} s")
        for thumbnails in (False, True):
            seconds, summary = best(
                lambda t=thumbnails: imgindex.write_report(
                    index, root / "report.html", thumbnails=t, workers=args.workers
                ),
                args.repeat,
            )
            per = f", {seconds / max(1, summary.n_thumbnails) * 1000:.0f} ms a thumbnail" if thumbnails else ""
            print(f"report, thumbnails={thumbnails}: {seconds:.2f} s, {summary.n_bytes / 1e6:.2f} MB{per}")
        write_series_dataset(root / "big", size=(512, 512), n_slices=args.slices, shuffle=False)
        [image] = imgindex.import_image(str(root / "big"))
        seconds, picture = best(lambda: thumbnail(image), args.repeat)
        print(f"thumbnail of a 512 x 512 x {args.slices} series: {seconds * 1000:.0f} ms ({len(picture.png)} bytes)")
        seconds, _ = best(image.read, args.repeat)
        print(f"image.read() of the same series: {seconds * 1000:.0f} ms")


if __name__ == "__main__":
    main()
