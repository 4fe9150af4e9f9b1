"""The front-end libraries are served by the platform itself: pinned, checked, licensed."""

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "api" / "static" / "vendor"


def test_every_vendored_file_is_the_one_the_manifest_pins():
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    lock = json.loads((ROOT / "api" / "vendor" / "package-lock.json").read_text())["packages"]
    pinned = json.loads((ROOT / "api" / "vendor" / "package.json").read_text())["dependencies"]
    assert set(pinned) <= set(manifest)
    for package, entry in manifest.items():
        assert entry["version"] == lock[f"node_modules/{package}"]["version"], package
        assert pinned.get(package, entry["version"]) == entry["version"], package
        assert any(Path(name).name.startswith("LICENSE") for name in entry["files"]), package
        for name, digest in entry["files"].items():
            assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    served = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert served == {"MANIFEST.json"} | {name for e in manifest.values() for name in e["files"]}


def test_no_page_loads_anything_from_another_site():
    external = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)
    templates = [*ROOT.glob("api/templates/**/*.html")]
    assert templates
    for template in templates:
        assert not external.search(template.read_text()), template
