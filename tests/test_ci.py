"""CI runs exactly the README's test command."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text().splitlines()
    marker = readme.index("<!-- test-command -->")
    command = readme[marker + 2]
    extracted = subprocess.run(
        ["awk", "/<!-- test-command -->/{getline; getline; print; exit}", str(ROOT / "README.md")],
        capture_output=True, text=True, check=True).stdout.strip()
    assert extracted == command
    assert "pytest" in command and "KERAS_BACKEND=jax" in command
    assert 'awk \'/<!-- test-command -->/' in (ROOT / ".ci" / "run").read_text()


def test_quickstart_is_two_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in quick.split("```bash")[1:]]
    assert len(blocks) == 2
    assert "seqlab run" in blocks[0]
