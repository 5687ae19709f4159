"""The documentation site builds (`mkdocs build --strict`) and its code snippets run.

Every ```python block of a page in docs/ (and of the README) is run, the blocks of one
page in order as one module, in a fresh process whose working directory is a temporary
folder, with `import math`, `import numpy as np` and `import s2sad` done first. A block
that is not meant to run (code of another library, an excerpt of generated code) is marked
by the HTML comment `<!-- no-run: why -->` on the line before it.
"""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from s2sad import config

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]]
PAGES_WITH_CODE = [page for page in PAGES if "```python" in (ROOT / page).read_text()]
BLOCK = re.compile(
    r"^(?P<marker>[ \t]*<!-- no-run[^>]*-->[ \t]*\n)?(?P<indent>[ \t]*)```python\n(?P<code>.*?)^(?P=indent)```",
    re.M | re.S,
)
PREAMBLE = "import math\nimport numpy as np\nimport s2sad\n"


def snippets(text):
    """The runnable python blocks of a markdown text, dedented, and how many were marked no-run."""
    runnable, skipped = [], 0
    for match in BLOCK.finditer(text):
        if match.group("marker"):
            skipped += 1
        else:
            runnable.append(textwrap.dedent(match.group("code")))
    return runnable, skipped


def test_snippet_extraction():
    text = "a\n```python\nx = 1\n```\n<!-- no-run: other library -->\n```python\nimport jax\n```\n  ```python\n  y = 2\n  ```\n"
    assert snippets(text) == (["x = 1\n", "y = 2\n"], 1)


def test_pages_with_code_are_found():
    assert {"README.md", "docs/index.md", "docs/supported.md", "docs/coming-from-jax.md"} <= set(
        PAGES_WITH_CODE
    )


@pytest.mark.parametrize("page", PAGES_WITH_CODE)
def test_snippets_of_page_run(page, tmp_path):
    source = ROOT / page
    runnable, skipped = snippets(source.read_text())
    assert skipped <= 3, f"{page}: {skipped} blocks marked no-run; keep that for code that cannot run"
    assert runnable, page
    script = tmp_path / f"snippets_{source.stem}.py"
    script.write_text(PREAMBLE + "\n\n".join(runnable))
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{page}:\n{result.stderr[-3000:]}"


@pytest.mark.skipif(not config.enabled(), reason="the site does not change with S2SAD_ANALYSES=off")
def test_mkdocs_build_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").exists()
    assert "s2sad.grad" in (tmp_path / "site" / "api" / "index.html").read_text()


def test_every_example_is_listed_with_its_picture():
    site = (ROOT / "docs" / "examples.md").read_text()
    readme = (ROOT / "examples" / "README.md").read_text()
    for script in sorted((ROOT / "examples").glob("*.py")):
        assert f"examples/{script.name}" in site and f"({script.name})" in readme, script.name
    for picture in re.findall(r"\]\(img/([\w.]+\.png)\)", site):
        assert (ROOT / "docs" / "img" / picture).exists(), picture
        assert f"../docs/img/{picture}" in readme, picture


def test_reverse_sweeps_picture_script_runs(tmp_path):
    """The script behind the reverse-mode picture still finds the pushes and pops in generated code."""
    output = tmp_path / "reverse_sweeps.png"
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    env.pop("S2SAD_ANALYSES", None)  # the picture shows the default code (also in the run with them off)
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "scripts" / "draw_reverse_sweeps.py"), str(output)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "6 pushes and pops" in result.stdout and output.stat().st_size > 10_000  # 3 iterations at x = 0.5
