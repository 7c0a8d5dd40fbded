"""module.yaml parsing: bad files get errors that name the file and the field."""

import pytest

from wasmops.errors import SpecError
from wasmops.supply.source import load_module_source


def write(tmp_path, text, files=("main.c",)):
    for f in files:
        (tmp_path / f).write_text("")
    (tmp_path / "module.yaml").write_text(text)
    return tmp_path


def test_valid_module_yaml(tmp_path):
    d = write(tmp_path, "name: echo\nlanguage: c\nsources: [main.c]\nlimits: {fuel: 100, memory: 16Mi, timeout_ms: 50}\n"
                        "tests:\n  - {name: a, stdin: '{}', expect_stdout: '{}'}\n")
    src = load_module_source(d)
    assert src.limits.memory_bytes == 16 * 2**20
    assert src.tests[0].expect_exit == 0
    assert src.root == d.resolve()


@pytest.mark.parametrize("text,field", [
    ("name: echo\nlanguage: rust\nsources: [main.c]\n", "language"),
    ("name: echo\nlanguage: c\nsources: [main.c]\nlimits: {memory: lots}\n", "limits.memory"),
    ("name: Echo_1\nlanguage: c\nsources: [main.c]\n", "name"),
    ("name: echo\nlanguage: c\nsources: [main.c]\ntests: [{name: a, bogus: 1}]\n", "tests.0.bogus"),
    ("name: echo\nlanguage: c\n", "sources"),
])
def test_bad_field_is_named(tmp_path, text, field):
    d = write(tmp_path, text)
    with pytest.raises(SpecError) as e:
        load_module_source(d)
    assert str(d / "module.yaml") in str(e.value)
    assert field in str(e.value)


def test_missing_source_file(tmp_path):
    (tmp_path / "module.yaml").write_text("name: echo\nlanguage: c\nsources: [nope.c]\n")
    with pytest.raises(SpecError, match="nope.c does not exist"):
        load_module_source(tmp_path)


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no module.yaml"):
        load_module_source(tmp_path)
    (tmp_path / "module.yaml").write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_module_source(tmp_path)
