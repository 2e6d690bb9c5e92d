"""The wiring of deploy/ that schemas and checkov cannot see: that the
rendered objects fit together and fit the binaries. Run by
scripts/validate-deploy.sh with the venv's Python (PyYAML):

    deploy_checks.py RENDERED_DIR SERVER_SVC CLIENT_SVC OPENSSL OPERATOR_DIR

RENDERED_DIR holds base.yaml, lab.yaml, scale.yaml and load.yaml (`kubectl
kustomize` output); SERVER_SVC and CLIENT_SVC are the built binaries (their
`serve --help` lists every environment variable they read); OPENSSL checks
the certificates. OPERATOR_DIR holds lab.yaml and scale.yaml: those overlays
rendered with components/prometheus-operator. Its PodMonitors have no schema
in kubernetes-validate, so they are checked here, structurally, and
everything else must be the overlay's own render unchanged. Prints one line
per problem and exits 1 if there is any.
"""

import re
import subprocess
import sys
import tempfile
from base64 import b64decode
from pathlib import Path

import yaml

# What clap's boolean parsers take as "on".
TRUE = {"true", "1", "yes", "on", "y", "t"}

# The series' path (service-runtime/src/exporter.rs): the services answer GET /metrics only.
METRICS_PATH = "/metrics"

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


class Render:
    """One `kubectl kustomize` output, its objects by kind and name."""

    def __init__(self, path):
        self.name = path.stem
        self.objects = {}
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                self.objects[(doc["kind"], doc["metadata"]["name"])] = doc

    def get(self, kind, name):
        return self.objects.get((kind, name))

    def all(self, kind):
        return [o for (k, _), o in self.objects.items() if k == kind]


