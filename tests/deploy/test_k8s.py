#!/usr/bin/env python3
"""The Kubernetes manifests (deployment/k8s): the base and the example
overlay rendered with `kubectl kustomize` (Debian's kubernetes-client), every
object checked strictly (k8s_check.py: required fields, probes, security
contexts, resources, references), and the checker itself shown to catch
each kind of mistake on altered copies."""
import copy
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import k8s_check  # noqa: E402

SRC = os.path.abspath(os.environ.get("HUB_SOURCE", os.path.join(HERE, "..", "..")))
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(ok, why):
    if ok:
        return
    if CI:
        raise AssertionError(why + " (CI=true: the Kubernetes test must run)")
    raise unittest.SkipTest(why)


class Kustomize(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # HUB_KUBECTL picks another one (the manifests are written for
        # kustomize 2.0, kubectl 1.20 of Debian 12, and later)
        cls.kubectl = os.environ.get("HUB_KUBECTL") or shutil.which("kubectl")
        need(cls.kubectl, "kubectl not found (Debian package kubernetes-client)")
        try:
            import yaml  # noqa: F401
        except ImportError:
            need(False, "python3-yaml not installed")

    def render(self, rel):
        import yaml
        r = subprocess.run([self.kubectl, "kustomize", os.path.join(SRC, "deployment/k8s", rel)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [o for o in yaml.safe_load_all(r.stdout) if o is not None]

    def kinds(self, objs):
        return sorted("%s/%s" % (o["kind"], o["metadata"]["name"]) for o in objs)

    def test_base(self):
        objs = self.render("base")
        self.assertEqual(self.kinds(objs), [
            "ConfigMap/hub-config", "Deployment/api", "Deployment/worker",
            "HorizontalPodAutoscaler/api", "PersistentVolumeClaim/hub-data", "PodDisruptionBudget/api",
            "ScaledObject/worker", "Secret/hub-secrets", "Service/api", "Service/redis", "Service/zdb",
            "StatefulSet/redis", "StatefulSet/zdb"])
        self.assertEqual(k8s_check.check(objs), [])

    def test_overlay_example(self):
        objs = self.render("overlays/example")
        self.assertEqual(k8s_check.check(objs), [])
        by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
        self.assertTrue(all(o["metadata"].get("namespace") == "flist-hub"
                            for o in objs if o["kind"] != "Namespace"))
        api = by[("Deployment", "api")]
        self.assertEqual(api["spec"]["replicas"], 3)
        self.assertEqual(api["spec"]["template"]["spec"]["containers"][0]["image"],
                         "registry.example.org/flist-hub/api:0.1.0")
        # the overlay's secret replaced the base's placeholder, and the pods use it
        import base64
        secrets = [o for o in objs if o["kind"] == "Secret"]
        self.assertEqual(len(secrets), 1)
        data = secrets[0].get("data") or {}
        self.assertEqual(base64.b64decode(data["HUB_THREEBOT_SEED"]).decode(), "0" * 64)
        refs = [ef["secretRef"]["name"] for ef in api["spec"]["template"]["spec"]["containers"][0]["envFrom"]
                if "secretRef" in ef]
        self.assertEqual(refs, [secrets[0]["metadata"]["name"]])
        self.assertEqual(by[("Service", "zdb-public")]["spec"]["type"], "LoadBalancer")

    def test_checker_catches_mistakes(self):
        base = self.render("base")

        def broken(mutate):
            objs = copy.deepcopy(base)
            by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
            mutate(by, objs)
            return " | ".join(k8s_check.check(objs))

        api = lambda by: by[("Deployment", "api")]["spec"]["template"]["spec"]["containers"][0]  # noqa: E731
        cases = [
            (lambda by, o: api(by).pop("readinessProbe"), "readinessProbe missing"),
            (lambda by, o: api(by)["livenessProbe"]["httpGet"].update(path="/"), "livenessProbe must GET /healthz"),
            (lambda by, o: api(by)["securityContext"].update(readOnlyRootFilesystem=False), "readOnlyRootFilesystem"),
            (lambda by, o: api(by)["securityContext"].pop("allowPrivilegeEscalation"), "allowPrivilegeEscalation"),
            (lambda by, o: api(by)["resources"].pop("limits"), "resources.limits.cpu missing"),
            (lambda by, o: by[("Deployment", "worker")]["spec"]["template"]["spec"]["securityContext"]
             .update(runAsNonRoot=False), "runAsNonRoot"),
            (lambda by, o: by[("StatefulSet", "redis")]["spec"]["template"]["spec"]["containers"][0]
             .update(args=["redis-server"]), "append-only"),
            (lambda by, o: by[("PersistentVolumeClaim", "hub-data")]["spec"].update(accessModes=["ReadWriteOnce"]),
             "ReadWriteMany"),
            (lambda by, o: by[("Service", "api")]["spec"]["selector"].update({"app.kubernetes.io/component": "x"}),
             "matches no workload"),
            (lambda by, o: by[("ScaledObject", "worker")]["spec"]["triggers"][0]["metadata"]
             .update(addressFromEnv="NOPE"), "addressFromEnv NOPE"),
            (lambda by, o: by[("HorizontalPodAutoscaler", "api")]["spec"]["scaleTargetRef"].update(name="ghost"),
             "scaleTargetRef"),
            (lambda by, o: by[("Deployment", "api")]["spec"]["template"]["metadata"]["annotations"]
             .pop("prometheus.io/scrape"), "Prometheus"),
            (lambda by, o: o.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}), "unknown"),
            (lambda by, o: o.remove(by[("ConfigMap", "hub-config")]), "envFrom ConfigMap 'hub-config'"),
        ]
        for mutate, expect in cases:
            self.assertIn(expect, broken(mutate))


if __name__ == "__main__":
    unittest.main(verbosity=2)
