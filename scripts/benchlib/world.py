"""A temporary home with S sso-sessions x R role profiles, the emulator and the agent, all on
loopback; the agent keeps its tokens in the real Secret Service of scripts/with-keyring."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from . import timing


class World:
    def __init__(self, bin_dir, sessions, roles, cli_cache=False):
        self.bin = bin_dir / "sso-agent"
        self.helper = bin_dir / "sso-agent-credential-process"
        self.root = Path(tempfile.mkdtemp(prefix="sso-agent-bench-"))
        self.home = self.root / "home"
        (self.home / ".aws").mkdir(parents=True)
        self.socket = self.root / "run" / "agent.sock"
        fixture = {"accounts": [{"account_id": "111122223333", "account_name": "bench",
                                 "email_address": "bench@example.com",
                                 "roles": [f"Role{n:04}" for n in range(roles)]}]}
        (self.root / "fixture.json").write_text(json.dumps(fixture))
        self.emulator = subprocess.Popen([self.bin, "emulator", "--fixture", self.root / "fixture.json"],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.endpoint = self.emulator.stdout.readline().strip().removeprefix("listening on ")
        self.control("PUT", "/_emulator/scenario", {"auto_approve_after_polls": 1})
        stamp = time.time_ns()
        self.sessions = [f"bench{n}-{stamp}" for n in range(sessions)]
        self.roles = roles
        lines = []
        for s, session in enumerate(self.sessions):
            lines += [f"[sso-session {session}]", "sso_start_url = https://bench.awsapps.com/start",
                      "sso_region = us-east-1"]
            # Session 0 exports the AWS CLI's token cache, which the clients' own SSO paths read.
            lines += ["sso_agent_cli_cache = true", ""] if cli_cache and s == 0 else [""]
            for r in range(roles):
                lines += [f"[profile s{s}-r{r}]", f"sso_session = {session}",
                          "sso_account_id = 111122223333", f"sso_role_name = Role{r:04}", ""]
        # What SDKs use: a profile with credential_process only (SDKs prefer sso_* keys over it).
        lines += ["[profile use-s0-r0]", f"credential_process = {self.helper} --profile s0-r0", ""]
        self.config_file = self.home / ".aws" / "config"
        self.config_file.write_text("\n".join(lines))
        self.env = dict(os.environ, HOME=str(self.home), AWS_CONFIG_FILE=str(self.config_file),
                        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                        SSO_AGENT_SOCKET=str(self.socket), AWS_ENDPOINT_URL_SSO_OIDC=self.endpoint,
                        AWS_ENDPOINT_URL_SSO=self.endpoint, SSO_AGENT_STORE="secret-service",
                        SSO_AGENT_NO_AUTOSTART="1", SSO_AGENT_LOG="warn",
                        # No terminal here: the emulator approves the logins, so wait for them.
                        SSO_AGENT_LOGIN_WAIT="always")
        self.env.pop("AWS_PROFILE", None)
        self.agent = None

    def profiles(self, session):
        return [f"s{session}-r{r}" for r in range(self.roles)]

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request) as answer:
            return json.loads(answer.read() or b"null")

    def calls(self, operation):
        return sum(1 for call in self.control("GET", "/_emulator/log")["calls"]
                   if call["operation"] == operation)

    def start_agent(self):
        """Starts the agent; returns seconds from spawn to its first answered `status`."""
        started = time.perf_counter()
        self.agent = subprocess.Popen([self.bin, "daemon"], env=self.env, stdout=subprocess.DEVNULL,
                                      stderr=open(self.root / "agent.log", "a"))
        while True:
            done = subprocess.run([self.bin, "status", "--json"], env=self.env, capture_output=True)
            if done.returncode == 0:
                return time.perf_counter() - started
            if time.perf_counter() - started > 30:
                sys.exit("the agent did not start: " + (self.root / "agent.log").read_text())
            time.sleep(0.002)

    def stop_agent(self):
        self.agent.terminate()
        self.agent.wait()

    def status(self):
        return json.loads(self.run([self.bin, "status", "--json"]).stdout)

    def run(self, command):
        return subprocess.run(command, check=True, capture_output=True, text=True, env=self.env)

    def container_grant(self, profile):
        """`ecs-env`'s endpoint URL and token for `profile`, granted for an hour."""
        exports = self.run([self.bin, "ecs-env", "--profile", profile, "--ttl", "1h"]).stdout
        grant = dict(line.removeprefix("export ").split("=", 1) for line in exports.splitlines()
                     if line.startswith("export "))
        return tuple(grant[k].strip("'") for k in ("AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                                   "AWS_CONTAINER_AUTHORIZATION_TOKEN"))

    def memory(self):
        return timing.memory_kib(self.agent.pid)

    def peak_rss_kib(self):
        for line in Path(f"/proc/{self.agent.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    def credentials(self, profile):
        return self.run([self.bin, "credential-process", "--profile", profile]).stdout

    def loadgen(self, loadgen, connections, per_connection, profiles, socket=None):
        out = self.run([loadgen, socket or self.socket, str(connections), str(per_connection), *profiles])
        return json.loads(out.stdout)

    def close(self):
        if self.agent and self.agent.poll() is None:
            subprocess.run([self.bin, "logout", "--all"], env=self.env, capture_output=True)
            self.stop_agent()
        self.emulator.terminate()
        self.emulator.wait()
        shutil.rmtree(self.root, ignore_errors=True)
