"""The Helm chart rendered by the real Helm v4 engine (helm-python-sdk, no helm binary), every
manifest validated against the Kubernetes JSON schemas of kubernetes-validate (strict), and the
rendered gateway config checked by `inferstack config check`."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from inferstack.serving.metrics import GatewayMetrics

CHART = Path(__file__).parents[2] / "helm" / "inferstack"
K8S_VERSION = "1.33"
EXAMPLES = {
    "default": {},
    "dev-1gpu": yaml.safe_load((CHART / "examples" / "dev-1gpu.yaml").read_text()),
    "production": yaml.safe_load((CHART / "examples" / "production.yaml").read_text()),
}
# Custom resources are not in the Kubernetes schemas: check the fields their operators need.
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": {
        "required": ["spec"],
        "properties": {"spec": {"required": ["selector", "endpoints"], "properties": {
            "endpoints": {"type": "array", "minItems": 1, "items": {"required": ["port", "path"]}}}}},
    },
    "PrometheusRule": {
        "required": ["spec"],
        "properties": {"spec": {"required": ["groups"], "properties": {"groups": {"type": "array", "items": {
            "required": ["name", "rules"], "properties": {"rules": {"type": "array", "minItems": 1, "items": {
                "required": ["alert", "expr", "labels", "annotations"]}}}}}}}},
    },
    "ScaledObject": {
        "required": ["spec"],
        "properties": {"spec": {"required": ["scaleTargetRef", "triggers"], "properties": {
            "triggers": {"type": "array", "minItems": 1, "items": {"required": ["type", "metadata"]}}}}},
    },
}  # fmt: skip


def render(values: dict[str, Any], release: str = "rel") -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name=release, namespace="ai")
    return [
        doc
        for path, text in sorted(manifests.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def gateway_config(docs: list[dict[str, Any]]) -> str:
    (config_map,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-config")]
    return str(config_map["data"]["inferstack.yaml"])


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_manifest_is_valid_kubernetes(example: str) -> None:
    docs = render(EXAMPLES[example])
    assert {"Deployment", "Service", "ConfigMap"} <= {d["kind"] for d in docs}
    for doc in docs:
        if doc["kind"] in CRD_SCHEMAS:
            jsonschema.validate(doc, {"type": "object", "required": ["apiVersion", "kind", "metadata"],
                                      **CRD_SCHEMAS[doc["kind"]]})  # fmt: skip
        else:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_production_renders_every_optional_part() -> None:
    kinds = {d["kind"] for d in render(EXAMPLES["production"])}
    assert kinds >= {"HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule",
                     "CronJob", "NetworkPolicy", "ScaledObject"}  # fmt: skip
    assert "Secret" not in kinds  # production brings its own (existingSecret)


def test_vllm_pods_request_their_gpus_on_gpu_nodes() -> None:
    docs = render(EXAMPLES["production"])
    vllm = {d["metadata"]["labels"]["inferstack.io/model"]: d for d in by_kind(docs, "Deployment")
            if d["metadata"]["labels"].get("app.kubernetes.io/component") == "vllm"}  # fmt: skip
    assert set(vllm) == {"llama-3-1-8b", "llama-3-3-70b"}
    for model, gpus, tp in (("llama-3-1-8b", 1, 1), ("llama-3-3-70b", 4, 4)):
        pod = vllm[model]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert container["resources"]["requests"]["nvidia.com/gpu"] == gpus
        assert f"--tensor-parallel-size={tp}" in container["args"]
        assert f"--served-model-name={model}" in container["args"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"
        # Helm deep-merges maps: the example's product label adds to the chart's GPU label.
        assert pod["nodeSelector"] == {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
        }
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "model-weights"}
    assert (
        "--enable-prefix-caching"
        in vllm["llama-3-3-70b"]["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in by_kind(docs, "ScaledObject")}
    assert scaled == {"rel-inferstack-vllm-llama-3-1-8b", "rel-inferstack-vllm-llama-3-3-70b"}


def test_gateway_probes_and_security() -> None:
    docs = render(EXAMPLES["production"])
    (gateway,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "rel-inferstack-gateway"]
    pod = gateway["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "replicas" not in gateway["spec"]  # the HPA owns it
    secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert secret_refs["INFERSTACK_KEY_TEAM_A"] == {"name": "inferstack-keys", "key": "team-a"}
    assert secret_refs["INFERSTACK_MANAGED_API_KEY"] == {"name": "inferstack-keys", "key": "managed-api-key"}
    # stored keys: one HMAC secret for every pod (optional: only configured keys without it)
    assert secret_refs["INFERSTACK_KEY_SECRET"] == {
        "name": "inferstack-keys",
        "key": "key-secret",
        "optional": True,
    }
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["REDIS_URL"] == "redis://redis.data:6379/0"
    # sessions in the shared PostgreSQL, its URL from the Secret, never in the config map
    assert secret_refs["INFERSTACK_SESSIONS__DATABASE_URL"] == {"name": "inferstack-postgres", "key": "url"}
    config = yaml.safe_load(gateway_config(docs))
    assert config["retrieval"] == {"milvus_uri": "http://milvus.data:19530"}
    assert config["sessions"] == {"retention_days": 30, "summaries": True, "long_term_memory": True}
    # quotas counted once for every replica, in the shared Redis
    assert config["quotas"] == {
        "store": "redis", "redis_url_env": "REDIS_URL", "on_store_error": "open",
        "default": {"requests_per_minute": 600, "concurrent_requests": 32},
        "tenants": [{"tenant": "team-b", "requests_per_minute": 120, "tokens_per_minute": 200000,
                     "usd_per_month": 500}],
    }  # fmt: skip
    default = yaml.safe_load(gateway_config(render({})))
    assert default["retrieval"] == {"enabled": False} and default["sessions"] == {"enabled": False}
    assert default["quotas"] == {"store": "local", "on_store_error": "open"}
    shared = {"enabled": True, "ttl_s": 300, "store": "redis", "redis_url_env": "REDIS_URL"}
    assert config["answer_cache"] == shared
    assert default["answer_cache"] == {"enabled": True, "ttl_s": 300, "store": "local"}
    no_milvus = yaml.safe_load(gateway_config(render({"postgres": {"urlSecret": "pg"}})))
    assert no_milvus["sessions"]["long_term_memory"] is False  # it would live in a per-pod file


@pytest.mark.parametrize("example", EXAMPLES)
def test_rendered_config_passes_config_check(example: str, tmp_path: Path) -> None:
    docs = render(EXAMPLES[example])
    config = tmp_path / "inferstack.yaml"
    config.write_text(gateway_config(docs))
    tenants = [
        t["name"] for t in (EXAMPLES[example].get("gateway", {}).get("tenants") or [{"name": "default"}])
    ]
    keys = {f"INFERSTACK_KEY_{t.upper().replace('-', '_')}": f"sk-{t}" for t in tenants}
    command = [sys.executable, "-m", "inferstack.cli", "config", "check", str(config)]
    ok = subprocess.run(command, env={**keys, "INFERSTACK_MANAGED_API_KEY": "sk-m", "PATH": ""},
                        capture_output=True, text=True, check=False)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "OK (bind 0.0.0.0:8000" in ok.stdout
    missing = subprocess.run(command, env={"PATH": ""}, capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "is empty" in missing.stderr  # keys come from the Secret


def test_the_gateway_sees_every_vllm_pod_through_a_headless_service() -> None:
    docs = render(EXAMPLES["production"])
    services = {d["metadata"]["name"]: d for d in by_kind(docs, "Service")}
    headless = services["rel-inferstack-vllm-llama-3-1-8b-pods"]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == services["rel-inferstack-vllm-llama-3-1-8b"]["spec"]["selector"]
    config = yaml.safe_load(gateway_config(docs))
    serve = next(m for m in config["models"] if m["name"] == "llama-3-1-8b")["serve"]
    assert serve["base_url"] == "http://rel-inferstack-vllm-llama-3-1-8b-pods:8000/v1" and serve["resolve"]
    placement = config["router"]["placement"]
    assert placement == {"policy": "prefix-aware", "store": "redis", "redis_url_env": "REDIS_URL"}
    (monitor,) = by_kind(docs, "ServiceMonitor")  # the pods are scraped once, not via both Services
    assert monitor["spec"]["selector"]["matchExpressions"] == [
        {"key": "inferstack.io/headless", "operator": "DoesNotExist"}
    ]
    shared = yaml.safe_load(gateway_config(render({"router": {"placement": {"perPod": False}}})))
    assert shared["models"][0]["serve"]["base_url"] == "http://rel-inferstack-vllm-llama-3-1-8b:8000/v1"
    assert "resolve" not in shared["models"][0]["serve"] and shared["router"]["placement"]["store"] == "local"


def test_keys_never_land_in_the_config_map() -> None:
    docs = render(EXAMPLES["dev-1gpu"])
    assert "sk-dev-change-me" not in gateway_config(docs)
    (secret,) = by_kind(docs, "Secret")
    assert base64.b64decode(secret["data"]["dev"]).decode() == "sk-dev-change-me"
    generated = by_kind(render({}), "Secret")[0]["data"]["default"]
    assert len(base64.b64decode(generated)) == 40  # no key given: a random one, kept on upgrade


def test_network_policy_lets_only_the_gateway_reach_vllm() -> None:
    (policy,) = by_kind(render({}), "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "vllm"
    sources = policy["spec"]["ingress"][0]["from"]
    assert sources[0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    assert sources[1] == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"vllm": {"models": [{"name": "Bad_Name", "source": "x"}]}}, "/vllm/models/0/name"),
        ({"vllm": {"models": [{"name": "ok", "source": "x", "gpus": "two"}]}}, "/vllm/models/0/gpus"),
        ({"router": {"policy": "fastest"}}, "/router/policy"),
        ({"gateway": {"tenants": []}}, "/gateway/tenants"),
        ({"replicaCount": 3}, "replicaCount"),
    ],
)
def test_values_schema_names_the_bad_key(values: dict[str, Any], path: str) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError) as error:
        chart.validate_schema(values)
    assert path in str(error.value)


def test_lint_has_no_errors() -> None:
    report = helm.lint(str(CHART))
    assert not report["errors"]
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    # The optional Milvus/Redis sub-charts are fetched by `helm dependency build`, not vendored.
    assert [m["error"] for m in problems] == ["chart directory is missing these dependencies: milvus,redis"]


def test_alerts_and_dashboard_use_metrics_the_gateway_exports() -> None:
    exported = {m.name for m in GatewayMetrics().registry.collect()}
    docs = render(EXAMPLES["production"])
    (rule,) = by_kind(docs, "PrometheusRule")
    (dashboard,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    exprs += [
        t["expr"] for p in json.loads(dashboard["data"]["inferstack.json"])["panels"] for t in p["targets"]
    ]
    used = {
        re.sub(r"_(total|bucket|count|sum)$", "", m) for e in exprs for m in re.findall(r"inferstack_\w+", e)
    }
    assert used and used <= exported, used - exported


def test_web_pages_and_an_admin_tenant_reach_the_gateway_config() -> None:
    values = {"gateway": {"tenants": [{"name": "web"}, {"name": "ops", "admin": True}], "webPages": False}}
    config = yaml.safe_load(gateway_config(render(values)))
    assert config["web_pages"] is False
    assert [(k["tenant"], k["admin"]) for k in config["auth"]["api_keys"]] == [("web", False), ("ops", True)]
    assert yaml.safe_load(gateway_config(render({})))["web_pages"] is True
