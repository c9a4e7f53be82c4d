#!/usr/bin/env bash
# Validate the Kubernetes manifests in deploy/kubernetes offline, in a few seconds:
#   1. every built-in object against the Kubernetes OpenAPI schemas bundled with the PyPI
#      package kubernetes-validate (strict: unknown fields are errors; several versions);
#   2. the PrometheusRule (a CRD, which kubernetes-validate has no schema for): its structure,
#      and that every broker_* metric its expressions use exists in src/;
#   3. kustomization.yaml: its resources exist, were all schema-validated in 1, examples are not
#      applied, and (when kubectl or kustomize is installed) it builds; no YAML file repeats a key;
#   4. invariants between the manifests and the broker's configuration (shutdown timing,
#      security context, rate limit, ports, probes, labels, every BROKER__* key known to
#      config/default.toml or src/config/), and the tenants file: its ConfigMap mounted as a
#      directory (never subPath), BROKER__TENANTS__FILE inside that mount, the example
#      tenants.toml itself, and every api_key_file / key_file in it a file of a Secret mounted
#      as a directory, with that key in secret.example.yaml; the shared rate limit's Redis
#      (redis.yaml): BROKER__RATE_LIMIT__REDIS_URL -> its Service -> its container port, both
#      NetworkPolicies (the broker reaches only the Redis pods; Redis admits only the broker and
#      goes nowhere), labels no broker selector matches, its security context, no persistence,
#      bounded memory, the failure mode and timeout; traces: OTEL_EXPORTER_OTLP_ENDPOINT's
#      <service>.<namespace>.svc and port allowed by the broker's egress, the sampler; the
#      broker's egress exactly DNS, 443, Redis and the collector; an alert on Redis being down;
#   5. optionally, with BROKER_BIN=path/to/hosted-fields-broker, the binary's own
#      `check-config` on the environment the Deployment gives it (the example tenants.toml
#      and placeholder key files laid out under a temporary root), and
#   6. a live reload: `serve` with a tenants file laid out the way the kubelet lays out a
#      ConfigMap volume; the `..data` symlink is swapped atomically to a new version with one
#      more account (seen on /metrics within seconds), then to a broken one (rejected, the
#      accounts stay). For a binary without the tenants file, 6 is skipped and 5 checks the
#      Deployment reduced to its first account, both saying so.
# Needs python3 and PyPI (installs kubernetes-validate into a venv under target/ if missing).
#
# Environment: K8S_DIR (default deploy/kubernetes), K8S_VERSIONS (default "1.32.0 1.37.0"),
# BROKER_BIN (optional, see 5 and 6).
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
VALIDATED=$(printf '%s\n' "${manifests[@]}")
export KUSTOMIZE_OUT K8S_DIR VALIDATED
# Scratch space: the environments and placeholder files for step 5, the tree for step 6.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export WORK

"$PY" - <<'PYTHON'
"""Structural and cross-file checks that no schema can express."""
import glob, ipaddress, os, re, sys, tomllib
from pathlib import Path
from urllib.parse import urlsplit

import yaml

K8S_DIR = Path(os.environ["K8S_DIR"])
NAME = "hosted-fields-broker"
SHUTDOWN_MARGIN_MS = 2000  # time for the process to exit and the kubelet to notice
errors, warnings, oks = [], [], []


def check(cond, ok_msg, err_msg):
    (oks if cond else errors).append(ok_msg if cond else err_msg)
    return cond


