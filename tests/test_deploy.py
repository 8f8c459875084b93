"""deploy/'s Kubernetes manifests and compose stack, checked without a cluster or a Docker
engine (neither runs here); the image and the systemd units are in test_deploy_packaging.py.

Manifests go through the kubernetes client's own models, and also through a walk of each
model's `attribute_map`: the client's deserialiser drops keys it does not know, so a misspelt
`readinesProbe` would otherwise pass. Prometheus and Alertmanager configs are checked by
promtool and amtool (test peers that `make test` installs); nginx and kubectl are not peers,
so their checks only skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes.client.models as k8s_models
import pytest
import yaml
from kubernetes.client import ApiClient

from inventory.settings import Settings
from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# Read by uvicorn, not by Settings: which proxy may set X-Forwarded-For/-Proto.
# Read by uvicorn, and by `yunheng serve` itself (--workers), not by Settings.
NON_SETTINGS_ENV = {"FORWARDED_ALLOW_IPS", "YUNHENG_WORKERS"}
PRIMITIVES = {"str", "int", "float", "bool", "object", "bytes", "date", "datetime"}

Doc = dict[str, Any]


def k8s_docs() -> list[tuple[str, Doc]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            docs.append((path.name, doc))
    return docs


def by_kind(kind: str) -> Doc:
    found = [doc for _, doc in k8s_docs() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def model_name(doc: Doc) -> str:
    """`apps/v1` + `Deployment` -> `V1Deployment` (the client's naming for stable groups)."""
    return str(doc["apiVersion"]).split("/")[-1].capitalize() + str(doc["kind"])


def unknown_fields(data: Any, type_name: str, path: str) -> list[str]:
    """Every key in `data` that the model `type_name` (recursively) has no field for."""
    if data is None or type_name in PRIMITIVES:
        return []
    if m := re.fullmatch(r"List\[(.+)\]", type_name):
        if not isinstance(data, list):
            return [f"{path}: expected a list of {m[1]}"]
        return [
            p for i, item in enumerate(data) for p in unknown_fields(item, m[1], f"{path}[{i}]")
        ]
    if m := re.fullmatch(r"Dict\[str, (.+)\]", type_name):
        if not isinstance(data, dict):
            return [f"{path}: expected a mapping"]
        return [p for k, v in data.items() for p in unknown_fields(v, m[1], f"{path}.{k}")]
    model = getattr(k8s_models, type_name)
    if not isinstance(data, dict):
        return [f"{path}: expected an object ({type_name})"]
    attribute_by_key = {key: attr for attr, key in model.attribute_map.items()}
    problems = []
    for key, value in data.items():
        attr = attribute_by_key.get(key)
        if attr is None:
            problems.append(f"{path}.{key}: {type_name} has no field {key!r}")
        else:
            problems += unknown_fields(value, model.openapi_types[attr], f"{path}.{key}")
    return problems


def deserialize(doc: Doc, model: str) -> Any:
    """The client's private deserialiser: how its API calls turn answers into models."""
    client: Any = ApiClient()
    return client._ApiClient__deserialize(doc, model)


def check_manifest(doc: Doc) -> None:
    """Raises if the client's models refuse `doc`; asserts it has no unknown field."""
    deserialize(doc, model_name(doc))
    assert unknown_fields(doc, model_name(doc), doc["kind"]) == []


@pytest.mark.parametrize(
    "doc", [d for _, d in k8s_docs()], ids=[f"{f}:{d['kind']}" for f, d in k8s_docs()]
)
def test_manifest_deserialises_into_the_client_models_with_no_unknown_field(doc: Doc) -> None:
    check_manifest(doc)


def test_a_misspelt_or_mistyped_field_fails() -> None:
    deployment = by_kind("Deployment")
    misspelt = yaml.safe_load(yaml.safe_dump(deployment))
    container = misspelt["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    # The client alone drops the unknown key: this is why the attribute_map walk exists.
    parsed = deserialize(misspelt, "V1Deployment")
    assert parsed.spec.template.spec.containers[0].readiness_probe is None
    with pytest.raises(AssertionError, match=r"containers\[0\]\.readinesProbe"):
        check_manifest(misspelt)
    mistyped = yaml.safe_load(yaml.safe_dump(deployment))
    mistyped["spec"]["replicas"] = "two"
    with pytest.raises(ValueError, match="replicas"):
        check_manifest(mistyped)
    nameless = yaml.safe_load(yaml.safe_dump(deployment))
    del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(ValueError, match="name"):
        check_manifest(nameless)


def test_kustomization_lists_every_manifest_and_builds() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    image = by_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    [override] = kustomization["images"]
    assert f"{override['name']}:{override['newTag']}" == image
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed: `kubectl kustomize` not run")
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True
    ).stdout
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(built))
    assert kinds == sorted(doc["kind"] for _, doc in k8s_docs())


def pod_spec(kind: str) -> Doc:
    spec: Doc = by_kind(kind)["spec"]["template"]["spec"]
    return spec


