#!/usr/bin/env python3
"""A boto3-based credential helper, the kind people write themselves: resolve a profile with
boto3 and print credential_process JSON. Used by scripts/bench as the Python comparison."""
import json
import sys

import boto3

credentials = boto3.Session(profile_name=sys.argv[1]).get_credentials().get_frozen_credentials()
print(json.dumps({"Version": 1, "AccessKeyId": credentials.access_key,
                  "SecretAccessKey": credentials.secret_key, "SessionToken": credentials.token}))
