"""Regenerate the README's column tables from imgindex.schema (run after changing the schema)."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from imgindex import schema

README = Path(__file__).parents[1] / "README.md"


def main() -> None:
    text = README.read_text()
    for table in schema.TABLES:
        start, end = f"<!-- columns:{table}:start -->", f"<!-- columns:{table}:end -->"
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
        block = f"{start}\n{schema.markdown_table(table)}\n{end}"
        text = pattern.sub(lambda _m, block=block: block, text)
    README.write_text(text)


if __name__ == "__main__":
    main()
