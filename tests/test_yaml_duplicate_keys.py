"""A key given twice in module.yaml or a manifest is an error naming the line (PyYAML keeps the
last silently: a user's second `limits:` replaced the first)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from wasmops.errors import SpecError
from wasmops.supply.source import load_module_source
from wasmops.yamldoc import load_yaml

keys = st.lists(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), min_size=1, max_size=8, unique=True)


@settings(max_examples=60, deadline=None)
@given(keys=keys, data=st.data())
def test_a_repeated_key_is_named_with_both_lines(keys, data):
    dup = data.draw(st.sampled_from(keys))
    at = data.draw(st.integers(keys.index(dup) + 1, len(keys)))
    lines = [f"{k}: {i}" for i, k in enumerate(keys)]
    lines.insert(at, f"{dup}: again")
    text = "\n".join(lines) + "\n"
    with pytest.raises(SpecError) as e:
        load_yaml(text, "m.yaml")
    assert str(e.value).startswith(f"m.yaml: line {at + 1}, column 1: not valid YAML: duplicate key {dup!r} "
                                   f"(first on line {keys.index(dup) + 1})")
    assert load_yaml("\n".join(f"{k}: {i}" for i, k in enumerate(keys)), "m.yaml") == yaml.safe_load(
        "\n".join(f"{k}: {i}" for i, k in enumerate(keys)))


def test_module_yaml_with_limits_twice(tmp_path):
    (tmp_path / "module.yaml").write_text("name: m\nlanguage: wat\nsources: [m.wat]\nlimits:\n  fuel: 100\n"
                                          "limits:\n  fuel: 5\n")
    with pytest.raises(SpecError, match=r"module.yaml: line 6, column 1: not valid YAML: duplicate key 'limits' \(first on line 4\)"):
        load_module_source(tmp_path)


def test_fuel_over_the_hosts_cap_is_refused_where_it_is_written(tmp_path):
    (tmp_path / "module.yaml").write_text("name: m\nlanguage: wat\nsources: [m.wat]\nlimits:\n  fuel: 18446744073709551716\n")
    (tmp_path / "m.wat").write_text("(module)")
    with pytest.raises(SpecError, match=r"limits.fuel"):
        load_module_source(tmp_path)
    from wasmops.gitops.manifest import Resources

    with pytest.raises(ValueError, match="over the host's cap of 1000000000m"):
        Resources(cpu="18446744073710m")
