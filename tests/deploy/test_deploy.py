"""The deployment files (issue 14), checked offline: no Docker engine or
cluster is reachable here.

- every YAML file under docker/ passes yamllint (Debian's yamllint);
- the Kubernetes manifests validate against the Kubernetes 1.31 OpenAPI
  schemas bundled in kubernetes-validate (PyPI, in a virtualenv this test
  makes; strict: an unknown field fails);
- the KServe ServingRuntime and InferenceService validate against
  tests/deploy/kserve-crd-subset.schema.json (a closed subset of KServe's
  CRDs; its $comment names the source);
- the systemd unit passes `systemd-analyze verify` with nothing to say;
- the Dockerfile keeps the rules hadolint would check (no Debian package
  provides hadolint): pinned base images, --no-install-recommends with the
  apt lists removed, a non-root USER, HEALTHCHECK, EXPOSE, /data volume,
  and the build steps CI runs (scripts/install-deps.sh, cmake).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKER = os.path.join(ROOT, "docker")
BUILD = os.environ.get("BLOCKD_BUILD_DIR", os.path.join(ROOT, "build"))
BLOCKD = os.environ.get("BLOCKD_BIN", os.path.join(BUILD, "blockd"))
YAMLLINT_CONF = ("{extends: default, rules: {line-length: {max: 100}, "
                 "document-start: disable, comments: {min-spaces-from-content: 1}}}")


def yaml_files():
    out = []
    for d, _, files in os.walk(DOCKER):
        out += [os.path.join(d, f) for f in files
                if f.endswith((".yaml", ".yml"))]
    return sorted(out)


def venv_python():
    """A virtualenv of Debian's Python with kubernetes-validate, cached in
    the build dir. A failed install fails the test (CI has PyPI)."""
    venv = os.path.join(BUILD, "deploy-venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(venv, ".ok")):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv",
                        "--system-site-packages", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q",
                        "kubernetes-validate==1.31.0", "jsonschema>=4.18",
                        "referencing>=0.28"], check=True)
        open(os.path.join(venv, ".ok"), "w").close()
    return py


class Deploy(unittest.TestCase):
    def test_yamllint(self):
        files = yaml_files()
        self.assertGreaterEqual(len(files), 5, files)
        p = subprocess.run(["yamllint", "-s", "-f", "parsable", "-d",
                            YAMLLINT_CONF] + files,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_kubernetes_manifests(self):
        py = venv_python()
        k8s = [os.path.join(DOCKER, "k8s", f)
               for f in ("statefulset.yaml", "service.yaml")]
        p = subprocess.run([py, "-m", "kubernetes_validate", "-k", "1.31.0",
                            "--strict"] + k8s, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # It does fail on a misspelt field (the check is not a no-op).
        with open(k8s[0]) as f:
            bad = f.read().replace("readinessProbe:", "readynessProbe:")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as t:
            t.write(bad)
            t.flush()
            p = subprocess.run([py, "-m", "kubernetes_validate", "-k",
                                "1.31.0", "--strict", t.name],
                               capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        # The probes are the ones blockd answers while its workers are busy.
        ss = yaml.safe_load(open(k8s[0]))
        c = ss["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"],
                         "/v2/health/live")
        self.assertEqual(c["readinessProbe"]["httpGet"]["path"],
                         "/v2/health/ready")
        self.assertIn("nvidia.com/gpu", c["resources"]["limits"])
        env = {e["name"]: e.get("value") for e in c["env"]}
        self.assertIn("BLOCKD_ADMIN_TOKEN_FILE", env)
        # The grace period outlasts the drain.
        self.assertGreater(
            ss["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
            float(env["BLOCKD_DRAIN_TIMEOUT"]))

    def test_kserve_manifests(self):
        import jsonschema
        schema = json.load(open(os.path.join(os.path.dirname(__file__),
                                             "kserve-crd-subset.schema.json")))
        docs = {}
        for f in ("servingruntime.yaml", "inferenceservice.yaml"):
            doc = yaml.safe_load(open(os.path.join(DOCKER, "k8s", "kserve",
                                                   f)))
            jsonschema.validate(doc, schema)
            docs[doc["kind"]] = doc
        rt, isvc = docs["ServingRuntime"], docs["InferenceService"]
        self.assertIn("v2", rt["spec"]["protocolVersions"])
        model = isvc["spec"]["predictor"]["model"]
        self.assertEqual(model["runtime"], rt["metadata"]["name"])
        self.assertEqual(model["modelFormat"]["name"],
                         rt["spec"]["supportedModelFormats"][0]["name"])
        # The runtime's arguments are flags this blockd accepts: check them
        # with --check-config (the model name template filled in).
        args = [a.replace("{{.Name}}", "mlp")
                for a in rt["spec"]["containers"][0]["args"]]
        p = subprocess.run([BLOCKD, "--check-config"] + args,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("watch = mlp=/mnt/models/model.safetensors", p.stdout)
        bad = json.loads(json.dumps(rt))
        bad["spec"]["protocolVersion"] = ["v2"]
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)

    def test_compose(self):
        c = yaml.safe_load(open(os.path.join(DOCKER, "compose.yaml")))
        svc = c["services"]["blockd"]
        dev = svc["deploy"]["resources"]["reservations"]["devices"][0]
        self.assertEqual(dev["capabilities"], ["gpu"])
        self.assertIn("blockd_admin_token", svc["secrets"])
        self.assertEqual(svc["environment"]["BLOCKD_ADMIN_TOKEN_FILE"],
                         "/run/secrets/blockd_admin_token")
        self.assertIn("blockd-data:/data", svc["volumes"])
        self.assertEqual(svc["build"]["target"], "cuda")

    def test_systemd_unit(self):
        if not shutil.which("systemd-analyze"):
            self.fail("systemd-analyze missing (Debian package systemd)")
        tmp = tempfile.mkdtemp(prefix="blockd-unit-")
        try:
            src = open(os.path.join(DOCKER, "blockd.service")).read()
            # verify checks that ExecStart's program exists.
            unit = os.path.join(tmp, "blockd.service")
            with open(unit, "w") as f:
                f.write(src.replace("/usr/local/bin/blockd", BLOCKD))
            p = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                unit], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout + p.stderr, "")
            with open(unit, "w") as f:
                f.write(src.replace("/usr/local/bin/blockd", BLOCKD)
                        .replace("NoNewPrivileges", "NoNewPrivilegez"))
            p = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                unit], capture_output=True, text=True)
            self.assertIn("Unknown key", p.stdout + p.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for key in ("DynamicUser=yes", "ProtectSystem=strict",
                    "NoNewPrivileges=yes", "ReadWritePaths=",
                    "ExecReload=/bin/kill -HUP $MAINPID", "Restart="):
            self.assertIn(key, src)

    def test_dockerfile(self):
        src = open(os.path.join(DOCKER, "Dockerfile")).read()
        text = re.sub(r"\\\n", " ", src)
        stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)", text, re.M)
        self.assertEqual([s for _, s in stages],
                         ["build-cuda", "cuda", "build-cpu", "cpu"])
        for image, _ in stages:
            self.assertRegex(image, r":[^:]+$", "unpinned base image")
            self.assertNotIn(":latest", image)
        # Per final stage: everything an operator expects.
        for stage in ("cuda", "cpu"):
            body = re.split(r"^FROM .* AS %s$" % stage, text, flags=re.M)[1]
            body = re.split(r"^FROM ", body, flags=re.M)[0]
            for pat in (r"^USER blockd$", r"^HEALTHCHECK .*/v2/health/ready",
                        r"^EXPOSE 8080$", r'^VOLUME \["/data"\]$',
                        r'^ENTRYPOINT \["/opt/blockd/bin/blockd"\]'):
                self.assertTrue(re.search(pat, body, re.M), (stage, pat))
            self.assertIn("BLOCKD_DATA_DIR=/data", body)
        for run in re.findall(r"^RUN (.*)$", text, re.M):
            if "apt-get install" in run:
                self.assertIn("--no-install-recommends", run)
                self.assertIn("rm -rf /var/lib/apt/lists/*", run)
        builds = [r for r in re.findall(r"^RUN (.*)$", text, re.M)
                  if "cmake" in r]
        self.assertEqual(len(builds), 2)
        for b in builds:
            self.assertIn("scripts/install-deps.sh --build", b)
            self.assertIn("cmake --install", b)


if __name__ == "__main__":
    unittest.main()
