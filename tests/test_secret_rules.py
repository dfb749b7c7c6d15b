"""Secrets beyond the fixed prefixes: gitleaks' vendored rules, vendor-prefix shape, credential
words in several languages, credential pairs, URL parameters; look-alikes stay; titles too."""

import json
import random
import sqlite3
import string
import subprocess
import sys

import pytest

from pxprofile.redact import redact
from pxprofile.secret_rules import entropy, looks_random

PII = ()
rng = random.Random(16)


def rnd(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


HEX = "0123456789abcdef"

# (format, token): one realistic token per rule family; each is placed in a chat sentence
TOKENS = [
    ("gitlab routable", "glpat-" + rnd(27) + "." + rnd(2, HEX) + rnd(7, HEX)),
    ("google oauth secret", "GOCSPX-" + rnd(28)),
    ("pypi", "pypi-AgEIcHlwaS5vcmc" + rnd(60)),
    ("digitalocean", "dop_v1_" + rnd(64, HEX)),
    ("shopify", "shpat_" + rnd(32, HEX)),
    ("databricks", "dapi" + rnd(32, HEX)),
    ("notion", "ntn_" + rnd(11, string.digits) + rnd(35)),
    ("linear", "lin_api_" + rnd(40)),
    ("perplexity", "pplx-" + rnd(48)),
    ("sendgrid", "SG." + rnd(22) + "." + rnd(43)),
    ("telegram", "7412345678:AA" + rnd(33)),
    ("mem0 m0-", "m0-" + rnd(40)),
    ("mem0 mem0_", "mem0_" + rnd(40)),
    ("honcho hsk-", "hsk-" + rnd(40)),
    ("retaindb_", "retaindb_" + rnd(32)),
    ("byterover brv_", "brv_" + rnd(32)),
    ("groq", "gsk_" + rnd(52)),
    ("xai", "xai-" + rnd(80)),
    ("replicate", "r8_" + rnd(37)),
    ("supabase", "sb_secret_" + rnd(32)),
]


@pytest.mark.parametrize(("fmt", "token"), TOKENS, ids=[t[0] for t in TOKENS])
@pytest.mark.parametrize(
    "frame", ["use {} for the api", "KEY={}", "my token: `{}` thanks", '{{"key": "{}"}}']
)
def test_vendor_tokens_are_redacted_in_any_placement(fmt, token, frame):
    out = redact(frame.format(token), pii=PII)
    assert token not in out and "[REDACTED:" in out, (fmt, out)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Das Passwort lautet Sommer2024!", "Sommer2024"),
        ("Mein Kennwort ist Zugspitze#77", "Zugspitze#77"),
        ("la contraseña es perro-azul-42", "perro-azul-42"),
        ("le mot de passe est Tournesol!9", "Tournesol!9"),
        ("a senha é Saudade_2023", "Saudade_2023"),
        ("мой пароль: Медведь2024", "Медведь2024"),
        ("我的密码是Panda2024xyz", "Panda2024xyz"),
        ("パスワードはSakura2024です", "Sakura2024"),
        ("the router login is admin / hunter2", "hunter2"),
        ("creds: root / Tr0ub4dor&3", "Tr0ub4dor&3"),
        ("my key is " + "9fK2mQ7xLp3vZ8wR", "9fK2mQ7xLp3vZ8wR"),
        ("here is the token " + "Qm8xT3vL9pZ2wK7r", "Qm8xT3vL9pZ2wK7r"),
        ("der API-Schlüssel: " + "Hk39dLq02PzX8mWt", "Hk39dLq02PzX8mWt"),
        (
            "https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sig=Ab3dEf6hIj9kLm2nOp5q%2BW%3D",
            "Ab3dEf6hIj9kLm2nOp5q",
        ),
    ],
)
def test_context_words_and_pairs_in_several_languages(text, secret):
    assert secret not in redact(text, pii=PII)


LOOKALIKES = [
    "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f fixed it",
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "request id 550e8400-e29b-41d4-a716-446655440000",
    "download Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf first",
    "use gpt-4o-mini-2024-07-18 or claude-3-5-sonnet-20241022",
    "API_KEY=your-api-key-here",
    "token: <YOUR_TOKEN>",
    "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">',
    "integrity sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC",
    "I use a password manager and rotate my keys.",
    "The function getUserAccountSettingsById returns None.",
    "see internationalization_and_localization_guidelines",
    "path /usr/local/lib/python3.11/site-packages/numpy/core",
]


@pytest.mark.parametrize("text", LOOKALIKES)
def test_look_alikes_are_left_alone(text):
    assert redact(text, pii=PII) == text


def test_looks_random_and_entropy():
    assert entropy("aaaa") == 0 and entropy("ab") == 1
    assert looks_random("Xq7Lp2Vz9Kd4Rt8Nw1Yb6Hc3")
    assert not looks_random("3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d")  # a digest
    assert not looks_random("your_api_key_goes_here_1234")


def test_importing_pxprofile_compiles_no_rule():
    code = "import pxprofile.redact, sys; print('pxprofile.secret_rules' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _chatgpt(title: str, text: str) -> list:
    return [{"title": title, "create_time": 1.7e9, "update_time": 1.7e9, "current_node": "a",
             "mapping": {"a": {"id": "a", "message": {"id": "a", "author": {"role": "user"},
                         "content": {"content_type": "text", "parts": [text]}}}}}]  # fmt: skip


def test_titles_are_redacted_at_ingest_and_shown_redacted(tmp_path, runner, env_setup):
    from pxprofile.cli import app

    key = "glpat-" + rnd(20)
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(_chatgpt(f"fix CI with {key}", "I prefer short answers.")))
    assert runner.invoke(app, ["ingest", str(path), "--no-update"]).exit_code == 0
    listed = runner.invoke(app, ["chats", "list", "--json"])
    assert key not in listed.stdout and "[REDACTED:gitlab-token]" in listed.stdout
    conn = sqlite3.connect(env_setup / "pxprofile.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert conn.execute("select title from conversations").fetchone()[0] == (
        "fix CI with [REDACTED:gitlab-token]"
    )
    conn.close()
    assert key.encode() not in (env_setup / "pxprofile.db").read_bytes()


def test_migration_redacts_titles_of_older_databases(tmp_path):
    from pxprofile.migrations import m080_redact_titles
    from pxprofile.store import open_db

    db = open_db(tmp_path / "px.db")
    key = "ghp_" + rnd(36)
    db["conversations"].insert({"id": "c", "format": "t", "native_id": "c", "title": key})
    db["conversations"].insert({"id": "d", "format": "t", "native_id": "d", "title": "Recipes"})
    m080_redact_titles(db)  # as open_db does for a database made before it
    titles = dict(db.execute("select id, title from conversations").fetchall())
    assert titles == {"c": "[REDACTED:github-token]", "d": "Recipes"}
