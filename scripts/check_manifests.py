#!/usr/bin/env python3
"""make check-manifests: the Kubernetes manifests parse as YAML and say what
docs/FLEET.md promises (hostPID, the bpffs mount, dropped capabilities, a
ConfigMap for the spec, a readiness probe on /healthz). The spec in the
ConfigMap must lint clean with build/emitd."""
import os
import subprocess
import sys
import tempfile

import yaml

path = sys.argv[1] if len(sys.argv) > 1 else "deploy/kubernetes/daemonset.yaml"
emitd = sys.argv[2] if len(sys.argv) > 2 else "build/emitd"
docs = list(yaml.safe_load_all(open(path)))
kinds = {d["kind"]: d for d in docs}
problems = []
for kind in ("Namespace", "ConfigMap", "DaemonSet"):
    if kind not in kinds:
        problems.append(f"no {kind}")
ds = kinds.get("DaemonSet", {})
pod = ds.get("spec", {}).get("template", {}).get("spec", {})
if not pod.get("hostPID"):
    problems.append("DaemonSet: hostPID is not true")
c = (pod.get("containers") or [{}])[0]
if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
    problems.append("DaemonSet: no readiness probe on /healthz")
caps = c.get("securityContext", {}).get("capabilities", {})
if caps.get("drop") != ["ALL"]:
    problems.append("DaemonSet: capabilities are not dropped (drop: [ALL])")
if c.get("securityContext", {}).get("privileged"):
    problems.append("DaemonSet: privileged container")
if not any(v.get("hostPath", {}).get("path") == "/sys/fs/bpf" for v in pod.get("volumes", [])):
    problems.append("DaemonSet: no hostPath volume for /sys/fs/bpf")
if not any(v.get("configMap") for v in pod.get("volumes", [])):
    problems.append("DaemonSet: the spec does not come from a ConfigMap")
spec = kinds.get("ConfigMap", {}).get("data", {}).get("emitd.yml")
if spec and os.access(emitd, os.X_OK):
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write(spec)
        f.flush()
        r = subprocess.run([emitd, "lint", f.name], capture_output=True, text=True)
        if r.returncode:
            problems.append(f"ConfigMap emitd.yml does not lint: {r.stderr.strip()}")
for p in problems:
    print(f"{path}: {p}")
print(f"{path}: ok" if not problems else "", end="\n" if not problems else "")
sys.exit(1 if problems else 0)