def env_of(render, deployment):
    """The container's environment: its envFrom ConfigMaps, then env."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        cm = render.get("ConfigMap", name)
        if cm is None:
            problem(render.name, f"envFrom names ConfigMap {name}, which is not rendered")
            continue
        env.update(cm.get("data", {}))
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", "")
    return env


def known_variables(binary, prefix):
    """The environment variables `BINARY serve --help` lists."""
    # An empty environment, so the help shows names rather than values.
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True,
                         env={}, check=True).stdout
    return set(re.findall(rf"env: ({prefix}[A-Z0-9_]+)", out))


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) \
        and not selector.get("matchExpressions")


def mounted_secret_file(render, deployment, path):
    """The Secret and key a file path of the container reads, or None."""
    spec = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in spec["containers"][0].get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix) and "secret" in volumes.get(mount["name"], {}):
            secret = render.get("Secret", volumes[mount["name"]]["secret"]["secretName"])
            key = path[len(prefix):]
            if secret is not None and key in secret.get("data", {}):
                return secret, key
    return None


def check_container(render, deployment):
    where = f"{render.name}: Deployment {deployment['metadata']['name']}"
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if "grpc" not in ports:
        problem(where, "no container port named grpc")
    for probe in ("readinessProbe", "livenessProbe"):
        port = container.get(probe, {}).get("grpc", {}).get("port")
        if port != ports.get("grpc"):
            problem(where, f"{probe} is not a gRPC health probe on the grpc port")
    # Service links would inject e.g. SERVER_SVC_PORT into the prefix the
    # binaries read their settings from.
    if spec.get("enableServiceLinks") is not False:
        problem(where, "enableServiceLinks must be false")
    if spec.get("automountServiceAccountToken") is not False:
        problem(where, "automountServiceAccountToken must be false")


def check_variables(render, deployment, env, known, prefix, other):
    where = f"{render.name}: Deployment {deployment['metadata']['name']}"
    for name in sorted(env):
        if name.startswith(other):
            problem(where, f"{name} belongs to the other service")
        elif name.startswith(prefix) and name not in known:
            problem(where, f"{name} is not a variable of `serve` (see its --help)")


def metrics_port(deployment):
    """The containerPort named metrics, or None."""
    for port in deployment["spec"]["template"]["spec"]["containers"][0].get("ports", []):
        if port.get("name") == "metrics":
            return port["containerPort"]
    return None


def check_metrics(render, deployment, env, prefix):
    """The metrics listener, the container port and the scrape annotations
    name the same port."""
    where = f"{render.name}: Deployment {deployment['metadata']['name']}"
    port = metrics_port(deployment)
    if port is None:
        problem(where, "no container port named metrics")
        return
    listen = env.get(f"{prefix}METRICS_LISTEN")
    if listen is None:
        problem(where, f"{prefix}METRICS_LISTEN is not set: the port would be the "
                "binary's default, which nothing here checks")
    elif listen.lower() == "off":
        problem(where, f"{prefix}METRICS_LISTEN=off while the pod declares a metrics port")
    else:
        m = re.fullmatch(r"(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):(\d+)", listen)
        if m is None:
            problem(where, f"{prefix}METRICS_LISTEN={listen!r} is not IP:PORT")
        elif int(m.group(1)) != port:
            problem(where, f"{prefix}METRICS_LISTEN={listen} but the metrics port is {port}")
        elif listen.startswith("127.") or listen.startswith("[::1]"):
            problem(where, f"{prefix}METRICS_LISTEN={listen} is loopback: no scraper reaches it")
    notes = deployment["spec"]["template"]["metadata"].get("annotations", {})
    want = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
            "prometheus.io/path": METRICS_PATH}
    for key, value in want.items():
        if notes.get(key) != value:
            problem(where, f"pod annotation {key} is {notes.get(key)!r}, not {value!r}")


def check_certificates(render, server, client, openssl):
    server_env = env_of(render, server)
    client_env = env_of(render, client)
    files = {}
    for var in ("SERVER_SVC_RSA_CERT", "SERVER_SVC_RSA_KEY",
                "SERVER_SVC_ECDSA_CERT", "SERVER_SVC_ECDSA_KEY"):
        found = mounted_secret_file(render, server, server_env.get(var, ""))
        if found is None:
            problem(render.name, f"server-svc's {var} is not a file of a mounted Secret "
                    "(without all four, server-svc writes a PKI on a read-only root)")
        else:
            files[var] = found
    ca = mounted_secret_file(render, client, client_env.get("CLIENT_SVC_CA", ""))
    if ca is None:
        problem(render.name, "client-svc's CLIENT_SVC_CA is not a file of a mounted Secret")
    key_secrets = {files[v][0]["metadata"]["name"]
                   for v in ("SERVER_SVC_RSA_KEY", "SERVER_SVC_ECDSA_KEY") if v in files}
    for secret in render.all("Secret"):
        for key, value in secret.get("data", {}).items():
            private = b"PRIVATE KEY" in b64decode(value)
            if key == "ca.key" or (private and secret["metadata"]["name"] not in key_secrets):
                problem(render.name, f"Secret {secret['metadata']['name']} holds {key}: "
                        "only server-svc's own keys belong in the cluster")
    name = client_env.get("CLIENT_SVC_SERVER_NAME", "")
    if ca is None or len(files) < 4 or not name:
        return
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = Path(tmp, "ca.pem")
        ca_file.write_bytes(b64decode(ca[0]["data"][ca[1]]))
        for var in ("SERVER_SVC_RSA_CERT", "SERVER_SVC_ECDSA_CERT"):
            secret, key = files[var]
            cert = Path(tmp, key)
            cert.write_bytes(b64decode(secret["data"][key]))
            # The check client-svc makes: chain to its CA, valid for its name.
            result = subprocess.run([openssl, "verify", "-CAfile", str(ca_file),
                                     "-purpose", "sslserver", "-verify_hostname", name,
                                     str(cert)], capture_output=True, text=True)
            if result.returncode != 0:
                # e.g. "error 62 at 0 depth lookup: hostname mismatch"
                why = [line.split(": ", 1)[-1] for line in
                       (result.stdout + result.stderr).splitlines() if " depth lookup" in line]
                problem(render.name, f"{key} does not pass client-svc's check for {name} "
                        f"against its CA: {', '.join(why) or 'openssl verify failed'}")


def check_balancing(render, server, client):
    """CLIENT_SVC_SERVER names the headless Service of server-svc's pods."""
    target = env_of(render, client).get("CLIENT_SVC_SERVER", "")
    m = re.fullmatch(r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)",
                     target)
    if m is None:
        problem(render.name, f"CLIENT_SVC_SERVER={target!r} is not dns:///SERVICE.NAMESPACE.svc:PORT")
        return
    svc_name, namespace, port = m.group(1), m.group(2), int(m.group(3))
    svc = render.get("Service", svc_name)
    if svc is None or svc["metadata"].get("namespace") != namespace:
        problem(render.name, f"CLIENT_SVC_SERVER names Service {svc_name} in {namespace}, "
                "which is not rendered")
        return
    if svc["spec"].get("clusterIP") != "None":
        problem(render.name, f"Service {svc_name} is not headless: DNS would give one address")
    if port not in [p["port"] for p in svc["spec"]["ports"]]:
        problem(render.name, f"Service {svc_name} has no port {port}")
    pod_labels = server["spec"]["template"]["metadata"]["labels"]
    if not matches({"matchLabels": svc["spec"].get("selector", {})}, pod_labels):
        problem(render.name, f"Service {svc_name} does not select server-svc's pods")


