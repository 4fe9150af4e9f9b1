"""Copy the pinned front-end libraries of package-lock.json into api/static/vendor/.

    make vendor      (npm ci into var/vendor-build, then this script)

The pages load these files from the platform itself, never from a CDN, so they work
offline and behind a firewall. MANIFEST.json records, for each file served, the package,
its version and the file's SHA-256; tests/pages/test_vendored.py checks the files against
it and the versions against package-lock.json.
"""

import hashlib
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC = HERE.parent / "static" / "vendor"
# package -> (files served, licence file); a file is served as static/vendor/<package>/<name>.
FILES = {
    "chart.js": (["dist/chart.umd.min.js"], "LICENSE.md"),
    # Bundled inside chart.umd.min.js; its licence travels with it.
    "@kurkle/color": ([], "LICENSE.md"),
    "htmx.org": (["dist/htmx.min.js"], "LICENSE"),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(build: Path) -> None:
    lock = json.loads((HERE / "package-lock.json").read_text())["packages"]
    manifest = {}
    shutil.rmtree(STATIC, ignore_errors=True)
    for package, (files, licence) in FILES.items():
        source = build / "node_modules" / package
        version = json.loads((source / "package.json").read_text())["version"]
        assert version == lock[f"node_modules/{package}"]["version"], (package, version)
        target = STATIC / package.replace("@", "").replace("/", "-")
        target.mkdir(parents=True)
        served = {}
        for name in [*files, licence]:
            copied = target / Path(name).name
            shutil.copyfile(source / name, copied)
            served[copied.relative_to(STATIC).as_posix()] = sha256(copied)
        manifest[package] = {
            "version": version,
            "licence": lock[f"node_modules/{package}"]["license"],
            "files": served,
        }
    (STATIC / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    names = ", ".join(f"{package} {entry['version']}" for package, entry in manifest.items())
    print(f"vendored {names} into {STATIC}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
