#!/usr/bin/env python3
"""Offline checks of hoop's deployment artifacts; deploy/check runs them.

    check_manifests.py kubernetes DIR [--rendered FILE]   the Kubernetes invariants
    check_manifests.py image DOCKERFILE DOCKERIGNORE CONFIG   the image recipe
    check_manifests.py unit UNIT                            the systemd unit's settings
    check_manifests.py context SRC DEST DOCKERIGNORE       sync the Docker build context to DEST
    check_manifests.py self-test DIR [--rendered FILE]     every check fails on a broken input

The Kubernetes checks read the rendered manifests (`kubectl kustomize DIR`) or, without kubectl,
the files DIR's kustomization.yaml lists, and hold them against DIR/hoop.toml: the ports it
listens on, the secrets it reads, its spool. Needs Python 3.11 (tomllib) and PyYAML.
"""

import copy
import os
import re
import shutil
import sys
import tomllib

import yaml

# What hoop itself fixes (service/src/server.rs, gateway config): the archiver's last pass
# after the gateway's drain, and the drain's default.
ARCHIVE_DRAIN_SECONDS = 10
DEFAULT_DRAIN_TIMEOUT = "30s"
# docs/operations.md asks for a stop timeout above drain_timeout + 15s: the archiver's pass and
# this much more.
STOP_MARGIN_SECONDS = 5
WORKLOAD_KINDS = ("StatefulSet", "Deployment")


class Problems:
    def __init__(self):
        self.items = []

    def add(self, message):
        self.items.append(message)

    def check(self, condition, message):
        if not condition:
            self.add(message)
        return condition


# --------------------------------------------------------------------------------------------
# Loading


def load_rendered(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def load_raw(directory):
    """The resources kustomization.yaml lists, and its generated ConfigMaps (unhashed names)."""
    with open(os.path.join(directory, "kustomization.yaml"), encoding="utf-8") as f:
        kustomization = yaml.safe_load(f)
    docs = []
    for resource in kustomization.get("resources", []):
        with open(os.path.join(directory, resource), encoding="utf-8") as f:
            docs.extend(d for d in yaml.safe_load_all(f) if d)
    for generator in kustomization.get("configMapGenerator", []):
        data = {}
        for entry in generator.get("files", []):
            key, _, name = entry.rpartition("=")
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                data[key or os.path.basename(name)] = f.read()
        docs.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        )
    return docs


def load_config(directory):
    path = os.path.join(directory, "hoop.toml")
    with open(path, "rb") as f:
        raw = f.read()
    return tomllib.loads(raw.decode("utf-8")), raw.decode("utf-8")


# --------------------------------------------------------------------------------------------
# Helpers


