"""Configuration (issue 12, DESIGN §6): flags override BLOCKD_*
environment variables, which override the config file (--config or
BLOCKD_CONFIG), which overrides the defaults; a repeatable setting given
in a layer replaces the lower layers' list; --check-config prints the
effective configuration as a config file and exits 0, or exits 2 with a
message that names the file and line of an unknown key or bad value."""
import os
import shutil
import subprocess
import tempfile
import unittest

from blockd_testlib import BLOCKD_BIN, Daemon


def clean_env(**extra):
    """The environment without any BLOCKD_* setting, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BLOCKD_") or k in (
               "BLOCKD_BIN", "BLOCKD_TESTHOOKS_BIN", "BLOCKD_BUILD_DIR")}
    env.update(extra)
    return env


def effective(text):
    """--check-config output -> {key: [values]}."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, val = line.partition("=")
        out.setdefault(key.strip(), []).append(val.strip())
    return out


class Config(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="blockd-config-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, text, name="blockd.conf"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_blockd(self, *args, env=None):
        return subprocess.run([BLOCKD_BIN] + list(args), capture_output=True,
                              text=True, timeout=60,
                              env=clean_env(**(env or {})))

    def check(self, *args, env=None):
        p = self.run_blockd("--check-config", *args, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        return effective(p.stdout), p.stdout

    def test_defaults(self):
        eff, _ = self.check()
        self.assertEqual(eff["listen"], ["127.0.0.1:8080"])
        self.assertEqual(eff["data-dir"], ["./blockd-data"])
        self.assertEqual(eff["device"], ["auto"])
        self.assertEqual(eff["log-format"], ["text"])
        self.assertEqual(eff["max-body"], ["64M"])
        self.assertNotIn("plugin", eff)
        self.assertNotIn("log-file", eff)

    def test_flags_over_env_over_file_over_defaults(self):
        conf = self.write("# blockd settings\n"
                          "\n"
                          "threads = 3\n"
                          "max-depth = 10\n"
                          "  log-level=debug  \n"
                          "idle-timeout = 11\n")
        env = {"BLOCKD_THREADS": "5", "BLOCKD_MAX_DEPTH": "20"}
        eff, out = self.check("--config", conf, "--threads", "7", env=env)
        self.assertEqual(eff["threads"], ["7"])         # flag over env, file
        self.assertEqual(eff["max-depth"], ["20"])      # env over file
        self.assertEqual(eff["log-level"], ["debug"])   # file over default
        self.assertEqual(eff["idle-timeout"], ["11"])
        self.assertEqual(eff["max-elements"], ["67108864"])  # default
        self.assertIn("# from flag --threads\nthreads = 7\n", out)
        self.assertIn("# from environment BLOCKD_MAX_DEPTH\nmax-depth = 20\n",
                      out)
        self.assertIn("# from config file %s:5 (log-level)\n" % conf, out)
        # BLOCKD_CONFIG names the file when --config does not.
        eff, _ = self.check(env={"BLOCKD_CONFIG": conf})
        self.assertEqual(eff["threads"], ["3"])
        # --config wins over BLOCKD_CONFIG.
        other = self.write("threads = 9\n", "other.conf")
        eff, _ = self.check("--config", other, env={"BLOCKD_CONFIG": conf})
        self.assertEqual(eff["threads"], ["9"])
        self.assertEqual(eff["max-depth"], ["64"])

    def test_lists_are_replaced_by_a_higher_layer(self):
        conf = self.write("plugin = /a.so\nplugin = /b.so\n"
                          "device-budget = cpu=1G\n")
        eff, _ = self.check("--config", conf)
        self.assertEqual(eff["plugin"], ["/a.so", "/b.so"])
        self.assertEqual(eff["device-budget"], ["cpu=1G"])
        eff, _ = self.check("--config", conf,
                            env={"BLOCKD_PLUGINS": "/c.so:/d.so"})
        self.assertEqual(eff["plugin"], ["/c.so", "/d.so"])
        self.assertEqual(eff["device-budget"], ["cpu=1G"])
        eff, _ = self.check("--config", conf, "--plugin", "/e.so",
                            env={"BLOCKD_PLUGINS": "/c.so"})
        self.assertEqual(eff["plugin"], ["/e.so"])
        conf = self.write("watch = a=/x.safetensors\nwatch = b=/y.pt\n",
                          "watch.conf")
        eff, _ = self.check("--config", conf)
        self.assertEqual(eff["watch"], ["a=/x.safetensors", "b=/y.pt"])
        eff, _ = self.check("--config", conf, env={"BLOCKD_WATCH": "c=/z,d=/w"})
        self.assertEqual(eff["watch"], ["c=/z", "d=/w"])

    def test_check_config_output_is_a_config_file(self):
        conf = self.write("threads = 3\nlog-format = json\nplugin = /p.so\n")
        _, out = self.check("--config", conf, "--max-body", "1M",
                            env={"BLOCKD_IDLE_TIMEOUT": "12"})
        again = self.write(out, "again.conf")
        eff2, _ = self.check("--config", again)
        self.assertEqual(eff2, effective(out))

    def errors(self, text, *args, env=None):
        conf = self.write(text)
        p = self.run_blockd("--check-config", "--config", conf, *args,
                            env=env)
        self.assertEqual(p.returncode, 2, (text, p.stdout, p.stderr))
        self.assertEqual(p.stdout, "")
        return conf, p.stderr

    def test_unknown_key_names_file_and_line(self):
        conf, err = self.errors("threads = 2\n# comment\nthreadz = 3\n")
        self.assertIn("%s:3: unknown key 'threadz'" % conf, err)
        # Actions are not settings.
        conf, err = self.errors("check-config = 1\n")
        self.assertIn("%s:1: unknown key 'check-config'" % conf, err)

    def test_bad_lines_and_values(self):
        conf, err = self.errors("threads = 2\njust words\n")
        self.assertIn("%s:2: expected 'key = value'" % conf, err)
        conf, err = self.errors("\nthreads = lots\n")
        self.assertIn("invalid value 'lots'", err)
        self.assertIn("%s:2 (threads)" % conf, err)
        conf, err = self.errors("log-format = xml\n")
        self.assertIn("%s:1 (log-format)" % conf, err)
        # Cross-setting checks apply to the merged result.
        conf, err = self.errors("max-connections = 10\n",
                                env={"BLOCKD_MAX_CONNECTIONS_PER_IP": "10"})
        self.assertIn("--max-connections-per-ip", err)
        # Environment and flags name themselves.
        _, err = self.errors("", env={"BLOCKD_THREADS": "0"})
        self.assertIn("BLOCKD_THREADS", err)
        _, err = self.errors("", "--log-format", "yaml")
        self.assertIn("--log-format", err)

    def test_missing_config_file(self):
        p = self.run_blockd("--check-config", "--config",
                            os.path.join(self.tmp, "absent.conf"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("absent.conf", p.stderr)

    def test_daemon_runs_with_the_file(self):
        conf = self.write("max-body = 100\nlog-format = json\n")
        with Daemon("--config", conf, env={"BLOCKD_MAX_BODY": ""}) as d:
            r = d.post("/v1/models", {"name": "x" * 200, "block": {}})
            self.assertEqual(r.status_code, 413)
            self.assertEqual(d.get("/v1/health").status_code, 200)

    def test_help_lists_every_setting_with_its_variable(self):
        p = self.run_blockd("--help")
        self.assertEqual(p.returncode, 0)
        eff, _ = self.check()
        for key in eff:
            self.assertIn("--" + key, p.stdout)
        for key in ("log-file", "plugin", "device-budget"):
            self.assertIn("--" + key, p.stdout)
        for var in ("BLOCKD_LISTEN", "BLOCKD_LOG_FORMAT", "BLOCKD_LOG_FILE",
                    "BLOCKD_PLUGINS", "BLOCKD_CONFIG"):
            self.assertIn(var, p.stdout)
        self.assertIn("--check-config", p.stdout)


if __name__ == "__main__":
    unittest.main()
