"""k8s_check.py - a strict structural check of the Kubernetes objects the
hub ships (deployment/k8s, rendered by `kubectl kustomize`): the fields each
kind needs, and the project's rules (probes, security contexts, resources,
Prometheus annotations, references between objects that must resolve).

    problems = check(objects)    # [] when everything holds

Only the kinds the hub uses are known; any other kind is a problem.
"""

KNOWN = {
    ("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
    ("policy/v1", "PodDisruptionBudget"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("keda.sh/v1alpha1", "ScaledObject"),
}
QUANTITY_KEYS = ("cpu", "memory")


class Checker:
    def __init__(self, objects):
        self.objects = objects
        self.problems = []
        self.by_kind = {}
        for o in objects:
            if isinstance(o, dict):
                self.by_kind.setdefault(o.get("kind"), {})[(o.get("metadata") or {}).get("name")] = o

    def bad(self, obj, msg):
        md = obj.get("metadata") or {} if isinstance(obj, dict) else {}
        self.problems.append("%s/%s: %s" % (obj.get("kind") if isinstance(obj, dict) else "?",
                                            md.get("name"), msg))

    def need(self, obj, d, path, types=None):
        """The value at dotted path below d, or a problem (and None)."""
        cur = d
        for part in path.split("."):
            if not isinstance(cur, dict) or part not in cur:
                self.bad(obj, "missing %s" % path)
                return None
            cur = cur[part]
        if types and not isinstance(cur, types):
            self.bad(obj, "%s: expected %s, got %r" % (path, types, cur))
            return None
        return cur

    # ---- per kind ----
    def run(self):
        namespaces = set()
        for o in self.objects:
            if not isinstance(o, dict):
                self.problems.append("not an object: %r" % (o,))
                continue
            key = (o.get("apiVersion"), o.get("kind"))
            if key not in KNOWN:
                self.bad(o, "unknown apiVersion/kind %s/%s" % key)
                continue
            name = self.need(o, o, "metadata.name", str)
            if name is not None and not name.replace("-", "").isalnum():
                self.bad(o, "invalid name %r" % name)
            if o["kind"] != "Namespace":
                namespaces.add((o.get("metadata") or {}).get("namespace"))
                labels = (o.get("metadata") or {}).get("labels") or {}
                if labels.get("app.kubernetes.io/name") != "flist-hub":
                    self.bad(o, "label app.kubernetes.io/name=flist-hub missing")
            getattr(self, "check_" + o["kind"], lambda _o: None)(o)
        if len(namespaces) > 1:
            self.problems.append("objects in several namespaces: %s" % sorted(map(str, namespaces)))
        return self.problems

    def check_ConfigMap(self, o):
        data = self.need(o, o, "data", dict) or {}
        for k, v in data.items():
            if not isinstance(v, str):
                self.bad(o, "data.%s is not a string" % k)

    def check_Secret(self, o):
        if not isinstance(o.get("data") or o.get("stringData"), dict):
            self.bad(o, "no data or stringData")

    def check_PersistentVolumeClaim(self, o):
        modes = self.need(o, o, "spec.accessModes", list) or []
        if o["metadata"]["name"] == "hub-data" and modes != ["ReadWriteMany"]:
            self.bad(o, "the repository volume must be ReadWriteMany, not %s" % modes)
        self.need(o, o, "spec.resources.requests.storage", str)

    def workload_labels(self):
        out = []
        for kind in ("Deployment", "StatefulSet"):
            for n, w in self.by_kind.get(kind, {}).items():
                out.append((kind, n, ((w.get("spec") or {}).get("template") or {}).get("metadata", {})
                            .get("labels") or {}, w))
        return out

    def selects(self, selector, labels):
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    def check_Service(self, o):
        sel = self.need(o, o, "spec.selector", dict) or {}
        targets = [w for w in self.workload_labels() if self.selects(sel, w[2])]
        if not targets:
            self.bad(o, "selector %s matches no workload" % sel)
        ports = self.need(o, o, "spec.ports", list) or []
        if not ports:
            self.bad(o, "no ports")
        for p in ports:
            if not isinstance(p, dict) or not isinstance(p.get("port"), int):
                self.bad(o, "port without a number: %r" % (p,))
                continue
            tp = p.get("targetPort", p["port"])
            for _, wname, _, w in targets:
                names = {cp.get("name") for c in w["spec"]["template"]["spec"].get("containers", [])
                         for cp in c.get("ports", [])}
                nums = {cp.get("containerPort") for c in w["spec"]["template"]["spec"].get("containers", [])
                        for cp in c.get("ports", [])}
                if tp not in names and tp not in nums:
                    self.bad(o, "targetPort %r is not a port of %s" % (tp, wname))

    def check_pod(self, o, spec, probes_http):
        tmpl = self.need(o, spec, "template", dict) or {}
        labels = ((tmpl.get("metadata") or {}).get("labels")) or {}
        sel = self.need(o, spec, "selector.matchLabels", dict) or {}
        if not self.selects(sel, labels):
            self.bad(o, "selector %s does not match the template's labels %s" % (sel, labels))
        pod = self.need(o, tmpl, "spec", dict) or {}
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            self.bad(o, "pod securityContext.runAsNonRoot must be true")
        if not isinstance(psc.get("runAsUser"), int) or psc.get("runAsUser") == 0:
            self.bad(o, "pod securityContext.runAsUser must be a non-zero uid")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            self.bad(o, "pod seccompProfile must be RuntimeDefault")
        volumes = {v.get("name"): v for v in pod.get("volumes") or []}
        claims = {((t.get("metadata") or {}).get("name")) for t in spec.get("volumeClaimTemplates") or []}
        containers = self.need(o, pod, "containers", list) or []
        if not containers:
            self.bad(o, "no containers")
        for c in containers:
            cn = c.get("name")
            if not cn or not c.get("image"):
                self.bad(o, "a container without name or image")
            for q in ("requests", "limits"):
                for k in QUANTITY_KEYS:
                    if not isinstance(((c.get("resources") or {}).get(q) or {}).get(k), str):
                        self.bad(o, "container %s: resources.%s.%s missing" % (cn, q, k))
            sc = c.get("securityContext") or {}
            if sc.get("allowPrivilegeEscalation") is not False:
                self.bad(o, "container %s: allowPrivilegeEscalation must be false" % cn)
            if sc.get("readOnlyRootFilesystem") is not True:
                self.bad(o, "container %s: readOnlyRootFilesystem must be true" % cn)
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                self.bad(o, "container %s: capabilities.drop must hold ALL" % cn)
            if sc.get("privileged"):
                self.bad(o, "container %s: privileged" % cn)
            for probe in ("livenessProbe", "readinessProbe"):
                p = c.get(probe)
                if not isinstance(p, dict) or not any(k in p for k in ("httpGet", "exec", "tcpSocket")):
                    self.bad(o, "container %s: %s missing" % (cn, probe))
            for probe, path in (probes_http or {}).items():
                got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                if got != path:
                    self.bad(o, "container %s: %s must GET %s, not %r" % (cn, probe, path, got))
            for m in c.get("volumeMounts") or []:
                if m.get("name") not in volumes and m.get("name") not in claims:
                    self.bad(o, "container %s mounts undeclared volume %r" % (cn, m.get("name")))
            for ef in c.get("envFrom") or []:
                for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if ref in ef and ef[ref].get("name") not in self.by_kind.get(kind, {}):
                        self.bad(o, "container %s: envFrom %s %r does not exist" % (cn, kind, ef[ref].get("name")))
            # a read-only root needs a writable /tmp
            if sc.get("readOnlyRootFilesystem") and o["metadata"]["name"] in ("api", "worker"):
                if "/tmp" not in [m.get("mountPath") for m in c.get("volumeMounts") or []]:
                    self.bad(o, "container %s: read-only root without a /tmp volume" % cn)
        for v in volumes.values():
            pvc = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if pvc and pvc not in self.by_kind.get("PersistentVolumeClaim", {}):
                self.bad(o, "volume %s: claim %r does not exist" % (v.get("name"), pvc))
        return tmpl, containers

    def check_Deployment(self, o):
        name = o["metadata"]["name"]
        spec = self.need(o, o, "spec", dict) or {}
        if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 1:
            self.bad(o, "spec.replicas must be a positive integer")
        probes = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"} if name == "api" else None
        tmpl, containers = self.check_pod(o, spec, probes)
        if name == "api":
            ann = (tmpl.get("metadata") or {}).get("annotations") or {}
            if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/path") != "/metrics":
                self.bad(o, "Prometheus scrape annotations missing")
            ports = {str(p.get("containerPort")) for c in containers for p in c.get("ports") or []}
            if ann.get("prometheus.io/port") not in ports:
                self.bad(o, "prometheus.io/port %r is not a container port" % ann.get("prometheus.io/port"))

    def check_StatefulSet(self, o):
        spec = self.need(o, o, "spec", dict) or {}
        svc = self.by_kind.get("Service", {}).get(spec.get("serviceName"))
        if not svc or (svc.get("spec") or {}).get("clusterIP") != "None":
            self.bad(o, "serviceName %r is not a headless Service" % spec.get("serviceName"))
        if not spec.get("volumeClaimTemplates"):
            self.bad(o, "no volumeClaimTemplates: its data would not persist")
        _, containers = self.check_pod(o, spec, None)
        if o["metadata"]["name"] == "redis":
            args = " ".join(str(a) for c in containers for a in (c.get("args") or []) + (c.get("command") or []))
            if "--appendonly yes" not in args:
                self.bad(o, "Redis without the append-only file (--appendonly yes)")

    def target_deployment(self, o, ref):
        if not isinstance(ref, dict) or ref.get("kind", "Deployment") != "Deployment" or \
                ref.get("name") not in self.by_kind.get("Deployment", {}):
            self.bad(o, "scaleTargetRef %r is not a Deployment here" % (ref,))
            return None
        return self.by_kind["Deployment"][ref["name"]]

    def check_PodDisruptionBudget(self, o):
        spec = self.need(o, o, "spec", dict) or {}
        if ("minAvailable" in spec) == ("maxUnavailable" in spec):
            self.bad(o, "exactly one of minAvailable, maxUnavailable")
        sel = self.need(o, spec, "selector.matchLabels", dict) or {}
        if not any(self.selects(sel, w[2]) for w in self.workload_labels()):
            self.bad(o, "selector matches no workload")

    def check_HorizontalPodAutoscaler(self, o):
        spec = self.need(o, o, "spec", dict) or {}
        self.target_deployment(o, spec.get("scaleTargetRef"))
        lo, hi = spec.get("minReplicas", 1), spec.get("maxReplicas")
        if not isinstance(hi, int) or not isinstance(lo, int) or not 1 <= lo <= hi:
            self.bad(o, "minReplicas/maxReplicas invalid: %r/%r" % (lo, hi))
        if not spec.get("metrics"):
            self.bad(o, "no metrics")

    def check_ScaledObject(self, o):
        spec = self.need(o, o, "spec", dict) or {}
        dep = self.target_deployment(o, spec.get("scaleTargetRef"))
        triggers = self.need(o, spec, "triggers", list) or []
        if not triggers:
            self.bad(o, "no triggers")
        for t in triggers:
            md = t.get("metadata") or {}
            if t.get("type") != "redis-streams":
                self.bad(o, "trigger type %r: the workers scale on the job stream" % t.get("type"))
                continue
            if md.get("stream") != "hub:jobs" or md.get("consumerGroup") != "workers":
                self.bad(o, "trigger must watch stream hub:jobs, group workers")
            if not any(k in md for k in ("lagCount", "pendingEntriesCount", "streamLength")):
                self.bad(o, "trigger without a target count")
            env = md.get("addressFromEnv")
            if not env and not md.get("address") and not md.get("host"):
                self.bad(o, "trigger without a Redis address")
            if env and dep:
                names = set()
                for c in dep["spec"]["template"]["spec"]["containers"]:
                    names |= {e.get("name") for e in c.get("env") or []}
                    for ef in c.get("envFrom") or []:
                        cm = self.by_kind.get("ConfigMap", {}).get((ef.get("configMapRef") or {}).get("name"))
                        names |= set((cm or {}).get("data", {}) or {})
                if env not in names:
                    self.bad(o, "addressFromEnv %s is not an environment variable of %s" %
                             (env, dep["metadata"]["name"]))


def check(objects):
    return Checker(objects).run()