def test_deployment_is_replicated_probed_bounded_and_unprivileged() -> None:
    deployment = by_kind("Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    [console] = pod_spec("Deployment")["containers"]
    assert console["args"][:2] == ["yunheng", "serve"]
    assert "command" not in console  # the image's entrypoint (secrets from files) stays
    port_names = {p["name"]: p["containerPort"] for p in console["ports"]}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http_get = console[probe]["httpGet"]
        assert http_get["path"] == path
        assert http_get["port"] in port_names or http_get["port"] in port_names.values()
    resources = console["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    for kind in ("Deployment", "Job"):
        spec = pod_spec(kind)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]


def test_pdb_service_and_ingress_line_up_with_the_deployment() -> None:
    deployment = by_kind("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb = by_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # A budget the replicas cannot meet would block every node drain.
    assert 1 <= pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    service = by_kind("Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [console] = pod_spec("Deployment")["containers"]
    container_ports = {p["name"]: p["containerPort"] for p in console["ports"]}
    for port in service["spec"]["ports"]:
        target = port["targetPort"]
        assert target in container_ports or target in container_ports.values()
    service_ports = {p["name"] for p in service["spec"]["ports"]} | {
        p["port"] for p in service["spec"]["ports"]
    }
    for rule in by_kind("Ingress")["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"].get("name", backend["port"].get("number")) in service_ports


def test_images_agree_carry_the_release_tag_and_never_latest() -> None:
    images = {c["image"] for kind in ("Deployment", "Job") for c in pod_spec(kind)["containers"]}
    assert len(images) == 1
    [image] = images
    assert image.endswith(f":{VERSION}")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    every_image = [image] + [s["image"] for s in compose["services"].values() if "image" in s]
    assert compose["services"]["console-1"]["image"].endswith(f":{VERSION}}}")
    for name in every_image:
        assert ":" in name.rsplit("/", 1)[-1] and not name.rstrip("}").endswith(":latest"), name
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        assert ":latest" not in line


def assert_known_settings(names: set[str], where: str) -> None:
    """Every YUNHENG_* (or YUNHENG_*_FILE, read by the entrypoint) is a Settings field."""
    fields = {f"YUNHENG_{name.upper()}" for name in Settings.model_fields}
    for name in names - NON_SETTINGS_ENV:
        assert name.removesuffix("_FILE") in fields, f"{where}: {name} is no Yunheng setting"


def test_configmap_secret_and_env_examples_name_real_settings() -> None:
    assert_known_settings(set(by_kind("ConfigMap")["data"]), "configmap.yaml")
    secret = by_kind("Secret")["stringData"]
    assert_known_settings(set(secret), "secret.yaml")
    assert all("CHANGE-ME" in value for value in secret.values())  # placeholders, visibly
    env = {e["name"] for e in pod_spec("Deployment")["containers"][0].get("env", [])}
    assert_known_settings(env, "deployment.yaml")
    example = (DEPLOY / "systemd" / "yunheng.env.example").read_text()
    assert_known_settings(set(re.findall(r"^([A-Z_]+)=", example, re.M)), "yunheng.env.example")


def test_compose_two_consoles_after_the_migration() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    yunheng = {n: s for n, s in services.items() if s.get("build")}
    consoles = sorted(n for n, s in yunheng.items() if "command" not in s)
    assert consoles == ["console-1", "console-2"]
    assert yunheng["migrate"]["command"] == ["yunheng", "db", "upgrade"]
    for name in consoles:
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["db"]["condition"] == "service_healthy"
        assert_known_settings(set(services[name]["environment"]), f"compose {name}")
    assert "healthcheck" in services["db"] and services["db"]["volumes"]
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    assert (DEPLOY / "secrets" / ".gitignore").exists()  # real secrets never get committed
    # Everyone points at the same consoles: nginx upstreams, Prometheus targets.
    upstreams = re.findall(r"server (\S+):8000", (DEPLOY / "nginx" / "nginx.conf").read_text())
    assert sorted(upstreams) == consoles
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = [j for j in prometheus["scrape_configs"] if j["job_name"] == "yunheng"]
    assert sorted(job["static_configs"][0]["targets"]) == [f"{c}:8000" for c in consoles]
    alertmanager = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    [hook] = alertmanager["receivers"][0]["webhook_configs"]
    assert hook["url"] == "http://proxy:8080/api/v1/alerts/alertmanager"
    token_file = hook["http_config"]["authorization"]["credentials_file"]
    assert token_file == f"/run/secrets/{services['alertmanager']['secrets'][0]}"


def run_tool(args: list[str]) -> subprocess.CompletedProcess[str]:
    if shutil.which(args[0]) is None:
        skip_or_fail(f"{args[0]} not installed (Debian's prometheus / prometheus-alertmanager)")
    return subprocess.run(args, capture_output=True, text=True, check=False)


def test_prometheus_config_passes_promtool() -> None:
    result = run_tool(
        ["promtool", "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_alertmanager_config_passes_amtool() -> None:
    config = DEPLOY / "alertmanager" / "alertmanager.yml"
    result = run_tool(["amtool", "check-config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx not installed (not a test peer)")
    # nginx -t resolves upstream names, which exist only on the compose network.
    conf = (DEPLOY / "nginx" / "nginx.conf").read_text()
    (tmp_path / "nginx.conf").write_text(re.sub(r"console-\d+:", "127.0.0.1:", conf))
    args = ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
