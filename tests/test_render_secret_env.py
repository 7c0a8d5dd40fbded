"""`render` says when an env name looks like a credential: such values are rendered in plain text into
Deployment env and SpinApp variables, as Git holds them (found from outside: API_KEY and DB_PASSWORD
went out without a word). Env names drawn by hypothesis around the credential words."""

from __future__ import annotations

from hypothesis import given, strategies as st

from support.host import REPO
from wasmops.gitops.desired import load_desired_state
from wasmops.gitops.render import render

LAYOUT = "oci-layout:///var/lib/wasmops/supply/oci"
WORDS = ["KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIALS", "PRIVATE"]
PLAIN = ["GREETING", "MONKEY", "KEYBOARD", "TOKENIZER", "LOG_LEVEL", "REGION", "PASSWORDLESS"]


def _with_env(env: dict):
    ds = load_desired_state(REPO / "deployments")
    key = "dev/greet-c"
    m = ds.deployments[key]
    ref = m.spec.module_ref.model_copy(update={"digest": "sha256:" + "a" * 64, "tag": "v1"})
    rc = m.spec.runtime_config.model_copy(update={"env": env})
    ds.deployments[key] = m.model_copy(update={"spec": m.spec.model_copy(update={"module_ref": ref,
                                                                                   "runtime_config": rc})})
    return ds


@given(prefix=st.sampled_from(["", "DB_", "API_", "AWS_SECRET_ACCESS_"]), word=st.sampled_from(WORDS),
       plain=st.lists(st.sampled_from(PLAIN), max_size=3, unique=True), flavor=st.sampled_from(["runwasi", "spinkube"]))
def test_credential_like_env_names_are_warned_about_and_plain_ones_are_not(prefix, word, plain, flavor):
    secret = prefix + word
    out = render(_with_env({secret: "s3cr3t", **{p: "x" for p in plain}}), flavor=flavor, registry=LAYOUT)
    warned = [w for w in out.warnings if w.key == "dev/greet-c"]
    assert len(warned) == 1 and secret in warned[0].reason, out.warnings
    assert not [p for p in plain if p in warned[0].reason.split(" look like")[0]], warned[0].reason
    assert any("WARNING dev/greet-c" in c for c in out.comments())


@given(plain=st.lists(st.sampled_from(PLAIN), max_size=4, unique=True))
def test_plain_env_names_get_no_warning(plain):
    out = render(_with_env({p: "x" for p in plain}), registry=LAYOUT)
    assert not [w for w in out.warnings if w.key == "dev/greet-c"], out.warnings
