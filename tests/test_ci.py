"""CI runs the test command the README gives, verbatim (the Quick start's second command)."""

from pathlib import Path

ROOT = Path(__file__).parents[1]


def _quick_start_commands() -> list[str]:
    section = (ROOT / "README.md").read_text().split("\n## Quick start\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_with_coverage():
    test_command = _quick_start_commands()[1]
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "pytest --cov" in test_command