class StrictLoader(yaml.SafeLoader):
    """safe_load, but a key given twice in one mapping is an error: PyYAML silently keeps the
    last one (a second `rules:` would drop a whole alert group), kubectl refuses the file."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen and key != "<<":
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load(path):
    with open(path) as f:
        return [d for d in yaml.load_all(f, Loader=StrictLoader) if d]


docs = {}  # file name -> list of objects
for p in sorted(K8S_DIR.glob("*.yaml")):
    try:
        docs[p.name] = load(p)
        oks.append(f"{p.name}: no duplicate keys")
    except yaml.YAMLError as e:
        errors.append(f"{p.name}: {e}".replace("\n", " "))
        docs[p.name] = [d for d in yaml.safe_load_all(p.read_text()) if d]


def find(kind, skip_examples=True):
    out = [(f, d) for f, ds in docs.items() for d in ds if d.get("kind") == kind
           and not (skip_examples and ".example." in f)]
    return out


def one(kind, skip_examples=True, name=None):
    """The one object of `kind` (named `name` when given; {} and an error otherwise)."""
    objs = [(f, d) for f, d in find(kind, skip_examples)
            if name is None or (d.get("metadata") or {}).get("name") == name]
    if len(objs) != 1:
        errors.append(f"expected exactly one {kind}{f' named {name}' if name else ''}, found {len(objs)}")
        return {}
    return objs[0][1]


def selects(selector, labels):
    """A (non-empty) matchLabels `selector` selects objects labelled `labels`."""
    return bool(selector) and (selector or {}).items() <= (labels or {}).items()


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


def struct_keys(paths):
    """Fields of the Raw* structs in src/config.rs or src/config/ (serde deny_unknown_fields)."""
    src = "\n".join(Path(p).read_text() for p in paths)
    structs = {m[1]: re.findall(r"pub\s+([a-z_0-9]+)\s*:", m[2])
               for m in re.finditer(r"pub struct (Raw\w+)\s*\{(.*?)\n\}", src, re.S)}
    sections = re.findall(r"pub\s+([a-z_]+)\s*:\s*(Raw\w+)", src)
    return {(sec, f) for sec, ty in sections for f in structs.get(ty, []) if ty in structs}


documented = toml_keys("config/default.toml")
implemented = struct_keys(glob.glob("src/config.rs") + glob.glob("src/config/**/*.rs", recursive=True))
env_name = lambda sec, key: f"BROKER__{sec.upper()}__{key.upper()}"
DOCUMENTED = {env_name(*k) for k in documented}
KNOWN = DOCUMENTED | {env_name(*k) for k in implemented}
check(len(DOCUMENTED) >= 20, f"{len(DOCUMENTED)} keys documented in config/default.toml",
      f"only {len(DOCUMENTED)} keys parsed from config/default.toml")
# As the environment would spell them (lists comma-separated, as BROKER__* variables take them).
defaults = {env_name(s, k): ",".join(map(str, v)) if isinstance(v, list) else v
            for s, t in tomllib.loads(Path("config/default.toml").read_text()).items() for k, v in t.items()}

metric_names = set()
for p in glob.glob("src/**/*.rs", recursive=True):
    metric_names |= set(re.findall(r'"(broker_[a-z0-9_]+)"', Path(p).read_text()))


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
# The shared rate limit's Redis (redis.yaml, objects named hosted-fields-broker-redis) is labelled
# name=redis, instance=hosted-fields-broker-redis: the broker's selectors must never match it.
REDIS = f"{NAME}-redis"
for f, ds in docs.items():
    for d in ds:
        kind = d.get("kind")
        if kind == "Kustomization":
            continue
        labels = (d.get("metadata") or {}).get("labels") or {}
        app, inst = ("redis", REDIS) if (d.get("metadata") or {}).get("name") == REDIS else (NAME, NAME)
        check(labels.get("app.kubernetes.io/name") == app and
              labels.get("app.kubernetes.io/part-of") == "payments" and
              (kind == "Namespace" or labels.get("app.kubernetes.io/instance") == inst),
              f"{f}: {kind} carries the common labels",
              f"{f}: {kind} lacks app.kubernetes.io/name={app}, part-of=payments or instance={inst}")

# --- ConfigMap ------------------------------------------------------------------------------
config_maps = {d.get("metadata", {}).get("name"): (f, d) for f, d in find("ConfigMap")}
check(NAME in config_maps, f"ConfigMap {NAME} (environment)", f"no ConfigMap named {NAME}")
cm = config_maps.get(NAME, (None, {}))[1]
cm_data = {k: str(v) for k, v in (cm.get("data") or {}).items()}
check_keys("configmap.yaml", cm_data)
# The standard OpenTelemetry SDK variables the broker's trace exporter reads.
OTEL_KEYS = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SERVICE_NAME",
             "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES"}
check(set(cm_data) - {"RUST_LOG"} - OTEL_KEYS <= {k for k in cm_data if k.startswith("BROKER__")},
      "ConfigMap holds only BROKER__* keys, RUST_LOG and OTEL_* trace settings",
      f"ConfigMap has keys that are neither BROKER__*, RUST_LOG nor {sorted(OTEL_KEYS)}: {sorted(cm_data)}")
for secret_key in ("BROKER__PAYROC__API_KEY", "BROKER__CALLERS__KEYS"):
    check(secret_key not in cm_data, f"no {secret_key} in the ConfigMap",
          f"{secret_key} is a secret and must come from a Secret, not the ConfigMap")

# --- Deployment -----------------------------------------------------------------------------
dep = one("Deployment", name=NAME)
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
grace = ms("BROKER__SERVER__SHUTDOWN_GRACE_MS", 30000)
deadline = ms("BROKER__PAYROC__DEADLINE_MS", 9000)
proxy_deadline = ms("BROKER__PROXY__DEADLINE_MS", 25000)
check(pre >= 1000, f"pre-drain delay {pre} ms",
      f"BROKER__SERVER__PRE_DRAIN_DELAY_MS = {pre}: set ~5000 so load balancers drop the pod first")
check(grace >= deadline, f"shutdown grace {grace} ms >= request deadline {deadline} ms",
      f"BROKER__SERVER__SHUTDOWN_GRACE_MS ({grace}) < BROKER__PAYROC__DEADLINE_MS ({deadline})")
check(grace >= proxy_deadline, f"shutdown grace {grace} ms >= pass-through deadline {proxy_deadline} ms",
      f"BROKER__SERVER__SHUTDOWN_GRACE_MS ({grace}) < BROKER__PROXY__DEADLINE_MS ({proxy_deadline}): "
      "a payment passed through could be cut off at shutdown")
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

# --- Files from volumes: the tenants file, API keys, caller keys ------------------------------------
# The kubelet updates a ConfigMap or Secret volume by writing a new timestamped directory and
# swapping the ..data symlink: a subPath mount never sees that (no reload, no key rotation).
mounts = c.get("volumeMounts") or []
volumes = {v.get("name"): v for v in pod.get("volumes") or []}
for m in mounts:
    v = volumes.get(m.get("name"))
    if not check(v is not None, "every volumeMount has its volume", f"volumeMount {m.get('name')} has no volume"):
        continue
    kind = next((k for k in ("configMap", "secret", "projected") if k in v), None)
    if kind:
        check("subPath" not in m and "subPathExpr" not in m,
              f"volume {m['name']} ({kind}) mounted as a directory, without subPath (updates reach the pod)",
              f"volume {m['name']} ({kind}) mounted with subPath: ConfigMap/Secret updates never reach it")
        check(m.get("readOnly") is True, f"volume {m['name']} mounted readOnly",
              f"volume {m['name']} ({kind}) should be mounted readOnly")


def mount_of(path):
    """The volumeMount whose directory holds `path` (the deepest one), or None."""
    best = None
    for m in mounts:
        mp = m.get("mountPath", "").rstrip("/")
        if path.startswith(mp + "/") and (best is None or len(mp) > len(best["mountPath"].rstrip("/"))):
            best = m
    return best


def volume_key(src, rel):
    """The ConfigMap/Secret key that volume source `src` shows as file `rel` in its directory."""
    items = src.get("items")
    if items:
        return next((i.get("key") for i in items if i.get("path") == rel), None)
    return rel if "/" not in rel else None


secret_examples = {s.get("metadata", {}).get("name"): {**(s.get("data") or {}), **(s.get("stringData") or {})}
                   for _, s in find("Secret", skip_examples=False)}
for f, ds in docs.items():
    if any(d.get("kind") == "Secret" for d in ds):
        check(".example." in f, f"{f}: the only Secrets are examples",
              f"{f}: a Secret outside *.example.yaml (real secrets never go in git)")
for vname, v in volumes.items():
    if "secret" in v:
        sec = v["secret"]
        check(sec.get("secretName") in secret_examples, f"Secret volume {vname}: {sec.get('secretName')} in secret.example.yaml",
              f"Secret volume {vname}: Secret {sec.get('secretName')} has no example (secret.example.yaml)")
        # Secret files belong to root (group: fsGroup): uid 65532 reads them through the
        # "other" bits, or the group bits when fsGroup is its group.
        mode = sec.get("defaultMode", 0o644)
        readable = (mode & 0o004) or ((mode & 0o040) and psc.get("fsGroup") == eff("runAsGroup"))
        check(bool(readable), f"Secret volume {vname}: mode {oct(mode)} readable by uid 65532",
              f"Secret volume {vname}: mode {oct(mode)} with fsGroup {psc.get('fsGroup')} is unreadable by 65532")
key_files = []  # (what, path) of every secret file the broker reads


def secret_file(what, path):
    """`path` must be a file of a Secret volume mounted as a directory, with its key in the example."""
    if not check(isinstance(path, str) and path.startswith("/") and ".." not in path,
                 f"{what} is an absolute path", f"{what} {path!r} is not an absolute path"):
        return
    key_files.append((what, path))
    m = mount_of(path)
    if not check(m is not None, f"{what} {path} is on a volume mount", f"{what} {path} is not under any volumeMount"):
        return
    sec = volumes.get(m["name"], {}).get("secret")
    if not check(sec is not None, f"{what} {path} is in a Secret volume ({m['name']})",
                 f"{what} {path}: volume {m['name']} is not a Secret"):
        return
    rel = path[len(m["mountPath"].rstrip("/")) + 1:]
    key, name = volume_key(sec, rel), sec.get("secretName")
    example = secret_examples.get(name, {})
    check(key is not None and key in example, f"{what} {path} = key {key} of Secret {name}",
          f"{what} {path}: the example of Secret {name} has no key {key or rel!r} (it has {sorted(example)})")


all_env = set(cm_data) | set(env) | set(env_refs)
check("BROKER__PAYROC__API_KEY" not in all_env, "API key never in an environment variable",
      "BROKER__PAYROC__API_KEY is set: use a key file from a Secret volume")
tenants_path = effective.get("BROKER__TENANTS__FILE", "")
api_key_file = effective.get("BROKER__PAYROC__API_KEY_FILE", "")
check(bool(tenants_path or api_key_file), "accounts configured (tenants file or single-account key file)",
      "neither BROKER__TENANTS__FILE nor BROKER__PAYROC__API_KEY_FILE is set: the broker has no account")
for k in ("BROKER__TENANTS__FILE", "BROKER__PAYROC__API_KEY_FILE"):
    if k in all_env:
        check(k in env, f"{k} set in deployment.yaml, next to its volume",
              f"{k} belongs in deployment.yaml's env, next to the volume it points into")

# The tenants file: a key of a ConfigMap in the manifests, mounted as a directory.
tenants_text = None
if tenants_path:
    m = mount_of(tenants_path)
    if check(m is not None, f"tenants file {tenants_path} is on a volume mount",
             f"BROKER__TENANTS__FILE ({tenants_path}) is not under any volumeMount"):
        cmv = volumes.get(m["name"], {}).get("configMap")
        if check(cmv is not None, f"tenants file volume {m['name']} is a ConfigMap",
                 f"BROKER__TENANTS__FILE: volume {m['name']} is not a ConfigMap"):
            rel = tenants_path[len(m["mountPath"].rstrip("/")) + 1:]
            key, tname = volume_key(cmv, rel), cmv.get("name")
            check(not cmv.get("optional"), "tenants ConfigMap volume is required",
                  f"volume {m['name']} is optional: a pod could start without its tenants file")
            check(tname != NAME, "tenants file in a ConfigMap of its own (not the envFrom one)",
                  f"the tenants file is in ConfigMap {NAME}, whose every key also becomes an env variable")
            if check(tname in config_maps, f"tenants ConfigMap {tname} is in the manifests ({config_maps.get(tname, ('?',))[0]})",
                     f"ConfigMap {tname} (tenants file volume) is not in the manifests"):
                tdata = config_maps[tname][1].get("data") or {}
                if check(key in tdata, f"{tenants_path} = key {key} of ConfigMap {tname}",
                         f"{tenants_path}: ConfigMap {tname} has no key {key or rel!r} (it has {sorted(tdata)})"):
                    tenants_text = tdata[key]
    watch = effective.get("BROKER__TENANTS__WATCH_INTERVAL_MS")
    if watch is not None:
        check(str(watch).isdigit() and 100 <= int(watch) <= 60000, f"tenants watch interval {watch} ms",
              f"BROKER__TENANTS__WATCH_INTERVAL_MS = {watch!r}: use 100..60000 (default 2000)")

ACCOUNT_NAME = re.compile(r"[a-z0-9_-]{1,64}")
TERMINAL = re.compile(r"[A-Za-z0-9_-]{4,50}")
ORIGIN = re.compile(r"https://[A-Za-z0-9.-]+(:\d+)?")
API_RULE = re.compile(r"(GET|POST|PUT|PATCH|DELETE) /[A-Za-z0-9_.*/{}-]*")
tenants = None
if tenants_text is not None:
    try:
        tenants = tomllib.loads(tenants_text)
    except tomllib.TOMLDecodeError as e:
        errors.append(f"tenants file: not valid TOML: {e}")
accounts, services = [], []
if tenants is not None:
    check(set(tenants) <= {"account", "service"}, "tenants file holds only [[account]] and [[service]]",
          f"tenants file: unexpected top-level keys {sorted(set(tenants) - {'account', 'service'})}")
    accounts = [a for a in tenants.get("account") or [] if isinstance(a, dict)]
    services = [s for s in tenants.get("service") or [] if isinstance(s, dict)]
    check(bool(accounts) or bool(api_key_file), f"tenants file: {len(accounts)} accounts, {len(services)} services",
          "tenants file has no [[account]] (and there is no single-account key file)")
    for kind, items in (("account", accounts), ("service", services)):
        names = [i.get("name") for i in items]
        check(all(isinstance(n, str) and ACCOUNT_NAME.fullmatch(n) for n in names),
              f"{kind} names are 1-64 of a-z 0-9 - _", f"tenants file: invalid {kind} names {names}")
        check(len(set(map(str, names))) == len(names), f"{kind} names unique", f"tenants file: duplicate {kind} names {names}")
    account_names = {a.get("name") for a in accounts} | ({"default"} if api_key_file else set())
    check(not (api_key_file and "default" in {a.get("name") for a in accounts}),
          "no [[account]] named default next to the single-account key file",
          "an [[account]] named default and BROKER__PAYROC__API_KEY_FILE (which defines default) both")
    all_terminals = []
    for a in accounts:
        n = a.get("name")
        check("api_key" not in a, f"account {n}: no inline api_key",
              f"account {n}: inline api_key in a ConfigMap, which is not a secret: use api_key_file and a Secret")
        if check("api_key_file" in a, f"account {n} has an api_key_file", f"account {n}: no api_key_file"):
            secret_file(f"account {n} api_key_file", a["api_key_file"])
        terms = a.get("terminals") or []
        all_terminals += terms
        check(bool(terms) and all(isinstance(t, str) and TERMINAL.fullmatch(t) for t in terms),
              f"account {n}: terminals {terms}", f"account {n}: terminals invalid or empty: {terms}")
        for o in a.get("origins") or []:
            check(isinstance(o, str) and ORIGIN.fullmatch(o), f"account {n}: origin {o}",
                  f"account {n}: origin {o!r} is not https://host[:port] (exact origin, no path)")
        if extra := set(a) - {"name", "api_key", "api_key_file", "terminals", "origins", "apple_pay_domains"}:
            warnings.append(f"account {n}: fields {sorted(extra)} unknown to this script (check-config decides)")
    dup_terms = sorted({t for t in all_terminals if all_terminals.count(t) > 1})
    if dup_terms:
        warnings.append(f"tenants file: terminals {dup_terms} listed under more than one account")
    for s_ in services:
        n = s_.get("name")
        check("key" not in s_, f"service {n}: no inline key",
              f"service {n}: inline key in a ConfigMap, which is not a secret: use key_file and a Secret")
        if check("key_file" in s_, f"service {n} has a key_file", f"service {n}: no key_file"):
            secret_file(f"service {n} key_file", s_["key_file"])
        # Without `account`: the only account, else `default` (as the broker resolves it).
        acct = s_.get("account") or (next(iter(account_names)) if len(account_names) == 1 else "default")
        check(acct in account_names, f"service {n} acts for account {acct}",
              f"service {n}: account {acct!r} is not defined ({sorted(account_names)})")
        api = s_.get("payroc_api") or []
        check(bool(api) and all(isinstance(r, str) and API_RULE.fullmatch(r) for r in api),
              f"service {n}: payroc_api {api}", f"service {n}: payroc_api must list \"METHOD /path\" rules: {api}")
        if extra := set(s_) - {"name", "key", "key_file", "account", "payroc_api"}:
            warnings.append(f"service {n}: fields {sorted(extra)} unknown to this script (check-config decides)")

# One account without a tenants file: the Part 1 configuration (account `default`).
if api_key_file:
    secret_file("BROKER__PAYROC__API_KEY_FILE", api_key_file)
    terms = [t.strip() for t in effective.get("BROKER__PAYROC__TERMINALS", "").split(",") if t.strip()]
    check(terms and all(TERMINAL.fullmatch(t) for t in terms),
          f"terminals {terms}", f"BROKER__PAYROC__TERMINALS invalid or empty: {terms}")
else:
    check("BROKER__PAYROC__TERMINALS" not in all_env, "no BROKER__PAYROC__TERMINALS without its key file",
          "BROKER__PAYROC__TERMINALS without BROKER__PAYROC__API_KEY_FILE: with a tenants file the "
          "terminals belong to each [[account]]")
    if effective.get("BROKER__CORS__ALLOWED_ORIGINS"):
        warnings.append("BROKER__CORS__ALLOWED_ORIGINS set without a single-account key file: "
                        "with a tenants file the origins belong to each [[account]]")
for o in [o.strip() for o in effective.get("BROKER__CORS__ALLOWED_ORIGINS", "").split(",") if o.strip()]:
    check(ORIGIN.fullmatch(o), f"CORS origin {o}",
          f"CORS origin {o!r} is not https://host[:port] (exact origin, no path)")
paths = [p for _, p in key_files]
check(len(paths) == len(set(paths)), "every key file is used once", f"key files used twice: {sorted(paths)}")

# Internal callers of the single-account configuration: from a Secret, never a literal.
if "BROKER__CALLERS__KEYS" in all_env:
    ck = env_refs.get("BROKER__CALLERS__KEYS", {}).get("secretKeyRef", {})
    check(ck.get("key") in secret_examples.get(ck.get("name"), {}),
          "BROKER__CALLERS__KEYS from a Secret (secretKeyRef)",
          "BROKER__CALLERS__KEYS must come from a Secret via secretKeyRef (a key of secret.example.yaml)")

# Configuration values.
check(effective.get("BROKER__PAYROC__ENVIRONMENT") in ("test", "production"),
      "payroc environment is test|production", "BROKER__PAYROC__ENVIRONMENT must be test or production")
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
svc = one("Service", name=NAME)
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

np_ = one("NetworkPolicy", name=NAME)
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
egress_rules = ns_.get("egress") or []
for r in egress_rules:
    check(bool(r.get("to")) and bool(r.get("ports")), "each egress rule names peers and ports",
          "an egress rule without 'to' or 'ports' allows everything")


def rule_ports(rule, named=None):
    """(protocol, port) pairs a NetworkPolicy rule allows; a port name resolves through `named`
    (the destination container's ports), as NetworkPolicy resolves it on the destination pod."""
    return {(p.get("protocol", "TCP"), (named or {}).get(p.get("port"), p.get("port")))
            for p in rule.get("ports") or []}


def mem_bytes(q, redis_units=False):
    """A Kubernetes quantity (128Mi, 1G) or a Redis size (64mb, 1gb: powers of 1024) in bytes."""
    m = re.fullmatch(r"(\d+)([a-zA-Z]*)", str(q or "").strip())
    if not m:
        return None
    units = ({"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}
             if redis_units else
             {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30})
    unit = m[2].lower() if redis_units else m[2]
    return int(m[1]) * units[unit] if unit in units else None


# --- Shared rate limit (Redis) ------------------------------------------------------------------
# BROKER__RATE_LIMIT__REDIS_URL makes the per-client-IP limit one limit for the fleet, in the
# Redis of redis.yaml (or an existing one). The URL, the Service, the Redis pods and both
# NetworkPolicies must agree: otherwise every decision falls back (never an outage, but the
# fleet limit silently becomes per replica, alert or not).
failure = str(effective.get("BROKER__RATE_LIMIT__REDIS_FAILURE", "local"))
check(failure in ("local", "open", "closed"), f"Redis failure mode {failure} (local|open|closed)",
      f"BROKER__RATE_LIMIT__REDIS_FAILURE = {failure!r}: must be local, open or closed")
redis_timeout = effective.get("BROKER__RATE_LIMIT__REDIS_TIMEOUT_MS")
if redis_timeout is not None:
    check(str(redis_timeout).isdigit() and 1 <= int(redis_timeout) <= 1000,
          f"Redis timeout {redis_timeout} ms (1..1000)",
          f"BROKER__RATE_LIMIT__REDIS_TIMEOUT_MS = {redis_timeout!r}: use 1..1000 (default 50); "
          "every browser request may wait that long for Redis")
redis_url = effective.get("BROKER__RATE_LIMIT__REDIS_URL", "")
# A URL with a password belongs in a Secret (secretKeyRef): its host and port are unknown here.
redis_url_secret = "BROKER__RATE_LIMIT__REDIS_URL" in env_refs
if redis_url_secret:
    warnings.append("BROKER__RATE_LIMIT__REDIS_URL comes from a Secret: its host and port are not checked "
                    "against the Service and the NetworkPolicies")
redis_deployed = any((d.get("metadata") or {}).get("name") == REDIS for _, d in find("Deployment"))
redis_port = None   # the port the broker's packets reach (the Redis pod's, behind the Service)
redis_ports = {}    # the Redis container's named ports (NetworkPolicy port names resolve there)
url_host = url_port = None
if redis_url:
    u = urlsplit(redis_url)
    try:
        url_host, url_port = u.hostname, u.port or 6379
    except ValueError:
        url_host = None
    shown = f"redis://{url_host}:{url_port}{u.path}"  # never the password
    check(u.scheme == "redis" and bool(url_host) and re.fullmatch(r"(/\d{1,2})?/?", u.path or "") is not None,
          f"Redis URL {shown} is redis://host:port/db",
          f"BROKER__RATE_LIMIT__REDIS_URL must be redis://host[:port][/db] (rediss:// is not supported): "
          f"{u.scheme}://{url_host}:{url_port}{u.path}")
    check(per_second > 0, "the shared limit has a rate to share (PER_SECOND > 0)",
          "BROKER__RATE_LIMIT__REDIS_URL is set but the rate limit is off (PER_SECOND = 0)")
    if not redis_deployed:
        warnings.append(f"BROKER__RATE_LIMIT__REDIS_URL points at {url_host}:{url_port}, which is not in the "
                        f"manifests (no Deployment {REDIS}): make sure the broker's NetworkPolicy reaches it")
        redis_port = url_port
elif redis_deployed and not redis_url_secret:
    warnings.append(f"Deployment {REDIS} (redis.yaml) is deployed but BROKER__RATE_LIMIT__REDIS_URL is unset: "
                    "nothing uses it, and the limit is per replica")

if redis_deployed:
    rdep, rsvc, rnp = (one(k, name=REDIS) for k in ("Deployment", "Service", "NetworkPolicy"))
    rspec = rdep.get("spec", {})
    rpod = rspec.get("template", {}).get("spec", {})
    rlabels = rspec.get("template", {}).get("metadata", {}).get("labels") or {}
    rcs = rpod.get("containers") or [{}]
    rc = rcs[0]
    check(len(rcs) == 1, "Redis: one container", f"Redis: {len(rcs)} containers (expected 1)")
    redis_ports = {p.get("name"): p.get("containerPort") for p in rc.get("ports") or [] if p.get("name")}
    rargs = [str(a) for a in (rc.get("command") or []) + (rc.get("args") or [])]
    arg = lambda flag, dflt=None: rargs[rargs.index(flag) + 1] if flag in rargs[:-1] else dflt
    listen_r = int(arg("--port", 6379)) if str(arg("--port", 6379)).isdigit() else None
    check(listen_r in {p.get("containerPort") for p in rc.get("ports") or []},
          f"Redis listens on {listen_r} = its containerPort", f"Redis --port {listen_r} is not a containerPort of it")
    check(rspec.get("replicas", 1) == 1, "Redis: 1 replica (one store for the whole fleet)",
          f"Redis replicas = {rspec.get('replicas')}: independent Redis pods behind one Service would each "
          "hold part of the buckets (use 1, or a replicated Redis elsewhere)")
    check(selects(rspec.get("selector", {}).get("matchLabels"), rlabels),
          "Redis Deployment selector matches its pods", f"Redis Deployment selector does not match {rlabels}")

    # Disjoint labels: the broker's Service must never send sessions to Redis, nor Redis' to the broker.
    broker_sel = {"Deployment": sel, "Service": ss.get("selector"),
                  "NetworkPolicy": ns_.get("podSelector", {}).get("matchLabels"),
                  "PodDisruptionBudget": ps.get("selector", {}).get("matchLabels")}
    redis_sel = {"Deployment": rspec.get("selector", {}).get("matchLabels"),
                 "Service": (rsvc.get("spec") or {}).get("selector"),
                 "NetworkPolicy": (rnp.get("spec") or {}).get("podSelector", {}).get("matchLabels")}
    wrong = [k for k, s in broker_sel.items() if selects(s, rlabels)]
    check(not wrong, "no selector of the broker matches the Redis pods",
          f"the broker's {', '.join(wrong)} selector(s) match the Redis pods ({rlabels}): give them other labels")
    wrong = [k for k, s in redis_sel.items() if selects(s, pod_labels)]
    check(not wrong, "no selector of Redis matches the broker pods",
          f"Redis' {', '.join(wrong)} selector(s) match the broker's pods ({pod_labels})")

    # The URL names the Service, whose port leads to the Redis container.
    rss = rsvc.get("spec") or {}
    check(rss.get("type", "ClusterIP") == "ClusterIP", f"Service {REDIS} is ClusterIP",
          f"Service {REDIS} must be ClusterIP")
    check(selects(rss.get("selector"), rlabels), f"Service {REDIS} selects the Redis pods",
          f"Service {REDIS} selector {rss.get('selector')} does not match the Redis pods {rlabels}")
    if redis_url:
        hosts = {REDIS, f"{REDIS}.{NAME}", f"{REDIS}.{NAME}.svc", f"{REDIS}.{NAME}.svc.cluster.local"}
        check(url_host in hosts, f"Redis URL host {url_host} is Service {REDIS}",
              f"BROKER__RATE_LIMIT__REDIS_URL host {url_host!r} is not the Service {REDIS} "
              f"(nor {REDIS}.{NAME}.svc): the broker would never reach the Redis of redis.yaml")
        sport = next((p for p in rss.get("ports") or [] if p.get("port") == url_port), None)
        if check(sport is not None and sport.get("protocol", "TCP") == "TCP",
                 f"Redis URL port {url_port} is a TCP port of Service {REDIS}",
                 f"BROKER__RATE_LIMIT__REDIS_URL port {url_port} is not a port of Service {REDIS} "
                 f"({[p.get('port') for p in rss.get('ports') or []]})"):
            target = sport.get("targetPort", url_port)
            target_num = redis_ports.get(target) if isinstance(target, str) else target
            check(target_num == listen_r, f"Service {REDIS} {url_port} -> Redis container port {listen_r}",
                  f"Service {REDIS} port {url_port} targets {target!r}, not the Redis container's port {listen_r}")
        redis_port = listen_r
        # The broker may reach exactly the Redis pods on that port (NetworkPolicy sees the pod
        # behind the Service, so the pod's port counts, not the Service's).
        to_redis = [r for r in egress_rules if ("TCP", listen_r) in rule_ports(r, redis_ports)]
        only_redis = lambda peer: set(peer) == {"podSelector"} and \
            selects((peer["podSelector"] or {}).get("matchLabels"), rlabels)
        shown = ", ".join(f"{k}={v}" for k, v in (redis_sel["Deployment"] or {}).items())
        check(bool(to_redis) and all(r.get("to") and all(only_redis(p) for p in r["to"]) for r in to_redis),
              f"broker egress: TCP {listen_r} to the Redis pods ({shown}) only",
              f"the broker's NetworkPolicy must allow TCP {listen_r} to the Redis pods (a podSelector matching "
              f"{rlabels}, same namespace) and to nothing else: {to_redis}")

    # Redis' own NetworkPolicy: the broker's pods in on its port, nothing out.
    rns = rnp.get("spec") or {}
    check(selects(rns.get("podSelector", {}).get("matchLabels"), rlabels),
          f"NetworkPolicy {REDIS} selects the Redis pods",
          f"NetworkPolicy {REDIS} podSelector does not match the Redis pods {rlabels}")
    check(set(rns.get("policyTypes") or []) == {"Ingress", "Egress"} and not rns.get("egress"),
          f"NetworkPolicy {REDIS}: no egress at all",
          f"NetworkPolicy {REDIS} must list policyTypes Ingress and Egress and no egress rule (Redis goes nowhere)")
    ring = rns.get("ingress") or []
    broker_peer = lambda peer: set(peer) == {"podSelector"} and \
        sel.items() <= ((peer["podSelector"] or {}).get("matchLabels") or {}).items() <= pod_labels.items()
    check(bool(ring) and all(r.get("from") and r.get("ports") and all(broker_peer(p) for p in r["from"])
                             for r in ring),
          f"NetworkPolicy {REDIS} admits only the broker's pods",
          f"NetworkPolicy {REDIS} ingress must come only from a podSelector of the broker's pods ({sel}): {ring}")
    rin = set().union(*(rule_ports(r, redis_ports) for r in ring)) if ring else set()
    check(rin == {("TCP", listen_r)}, f"NetworkPolicy {REDIS}: ingress on TCP {listen_r} only",
          f"NetworkPolicy {REDIS} ingress ports {sorted(rin, key=str)} should be exactly TCP {listen_r}")

    # Security context, as strict as the broker's.
    rpsc, rcsc = rpod.get("securityContext") or {}, rc.get("securityContext") or {}
    reff = lambda k: rcsc.get(k, rpsc.get(k))
    check(reff("runAsNonRoot") is True and isinstance(reff("runAsUser"), int) and reff("runAsUser") > 0,
          f"Redis runs as non-root (uid {reff('runAsUser')})", "Redis: runAsNonRoot true and a non-zero runAsUser (999)")
    check(rcsc.get("readOnlyRootFilesystem") is True, "Redis: readOnlyRootFilesystem",
          "Redis: readOnlyRootFilesystem must be true")
    check(rcsc.get("allowPrivilegeEscalation") is False, "Redis: allowPrivilegeEscalation false",
          "Redis: allowPrivilegeEscalation must be false")
    rcaps = rcsc.get("capabilities") or {}
    check("ALL" in rcaps.get("drop", []) and not rcaps.get("add"),
          "Redis: capabilities drop ALL", "Redis: capabilities must drop ALL and add none")
    check((reff("seccompProfile") or {}).get("type") == "RuntimeDefault", "Redis: seccomp RuntimeDefault",
          "Redis: seccompProfile.type must be RuntimeDefault")
    check(rpod.get("automountServiceAccountToken") is False, "Redis: no service account token mounted",
          "Redis: automountServiceAccountToken must be false")
    rvols = {v.get("name"): v for v in rpod.get("volumes") or []}
    data = next((m for m in rc.get("volumeMounts") or [] if m.get("mountPath", "").rstrip("/") == "/data"), None)
    check(data is not None and "emptyDir" in rvols.get(data.get("name"), {}) and not data.get("readOnly"),
          "Redis: /data is a writable emptyDir (read-only root, nothing kept)",
          "Redis: mount an emptyDir at /data (its working directory; the root filesystem is read-only)")

    # Throwaway keys: no persistence, bounded memory that evicts instead of refusing writes.
    check(arg("--save") == "" and arg("--appendonly") == "no", 'Redis: no persistence (--save "" --appendonly no)',
          'Redis: pass --save "" --appendonly no (the keys are throwaway; an RDB dump would need a writable volume)')
    policy = arg("--maxmemory-policy", "noeviction")
    check(policy != "noeviction", f"Redis: maxmemory-policy {policy}",
          "Redis: with maxmemory-policy noeviction a full Redis refuses the limiter's writes (every decision "
          "falls back); use volatile-ttl")
    rres = rc.get("resources") or {}
    check(all(rres.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")),
          "Redis: cpu/memory requests and limits set", f"Redis: resources incomplete: {rres}")
    maxmem, mlimit = mem_bytes(arg("--maxmemory"), True), mem_bytes((rres.get("limits") or {}).get("memory"))
    check(bool(maxmem) and bool(mlimit) and maxmem <= 0.75 * mlimit,
          f"Redis: --maxmemory {arg('--maxmemory')} leaves headroom under the {rres['limits']['memory']} limit"
          if maxmem and mlimit else "Redis: maxmemory set",
          f"Redis: --maxmemory ({arg('--maxmemory')}) must be set and at most 75 % of the memory limit "
          f"({(rres.get('limits') or {}).get('memory')}), or the kernel kills Redis before it evicts")
    rimage = rc.get("image", "")
    check(re.search(r":\d+\.\d+\.\d+[^/:]*$", rimage) or "@sha256:" in rimage,
          f"Redis image pinned to a release ({rimage})",
          f"Redis image {rimage!r} is not pinned to a release tag (e.g. redis:7.4.11-alpine)")

    def probes_redis(pr):
        """A TCP probe on Redis' port, or an exec of redis-cli ping."""
        tcp = (pr or {}).get("tcpSocket") or {}
        cmd = " ".join(map(str, ((pr or {}).get("exec") or {}).get("command") or []))
        return redis_ports.get(tcp.get("port"), tcp.get("port")) == listen_r or "redis-cli" in cmd and "ping" in cmd

    check(all(probes_redis(rc.get(k)) for k in ("readinessProbe", "livenessProbe")),
          f"Redis: readiness and liveness probes (TCP {listen_r} or redis-cli ping)",
          f"Redis needs readiness and liveness probes: tcpSocket on {listen_r} or an exec of redis-cli ping")

# --- Traces (OpenTelemetry over OTLP/HTTP) --------------------------------------------------------
# The standard OTEL_* variables; off when no endpoint is set. The collector's namespace and port
# in the endpoint must be what the broker's NetworkPolicy lets it reach.
otel_var = next((k for k in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
                 if effective.get(k)), None)
otel_port = None
if otel_var:
    o = urlsplit(effective[otel_var])
    try:
        otel_host, otel_port = o.hostname, o.port or {"http": 80, "https": 443}.get(o.scheme)
    except ValueError:
        otel_host = None
    check(o.scheme in ("http", "https") and bool(otel_host) and bool(otel_port),
          f"{otel_var} {o.scheme}://{otel_host}:{otel_port}",
          f"{otel_var} must be http(s)://host:port: {effective[otel_var]!r}")
    m = re.fullmatch(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?", otel_host or "")
    if m is None:
        warnings.append(f"{otel_var} host {otel_host!r} is not <service>.<namespace>.svc: the NetworkPolicy rule for "
                        "the collector is not checked")
    else:
        otel_ns = m[2]
        collector = lambda peer: set(peer) == {"namespaceSelector", "podSelector"} and \
            ((peer["namespaceSelector"] or {}).get("matchLabels") or {}).get(
                "kubernetes.io/metadata.name") == otel_ns and bool((peer["podSelector"] or {}).get("matchLabels"))
        to_otel = [r for r in egress_rules if ("TCP", otel_port) in rule_ports(r)]
        check(any(any(collector(p) for p in r.get("to") or []) for r in to_otel) and
              (otel_port in (53, 443) or all(all(collector(p) for p in r.get("to") or []) for r in to_otel)),
              f"broker egress: TCP {otel_port} to the collector's pods in namespace {otel_ns} only",
              f"the broker's NetworkPolicy must allow TCP {otel_port} to the collector ({otel_var}: namespace "
              f"{otel_ns}, a namespaceSelector kubernetes.io/metadata.name={otel_ns} with a podSelector) "
              f"and to nothing else: {to_otel}")
    check(bool(effective.get("OTEL_SERVICE_NAME")), f"OTEL_SERVICE_NAME {effective.get('OTEL_SERVICE_NAME')}",
          "OTEL_SERVICE_NAME unset: traces would come from unknown_service")
    sampler = effective.get("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    check(sampler in ("always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
                      "parentbased_traceidratio"),
          f"trace sampler {sampler}", f"OTEL_TRACES_SAMPLER {sampler!r} is not a standard sampler")
    if sampler.endswith("traceidratio"):
        ratio = effective.get("OTEL_TRACES_SAMPLER_ARG", "1.0")
        try:
            ok_ratio = 0.0 <= float(ratio) <= 1.0
        except ValueError:
            ok_ratio = False
        check(ok_ratio, f"trace sampling ratio {ratio}", f"OTEL_TRACES_SAMPLER_ARG {ratio!r} must be a ratio 0..1")

# The broker's egress, exactly: DNS, Payroc (443), and Redis and the collector when configured.
expected_eg = {("UDP", 53), ("TCP", 53), ("TCP", 443)} | ({("TCP", redis_port)} if redis_port else set()) \
    | ({("TCP", otel_port)} if otel_port else set())
eg = set().union(*(rule_ports(r, redis_ports) for r in egress_rules)) if egress_rules else set()
if redis_url_secret and not redis_port and len(eg - expected_eg) == 1 and next(iter(eg - expected_eg))[0] == "TCP":
    redis_port = next(iter(eg - expected_eg))[1]  # the Redis rule, for a URL this script cannot read
    expected_eg.add(("TCP", redis_port))
what = "DNS, HTTPS" + (f", Redis {redis_port}" if redis_port else "") + (f", collector {otel_port}" if otel_port else "")
check(eg == expected_eg, f"egress only {what}",
      f"NetworkPolicy egress ports {sorted(eg, key=str)} should be exactly {sorted(expected_eg, key=str)} ({what})")

# --- PrometheusRule (CRD: no schema in kubernetes-validate) ----------------------------------------
PER_ACCOUNT = ("broker_token_", "broker_sessions_total")
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
                used = set(re.findall(r"\bbroker_[a-z0-9_]+", expr))
                for m in sorted(used):
                    if metric_names and m not in series:
                        problems.append(f"unknown metric {m}")
                # Token and session metrics exist once per account: an aggregation that drops
                # `account` lets one account's outage hide behind the healthy ones.
                if any(m.startswith(PER_ACCOUNT) for m in used):
                    for by in re.findall(r"\bby\s*\(([^)]*)\)", expr):
                        if "account" not in {x.strip() for x in by.split(",")}:
                            problems.append(f"aggregates a per-account metric by ({by}) without account")
                    if re.search(r"\bwithout\s*\([^)]*\baccount\b", expr) or \
                            re.search(r"\b(sum|min|max|avg|count|group)\s*\(", expr):
                        problems.append("aggregates a per-account metric without `by (..., account)`")
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
               "broker_token_key_rejected", "broker_sessions_total",
               "broker_upstream_request_duration_seconds_bucket", "broker_load_shed_total",
               "broker_rate_limited_total", "broker_tenants_reloads_total", "broker_accounts"):
    check(any(needed in (r.get("expr") or "") for _, pr in rules_found
              for g in pr["spec"]["groups"] for r in g["rules"]),
          f"an alert uses {needed}", f"no alert uses {needed}")

if redis_url:
    check(any("broker_rate_limit_redis_up" in (r.get("expr") or "") for _, pr in rules_found
              for g in pr["spec"]["groups"] for r in g["rules"]),
          "an alert uses broker_rate_limit_redis_up (the shared limit falling back)",
          "BROKER__RATE_LIMIT__REDIS_URL is set but no alert uses broker_rate_limit_redis_up")

# --- kustomization ------------------------------------------------------------------------------
kust = load(K8S_DIR / "kustomization.yaml")[0]
listed = kust.get("resources") or []
# Step 1 validated these files against the schemas; whatever kustomize applies must be among them.
validated = {Path(v).name for v in os.environ.get("VALIDATED", "").splitlines() if v}
for r in listed:
    check((K8S_DIR / r).is_file(), f"kustomization lists {r}", f"kustomization lists missing file {r}")
    check(r in validated, f"{r} schema-validated", f"{r} is applied but was not validated against the schemas")
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
# For the optional check-config step: the Deployment's environment with every file it names
# (tenants file, key files) laid out under WORK/root, keys replaced by placeholders.
work = Path(os.environ["WORK"])
root = work / "root"
out_env = {**cm_data, **env}
for what, path in key_files:
    f = root / path.lstrip("/")
    f.parent.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9-]", "-", what.split(" ")[1] if " " in what else "default")
    f.write_text(f"placeholder-{name}-0123456789abcdef\n" if "service" in what else f"placeholder-api-key-{name}\n")
if api_key_file:
    out_env["BROKER__PAYROC__API_KEY_FILE"] = f"{root}{api_key_file}"
if "BROKER__CALLERS__KEYS" in env_refs:
    out_env["BROKER__CALLERS__KEYS"] = "placeholder-caller-key-0123456789"
single = dict(out_env)
if tenants_text is not None:
    text = tenants_text
    for _, path in key_files:
        text = text.replace(f'"{path}"', f'"{root}{path}"')
    f = root / tenants_path.lstrip("/")
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text)
    out_env["BROKER__TENANTS__FILE"] = str(f)
    # The same Deployment reduced to its first account the single-account way, for a binary
    # that does not know the tenants file yet.
    single = {k: v for k, v in out_env.items() if not k.startswith("BROKER__TENANTS__")}
    if accounts and not api_key_file:
        a = accounts[0]
        single["BROKER__PAYROC__API_KEY_FILE"] = f"{root}{a.get('api_key_file')}"
        single["BROKER__PAYROC__TERMINALS"] = ",".join(a.get("terminals") or [])
        if a.get("origins"):
            single["BROKER__CORS__ALLOWED_ORIGINS"] = ",".join(a["origins"])
