#!/usr/bin/env bash
# Validate the Kubernetes manifests in deploy/kubernetes offline, in a few seconds:
#   1. every built-in object against the Kubernetes OpenAPI schemas bundled with the PyPI
#      package kubernetes-validate (strict: unknown fields are errors; several versions);
#   2. the PrometheusRule (a CRD, which kubernetes-validate has no schema for): its structure,
#      and that every broker_* metric its expressions use exists in src/;
#   3. kustomization.yaml: its resources exist, examples are not applied, and (when kubectl or
#      kustomize is installed) it builds;
#   4. invariants between the manifests and the broker's configuration (shutdown timing,
#      security context, API key from a Secret file, rate limit, ports, probes, labels, and
#      every BROKER__* key known to config/default.toml or src/config.rs).
#   5. optionally, with BROKER_BIN=path/to/hosted-fields-broker, the binary's own
#      `check-config` on the environment the Deployment gives it.
# Needs python3 and PyPI (installs kubernetes-validate into a venv under target/ if missing).
#
# Environment: K8S_DIR (default deploy/kubernetes), K8S_VERSIONS (default "1.32.0 1.37.0"),
# BROKER_BIN (optional, see 5).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_DIR=${K8S_DIR:-deploy/kubernetes}
K8S_VERSIONS=${K8S_VERSIONS:-"1.32.0 1.37.0"}
# Pinned: the bundled schemas (Kubernetes 1.32-1.37) are what "valid" means here.
KV_VERSION=1.37.0
VENV=target/validate-k8s-venv
start=$(date +%s.%N)

[[ -d $K8S_DIR ]] || { echo "validate-k8s: no directory $K8S_DIR" >&2; exit 1; }

# --- tools -----------------------------------------------------------------------------
has_kv() { "$1" -c "import kubernetes_validate.version as v, yaml, sys; sys.exit(v.__version__ != '$KV_VERSION')" 2>/dev/null; }
PY=python3
if has_kv "$PY"; then
  :
elif [[ -x $VENV/bin/python ]] && has_kv "$VENV/bin/python"; then
  PY=$VENV/bin/python
else
  echo "== installing kubernetes-validate==$KV_VERSION into $VENV"
  # Reuse the interpreter's own jsonschema/PyYAML when it has them: a faster first run.
  python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KV_VERSION" pyyaml
  PY=$VENV/bin/python
fi

