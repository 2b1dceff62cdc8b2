"""docs/FLEET.md stays true: its YAML blocks parse, its rule groups pass
promtool, and every emitd flag it names is one `emitd run --help` lists."""
import os
import re
import subprocess

import yaml

from conftest import EMITD, ROOT

FLEET = os.path.join(ROOT, "docs", "FLEET.md")


def yaml_blocks():
    text = open(FLEET).read()
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_yaml_blocks_parse_and_rules_pass_promtool(tmp_path):
    blocks = yaml_blocks()
    assert len(blocks) >= 5, "FLEET.md lost its examples"
    rule_files = 0
    for i, b in enumerate(blocks):
        doc = yaml.safe_load(b)
        assert doc is not None, f"block {i} is empty"
        if isinstance(doc, dict) and "groups" in doc:
            p = tmp_path / f"rules-{i}.yml"
            p.write_text(b)
            r = subprocess.run(["promtool", "check", "rules", str(p)], capture_output=True,
                               text=True)
            assert r.returncode == 0, f"block {i}: {r.stdout}{r.stderr}"
            rule_files += 1
    assert rule_files >= 1


def test_flags_named_exist():
    text = open(FLEET).read()
    prometheus_own = {"web.enable-remote-write-receiver"}	# a Prometheus flag, not emitd's
    named = set(re.findall(r"--((?:remote-write|web)\.[a-z.-]+[a-z])", text)) - prometheus_own
    assert named, "no flags named"
    help_text = subprocess.run([EMITD, "run", "--help"], capture_output=True,
                               text=True).stdout
    missing = sorted(f for f in named if f"--{f}" not in help_text)
    assert not missing, f"FLEET.md names flags emitd run does not have: {missing}"