for name, e in (("env", out_env), ("env.single", single)):
    (work / name).write_text("".join(f"{k}={v}\n" for k, v in e.items()))
(work / "count").write_text(str(len(oks)))
print(f"invariants: {len(oks)} ok, {len(errors)} wrong, {len(warnings)} warnings")
sys.exit(1 if errors else 0)
PYTHON
checks=$((checks + $(cat "$WORK/count")))

# --- 5. the binary's own opinion (optional) ----------------------------------------------------
skipped=()
tenants_bin=0
if [[ -n ${BROKER_BIN:-} ]]; then
  [[ -x $BROKER_BIN ]] || { echo "FAIL: BROKER_BIN=$BROKER_BIN is not an executable file" >&2; exit 1; }
  # A binary from before the tenants file refuses the key by name (serde: unknown field).
  probe=$(env -i BROKER__TENANTS__FILE="$WORK/absent.toml" "$BROKER_BIN" check-config 2>&1 >/dev/null || true)
  grep -qF 'unknown field `tenants`' <<<"$probe" || tenants_bin=1
  env_used=$WORK/env
  if grep -q '^BROKER__TENANTS__FILE=' "$WORK/env"; then
    if [[ $tenants_bin == 1 ]]; then
      echo "== $BROKER_BIN check-config with the Deployment's environment and the example tenants.toml"
    else
      echo "== $BROKER_BIN check-config with the Deployment's environment, reduced to one account"
      echo "SKIP: $BROKER_BIN does not know BROKER__TENANTS__FILE (unknown field \`tenants\`):"
      echo "      the example tenants.toml is not checked by the binary; the first account is given"
      echo "      the single-account way (BROKER__PAYROC__API_KEY_FILE, TERMINALS) instead"
      skipped+=("check-config of the tenants file")
      env_used=$WORK/env.single
    fi
  else
    echo "== $BROKER_BIN check-config with the Deployment's environment"
  fi
  mapfile -t env_args <"$env_used"
  if ! out=$(env -i "${env_args[@]}" "$BROKER_BIN" check-config 2>&1 >/dev/null); then
    printf '%s\n' "$out" >&2
    echo "FAIL: the broker refuses this configuration" >&2
    exit 1
  fi
  echo "ok: check-config accepts it"
  checks=$((checks + 1))
