"""Every Python code block of the README and of docs/api.md runs as pasted.

Each block runs on its own, in a fresh interpreter namespace, so a block
that uses a name it never defines or imports fails here.
"""

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "api.md"]
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(path):
    """(first line number, source) of each ```python block of a Markdown file."""
    text = path.read_text()
    return [(text.count("\n", 0, match.start()) + 2, match.group(1))
            for match in FENCE.finditer(text)]


BLOCKS = [(path, line, source) for path in DOCUMENTS for line, source in python_blocks(path)]


def test_the_documents_have_python_blocks():
    assert len([b for b in BLOCKS if b[0].name == "README.md"]) >= 8
    assert any(b[0].name == "api.md" for b in BLOCKS)


@pytest.mark.parametrize("path,line,source", BLOCKS,
                         ids=[f"{p.name}:{line}" for p, line, _ in BLOCKS])
def test_block_runs_as_pasted(path, line, source):
    namespace = {"__name__": "__readme__"}
    with np.errstate(all="ignore"):
        exec(compile(source, f"{path.name}:{line}", "exec"), namespace)