def duration_seconds(text):
    """humantime's common forms: "30s", "1m", "1m30s", "2h"."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)\s*(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"cannot read the duration {text!r}")
    return sum(int(n) * units[u] for n, u in parts)


def port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def host_of(listen):
    return listen.rsplit(":", 1)[0].strip("[]")


def secret_sources(config):
    """(key path, {"file": ...} or {"env": ...}) of every secret source in the configuration."""
    found = []

    def walk(value, path):
        if isinstance(value, dict):
            if set(value) in ({"file"}, {"env"}):
                found.append((path, value))
                return
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    walk(config, "")
    return found


def under(path, directory):
    directory = directory.rstrip("/")
    return path == directory or path.startswith(directory + "/")


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def named(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def container_port(container, ref):
    """The number of a container port referred to by name or number, or None."""
    for p in container.get("ports", []):
        if ref in (p.get("name"), p.get("containerPort")):
            return p.get("containerPort")
    return ref if isinstance(ref, int) else None


# --------------------------------------------------------------------------------------------
# The Kubernetes invariants


def check_kubernetes(docs, config, config_text):
    p = Problems()
    server = config.get("server", {})
    gateway_cfg = config.get("gateway", {})
    api_port = port_of(server.get("api_listen", "127.0.0.1:8080"))
    gateway_port = port_of(server.get("gateway_listen", "127.0.0.1:6432"))
    for key in ("api_listen", "gateway_listen"):
        host = host_of(server.get(key, "127.0.0.1:0"))
        p.check(
            host in ("0.0.0.0", "::"),
            f"hoop.toml: server.{key} listens on {host}: probes, Services and the load balancer reach the pod's address, listen on 0.0.0.0",
        )

    # What clients are told: a pod's wildcard address is no address to give them.
    public_host = server.get("public_host", host_of(server.get("gateway_listen", "127.0.0.1:6432")))
    p.check(
        public_host not in ("0.0.0.0", "::", "127.0.0.1", "localhost"),
        f"hoop.toml: server.public_host is {public_host!r}: credentials must name the gateway load balancer",
    )
    p.check(
        config.get("approvals", {}).get("public_url"),
        "hoop.toml: approvals.public_url is not set: notices would point approvers at http://<api_listen>",
    )

    workloads = [d for d in docs if d.get("kind") in WORKLOAD_KINDS]
    if not p.check(len(workloads) == 1, f"expected one StatefulSet or Deployment, found {len(workloads)}"):
        return p.items
    workload = workloads[0]
    name = workload["metadata"]["name"]
    spec = workload.get("spec", {})
    replicas = spec.get("replicas", 1)
    p.check(replicas >= 2, f"{name}: replicas is {replicas}: run at least 2")
    pod_meta = spec.get("template", {}).get("metadata", {})
    pod_labels = pod_meta.get("labels", {})
    pod = spec.get("template", {}).get("spec", {})
    p.check(labels_match(spec.get("selector", {}).get("matchLabels"), pod_labels), f"{name}: the selector does not match the pod labels")

    # Stable names and a spool of each replica's own.
    spool_dir = gateway_cfg.get("spool_dir", "hoop-spool")
    p.check(os.path.isabs(spool_dir), f"hoop.toml: gateway.spool_dir {spool_dir!r} is relative: give the volume's absolute path")
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    if workload["kind"] == "StatefulSet":
        headless = [
            s for s in named(docs, "Service")
            if s["metadata"]["name"] == spec.get("serviceName") and s["spec"].get("clusterIP") == "None"
        ]
        p.check(headless, f"{name}: serviceName {spec.get('serviceName')!r} is not a headless Service of these manifests")
    else:
        p.add(f"{name}: a Deployment gives replicas neither stable names nor volumes of their own: a replaced pod's spool (unarchived recordings) is lost; use a StatefulSet")

    p.check(pod.get("automountServiceAccountToken") is False, f"{name}: automountServiceAccountToken must be false (hoop never calls the Kubernetes API)")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    drain = duration_seconds(gateway_cfg.get("drain_timeout", DEFAULT_DRAIN_TIMEOUT))
    needed = drain + ARCHIVE_DRAIN_SECONDS + STOP_MARGIN_SECONDS
    p.check(
        grace >= needed,
        f"{name}: terminationGracePeriodSeconds {grace} < {needed} (gateway.drain_timeout {drain}s + archive drain {ARCHIVE_DRAIN_SECONDS}s + {STOP_MARGIN_SECONDS}s): pods would be killed mid-drain",
    )

    containers = [c for c in pod.get("containers", []) if c.get("name") == "hoop"]
    if not p.check(len(containers) == 1, f"{name}: no container named hoop"):
        return p.items
    c = containers[0]
    pod_sc = pod.get("securityContext", {})
    sc = c.get("securityContext", {})

    # Ports and probes.
    numbers = {x.get("containerPort") for x in c.get("ports", [])}
    p.check(api_port in numbers, f"{name}: no container port {api_port} (server.api_listen)")
    p.check(gateway_port in numbers, f"{name}: no container port {gateway_port} (server.gateway_listen)")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = c.get(probe, {}).get("httpGet")
        if p.check(get, f"{name}: no {probe} (httpGet {path})"):
            p.check(get.get("path") == path, f"{name}: {probe} asks {get.get('path')!r}, not {path}")
            p.check(container_port(c, get.get("port")) == api_port, f"{name}: {probe} is not on the API port {api_port}")
    startup = c.get("startupProbe", {}).get("httpGet")
    if startup:
        p.check(startup.get("path") == "/healthz", f"{name}: startupProbe asks {startup.get('path')!r}, not /healthz")

    # Resources.
    resources = c.get("resources", {})
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    for r in ("cpu", "memory"):
        p.check(r in requests, f"{name}: no {r} request")
    p.check("memory" in limits, f"{name}: no memory limit")

    # Security context.
    def effective(key):
        return sc.get(key, pod_sc.get(key))

    p.check(effective("runAsNonRoot") is True, f"{name}: runAsNonRoot is not true")
    p.check(effective("runAsUser") not in (0,), f"{name}: runAsUser is 0")
    p.check(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem is not true")
    p.check(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation is not false")
    p.check(not sc.get("privileged"), f"{name}: privileged")
    caps = sc.get("capabilities", {})
    p.check("ALL" in caps.get("drop", []), f"{name}: capabilities do not drop ALL")
    p.check(not caps.get("add"), f"{name}: capabilities added: {caps.get('add')}")
    p.check((effective("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{name}: seccompProfile is not RuntimeDefault")

    # Volumes: what hoop reads and writes is where the manifests put it.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = c.get("volumeMounts", [])

    def mount_for(path):
        best = None
        for m in mounts:
            if under(path, m["mountPath"]) and (best is None or len(m["mountPath"]) > len(best["mountPath"])):
                best = m
        return best

    args = c.get("args", []) + c.get("command", [])
    config_path = None
    for i, a in enumerate(args):
        if a in ("--config", "-c") and i + 1 < len(args):
            config_path = args[i + 1]
        elif a.startswith("--config="):
            config_path = a.split("=", 1)[1]
    config_path = config_path or next((e.get("value") for e in c.get("env", []) if e.get("name") == "HOOP_CONFIG"), None)
    if p.check(config_path, f"{name}: no --config (or HOOP_CONFIG) for hoop serve"):
        m = mount_for(config_path)
        cm_name = volumes.get(m["name"], {}).get("configMap", {}).get("name") if m else None
        if p.check(cm_name, f"{name}: {config_path} is not on a ConfigMap volume"):
            maps = [d for d in named(docs, "ConfigMap") if d["metadata"]["name"] == cm_name]
            key = os.path.relpath(config_path, m["mountPath"])
            if p.check(maps, f"{name}: the ConfigMap {cm_name} is not in the manifests"):
                p.check(
                    maps[0].get("data", {}).get(key) == config_text,
                    f"ConfigMap {cm_name}: its {key} is not deploy's hoop.toml",
                )

    spool_mount = mount_for(spool_dir)
    if p.check(spool_mount, f"{name}: the spool {spool_dir} is on no volume: the root filesystem is read-only"):
        p.check(
            spool_mount["name"] in claims,
            f"{name}: the spool {spool_dir} is on volume {spool_mount['name']!r}, not a volumeClaimTemplate: a replaced pod would lose unarchived recordings",
        )
        p.check(not spool_mount.get("readOnly"), f"{name}: the spool's volume is mounted read-only")
    tmp = next((e.get("value") for e in c.get("env", []) if e.get("name") == "TMPDIR"), "/tmp")
    tmp_mount = mount_for(tmp)
    p.check(
        tmp_mount and not tmp_mount.get("readOnly") and "emptyDir" in volumes.get(tmp_mount["name"], {}),
        f"{name}: no writable emptyDir at {tmp}: the archiver checks each recording from a scratch file in the temp dir",
    )

    pod_names = [f"{name}-{i}" for i in range(replicas)]
    env_secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    secret_paths = [(k, v["file"]) for k, v in secret_sources(config) if "file" in v]
    secret_paths += [(f"gateway.{k}", gateway_cfg[k]) for k in ("tls_cert", "tls_key") if k in gateway_cfg]
    for key, path in secret_paths:
        m = mount_for(path)
        secret = volumes.get(m["name"], {}).get("secret") if m else None
        if not p.check(secret, f"{name}: {key} reads {path}, which is on no Secret volume"):
            continue
        relative = os.path.relpath(path, m["mountPath"])
        items = secret.get("items")
        if m.get("subPathExpr"):
            # One directory of the Secret per pod: every replica needs its item.
            expr = m["subPathExpr"]
            for pod_name in pod_names:
                wanted = os.path.join(expr.replace("$(POD_NAME)", pod_name), relative)
                p.check(
                    items and any(i.get("path") == wanted for i in items),
                    f"{name}: {key}: Secret {secret.get('secretName')} has no item at {wanted} for replica {pod_name}",
                )
        elif items is not None:
            p.check(any(i.get("path") == relative for i in items), f"{name}: {key}: Secret {secret.get('secretName')} has no item {relative}")
    for key, source in secret_sources(config):
        if "env" in source:
            p.check(source["env"] in env_secrets, f"{name}: {key} reads ${source['env']}, which no secretKeyRef sets")
    p.check(
        not any(d.get("data") or d.get("stringData") for d in named(docs, "Secret")),
        "a Secret with data is in the manifests: secrets are created in the cluster, never committed",
    )

    # The PodDisruptionBudget.
    pdbs = [d for d in named(docs, "PodDisruptionBudget") if labels_match(d["spec"].get("selector", {}).get("matchLabels"), pod_labels)]
    if p.check(pdbs, "no PodDisruptionBudget selects the hoop pods"):
        pdb = pdbs[0]["spec"]
        if "maxUnavailable" in pdb:
            p.check(0 < pdb["maxUnavailable"] < replicas, f"PodDisruptionBudget maxUnavailable {pdb['maxUnavailable']} with {replicas} replicas")
        else:
            p.check(0 < pdb.get("minAvailable", 0) < replicas, f"PodDisruptionBudget minAvailable {pdb.get('minAvailable')} with {replicas} replicas")

    # Services for the API and the gateway.
    def serves(port):
        return [
            s for s in named(docs, "Service")
            if s["spec"].get("clusterIP") != "None"
            and labels_match(s["spec"].get("selector"), pod_labels)
            and any(container_port(c, sp.get("targetPort", sp.get("port"))) == port for sp in s["spec"].get("ports", []))
        ]

    p.check(serves(api_port), f"no Service sends traffic to the API port {api_port}")
    gateways = serves(gateway_port)
    if p.check(gateways, f"no Service sends traffic to the gateway port {gateway_port}"):
        public_port = server.get("public_port", gateway_port)
        ports = [sp["port"] for s in gateways for sp in s["spec"]["ports"] if container_port(c, sp.get("targetPort", sp.get("port"))) == gateway_port]
        p.check(public_port in ports, f"hoop.toml: server.public_port {public_port} (written into credentials) is no gateway Service port {ports}")

    # The NetworkPolicy.
    policies = [d for d in named(docs, "NetworkPolicy") if labels_match(d["spec"].get("podSelector", {}).get("matchLabels"), pod_labels)]
    if p.check(policies, "no NetworkPolicy selects the hoop pods"):
        np = policies[0]["spec"]
        p.check(set(np.get("policyTypes", [])) >= {"Ingress", "Egress"}, "NetworkPolicy: policyTypes must hold Ingress and Egress")
        ingress_ports = {container_port(c, pt.get("port")) for r in np.get("ingress", []) for pt in r.get("ports", [])}
        p.check(api_port in ingress_ports, f"NetworkPolicy: no ingress rule for the API port {api_port}")
        p.check(gateway_port in ingress_ports, f"NetworkPolicy: no ingress rule for the gateway port {gateway_port}")
        p.check(all(r.get("ports") for r in np.get("ingress", [])), "NetworkPolicy: an ingress rule opens every port")
        egress_ports = {pt.get("port") for r in np.get("egress", []) for pt in r.get("ports", [])}
        for port, what in ((53, "DNS"), (443, "HTTPS (S3, JWKS)")):
            p.check(port in egress_ports, f"NetworkPolicy: no egress rule for {what} ({port})")

    # What the Ingress publishes: the API, never /metrics or the probes.
    for ing in named(docs, "Ingress"):
        for rule in ing["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                p.check(
                    path.get("path", "/").startswith("/v1"),
                    f"Ingress {ing['metadata']['name']}: path {path.get('path')!r} publishes more than /v1 (/metrics is unauthenticated)",
                )
        p.check(ing["spec"].get("tls"), f"Ingress {ing['metadata']['name']}: no tls: the API carries id tokens and passwords")
    return p.items


# --------------------------------------------------------------------------------------------
# The image recipe


def check_image(dockerfile, dockerfile_text, dockerignore, ignore_text, config):
    p = Problems()
    text = re.sub(r"\\\n", " ", dockerfile_text)
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    stages, current = [], None
    for line in lines:
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            current = {"from": rest, "lines": []}
            stages.append(current)
        elif current is not None:
            current["lines"].append((op, rest.strip()))
    if not p.check(len(stages) >= 2, f"{dockerfile}: not multi-stage ({len(stages)} FROM)"):
        return p.items
    build = [s for s in stages[:-1] if any(op == "RUN" and "deploy/build-release" in rest for op, rest in s["lines"])]
    p.check(build, f"{dockerfile}: no build stage runs deploy/build-release (the build CI runs)")
    final = stages[-1]["lines"]
    user = [rest for op, rest in final if op == "USER"]
    p.check(user and user[-1].split(":")[0] not in ("0", "root"), f"{dockerfile}: the final stage does not switch to a non-root USER")
    p.check(user and user[-1].split(":")[0].isdigit(), f"{dockerfile}: USER is not numeric (runAsNonRoot cannot check a name)")
    p.check(not any(op in ("RUN", "ADD") for op, _ in final), f"{dockerfile}: the final stage runs or adds something: it should only copy the binary")
    exposed = {int(x.split("/")[0]) for op, rest in final if op == "EXPOSE" for x in rest.split()}
    server = config.get("server", {})
    for key, default in (("api_listen", "127.0.0.1:8080"), ("gateway_listen", "127.0.0.1:6432")):
        port = port_of(server.get(key, default))
        p.check(port in exposed, f"{dockerfile}: EXPOSE lacks {port} (server.{key} of the Kubernetes hoop.toml)")
    volumes = " ".join(rest for op, rest in final if op == "VOLUME")
    spool = config.get("gateway", {}).get("spool_dir", "")
    p.check(
        any(under(spool, v) for v in re.findall(r"/[\w./-]+", volumes)),
        f"{dockerfile}: no VOLUME holds the spool {spool}",
    )
    patterns = [l.strip() for l in ignore_text.splitlines() if l.strip() and not l.startswith("#")]
    p.check(patterns[:1] == ["*"], f"{dockerignore}: should start with '*' (an allow list: no keys or hoop.toml from a working copy)")
    for needed in ("deploy/build-release", "tools/build-deps", "Cargo.lock"):
        p.check(included(needed, patterns), f"{dockerignore}: {needed} is left out of the build context")
    return p.items


# --------------------------------------------------------------------------------------------
# The systemd unit (systemd-analyze checks syntax and scores the hardening; this checks that
# what hoop relies on is there)


def unit_settings(text):
    settings, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault((section, key.strip()), []).append(value.strip())
    return settings


UNIT_REQUIRED = {
    "User": lambda v: v not in ("", "root", "0"),
    "NoNewPrivileges": lambda v: v == "yes",
    "ProtectSystem": lambda v: v == "strict",
    "ProtectHome": lambda v: v == "yes",
    "PrivateTmp": lambda v: v == "yes",
    "PrivateDevices": lambda v: v == "yes",
    "CapabilityBoundingSet": lambda v: v == "",
    "RestrictAddressFamilies": lambda v: set(v.split()) <= {"AF_INET", "AF_INET6", "AF_UNIX"},
    "SystemCallFilter": lambda v: "@system-service" in v.split(),
    "StateDirectory": lambda v: v == "hoop",
    "Restart": lambda v: v == "on-failure",
    "ExecReload": lambda v: v.split()[1:2] == ["reload"] and "--config" in v.split(),
    "LimitNOFILE": lambda v: v.isdigit() and int(v) >= 4096,
}


def check_unit(path, text):
    p = Problems()
    settings = unit_settings(text)
    service = {k: v for (section, k), v in settings.items() if section == "Service"}
    for key, good in UNIT_REQUIRED.items():
        values = service.get(key)
        p.check(values and good(values[0]), f"{path}: {key}={values[0] if values else '(unset)'} is not what hoop's unit needs")
    stop = service.get("TimeoutStopSec", ["90s"])[-1]
    needed = duration_seconds(DEFAULT_DRAIN_TIMEOUT) + ARCHIVE_DRAIN_SECONDS + STOP_MARGIN_SECONDS
    p.check(duration_seconds(stop) >= needed, f"{path}: TimeoutStopSec={stop} < {needed}s: the drain would be killed")
    start = service.get("ExecStart", [""])[-1].split()
    p.check(start[1:2] == ["serve"] and "--config" in start, f"{path}: ExecStart is not `hoop serve --config ...`")
    return p.items


UNIT_MUTATIONS = [
    ("as root", lambda t: t.replace("User=hoop", "User=root"), "User=root"),
    ("privileges allowed", lambda t: t.replace("NoNewPrivileges=yes\n", ""), "NoNewPrivileges"),
    ("system writable", lambda t: t.replace("ProtectSystem=strict", "ProtectSystem=full"), "ProtectSystem"),
    ("no reload", lambda t: re.sub(r"ExecReload=.*\n", "", t), "ExecReload"),
    ("short stop timeout", lambda t: t.replace("TimeoutStopSec=60s", "TimeoutStopSec=20s"), "TimeoutStopSec"),
    ("no spool directory", lambda t: t.replace("StateDirectory=hoop\n", ""), "StateDirectory"),
    ("packet sockets", lambda t: t.replace("AF_UNIX\n", "AF_UNIX AF_PACKET\n"), "RestrictAddressFamilies"),
]


def unit_self_test(path, text):
    missed = []
    for label, mutate, expected in UNIT_MUTATIONS:
        broken = mutate(text)
        if broken == text:
            missed.append(f"{label}: the mutation changed nothing (update UNIT_MUTATIONS)")
        elif not any(expected in x for x in check_unit(path, broken)):
            missed.append(f"{label}: not caught (expected {expected!r})")
    if missed:
        print("unit self-test:\n  " + "\n  ".join(missed))
        return 1
    print(f"unit self-test: {len(UNIT_MUTATIONS)}/{len(UNIT_MUTATIONS)} broken units caught")
    return 0


# --------------------------------------------------------------------------------------------
# The Docker build context (.dockerignore semantics for the patterns used here)


def pattern_regex(pattern):
    """Go's filepath.Match plus '**' (any number of folders), as Docker reads .dockerignore."""
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out, i = out + {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])), i + 1
    return re.compile(out + "$")


