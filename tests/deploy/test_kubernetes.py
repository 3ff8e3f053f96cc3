"""deploy/kubernetes, checked offline: every resource (the base and the canary overlay, with
the ConfigMaps its generators make) against the Kubernetes schemas bundled by
kubernetes-validate (strict: unknown fields are errors); the ConfigMap's config loads as the
kubelet mounts it; the Deployment agrees with the config (ports, probes, drain, mounts).

The kustomization is rendered here by a small reader of the few kustomize features it uses
(resources, images, labels, configMapGenerator with `behavior: replace`), so no kustomize
binary is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from gwsupport import REPO

from shimgw.config import load_config
from shimgw.snapshot import build_snapshot

K8S = REPO / "deploy" / "kubernetes"
VERSION = "1.30.0"  # the oldest Kubernetes these manifests promise to work on
OVERLAYS = [K8S, K8S / "overlays" / "canary"]


def render(folder: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = (folder / resource).resolve()
        if path.is_dir():
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for generator in kustomization.get("configMapGenerator", []):
        made = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": generator["name"]},
            "data": {Path(f).name: (folder / f).read_text() for f in generator["files"]},
        }
        same = [
            d
            for d in docs
            if d["kind"] == "ConfigMap" and d["metadata"]["name"] == made["metadata"]["name"]
        ]
        if generator.get("behavior") == "replace":
            assert same, f"{generator['name']}: nothing to replace"
            docs.remove(same[0])
        docs.append(made)
    for image in kustomization.get("images", []):
        for container in containers(docs):
            if container["image"].split(":")[0] == image["name"]:
                container["image"] = f"{image['newName']}:{image['newTag']}"
    for label in kustomization.get("labels", []):
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
    return docs


def containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"]
    return [c for pod in pods for c in pod["containers"]]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


@pytest.mark.parametrize("folder", OVERLAYS, ids=["base", "canary"])
def test_every_resource_validates_against_the_kubernetes_schemas(folder: Path) -> None:
    docs = render(folder)
    assert {d["kind"] for d in docs} == {
        "Deployment",
        "Service",
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_validation_catches_a_wrong_field() -> None:
    deployment = one(render(K8S), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)


def test_the_optional_servicemonitor_scrapes_the_admin_service() -> None:
    monitor = yaml.safe_load((K8S / "optional" / "servicemonitor.yaml").read_text())
    admin = one(render(K8S), "Service", "shimgw-admin")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert wanted.items() <= admin["metadata"]["labels"].items()
    ports = {p["name"] for p in admin["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["admin"] and "admin" in ports


def test_the_translations_configmap_is_the_repositorys() -> None:
    ours = {p.name: p.read_text() for p in (REPO / "translations").glob("*.yaml")}
    data = one(render(K8S), "ConfigMap", "shimgw-translations")["data"]
    assert data == ours, (
        "deploy/kubernetes/translations differs from translations/: copy the files and list "
        "them in deploy/kubernetes/kustomization.yaml"
    )


def mount(root: Path, data: dict[str, str]) -> Path:
    """A ConfigMap volume as the kubelet lays it out: a timestamped folder, a `..data`
    symlink to it, and one symlink per key through `..data`."""
    root.mkdir(parents=True)
    (root / "..2026_11_28_04_00_00.1").mkdir()
    for key, text in data.items():
        (root / "..2026_11_28_04_00_00.1" / key).write_text(text)
    os.symlink("..2026_11_28_04_00_00.1", root / "..data")
    for key in data:
        os.symlink(f"..data/{key}", root / key)
    return root


@pytest.mark.parametrize("folder", OVERLAYS, ids=["base", "canary"])
def test_the_configmaps_load_as_mounted(folder: Path, tmp_path: Path) -> None:
    docs = render(folder)
    config_text = one(docs, "ConfigMap", "shimgw-config")["data"]["shimgw.yaml"]
    etc = tmp_path / "etc" / "shimgw"
    mount(etc / "translations", one(docs, "ConfigMap", "shimgw-translations")["data"])
    config_dir = mount(
        etc / "config", {"shimgw.yaml": config_text.replace("/etc/shimgw/", f"{etc}/")}
    )
    snapshot = build_snapshot(load_config(config_dir / "shimgw.yaml"))
    assert snapshot.config.translations == (etc / "translations").resolve()
    assert "getJob" in snapshot.operations


@pytest.mark.parametrize("folder", OVERLAYS, ids=["base", "canary"])
def test_the_deployment_agrees_with_the_config(folder: Path) -> None:
    docs = render(folder)
    config = yaml.safe_load(one(docs, "ConfigMap", "shimgw-config")["data"]["shimgw.yaml"])
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": config["listen"]["port"], "admin": config["admin"]["port"]}
    assert config["admin"]["host"] == "0.0.0.0"  # the kubelet probes the pod IP
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    shutdown = config["shutdown"]
    assert pod["terminationGracePeriodSeconds"] > shutdown["drain_s"] + shutdown["grace_s"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert all("subPath" not in m for m in mounts.values())  # subPath mounts never update
    config_file = container["args"][container["args"].index("--config") + 1]
    assert Path(config_file).parent == Path(mounts["config"]["mountPath"])
    assert config["translations"] == mounts["translations"]["mountPath"]
    assert container["image"] == "registry.example.com/shimgw:0.1.0"


def test_the_canary_overlay_changes_only_the_weights() -> None:
    base = yaml.safe_load(one(render(K8S), "ConfigMap", "shimgw-config")["data"]["shimgw.yaml"])
    canary = yaml.safe_load(
        one(render(OVERLAYS[1]), "ConfigMap", "shimgw-config")["data"]["shimgw.yaml"]
    )
    weights = {n: u.pop("weight") for n, u in canary["upstreams"].items()}
    for upstream in base["upstreams"].values():
        upstream.pop("weight")
    assert weights == {"stable": 95, "canary": 5} and canary == base