def is_scrape_rule(rule, port):
    """An ingress rule for the scraper: peers are namespaces named by a
    non-empty selector (optionally narrowed to some of their pods), and the
    rule opens the metrics port and nothing else."""
    peers = rule.get("from", [])
    ports = rule.get("ports", [])
    return bool(peers) and bool(ports) \
        and all(set(peer) <= {"namespaceSelector", "podSelector"}
                # {} or an empty matchLabels would be every namespace
                and (peer.get("namespaceSelector", {}).get("matchLabels")
                     or peer.get("namespaceSelector", {}).get("matchExpressions"))
                for peer in peers) \
        and all(p.get("port") in (port, "metrics") and p.get("protocol", "TCP") == "TCP"
                and "endPort" not in p for p in ports)


def check_network(render, server, client):
    """Only client-svc's pods may reach server-svc's gRPC port; the scraper's
    namespace may reach each service's metrics port and no other."""
    server_labels = server["spec"]["template"]["metadata"]["labels"]
    client_labels = client["spec"]["template"]["metadata"]["labels"]
    policies = render.all("NetworkPolicy")
    if not any(p["spec"]["podSelector"] == {} and "Ingress" in p["spec"].get("policyTypes", [])
               and not p["spec"].get("ingress") for p in policies):
        problem(render.name, "no default-deny ingress NetworkPolicy")
    allowed = False
    server_port = metrics_port(server)
    for policy in policies:
        if not matches(policy["spec"]["podSelector"], server_labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from", [])
            if server_port is not None and is_scrape_rule(rule, server_port):
                continue
            if not peers or any(set(peer) != {"podSelector"} or not peer["podSelector"]
                                or not matches(peer["podSelector"], client_labels)
                                for peer in peers):
                problem(render.name, f"NetworkPolicy {policy['metadata']['name']} lets "
                        "more than client-svc's pods into server-svc")
            else:
                allowed = True
    if not allowed:
        problem(render.name, "no NetworkPolicy lets client-svc into server-svc")
    for d in (server, client):
        port = metrics_port(d)
        labels = d["spec"]["template"]["metadata"]["labels"]
        if port is not None and not any(
                matches(p["spec"]["podSelector"], labels) and p["spec"]["podSelector"]
                and is_scrape_rule(rule, port)
                for p in policies for rule in p["spec"].get("ingress", [])):
            problem(render.name, f"no NetworkPolicy lets a scraper's namespace into "
                    f"{d['metadata']['name']} on its metrics port {port} (and no other)")


def check_overlay(render, server, client):
    hpa = render.get("HorizontalPodAutoscaler", "server-svc")
    if render.name == "lab":
        for d in (server, client):
            if d["spec"].get("replicas") != 1:
                problem("lab", f"{d['metadata']['name']} does not have one replica")
        if hpa is not None:
            problem("lab", "an HPA would scale server-svc past one replica")
        value = env_of(render, client).get("CLIENT_SVC_LAB_SHOW_SECRETS", "")
        if value.lower() not in TRUE:
            problem("lab", "CLIENT_SVC_LAB_SHOW_SECRETS is not on")
        for d in (server, client):
            directives = env_of(render, d).get("RUST_LOG", "").split(",")
            if "handshake::step=debug" not in directives:
                problem("lab", f"{d['metadata']['name']}'s RUST_LOG does not turn on the step "
                        "lines (handshake::step=debug)")
    if render.name == "scale":
        if hpa is None or hpa["spec"].get("minReplicas", 1) < 3:
            problem("scale", "the server-svc HPA does not hold at least 3 replicas")
    if hpa is not None:
        if "replicas" in server["spec"]:
            problem(render.name, "server-svc sets replicas while an HPA owns the count")
        ref = hpa["spec"]["scaleTargetRef"]
        if (ref["kind"], ref["name"]) != ("Deployment", "server-svc"):
            problem(render.name, "the HPA does not scale the server-svc Deployment")


def check_load(load, base, client):
    job = load.get("Job", "ghz")
    if job is None:
        problem("load", "no Job ghz")
        return
    args = job["spec"]["template"]["spec"]["containers"][0].get("args", [])
    target = args[-1] if args else ""
    svc = base.get("Service", "client-svc")
    ports = [p["port"] for p in svc["spec"]["ports"]] if svc else []
    if svc is None or target not in [f"client-svc:{p}" for p in ports]:
        problem("load", f"ghz calls {target!r}, not client-svc's Service port {ports}")
    ns = {o["metadata"].get("namespace") for o in load.objects.values()}
    if ns != {svc["metadata"]["namespace"] if svc else None}:
        problem("load", f"the Job's namespace {ns} is not client-svc's")
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    client_labels = client["spec"]["template"]["metadata"]["labels"]
    client_ports = {p["containerPort"] for p in client["spec"]["template"]["spec"]
                    ["containers"][0].get("ports", [])}
    egress_ok = any(
        matches(p["spec"]["podSelector"], pod_labels)
        and any("podSelector" in peer and matches(peer["podSelector"], client_labels)
                and client_ports & {port.get("port") for port in rule.get("ports", [])}
                for rule in p["spec"].get("egress", []) for peer in rule.get("to", []))
        for p in load.all("NetworkPolicy"))
    if not egress_ok:
        problem("load", "no NetworkPolicy lets the ghz pod out to client-svc")


def check_operator(operator, own):
    """components/prometheus-operator on an overlay (own: that overlay's own
    render): it adds one PodMonitor per service that scrapes the metrics
    port, and changes nothing else."""
    where = f"{operator.name} + components/prometheus-operator"
    for key, obj in operator.objects.items():
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue
        if own.objects.get(key) != obj:
            problem(where, f"{key[0]} {key[1]} differs from the overlay's own")
    for key in own.objects:
        if key not in operator.objects:
            problem(where, f"{key[0]} {key[1]} of the overlay is missing")
    monitors = [o for o in operator.objects.values()
                if o["apiVersion"].startswith("monitoring.coreos.com/")]
    deployments = own.all("Deployment")
    covered = set()
    for m in monitors:
        name = f"{m['kind']} {m['metadata']['name']}"
        if (m["apiVersion"], m["kind"]) != ("monitoring.coreos.com/v1", "PodMonitor"):
            problem(where, f"{name}: {m['apiVersion']} {m['kind']} is not a "
                    "monitoring.coreos.com/v1 PodMonitor (nothing else is checked)")
            continue
        spec = m.get("spec", {})
        if m["metadata"].get("namespace") not in {d["metadata"].get("namespace")
                                                  for d in deployments}:
            problem(where, f"{name} is in namespace {m['metadata'].get('namespace')!r}, "
                    "not the services' (a PodMonitor selects pods of its own namespace)")
        if spec.get("namespaceSelector"):
            problem(where, f"{name} has a namespaceSelector: the services' namespace is its own")
        selector = spec.get("selector")
        selected = [d for d in deployments if selector
                    and matches(selector, d["spec"]["template"]["metadata"]["labels"])]
        if not selector or not selector.get("matchLabels") or len(selected) != 1:
            problem(where, f"{name}'s selector {selector} does not select exactly one "
                    "service's pods")
            continue
        d = selected[0]
        covered.add(d["metadata"]["name"])
        ports = {p.get("name") for p in d["spec"]["template"]["spec"]["containers"][0]
                 .get("ports", [])}
        endpoints = spec.get("podMetricsEndpoints", [])
        if not endpoints:
            problem(where, f"{name} has no podMetricsEndpoints")
        for e in endpoints:
            if e.get("port") != "metrics" or "metrics" not in ports:
                problem(where, f"{name} scrapes port {e.get('port')!r}, not the container "
                        f"port named metrics of {d['metadata']['name']}")
            if e.get("path", METRICS_PATH) != METRICS_PATH:
                problem(where, f"{name} scrapes path {e.get('path')!r}, not {METRICS_PATH}")
            if e.get("scheme", "http") != "http":
                problem(where, f"{name} scrapes with scheme {e.get('scheme')!r}: the "
                        "metrics port speaks plain HTTP")
    for d in deployments:
        if d["metadata"]["name"] not in covered:
            problem(where, f"no PodMonitor scrapes {d['metadata']['name']}")


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    rendered, server_bin, client_bin, openssl, operator_dir = sys.argv[1:6]
    renders = {p.stem: Render(p) for p in sorted(Path(rendered).glob("*.yaml"))}
    known_server = known_variables(server_bin, "SERVER_SVC_")
    known_client = known_variables(client_bin, "CLIENT_SVC_")
    for name in ("base", "lab", "scale"):
        render = renders[name]
        server = render.get("Deployment", "server-svc")
        client = render.get("Deployment", "client-svc")
        if server is None or client is None:
            problem(name, "server-svc or client-svc Deployment missing")
            continue
        for d in (server, client):
            check_container(render, d)
        check_variables(render, server, env_of(render, server), known_server,
                        "SERVER_SVC_", "CLIENT_SVC_")
        check_variables(render, client, env_of(render, client), known_client,
                        "CLIENT_SVC_", "SERVER_SVC_")
        check_metrics(render, server, env_of(render, server), "SERVER_SVC_")
        check_metrics(render, client, env_of(render, client), "CLIENT_SVC_")
        check_certificates(render, server, client, openssl)
        check_balancing(render, server, client)
        check_network(render, server, client)
        check_overlay(render, server, client)
    base = renders["base"]
    check_load(renders["load"], base, base.get("Deployment", "client-svc"))
    for name in ("lab", "scale"):
        path = Path(operator_dir, f"{name}.yaml")
        if not path.is_file():
            problem(name, f"{path} (the overlay with components/prometheus-operator) "
                    "is not rendered")
            continue
        check_operator(Render(path), renders[name])
    for p in problems:
        print(f"error: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
