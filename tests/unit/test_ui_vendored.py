"""The UI's static files: each third-party file is listed with its version, licence and
SHA-256, and is byte for byte the file listed; nothing else is shipped unlisted."""

import hashlib
import json

from tidings.ui.render import STATIC, TEMPLATES

OWN = {"tidings.css", "tidings.js", "dashboard.js", "vendored.json"}


def _listed():
    return json.loads((STATIC / "vendored.json").read_text())["files"]


def test_every_vendored_file_matches_its_sha256():
    for entry in _listed():
        data = (STATIC / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        assert entry["version"] and entry["licence"] and entry["source"]


def test_every_static_file_is_ours_or_listed():
    shipped = {path.name for path in STATIC.iterdir() if path.is_file()}
    assert shipped == OWN | {entry["file"] for entry in _listed()}


def test_pages_load_nothing_from_other_hosts():
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, template