fi

# --- 6. a ConfigMap update reaches a running broker (optional) ------------------------------------
if [[ -n ${BROKER_BIN:-} && $tenants_bin != 1 ]]; then
  echo "== $BROKER_BIN serve: reload of a ConfigMap-style tenants file"
  echo "SKIP: $BROKER_BIN does not know BROKER__TENANTS__FILE: the reload is not tested"
  skipped+=("the tenants file reload")
elif [[ -n ${BROKER_BIN:-} ]]; then
  echo "== $BROKER_BIN serve: reload of a ConfigMap-style tenants file"
  "$PY" - "$BROKER_BIN" "$WORK/reload" <<'PYTHON'
"""Lay a tenants file out the way the kubelet lays out a ConfigMap volume, start `serve` on it,
and update it the way the kubelet does: a new timestamped directory, then an atomic swap of the
..data symlink (AtomicWriter: symlink ..data_tmp, rename it over ..data, remove the old
directory), exactly what `ln -sfn NEW ..data_tmp && mv -T ..data_tmp ..data` does. The admin
listener's /metrics must show the new version applied, then a broken version rejected with the
accounts kept. Identity is a closed loopback port: no token, but the broker runs and reloads."""
import json, os, re, shutil, signal, socket, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path

binary, base = sys.argv[1], Path(sys.argv[2])
vol, keys = base / "volume", base / "keys"   # the ConfigMap volume; the Secret directory
vol.mkdir(parents=True)
keys.mkdir()
TIMEOUT = 10.0
checks = 0


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def tenants_toml(names):
    out = []
    for i, n in enumerate(names):
        (keys / n).write_text(f"placeholder-api-key-{n}\n")
        out.append(f'[[account]]\nname = "{n}"\napi_key_file = "{keys / n}"\n'
                   f'terminals = ["{1234001 + i}"]\norigins = ["https://shop.{n}.example"]\n')
    return "\n".join(out)


