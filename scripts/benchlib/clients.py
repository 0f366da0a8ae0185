"""The clients a user would run instead of our helper, each next to the same client going
through it. Needs the World's session 0 logged in with `sso_agent_cli_cache = true`, so the AWS
CLI's token cache (~/.aws/sso/cache) is warm for the clients' native SSO paths."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
VENV = ROOT / "target" / "bench-venv"
START_URL = "https://bench.awsapps.com/start"


def venv():
    """aws-sso-util from PyPI, with the boto3 it pulls (a current one: Debian's botocore
    predates `AWS_ENDPOINT_URL_SSO`), in a venv of the bench's own, made once."""
    if not (VENV / "bin" / "aws-sso-util").exists():
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([VENV / "bin" / "pip", "install", "-q", "aws-sso-util"], check=True)
    return VENV / "bin"


def setup(world, release_dir, helper):
    """The comparison pairs: {name, ours, theirs, env, what}. Each side is run once here and
    must print credentials."""
    cache = world.home / ".aws" / "sso" / "cache"
    exported = cache / (hashlib.sha1(world.sessions[0].encode()).hexdigest() + ".json")
    if not exported.exists():
        raise SystemExit(f"the agent did not export the token cache to {exported}")
    # aws-sso-util reads a legacy profile (sso_start_url in the profile) and the token cached
    # under the start URL's SHA-1: the same login, as `aws-sso-util login` would leave it.
    legacy = cache / (hashlib.sha1(START_URL.encode()).hexdigest() + ".json")
    shutil.copyfile(exported, legacy)
    legacy.chmod(0o600)
    with open(world.config_file, "a") as config:
        config.write(f"\n[profile legacy-s0-r0]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
                     "sso_account_id = 111122223333\nsso_role_name = Role0000\n")
    boto3_script = ROOT / "scripts" / "boto3_helper.py"
    python = venv() / "python"
    sdk = release_dir / "examples" / "sdk_credentials"
    pairs = [
        {"name": "boto3", "ours": [python, boto3_script, "use-s0-r0"],
         "theirs": [python, boto3_script, "s0-r0"],
         "what": "boto3 resolving a credential_process profile (our helper) against its own SSO "
                 "provider (token cache, then GetRoleCredentials on every start)"},
        {"name": "aws-sdk-rust", "ours": [sdk, "use-s0-r0"], "theirs": [sdk, "s0-r0"],
         "what": "an aws-sdk-rust program (`examples/sdk_credentials.rs`) resolving the credential_process "
                 "profile against aws-config's SSO provider (token cache, then GetRoleCredentials)"},
        {"name": "aws-sso-util", "ours": [helper, "--profile", "s0-r0"],
         "theirs": [venv() / "aws-sso-util", "credential-process", "--profile", "legacy-s0-r0"],
         "what": "`aws-sso-util credential-process` (PyPI; role credentials cached in its own file) "
                 "against our helper, both as a credential_process"},
    ]
    for pair in pairs:
        for side in ("ours", "theirs"):
            done = subprocess.run([str(part) for part in pair[side]], env=world.env,
                                  capture_output=True, text=True)
            if done.returncode != 0 or not done.stdout.strip():
                raise SystemExit(f"bench client {pair['name']} ({side}) failed: {done.stderr.strip()}")
    return pairs
