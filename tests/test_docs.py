"""docs/api.md, the shipped API reference, is in sync with the package:
every public name is described there, every ``fastad.<name>`` it writes
exists, and its table of operations lists exactly the public rows of the
rule table."""

import re
from pathlib import Path

import fastad
from fastad import _core, _rules

API = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def text():
    return API.read_text()


def test_the_reference_is_shipped():
    assert API.is_file()


def test_every_public_name_is_described():
    doc = text()
    missing = [name for name in fastad.__all__
               if f"`{name}" not in doc and f"fastad.{name}" not in doc]
    assert not missing, f"public names missing from docs/api.md: {missing}"


def test_every_name_the_reference_writes_exists():
    written = set(re.findall(r"fastad\.([A-Za-z_][A-Za-z0-9_]*)", text()))
    missing = sorted(name for name in written if not hasattr(fastad, name))
    assert not missing, f"docs/api.md names what fastad lacks: {missing}"


def test_the_operations_section_lists_the_public_rows_of_the_rule_table():
    section = text().split("## 6. The operations of the tape", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"fastad\.([a-z0-9_]+)", section))
    public = {row.name for row in _rules.ROWS if row.public is not None}
    assert listed == public == set(_core.__all__)


def test_the_complex_marks_follow_the_rule_table():
    # A function marked complex in section 6 has a complex rule, and every
    # public function with one is marked.
    rows = {row.name: row for row in _rules.ROWS}
    section = text().split("## 6. The operations of the tape", 1)[1].split("\n## ", 1)[0]
    marked = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 4 or not cells[1].startswith("`"):
            continue
        names = re.findall(r"`([a-z0-9_]+)", cells[1])
        flag = cells[3]
        if flag == "yes" or flag.startswith("yes"):
            marked |= set(names)
        else:
            marked |= set(re.findall(r"`([a-z0-9_]+)`", flag)) & set(names)
    complex_public = {name for name, row in rows.items() if row.complex and row.public}
    assert marked == complex_public