def publish(version, text):
    """What the kubelet does on a ConfigMap update, in the same order."""
    new = f"..2026_01_01_00_00_0{version}.{version}"
    (vol / new).mkdir()
    (vol / new / "tenants.toml").write_text(text)
    old = os.readlink(vol / "..data") if (vol / "..data").is_symlink() else None
    os.symlink(new, vol / "..data_tmp")
    os.rename(vol / "..data_tmp", vol / "..data")          # atomic, like mv -T
    if not (vol / "tenants.toml").is_symlink():
        os.symlink("..data/tenants.toml", vol / "tenants.toml")
    if old:
        shutil.rmtree(vol / old)


def metrics(url):
    try:
        text = urllib.request.urlopen(url, timeout=1).read().decode()
    except (urllib.error.URLError, OSError):
        return None
    values = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m and not line.startswith("#"):
            values[m[1] + (m[2] or "")] = float(m[3])
    return values


def total(values, name, **labels):
    """Sum of the series of `name` carrying all of `labels` (0 when there is none)."""
    want = {f'{k}="{v}"' for k, v in labels.items()}
    return sum(v for k, v in values.items()
               if k.split("{")[0] == name and want <= set(re.findall(r'[a-z_]+="[^"]*"', k)))


def wait(what, cond):
    t0 = time.monotonic()
    while time.monotonic() - t0 < TIMEOUT:
        if proc.poll() is not None:
            fail(f"{what}: the broker exited ({proc.returncode})")
        v = metrics(METRICS)
        if v is not None and cond(v):
            return v, time.monotonic() - t0
        time.sleep(0.05)
    fail(f"{what}: not seen on /metrics within {TIMEOUT:.0f} s; last: "
         + ", ".join(f"{k} {x:g}" for k, x in sorted((v or {}).items()) if "tenants" in k or "accounts" in k))


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    sys.stderr.write("--- broker log (tail) ---\n" + "".join(open(base / "broker.log").readlines()[-20:]))
    sys.exit(1)