def included(path, patterns):
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    keep = True
    for raw in patterns:
        negated = raw.startswith("!")
        regex = pattern_regex(raw[1:] if negated else raw)
        if any(regex.match(prefix) for prefix in prefixes):
            keep = negated
    return keep


def sync_context(source, dest, dockerignore):
    with open(dockerignore, encoding="utf-8") as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    wanted = set()
    for root, dirs, files in os.walk(source):
        rel_root = os.path.relpath(root, source)
        rel_root = "" if rel_root == "." else rel_root
        # Skip folders nothing can bring back in (a '!' pattern below them would).
        dirs[:] = [
            d for d in dirs
            if included(os.path.join(rel_root, d), patterns)
            or any(p.startswith("!") and p[1:].startswith(os.path.join(rel_root, d) + "/") for p in patterns)
        ]
        for name in files:
            rel = os.path.join(rel_root, name)
            if included(rel, patterns):
                wanted.add(rel)
    for rel in sorted(wanted):
        src, dst = os.path.join(source, rel), os.path.join(dest, rel)
        st = os.stat(src)
        try:
            dt = os.stat(dst)
            same = dt.st_size == st.st_size and int(dt.st_mtime) == int(st.st_mtime) and dt.st_mode == st.st_mode
        except FileNotFoundError:
            same = False
        if not same:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
    # Files no longer in the context go (a build must not see them); cargo's output stays out.
    for root, dirs, files in os.walk(dest, topdown=True):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), dest)
            if rel not in wanted:
                os.remove(os.path.join(root, name))
    return len(wanted)


