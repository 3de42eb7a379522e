"""docs/DEPLOY.md and docs/RENDER.md show sealer commands to copy into pipelines: every option
they use must exist (read from the real `sealer CMD --help`), and README's render section
links DEPLOY.md."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("docs/DEPLOY.md", "docs/RENDER.md")


def commands(doc: str) -> list[str]:
    """Every `sealer render|exec …` in the document's code blocks, continuation lines joined,
    up to a pipe or the `--` before exec's command."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    blocks = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL))
    joined = re.sub(r"\\\n\s*", " ", blocks)
    found = []
    for match in re.finditer(r"\bsealer (?:render|exec)\b[^\n|#]*", joined):
        found.append(match.group(0).split(" -- ")[0].strip())
    return found


@cache
def help_text(command: str) -> str:
    result = subprocess.run([sys.executable, "-m", "sealer", command, "--help"],
                            capture_output=True, text=True, check=True, timeout=60,
                            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    return result.stdout


@pytest.mark.parametrize("doc", DOCS)
def test_every_option_shown_exists(doc: str) -> None:
    shown = commands(doc)
    assert shown, f"{doc} shows no sealer commands"
    for line in shown:
        words = line.split()
        command = words[1]
        for word in words[2:]:
            if word.startswith("-") and word != "-":
                option = word.split("=")[0]
                assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])",
                                 help_text(command)), f"{doc}: {line}: {option}"


def test_readme_links_the_deploy_guide_from_its_render_section() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Deploy: render secrets for what runs", 1)[1].split("\n### ", 1)[0]
    assert "(docs/DEPLOY.md)" in section