def ok(msg):
    global checks
    checks += 1
    print(f"ok: {msg}")


api, admin, closed = free_ports(3)
METRICS = f"http://127.0.0.1:{admin}/metrics"
publish(1, tenants_toml(["alpha", "bravo"]))
env = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "RUST_LOG": "warn",
    "BROKER__TENANTS__FILE": str(vol / "tenants.toml"),
    "BROKER__TENANTS__WATCH_INTERVAL_MS": "200",
    "BROKER__SERVER__LISTEN": f"127.0.0.1:{api}",
    "BROKER__SERVER__METRICS_LISTEN": f"127.0.0.1:{admin}",
    "BROKER__PAYROC__IDENTITY_URL": f"http://127.0.0.1:{closed}/authorize",
    "BROKER__PAYROC__API_URL": f"http://127.0.0.1:{closed}/v1",
}
log = open(base / "broker.log", "w")
proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
try:
    v, dt = wait("start-up with 2 accounts", lambda v: total(v, "broker_accounts") == 2)
    applied0 = total(v, "broker_tenants_reloads_total", outcome="applied")
    rejected0 = total(v, "broker_tenants_reloads_total", outcome="rejected")
    ok(f"serve is up after {dt:.1f} s with broker_accounts 2 (tenants file behind ..data symlinks)")

    publish(2, tenants_toml(["alpha", "bravo", "charlie"]))
    v, dt = wait("the ..data swap to 3 accounts",
                 lambda v: total(v, "broker_accounts") == 3
                 and total(v, "broker_tenants_reloads_total", outcome="applied") >= applied0 + 1)
    ok(f"..data swapped to a version with 3 accounts: applied in {dt:.1f} s "
       f"(reloads applied {applied0:g} -> {total(v, 'broker_tenants_reloads_total', outcome='applied'):g})")
    usable = {k for k in v if k.startswith("broker_token_usable{") and 'account="charlie"' in k}
    if not usable:
        fail("no broker_token_usable{account=\"charlie\"} series after the reload")
    ok("the new account has its own broker_token_usable{account=\"charlie\"}")

    publish(3, tenants_toml(["alpha", "bravo", "charlie"]) + "\n[[account]\nname = \n")
    v, dt = wait("the broken version rejected",
                 lambda v: total(v, "broker_tenants_reloads_total", outcome="rejected") >= rejected0 + 1)
    if total(v, "broker_accounts") != 3:
        fail(f"after a rejected reload broker_accounts is {total(v, 'broker_accounts'):g}, not 3")
    ok(f"..data swapped to a broken version: rejected in {dt:.1f} s, still 3 accounts")

    try:
        status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{admin}/status", timeout=1))
        n, err = len(status.get("accounts") or []), (status.get("tenants") or {}).get("lastError")
        if n != 3 or not err:
            fail(f"/status shows {n} accounts and tenants.lastError {err!r} (want 3 and the error)")
        ok("/status lists 3 accounts and the rejected file's error")
    except urllib.error.HTTPError as e:
        fail(f"/status on the admin listener answered {e.code}")

    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        fail("the broker did not exit within 5 s of SIGTERM")
    if rc != 0:
        fail(f"the broker exited {rc} on SIGTERM")
    ok("serve exits 0 on SIGTERM")
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
(base / "count").write_text(str(checks))
PYTHON
  checks=$((checks + $(cat "$WORK/reload/count")))
fi

echo "== done in $("$PY" -c "import time; print(f'{time.time() - $start:.1f}')") s"
if [[ ${#skipped[@]} -gt 0 ]]; then
  printf -v list '%s; ' "${skipped[@]}"
  echo "validate-k8s: SKIPPED (binary without the tenants file): ${list%; }"
fi
# Last line in the plain "N passed, N failed" form that CI logs are read for.
echo "validate-k8s: $checks passed, 0 failed"