# --------------------------------------------------------------------------------------------
# Self-test: each check fails on an input broken on purpose


def find_workload(docs):
    return next(d for d in docs if d.get("kind") in WORKLOAD_KINDS)


def hoop_container(docs):
    return next(c for c in find_workload(docs)["spec"]["template"]["spec"]["containers"] if c["name"] == "hoop")


def without_kind(kind):
    return lambda docs, cfg: ([d for d in docs if d.get("kind") != kind], cfg)


def edit(fn):
    def apply(docs, cfg):
        fn(docs, cfg)
        return docs, cfg

    return apply


def _remove_mount(docs, name):
    c = hoop_container(docs)
    c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] != name]


MUTATIONS = [
    ("one replica", edit(lambda d, c: find_workload(d)["spec"].update(replicas=1)), "replicas is 1"),
    ("a Deployment", edit(lambda d, c: find_workload(d).update(kind="Deployment")), "use a StatefulSet"),
    ("readiness on /healthz", edit(lambda d, c: hoop_container(d)["readinessProbe"]["httpGet"].update(path="/healthz")), "readinessProbe asks"),
    ("no liveness probe", edit(lambda d, c: hoop_container(d).pop("livenessProbe")), "no livenessProbe"),
    ("liveness on the gateway port", edit(lambda d, c: hoop_container(d)["livenessProbe"]["httpGet"].update(port="gateway")), "livenessProbe is not on the API port"),
    ("no PodDisruptionBudget", without_kind("PodDisruptionBudget"), "no PodDisruptionBudget"),
    ("no NetworkPolicy", without_kind("NetworkPolicy"), "no NetworkPolicy"),
    ("writable root", edit(lambda d, c: hoop_container(d)["securityContext"].update(readOnlyRootFilesystem=False)), "readOnlyRootFilesystem"),
    ("root allowed", edit(lambda d, c: [hoop_container(d)["securityContext"].pop("runAsNonRoot"), find_workload(d)["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot")]), "runAsNonRoot"),
    ("capabilities kept", edit(lambda d, c: hoop_container(d)["securityContext"]["capabilities"].update(drop=[])), "drop ALL"),
    ("escalation allowed", edit(lambda d, c: hoop_container(d)["securityContext"].pop("allowPrivilegeEscalation")), "allowPrivilegeEscalation"),
    ("no seccomp", edit(lambda d, c: [hoop_container(d)["securityContext"].pop("seccompProfile"), find_workload(d)["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile")]), "seccompProfile"),
    ("token mounted", edit(lambda d, c: find_workload(d)["spec"]["template"]["spec"].update(automountServiceAccountToken=True)), "automountServiceAccountToken"),
    ("no requests", edit(lambda d, c: hoop_container(d)["resources"].pop("requests")), "no cpu request"),
    ("short grace period", edit(lambda d, c: find_workload(d)["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=30)), "terminationGracePeriodSeconds"),
    ("longer drain than the grace", edit(lambda d, c: c.setdefault("gateway", {}).update(drain_timeout="2m")), "terminationGracePeriodSeconds"),
    ("secrets unmounted", edit(lambda d, c: _remove_mount(d, "secrets")), "on no Secret volume"),
    ("no key for the second replica", edit(lambda d, c: next(v for v in find_workload(d)["spec"]["template"]["spec"]["volumes"] if v["name"] == "archive-keys")["secret"]["items"].pop()), "for replica"),
    ("an env secret nobody sets", edit(lambda d, c: c["server"].update(secret_key={"env": "HOOP_SECRET_KEY"})), "which no secretKeyRef sets"),
    ("a committed Secret", lambda d, c: (d + [{"kind": "Secret", "metadata": {"name": "x"}, "data": {"k": "dg=="}}], c), "a Secret with data"),
    ("spool on the root filesystem", edit(lambda d, c: _remove_mount(d, "spool")), "the spool"),
    ("spool on an emptyDir", edit(lambda d, c: find_workload(d)["spec"].update(volumeClaimTemplates=[])), "not a volumeClaimTemplate"),
    ("no writable /tmp", edit(lambda d, c: _remove_mount(d, "tmp")), "writable emptyDir"),
    ("API on loopback", edit(lambda d, c: c["server"].update(api_listen="127.0.0.1:8080")), "server.api_listen listens on 127.0.0.1"),
    ("no public host", edit(lambda d, c: c["server"].pop("public_host")), "server.public_host"),
    ("no approvals URL", edit(lambda d, c: c["approvals"].pop("public_url")), "approvals.public_url"),
    ("public port not served", edit(lambda d, c: c["server"].update(public_port=6543)), "server.public_port"),
    ("no gateway Service", edit(lambda d, c: [s["spec"]["ports"].clear() for s in d if s.get("kind") == "Service" and s["metadata"]["name"].endswith("gateway")]), "gateway port"),
    ("metrics published", edit(lambda d, c: next(x for x in d if x.get("kind") == "Ingress")["spec"]["rules"][0]["http"]["paths"][0].update(path="/")), "publishes more than /v1"),
    ("no DNS egress", edit(lambda d, c: next(x for x in d if x.get("kind") == "NetworkPolicy")["spec"]["egress"].pop(0)), "DNS"),
]


IMAGE_MUTATIONS = [
    ("one stage", lambda d, i: (d[d.rindex("FROM "):].replace("COPY --from=build", "COPY"), i), "not multi-stage"),
    ("another build", lambda d, i: (d.replace("deploy/build-release /out", "cargo build --release && cp target/release/hoop /out"), i), "deploy/build-release"),
    ("runs as root", lambda d, i: (d.replace("USER 65532:65532", "USER root"), i), "non-root USER"),
    ("no USER", lambda d, i: (d.replace("USER 65532:65532\n", ""), i), "non-root USER"),
    ("a shell step at run time", lambda d, i: (d.replace("USER 65532", "RUN mkdir -p /x\nUSER 65532"), i), "runs or adds"),
    ("gateway not exposed", lambda d, i: (d.replace("EXPOSE 8080 6432", "EXPOSE 8080"), i), "EXPOSE lacks 6432"),
    ("no spool volume", lambda d, i: (re.sub(r"VOLUME .*\n", "", d), i), "no VOLUME"),
    ("a deny list", lambda d, i: (d, i.replace("*\n", "target\n", 1)), "should start with '*'"),
    ("the script left out", lambda d, i: (d, i.replace("!deploy/build-release\n", "")), "deploy/build-release is left out"),
]


def image_self_test(dockerfile, text, dockerignore, ignore_text, config):
    missed = []
    for label, mutate, expected in IMAGE_MUTATIONS:
        broken, broken_ignore = mutate(text, ignore_text)
        if broken == text and broken_ignore == ignore_text:
            missed.append(f"{label}: the mutation changed nothing (the recipe changed: update IMAGE_MUTATIONS)")
            continue
        problems = check_image(dockerfile, broken, dockerignore, broken_ignore, config)
        if not any(expected in x for x in problems):
            missed.append(f"{label}: not caught (expected {expected!r}; got {problems})")
    if missed:
        print("image self-test:\n  " + "\n  ".join(missed))
        return 1
    print(f"image self-test: {len(IMAGE_MUTATIONS)}/{len(IMAGE_MUTATIONS)} broken recipes caught")
    return 0


def self_test(docs, config, config_text):
    baseline = check_kubernetes(copy.deepcopy(docs), copy.deepcopy(config), config_text)
    if baseline:
        print("self-test: the manifests themselves fail:\n  " + "\n  ".join(baseline))
        return 1
    failures = 0
    for label, mutate, expected in MUTATIONS:
        broken_docs, broken_config = mutate(copy.deepcopy(docs), copy.deepcopy(config))
        problems = check_kubernetes(broken_docs, broken_config, config_text)
        caught = [x for x in problems if expected in x]
        if caught:
            print(f"self-test: {label}: caught ({caught[0]})")
        else:
            failures += 1
            print(f"self-test: {label}: NOT caught (expected a problem naming {expected!r}; got {problems})")
    print(f"self-test: {len(MUTATIONS) - failures}/{len(MUTATIONS)} broken inputs caught")
    return 1 if failures else 0


# --------------------------------------------------------------------------------------------


def report(what, problems):
    if problems:
        print(f"{what}: {len(problems)} problem(s):")
        for x in problems:
            print(f"  - {x}")
        return 1
    print(f"{what}: ok")
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    command, args = argv[1], argv[2:]
    rendered = None
    if "--rendered" in args:
        i = args.index("--rendered")
        rendered = args[i + 1]
        del args[i : i + 2]
    if command in ("kubernetes", "self-test"):
        directory = args[0]
        docs = load_rendered(rendered) if rendered else load_raw(directory)
        config, text = load_config(directory)
        if command == "self-test":
            return self_test(docs, config, text)
        source = "rendered by kustomize" if rendered else "as written"
        return report(f"kubernetes manifests ({source})", check_kubernetes(docs, config, text))
    if command == "image":
        dockerfile, dockerignore, config_path = args
        with open(config_path, "rb") as f:
            config = tomllib.load(f)
        texts = []
        for path in (dockerfile, dockerignore):
            with open(path, encoding="utf-8") as f:
                texts.append(f.read())
        problems = check_image(dockerfile, texts[0], dockerignore, texts[1], config)
        code = report("image recipe", problems)
        if code == 0:
            code = image_self_test(dockerfile, texts[0], dockerignore, texts[1], config)
        return code
    if command == "unit":
        with open(args[0], encoding="utf-8") as f:
            text = f.read()
        code = report("systemd unit settings", check_unit(args[0], text))
        return code or unit_self_test(args[0], text)
    if command == "context":
        source, dest, dockerignore = args
        n = sync_context(source, dest, dockerignore)
        print(f"build context: {n} files in {dest}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
