"""Convert gitleaks' config/gitleaks.toml (Go RE2) to Python re.

python tests/tools/gitleaks_rules.py gitleaks.toml pxprofile/data/secret_rules.json
"""

import json
import re
import sys
import tomllib

SKIP = {
    "generic-api-key",
    "pkcs12-file",
    "kubernetes-secret-yaml",
    "curl-auth-header",
    "curl-auth-user",
    "private-key",
    "jwt-base64",
    "hashicorp-tf-password",
    "sourcegraph-access-token",
    "facebook-access-token",
}


def close_of(p, i):
    """index of the ')' closing the group that contains position i (or len(p))."""
    depth = 0
    j = i
    inclass = False
    while j < len(p):
        c = p[j]
        if c == "\\":
            j += 2
            continue
        if inclass:
            if c == "]":
                inclass = False
        elif c == "[":
            inclass = True
        elif c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return j
            depth -= 1
        j += 1
    return len(p)


def convert(p):
    p = p.replace("[[:alnum:]]", "[A-Za-z0-9]").replace("\\z", "\\Z")
    while True:
        k = p.find("(?i)", 1)
        if k < 0:
            break
        end = close_of(p, k + 4)
        p = p[:k] + "(?i:" + p[k + 4 : end] + ")" + p[end:]
    return p


d = tomllib.load(open(sys.argv[1], "rb"))
out = []
for r in d["rules"]:
    rx = r.get("regex")
    if not rx or r["id"] in SKIP:
        continue
    py = convert(rx)
    try:
        c = re.compile(py)
    except re.error as e:
        print("skip", r["id"], e, file=sys.stderr)
        continue
    kws = [k.lower() for k in r.get("keywords", [])]
    if not kws:
        print("nokw", r["id"], file=sys.stderr)
        continue
    out.append([r["id"], py, kws, r.get("entropy") or 0, r.get("secretGroup") or 0])
json.dump(
    {
        "source": "https://github.com/gitleaks/gitleaks/blob/b58d3f102cf3a2c84cb7f923d05c25c9b1aed84b/config/gitleaks.toml",
        "license": "MIT (Copyright (c) 2019 Zachary Rice); see LICENSE-gitleaks in this folder",
        "converted": "Go RE2 to Python re by tests/tools/gitleaks_rules.py",
        "rules": out,
    },
    open(sys.argv[2], "w"),
    indent=0,
)
print(len(out), "rules")
