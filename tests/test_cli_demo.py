"""Issue 14, item 8: ``imgindex demo`` ends clean, in a few short lines that name only what is wrong.

Run in the test process (the command's function, no subprocess); the truth is the example
dataset's manifest: the extras written broken on purpose, and the extras that have no mask.
"""

import os

from imgindex.cli import build_parser
from imgindex.examples import write_example_dataset


def test_demo_ends_with_no_ambiguous_pair_and_names_only_the_extras(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "demo-index"
    args = build_parser().parse_args(["demo", "--dir", str(data), "-o", str(out), "-q"])
    assert args.func(args) == 0
    printed = capsys.readouterr()
    lines = printed.out.strip().splitlines()
    assert not printed.err  # the summary says it all: no warning repeats it at length

    pairs = next(line for line in lines if line.startswith("pairs: "))
    assert "ambiguous" not in pairs and "missing" in pairs
    # What the dataset holds that is wrong: its broken files, and its extra images without a mask.
    truth = write_example_dataset(tmp_path / "truth" / "nested", layout="nested", extras=True, seed=0)
    broken = sorted(
        os.path.relpath(p, tmp_path / "truth") for p in truth.loc[truth["expected"] == "error", "file_path"]
    )
    alone = truth[(truth["role"] == "image") & truth["extra"].isin(["no_preamble", "upper_suffix"])]
    alone = sorted(os.path.relpath(p, tmp_path / "truth") for p in alone["file_path"])
    start = lines.index(f"to look at (below {data}):")
    assert lines[start + 1] == f"  {len(broken)} files could not be read: {', '.join(broken)}"
    assert lines[start + 2] == f"  {len(alone)} images have no mask: {', '.join(alone)}"
    assert lines[start + 3 :] == [f"details: imgindex errors {out}; imgindex pairs {out}"]
    assert len(lines) <= 12 and max(len(line) for line in lines) <= 200
