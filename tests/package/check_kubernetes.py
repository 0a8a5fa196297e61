#!/usr/bin/python3
"""Checks packaging/kubernetes/slipwayd.yaml as far as a machine without an API server can.

Usage: check_kubernetes.py MANIFEST SLIPWAYD OUT_DIR

Prints one "ok: ..." or "FAIL: ..." line per check and exits 1 if any failed. Writes what the
pod would run to OUT_DIR, so the caller can run the image the same way under podman:
  args.json      the container's args
  slipwayd.yaml  the ConfigMap's config file
  pod.json       user, group, probe paths and ports, mount paths
"""
import json
import os
import subprocess
import sys

import yaml

manifest, slipwayd, out_dir = sys.argv[1:4]
failures = 0


def check(what, ok):
    global failures
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures += 1


with open(manifest) as f:
    docs = [d for d in yaml.safe_load_all(f) if d is not None]

by_kind = {}
for d in docs:
    check(f"{d.get('kind')} {d.get('metadata', {}).get('name')} has apiVersion, kind and name",
          bool(d.get("apiVersion")) and bool(d.get("kind")) and bool(d.get("metadata", {}).get("name")))
    by_kind.setdefault(d["kind"], []).append(d)

check("one StatefulSet, one ConfigMap, two Services",
      len(by_kind.get("StatefulSet", [])) == 1 and len(by_kind.get("ConfigMap", [])) == 1
      and len(by_kind.get("Service", [])) == 2)
sts = by_kind["StatefulSet"][0]
spec = sts["spec"]
pod = spec["template"]["spec"]
labels = spec["template"]["metadata"]["labels"]
check("StatefulSet apiVersion is apps/v1", sts["apiVersion"] == "apps/v1")
check("one replica (SQLite has one writer)", spec.get("replicas") == 1)
check("the selector matches the pod's labels",
      all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()))
services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
check("serviceName names a headless Service",
      spec.get("serviceName") in services
      and services[spec["serviceName"]]["spec"].get("clusterIP") == "None")
for name, svc in services.items():
    check(f"Service {name} selects the pod",
          all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()))

containers = pod["containers"]
check("one container", len(containers) == 1)
c = containers[0]
port_names = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
check("the container exposes grpc 7420 and http 7421",
      port_names.get("grpc") == 7420 and port_names.get("http") == 7421)
for name, svc in services.items():
    for p in svc["spec"]["ports"]:
        check(f"Service {name} port {p['name']} targets a container port",
              p.get("targetPort") in port_names or p.get("targetPort") in port_names.values())

probes = {}
for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
    probe = c.get(kind)
    check(f"{kind} is an HTTP probe on the http port",
          probe is not None and probe.get("httpGet", {}).get("port") in ("http", 7421))
    if probe:
        probes[kind] = probe["httpGet"]["path"]
check("liveness on /healthz, readiness on /readyz",
      probes.get("livenessProbe") == "/healthz" and probes.get("readinessProbe") == "/readyz")

volumes = {v["name"]: v for v in pod.get("volumes", [])}
claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
for name in mounts:
    check(f"volume mount {name} has a volume or a claim", name in volumes or name in claims)
check("the data dir is on a PersistentVolumeClaim", mounts.get("data") == "/var/lib/slipway"
      and "data" in claims)
secret_volumes = [v for v in volumes.values() if "secret" in v]
check("the admin token comes from a Secret",
      len(secret_volumes) == 1 and secret_volumes[0]["name"] in mounts)

cm = by_kind["ConfigMap"][0]
config_volume = [v for v in volumes.values() if v.get("configMap", {}).get("name") == cm["metadata"]["name"]]
check("the ConfigMap is mounted", len(config_volume) == 1 and config_volume[0]["name"] in mounts)
config = yaml.safe_load(cm["data"]["slipwayd.yaml"])
token_dir = mounts[secret_volumes[0]["name"]]
check("admin_token_file is in the Secret's mount",
      os.path.dirname(config.get("admin_token_file", "")) == token_dir)
check("data_dir is the claim's mount", config.get("data_dir") == mounts["data"])

security = pod.get("securityContext", {})
csec = c.get("securityContext", {})
check("runs as non-root uid 10001 (the image's slipway user)",
      security.get("runAsNonRoot") is True and security.get("runAsUser") == 10001)
check("no privilege escalation, all capabilities dropped, read-only root",
      csec.get("allowPrivilegeEscalation") is False and csec.get("capabilities", {}).get("drop") == ["ALL"]
      and csec.get("readOnlyRootFilesystem") is True)

# The args are flags slipwayd has.
help_text = subprocess.run([slipwayd, "--help"], capture_output=True, text=True).stdout
for arg in c.get("args", []):
    if arg.startswith("--"):
        check(f"slipwayd knows {arg}", arg in help_text)

os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, "args.json"), "w") as f:
    json.dump(c.get("args", []), f)
with open(os.path.join(out_dir, "slipwayd.yaml"), "w") as f:
    f.write(cm["data"]["slipwayd.yaml"])
with open(os.path.join(out_dir, "pod.json"), "w") as f:
    json.dump({"user": security.get("runAsUser"), "group": security.get("runAsGroup"),
               "probes": probes, "config_dir": mounts[config_volume[0]["name"]],
               "token_file": config["admin_token_file"], "data_dir": mounts["data"]}, f)
print(f"{failures} failed")
sys.exit(1 if failures else 0)