mapfile -t manifests < <(find "$K8S_DIR" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml | sort)
[[ ${#manifests[@]} -gt 0 ]] || { echo "validate-k8s: no manifests in $K8S_DIR" >&2; exit 1; }

# --- 1. schemas ---------------------------------------------------------------------------
echo "== schemas (kubernetes-validate $KV_VERSION --strict, Kubernetes ${K8S_VERSIONS// /, })"
kv_args=(--strict --quiet)
for v in $K8S_VERSIONS; do kv_args+=(-k "$v"); done
set +e
kv_out=$("$PY" -m kubernetes_validate "${kv_args[@]}" "${manifests[@]}" 2>&1)
kv_rc=$?
set -e
# kubernetes-validate only warns (exit 0) when it has no schema for a kind, so a mistyped
# apiVersion would pass. Only the CRD named here may go without a schema.
crd_warn="Couldn't find schema for kind PrometheusRule with api version monitoring.coreos.com/v1 "
shown=$(printf '%s\n' "$kv_out" | grep -vF "$crd_warn" || true)
[[ -n $shown ]] && printf '%s\n' "$shown"
unexpected_warn=$(printf '%s\n' "$shown" | grep '^WARN' || true)
if [[ $kv_rc -ne 0 || -n $unexpected_warn ]]; then
  echo "FAIL: schema validation (exit $kv_rc${unexpected_warn:+, a kind without a schema})" >&2
  exit 1
fi
echo "ok: ${#manifests[@]} files; PrometheusRule has no bundled schema, checked structurally below"
checks=${#manifests[@]}

# --- 2-4. CRD structure, kustomization, invariants ------------------------------------------
echo "== PrometheusRule, kustomization and invariants"
KUSTOMIZE_OUT=""
if command -v kustomize >/dev/null 2>&1; then
  KUSTOMIZE_OUT=$(kustomize build "$K8S_DIR") || { echo "FAIL: kustomize build" >&2; exit 1; }
elif command -v kubectl >/dev/null 2>&1; then
  KUSTOMIZE_OUT=$(kubectl kustomize "$K8S_DIR") || { echo "FAIL: kubectl kustomize" >&2; exit 1; }
fi
export KUSTOMIZE_OUT K8S_DIR
env_file=$(mktemp)
trap 'rm -f "$env_file" "$env_file.count"' EXIT
export ENV_OUT=$env_file

"$PY" - <<'PYTHON'
"""Structural and cross-file checks that no schema can express."""
import glob, ipaddress, os, re, sys, tomllib
from pathlib import Path

import yaml

K8S_DIR = Path(os.environ["K8S_DIR"])
NAME = "hosted-fields-broker"
SHUTDOWN_MARGIN_MS = 2000  # time for the process to exit and the kubelet to notice
errors, warnings, oks = [], [], []


def check(cond, ok_msg, err_msg):
    (oks if cond else errors).append(ok_msg if cond else err_msg)
    return cond


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


docs = {}  # file name -> list of objects
for p in sorted(K8S_DIR.glob("*.yaml")):
    docs[p.name] = load(p)


def find(kind, skip_examples=True):
    out = [(f, d) for f, ds in docs.items() for d in ds if d.get("kind") == kind
           and not (skip_examples and ".example." in f)]
    return out


def one(kind, skip_examples=True):
    objs = find(kind, skip_examples)
    if len(objs) != 1:
        errors.append(f"expected exactly one {kind}, found {len(objs)}")
        return {}
    return objs[0][1]


# --- known configuration keys ---------------------------------------------------------------
def toml_keys(path):
    """Keys of config/default.toml: set ones, and documented-but-commented-out `# key = ...`."""
    keys, section = set(), None
    text = Path(path).read_text()
    for section_name, table in tomllib.loads(text).items():
        for key in table:
            keys.add((section_name, key))
    for line in text.splitlines():
        if m := re.match(r"^\s*\[([a-z_]+)\]\s*$", line):
            section = m[1]
        elif section and (m := re.match(r"^\s*#\s*([a-z_]+)\s*=", line)):
            keys.add((section, m[1]))
    return keys


def struct_keys(path):
    """Fields of the Raw* structs in src/config.rs (serde deny_unknown_fields)."""
    src = Path(path).read_text()
    structs = {m[1]: re.findall(r"pub\s+([a-z_0-9]+)\s*:", m[2])
               for m in re.finditer(r"pub struct (Raw\w+)\s*\{(.*?)\n\}", src, re.S)}
    sections = re.findall(r"pub\s+([a-z_]+)\s*:\s*(Raw\w+)", src)
    return {(sec, f) for sec, ty in sections for f in structs.get(ty, []) if ty in structs}


documented = toml_keys("config/default.toml")
implemented = struct_keys("src/config.rs") if Path("src/config.rs").exists() else set()
env_name = lambda sec, key: f"BROKER__{sec.upper()}__{key.upper()}"
DOCUMENTED = {env_name(*k) for k in documented}
KNOWN = DOCUMENTED | {env_name(*k) for k in implemented}
check(len(DOCUMENTED) >= 20, f"{len(DOCUMENTED)} keys documented in config/default.toml",
      f"only {len(DOCUMENTED)} keys parsed from config/default.toml")
defaults = {env_name(s, k): v for s, t in tomllib.loads(Path("config/default.toml").read_text()).items()
            for k, v in t.items()}


def check_keys(where, names):
    for n in names:
        if not n.startswith("BROKER"):
            continue
        if n not in KNOWN:
            errors.append(f"{where}: unknown configuration key {n} (not in config/default.toml "
                          f"nor src/config.rs; the broker would exit at start-up)")
        elif n not in DOCUMENTED:
            warnings.append(f"{where}: {n} is implemented but not documented in config/default.toml")


# --- common labels ---------------------------------------------------------------------------
for f, ds in docs.items():
    for d in ds:
        kind = d.get("kind")
        if kind == "Kustomization":
            continue
        labels = (d.get("metadata") or {}).get("labels") or {}
        check(labels.get("app.kubernetes.io/name") == NAME and
              labels.get("app.kubernetes.io/part-of") == "payments" and
              (kind == "Namespace" or labels.get("app.kubernetes.io/instance") == NAME),
              f"{f}: {kind} carries the common labels",
              f"{f}: {kind} lacks app.kubernetes.io/name={NAME}, part-of=payments or instance={NAME}")

# --- ConfigMap ------------------------------------------------------------------------------
cm = one("ConfigMap")
cm_data = {k: str(v) for k, v in (cm.get("data") or {}).items()}
check_keys("configmap.yaml", cm_data)
check(set(cm_data) - {"RUST_LOG"} <= {k for k in cm_data if k.startswith("BROKER__")},
      "ConfigMap holds only BROKER__* keys and RUST_LOG",
      f"ConfigMap has keys that are neither BROKER__* nor RUST_LOG: {sorted(cm_data)}")
for secret_key in ("BROKER__PAYROC__API_KEY", "BROKER__CALLERS__KEYS"):
    check(secret_key not in cm_data, f"no {secret_key} in the ConfigMap",
          f"{secret_key} is a secret and must come from a Secret, not the ConfigMap")

# --- Deployment -----------------------------------------------------------------------------
dep = one("Deployment")
spec = dep.get("spec", {})
pod_meta = spec.get("template", {}).get("metadata", {})
pod = spec.get("template", {}).get("spec", {})
pod_labels = pod_meta.get("labels") or {}
containers = pod.get("containers") or [{}]
c = containers[0]
check(len(containers) == 1, "one container", f"{len(containers)} containers (expected 1)")

env, env_refs = {}, {}
for e in c.get("env") or []:
    if "value" in e:
        env[e["name"]] = str(e["value"])
    elif "valueFrom" in e:
        env_refs[e["name"]] = e["valueFrom"]
check_keys("deployment.yaml env", list(env) + list(env_refs))
check(any(r.get("configMapRef", {}).get("name") == cm.get("metadata", {}).get("name")
          for r in c.get("envFrom") or []),
      "envFrom the ConfigMap", "the container does not take envFrom the ConfigMap")
# What the process sees: built-in defaults < config/default.toml < ConfigMap < explicit env.
effective = {**{k: str(v) for k, v in defaults.items()}, **cm_data, **env}
ms = lambda key, default: int(effective.get(key, default))

replicas = spec.get("replicas", 1)
check(replicas >= 2, f"replicas = {replicas} (>= 2)", f"replicas = {replicas}: need >= 2")
check(spec.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable", 1) in (0, "0", "0%"),
      "rolling update never removes a ready pod before its successor is ready",
      "strategy.rollingUpdate.maxUnavailable should be 0")
sel = spec.get("selector", {}).get("matchLabels", {})
check(sel and sel.items() <= pod_labels.items(), "Deployment selector matches the pod labels",
      f"Deployment selector {sel} does not match pod labels {pod_labels}")

# Shutdown timing.
tgps = pod.get("terminationGracePeriodSeconds", 30)
pre = ms("BROKER__SERVER__PRE_DRAIN_DELAY_MS", 0)
grace = ms("BROKER__SERVER__SHUTDOWN_GRACE_MS", 10000)
deadline = ms("BROKER__PAYROC__DEADLINE_MS", 9000)
check(pre >= 1000, f"pre-drain delay {pre} ms",
      f"BROKER__SERVER__PRE_DRAIN_DELAY_MS = {pre}: set ~5000 so load balancers drop the pod first")
check(grace >= deadline, f"shutdown grace {grace} ms >= request deadline {deadline} ms",
      f"BROKER__SERVER__SHUTDOWN_GRACE_MS ({grace}) < BROKER__PAYROC__DEADLINE_MS ({deadline})")
check(tgps * 1000 >= pre + grace + SHUTDOWN_MARGIN_MS,
      f"terminationGracePeriodSeconds {tgps} s covers pre-drain {pre} + grace {grace} ms + margin",
      f"terminationGracePeriodSeconds {tgps} s < pre-drain {pre} + grace {grace} + "
      f"{SHUTDOWN_MARGIN_MS} ms margin: in-flight requests would be SIGKILLed")
check("lifecycle" not in c or "preStop" not in c.get("lifecycle", {}),
      "no preStop hook (scratch image: no sleep; PRE_DRAIN_DELAY_MS does it)",
      "preStop hook present: the scratch image has no shell or sleep")

# Security context (pod-level values count for the container unless it overrides them).
psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
eff = lambda k: csc.get(k, psc.get(k))
check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem", "readOnlyRootFilesystem must be true")
check(eff("runAsNonRoot") is True, "runAsNonRoot", "runAsNonRoot must be true")
check(eff("runAsUser") == 65532 and eff("runAsGroup") == 65532, "runs as 65532:65532",
      f"runAsUser/runAsGroup = {eff('runAsUser')}/{eff('runAsGroup')}, the image's user is 65532:65532")
check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false",
      "allowPrivilegeEscalation must be false")
check("ALL" in (csc.get("capabilities") or {}).get("drop", []) and
      not (csc.get("capabilities") or {}).get("add"), "capabilities: drop ALL",
      "capabilities must drop ALL and add none")
check((eff("seccompProfile") or {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault",
      "seccompProfile.type must be RuntimeDefault")
check(pod.get("automountServiceAccountToken") is False, "no service account token mounted",
      "automountServiceAccountToken must be false")

# API key: a file from a Secret volume mounted as a directory (no subPath, so rotation propagates).
all_env = set(cm_data) | set(env) | set(env_refs)
check("BROKER__PAYROC__API_KEY" not in all_env, "API key never in an environment variable",
      "BROKER__PAYROC__API_KEY is set: use BROKER__PAYROC__API_KEY_FILE with a Secret volume")
key_file = effective.get("BROKER__PAYROC__API_KEY_FILE", "")
secret_names = {s.get("metadata", {}).get("name") for _, s in find("Secret", skip_examples=False)}
volumes = {v.get("name"): v for v in pod.get("volumes") or []}
mount = next((m for m in c.get("volumeMounts") or []
              if key_file.startswith(m.get("mountPath", "").rstrip("/") + "/")), None)
if check(bool(key_file) and mount is not None, f"API key file {key_file} is on a volume mount",
         f"BROKER__PAYROC__API_KEY_FILE ({key_file or 'unset'}) is not under any volumeMount"):
    check("subPath" not in mount and "subPathExpr" not in mount,
          "API key volume mounted as a directory (Secret updates propagate)",
          "API key mounted with subPath: Secret rotation would never reach the pod")
    vol = volumes.get(mount["name"], {})
    sec = vol.get("secret")
    if check(sec is not None, "API key volume is a Secret", f"volume {mount['name']} is not a Secret"):
        rel = key_file[len(mount["mountPath"].rstrip("/")) + 1:]
        items = sec.get("items")
        src_key = next((i["key"] for i in items if i["path"] == rel), None) if items else rel
        check(src_key == "api-key", f"API key file comes from Secret key api-key",
              f"{key_file} does not map to Secret key 'api-key' (got {src_key})")
        check(sec.get("secretName") in secret_names, "API key Secret matches secret.example.yaml",
              f"Secret {sec.get('secretName')} is not the one in secret.example.yaml {secret_names}")
        # Secret files belong to root (group: fsGroup): uid 65532 reads them through the
        # "other" bits, or the group bits when fsGroup is its group.
        mode = sec.get("defaultMode", 0o644)
        readable = (mode & 0o004) or ((mode & 0o040) and psc.get("fsGroup") == eff("runAsGroup"))
        check(bool(readable), f"API key file mode {oct(mode)} readable by uid 65532",
              f"API key file mode {oct(mode)} with fsGroup {psc.get('fsGroup')} is unreadable by 65532")
ck = env_refs.get("BROKER__CALLERS__KEYS", {}).get("secretKeyRef", {})
check(ck.get("key") == "caller-keys" and ck.get("name") in secret_names,
      "caller keys from the Secret (secretKeyRef caller-keys)",
      "BROKER__CALLERS__KEYS must come from the Secret via secretKeyRef key caller-keys")
for _, s in find("Secret", skip_examples=False):
    data = {**(s.get("data") or {}), **(s.get("stringData") or {})}
    check({"api-key", "caller-keys"} <= set(data), "Secret example has api-key and caller-keys",
          f"Secret example lacks api-key/caller-keys: {sorted(data)}")
for f, ds in docs.items():
    if any(d.get("kind") == "Secret" for d in ds):
        check(".example." in f, f"{f}: the only Secret is an example",
              f"{f}: a Secret outside *.example.yaml (real secrets never go in git)")

# Configuration values.
check(effective.get("BROKER__PAYROC__ENVIRONMENT") in ("test", "production"),
      "payroc environment is test|production", "BROKER__PAYROC__ENVIRONMENT must be test or production")
terms = [t.strip() for t in effective.get("BROKER__PAYROC__TERMINALS", "").split(",") if t.strip()]
check(terms and all(re.fullmatch(r"[A-Za-z0-9_-]{4,50}", t) for t in terms),
      f"terminals {terms}", f"BROKER__PAYROC__TERMINALS invalid or empty: {terms}")
for o in [o.strip() for o in effective.get("BROKER__CORS__ALLOWED_ORIGINS", "").split(",") if o.strip()]:
    check(re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?", o), f"CORS origin {o}",
          f"CORS origin {o!r} is not https://host[:port] (exact origin, no path)")
per_second = int(effective.get("BROKER__RATE_LIMIT__PER_SECOND", 0))
check(per_second > 0, f"rate limit on ({per_second}/s per IP per replica)",
      "BROKER__RATE_LIMIT__PER_SECOND must be > 0 in Kubernetes")
check(int(effective.get("BROKER__RATE_LIMIT__BURST", 20)) > 0, "rate-limit burst > 0", "burst must be > 0")
proxies = [p.strip() for p in effective.get("BROKER__RATE_LIMIT__TRUSTED_PROXIES", "").split(",") if p.strip()]
try:
    nets = [ipaddress.ip_network(p, strict=True) for p in proxies]
    check(bool(nets) and all(n.is_private for n in nets), f"trusted proxies {proxies}",
          f"BROKER__RATE_LIMIT__TRUSTED_PROXIES should list private CIDRs of the ingress: {proxies}")
except ValueError as e:
    errors.append(f"BROKER__RATE_LIMIT__TRUSTED_PROXIES: {e}")
check(effective.get("BROKER__LOG__FORMAT") == "json", "JSON logs", "BROKER__LOG__FORMAT should be json")

# Ports and probes.
ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
port_of = lambda addr: int(addr.rsplit(":", 1)[1]) if addr else None
listen = port_of(effective.get("BROKER__SERVER__LISTEN", "0.0.0.0:8080"))
admin = port_of(effective.get("BROKER__SERVER__METRICS_LISTEN"))
check(ports.get("http") == listen == 8080, "public listener :8080 = containerPort http",
      f"BROKER__SERVER__LISTEN port {listen} != containerPort http {ports.get('http')}")
check(ports.get("metrics") == admin == 9090, "admin listener :9090 = containerPort metrics",
      f"BROKER__SERVER__METRICS_LISTEN port {admin} != containerPort metrics {ports.get('metrics')}")
resolve = lambda p: ports.get(p, p)
live, ready = c.get("livenessProbe", {}).get("httpGet", {}), c.get("readinessProbe", {}).get("httpGet", {})
check(live.get("path") == "/healthz" and resolve(live.get("port")) in (listen, admin),
      "liveness: GET /healthz", f"livenessProbe must GET /healthz on 8080 or 9090: {live}")
# /readyz is served on the public listener only.
check(ready.get("path") == "/readyz" and resolve(ready.get("port")) == listen,
      "readiness: GET /readyz on the public port", f"readinessProbe must GET /readyz on {listen}: {ready}")
period = c.get("readinessProbe", {}).get("periodSeconds", 10)
check(period <= 5, f"readiness period {period} s", f"readinessProbe.periodSeconds {period} > 5")
ann = pod_meta.get("annotations") or {}
check(ann.get("prometheus.io/scrape") == "true" and str(ann.get("prometheus.io/port")) == str(admin)
      and ann.get("prometheus.io/path", "/metrics") == "/metrics",
      "Prometheus scrape annotations point at the admin port",
      f"prometheus.io/* annotations must say scrape=true, port={admin}, path=/metrics: {ann}")

# Resources, image, spreading.
res = c.get("resources", {})
check(all(res.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")),
      "cpu/memory requests and limits set", f"resources incomplete: {res}")
image = c.get("image", "")
check(re.search(r":[^/:]+$", image) and not image.endswith(":latest"), f"image pinned ({image})",
      f"image {image!r} has no tag or uses :latest")
tsc = [t.get("topologyKey") for t in pod.get("topologySpreadConstraints") or []]
anti = (pod.get("affinity") or {}).get("podAntiAffinity")
check("kubernetes.io/hostname" in tsc or bool(anti), "replicas spread across nodes",
      "no topologySpreadConstraints on kubernetes.io/hostname and no podAntiAffinity")

# --- Service, PDB, HPA, NetworkPolicy ----------------------------------------------------------
svc = one("Service")
ss = svc.get("spec", {})
check(ss.get("type", "ClusterIP") == "ClusterIP", "Service is ClusterIP", "Service must be ClusterIP")
check((ss.get("selector") or {}).items() <= pod_labels.items() and ss.get("selector"),
      "Service selects the pods", f"Service selector {ss.get('selector')} does not match the pods")
sp = {p.get("port"): resolve(p.get("targetPort")) for p in ss.get("ports", [])}
check(sp.get(80) == listen, "Service 80 -> 8080", f"Service port 80 must target {listen}: {sp}")
check(admin in sp.values(), "Service exposes the metrics port", "Service lacks the metrics port")

pdb = one("PodDisruptionBudget")
ps = pdb.get("spec", {})
hpa = one("HorizontalPodAutoscaler")
hs = hpa.get("spec", {})
min_r = hs.get("minReplicas", 1)
check((ps.get("selector", {}).get("matchLabels") or {}).items() <= pod_labels.items(),
      "PDB selects the pods", "PDB selector does not match the pods")
check(ps.get("maxUnavailable") == 1 or (isinstance(ps.get("minAvailable"), int)
                                        and 2 <= ps["minAvailable"] < min_r),
      "PDB lets one pod go at a time", f"PDB should be maxUnavailable 1 or 2 <= minAvailable < minReplicas: {ps}")
check(hs.get("scaleTargetRef", {}).get("name") == dep.get("metadata", {}).get("name")
      and hs.get("scaleTargetRef", {}).get("kind") == "Deployment",
      "HPA targets the Deployment", "HPA scaleTargetRef does not name the Deployment")
check(min_r >= 2 and min_r <= hs.get("maxReplicas", 0) and min_r == replicas,
      f"HPA {min_r}..{hs.get('maxReplicas')} (min = Deployment replicas)",
      f"HPA min {min_r}/max {hs.get('maxReplicas')} vs replicas {replicas}: need 2 <= min = replicas <= max")
check(any(m.get("resource", {}).get("name") == "cpu" for m in hs.get("metrics", [])),
      "HPA scales on CPU", "HPA has no CPU metric")

np_ = one("NetworkPolicy")
ns_ = np_.get("spec", {})
check((ns_.get("podSelector", {}).get("matchLabels") or {}).items() <= pod_labels.items()
      and ns_.get("podSelector", {}).get("matchLabels"),
      "NetworkPolicy selects the pods", "NetworkPolicy podSelector does not match the pods")
check(set(ns_.get("policyTypes", [])) == {"Ingress", "Egress"}, "NetworkPolicy covers ingress and egress",
      "NetworkPolicy policyTypes must be Ingress and Egress")
in_ports = {resolve(p.get("port")) for r in ns_.get("ingress", []) for p in r.get("ports", [])}
check(in_ports == {listen, admin}, f"ingress only to {sorted(in_ports)}",
      f"NetworkPolicy ingress ports {in_ports} should be exactly {{{listen}, {admin}}}")
for r in ns_.get("ingress", []):
    check(bool(r.get("from")) and bool(r.get("ports")), "each ingress rule names peers and ports",
          "an ingress rule without 'from' or 'ports' opens the pod to everyone")
eg = {(p.get("protocol", "TCP"), p.get("port")) for r in ns_.get("egress", []) for p in r.get("ports", [])}
check(eg == {("UDP", 53), ("TCP", 53), ("TCP", 443)}, "egress only DNS and HTTPS",
      f"NetworkPolicy egress ports {sorted(eg)} should be UDP/TCP 53 and TCP 443")
for r in ns_.get("egress", []):
    check(bool(r.get("to")) and bool(r.get("ports")), "each egress rule names peers and ports",
          "an egress rule without 'to' or 'ports' allows everything")

# --- PrometheusRule (CRD: no schema in kubernetes-validate) ----------------------------------------
metric_names = set()
for p in glob.glob("src/**/*.rs", recursive=True):
    metric_names |= set(re.findall(r'"(broker_[a-z0-9_]+)"', Path(p).read_text()))
series = metric_names | {m + s for m in metric_names for s in ("_bucket", "_sum", "_count")}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
rules_found = find("PrometheusRule", skip_examples=False)
check(len(rules_found) == 1, "one PrometheusRule", f"{len(rules_found)} PrometheusRules")
alerts = []
for f, pr in rules_found:
    check(pr.get("apiVersion") == "monitoring.coreos.com/v1", "PrometheusRule apiVersion",
          f"{f}: apiVersion must be monitoring.coreos.com/v1")
    groups = (pr.get("spec") or {}).get("groups") or []
    check(bool(groups), f"{f}: has rule groups", f"{f}: spec.groups is empty")
    gnames = [g.get("name") for g in groups]
    check(len(gnames) == len(set(gnames)) and all(gnames), "group names unique",
          f"{f}: group names missing or duplicated: {gnames}")
    for g in groups:
        for r in g.get("rules") or []:
            name = r.get("alert", "<unnamed>")
            alerts.append(name)
            where = f"{f}: alert {name}"
            expr = r.get("expr")
            problems = []
            if not re.fullmatch(r"[A-Z][A-Za-z0-9]+", name):
                problems.append("'alert' missing or not CamelCase")
            if not isinstance(expr, str) or not expr.strip():
                problems.append("'expr' missing")
            else:
                if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}") \
                        or expr.count("[") != expr.count("]"):
                    problems.append("unbalanced brackets in expr")
                for m in set(re.findall(r"\bbroker_[a-z0-9_]+", expr)):
                    if metric_names and m not in series:
                        problems.append(f"unknown metric {m}")
            if not DURATION.fullmatch(str(r.get("for", ""))):
                problems.append(f"'for' missing or not a duration: {r.get('for')!r}")
            if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                problems.append("labels.severity must be critical, warning or info")
            a = r.get("annotations") or {}
            if not (a.get("summary") and a.get("description")):
                problems.append("annotations.summary and annotations.description required")
            unknown = set(r) - {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
            if unknown:
                problems.append(f"unknown fields {sorted(unknown)}")
            errors.extend(f"{where}: {p}" for p in problems)
check(len(alerts) == len(set(alerts)), f"{len(alerts)} alerts, all with alert/expr/for/severity/annotations"
      f" and known metrics ({len(metric_names)} broker_* metrics found in src/)",
      f"duplicate alert names: {sorted(alerts)}")
for needed in ("broker_token_usable", "broker_token_expires_in_seconds", "broker_token_refreshes_total",
               "broker_sessions_total", "broker_upstream_request_duration_seconds_bucket",
               "broker_load_shed_total", "broker_rate_limited_total"):
    check(any(needed in (r.get("expr") or "") for _, pr in rules_found
              for g in pr["spec"]["groups"] for r in g["rules"]),
          f"an alert uses {needed}", f"no alert uses {needed}")

# --- kustomization ------------------------------------------------------------------------------
kust = load(K8S_DIR / "kustomization.yaml")[0]
listed = kust.get("resources") or []
for r in listed:
    check((K8S_DIR / r).is_file(), f"kustomization lists {r}", f"kustomization lists missing file {r}")
for f in docs:
    if f == "kustomization.yaml":
        continue
    if ".example." in f:
        check(f not in listed, f"{f} not applied", f"{f} is an example and must not be in kustomization.yaml")
    elif f != "prometheus-rules.yaml":
        check(f in listed, f"{f} in kustomization", f"{f} is not listed in kustomization.yaml")
check(kust.get("namespace") == NAME, f"kustomization namespace {NAME}", "kustomization sets no namespace")
built = os.environ.get("KUSTOMIZE_OUT", "")
if built:
    objs = [d for d in yaml.safe_load_all(built) if d]
    kinds = sorted(d["kind"] for d in objs)
    check(all(d["kind"] == "Namespace" or d["metadata"].get("namespace") == NAME for d in objs),
          f"kustomize build: {len(objs)} objects ({', '.join(kinds)}) in namespace {NAME}",
          "kustomize build: objects outside the namespace")
else:
    warnings.append("kubectl/kustomize not installed: kustomization not built (file checks only)")

# --- report -------------------------------------------------------------------------------------
oks = list(dict.fromkeys(oks))  # in order, each once
for o in oks:
    print(f"ok: {o}")
for w in warnings:
    print(f"WARN: {w}")
for e in errors:
    print(f"FAIL: {e}")
# Environment for the optional check-config step (secrets replaced by placeholders there).
with open(os.environ["ENV_OUT"], "w") as out:
    for k, v in {**cm_data, **env}.items():
        out.write(f"{k}={v}\n")
Path(os.environ["ENV_OUT"] + ".count").write_text(str(len(oks)))
print(f"invariants: {len(oks)} ok, {len(errors)} wrong, {len(warnings)} warnings")
sys.exit(1 if errors else 0)
PYTHON
checks=$((checks + $(cat "$env_file.count")))

# --- 5. the binary's own opinion (optional) ----------------------------------------------------
if [[ -n ${BROKER_BIN:-} ]]; then
  echo "== $BROKER_BIN check-config with the Deployment's environment"
  key_file=$(mktemp)
  trap 'rm -f "$env_file" "$env_file.count" "$key_file"' EXIT
  echo "placeholder-api-key" >"$key_file"
  mapfile -t env_args < <(grep -v '^BROKER__PAYROC__API_KEY_FILE=' "$env_file")
  if ! env -i "${env_args[@]}" BROKER__PAYROC__API_KEY_FILE="$key_file" \
      BROKER__CALLERS__KEYS=placeholder-caller-key-0123456789 \
      "$BROKER_BIN" check-config >/dev/null; then
    echo "FAIL: the broker refuses this configuration" >&2
    exit 1
  fi
  echo "ok: check-config accepts it"
  checks=$((checks + 1))
fi

echo "== done in $("$PY" -c "import time; print(f'{time.time() - $start:.1f}')") s"
# Last line in the plain "N passed, N failed" form that CI logs are read for.
echo "validate-k8s: $checks passed, 0 failed"
