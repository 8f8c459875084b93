"""The image (Dockerfile, entrypoint, the wheel it installs) and the systemd units for VMs.

No Docker engine runs here, so the Dockerfile is parsed, the entrypoint run with sh, and the
wheel built exactly as the builder stage builds it, from what its COPY lines copy.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def unit(name: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return {section: dict(parser[section]) for section in parser.sections()}


@pytest.mark.parametrize(
    ("name", "command"), [("yunheng.service", "serve"), ("yunheng-migrate.service", "db upgrade")]
)
def test_systemd_unit_is_hardened(name: str, command: str) -> None:
    service = unit(name)["Service"]
    assert service["ExecStart"] == f"/opt/yunheng/bin/yunheng {command}"
    assert service["User"] == "yunheng" and service["EnvironmentFile"] == "/etc/yunheng/yunheng.env"
    assert service["ProtectSystem"] == "strict" and service["ReadWritePaths"] == "/var/lib/yunheng"
    for flag in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert service[flag] == "yes", flag
    assert service["CapabilityBoundingSet"] == ""


def test_console_unit_waits_for_its_migration() -> None:
    console = unit("yunheng.service")
    assert "yunheng-migrate.service" in console["Unit"]["Requires"].split()
    assert "yunheng-migrate.service" in console["Unit"]["After"].split()
    assert unit("yunheng-migrate.service")["Service"]["Type"] == "oneshot"


def test_backup_timer_runs_a_confined_yunheng_backup() -> None:
    backup = unit("yunheng-backup.service")["Service"]
    assert "/opt/yunheng/bin/yunheng backup --out /var/backups/yunheng/" in backup["ExecStart"]
    assert "/var/backups/yunheng" in backup["ReadWritePaths"].split()
    assert backup["ProtectSystem"] == "strict" and backup["User"] == "yunheng"
    timer = unit("yunheng-backup.timer")
    assert timer["Timer"]["Unit"] == "yunheng-backup.service"
    assert timer["Timer"]["Persistent"] == "true"


def systemd_verify(units: list[Path], tmp_path: Path) -> list[str]:
    """`systemd-analyze verify` on copies whose ExecStart is this venv's real `yunheng` (verify
    insists the binary exists); its complaints about these units (it only warns about unknown
    keys, with exit 0) come back as lines."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed; the units were checked by parsing")
    yunheng = Path(sys.executable).with_name("yunheng")
    copies = []
    for path in units:
        copy = tmp_path / path.name
        copy.write_text(path.read_text().replace("/opt/yunheng/bin/yunheng", str(yunheng)))
        copies.append(str(copy))
    result = subprocess.run(
        ["systemd-analyze", "verify", *copies], capture_output=True, text=True, check=False
    )
    lines = (result.stdout + result.stderr).splitlines()
    complaints = [line for line in lines if any(Path(c).name in line for c in copies)]
    return complaints + ([f"exit {result.returncode}"] if result.returncode else [])


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    units = sorted((DEPLOY / "systemd").glob("yunheng*.*"))
    assert systemd_verify([u for u in units if u.suffix in (".service", ".timer")], tmp_path) == []


def test_systemd_verify_catches_a_misspelt_key(tmp_path: Path) -> None:
    bad = tmp_path / "src" / "yunheng-bad.service"
    bad.parent.mkdir()
    text = (DEPLOY / "systemd" / "yunheng.service").read_text()
    bad.write_text(text.replace("ProtectSystem=", "ProtectSystm="))
    assert any("ProtectSystm" in line for line in systemd_verify([bad], tmp_path))


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, args = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), args.strip()))
    return stages[1:]


def test_dockerfile_is_multi_stage_non_root_and_health_checked() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder[0][1].endswith("AS builder")
    assert any(i == "RUN" and "pip wheel" in a for i, a in builder)
    assert any(i == "COPY" and a.startswith("--from=builder") for i, a in runtime)
    [user] = [a for i, a in runtime if i == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    [healthcheck] = [a for i, a in runtime if i == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "python" in healthcheck
    [cmd] = [a for i, a in runtime if i == "CMD"]
    assert cmd == '["yunheng", "serve", "--host", "0.0.0.0"]'
    for stage in stages:
        for instruction, args in stage:
            assert not (instruction == "ADD" and re.search(r"https?://", args)), args


def test_dockerignore_keeps_the_build_context_to_the_sources() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for name in (".git", ".venv", "var", "tests", ".env"):
        assert name in ignored
    copied = [
        a.split()[0]
        for i, a in dockerfile_stages()[0] + dockerfile_stages()[-1]
        if i == "COPY" and not a.startswith("--from")
    ]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source.split("/")[0] not in ignored or f"!{source}" in ignored, source


def entrypoint(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = str(DEPLOY / "docker-entrypoint.sh")
    env = {"PATH": os.environ["PATH"], **env}
    return subprocess.run(
        ["sh", script, "env"], env=env, capture_output=True, text=True, check=False
    )


def test_entrypoint_reads_secrets_from_files(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("s3cret-key\n")
    done = entrypoint({"YUNHENG_SECRET_KEY_FILE": str(key)})
    assert done.returncode == 0, done.stderr
    assert "YUNHENG_SECRET_KEY=s3cret-key\n" in done.stdout  # the editor's newline dropped
    assert "YUNHENG_SECRET_KEY_FILE" not in done.stdout
    both = entrypoint({"YUNHENG_SECRET_KEY_FILE": str(key), "YUNHENG_SECRET_KEY": "x"})
    assert both.returncode == 2 and "both YUNHENG_SECRET_KEY and" in both.stderr
    missing = entrypoint({"YUNHENG_DATABASE_URL_FILE": str(tmp_path / "nope")})
    assert missing.returncode == 2 and "YUNHENG_DATABASE_URL_FILE: cannot read" in missing.stderr


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The wheel the Dockerfile's builder makes, from exactly what its COPY lines copy."""
    src = tmp_path_factory.mktemp("src")
    for instruction, args in dockerfile_stages()[0]:
        if instruction == "COPY":
            *sources, dest = args.split()
            for source in sources:
                # As Docker does: a file copied into a directory keeps only its own name.
                is_dir = (ROOT / source).is_dir()
                into = Path(dest) / (source if is_dir else Path(source).name)
                target = src / (into if dest.endswith("/") else dest)
                if is_dir:
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(ROOT / source, target, ignore=ignore)
                else:
                    shutil.copy(ROOT / source, target)
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    subprocess.run(pip, check=True, capture_output=True)
    [wheel] = out.glob("yunheng-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def tracked_data_files() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "adapters", "alerts", "console", "inventory", "scheduler", "sla"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {name for name in listed if not name.endswith(".py")}


def test_image_wheel_bundles_static_assets_templates_and_migrations(wheel_files: set[str]) -> None:
    expected = {
        name for name in tracked_data_files() if "/static/" in name or "/templates/" in name
    }
    assert expected and expected <= wheel_files
    assert "inventory/migrations/versions/0001_initial_inventory.py" in wheel_files


def test_image_wheel_bundles_every_tracked_data_file(wheel_files: set[str]) -> None:
    assert tracked_data_files() - wheel_files == set()


def test_image_can_back_up_the_compose_database() -> None:
    """`yunheng backup` runs pg_dump, which refuses a server newer than itself."""
    runtime = dockerfile_stages()[-1]
    assert any(i == "RUN" and "postgresql-client" in a for i, a in runtime)
    [base] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert base.endswith("-bookworm")
    compose = (DEPLOY / "compose.yaml").read_text()
    [server] = re.findall(r"image: postgres:(\d+)\.", compose)
    assert server == "15"  # Debian bookworm's postgresql-client


def test_the_lock_pins_every_runtime_dependency() -> None:
    """deploy/requirements.lock (make lock) pins each dependency pyproject.toml names, exactly."""
    lock = (DEPLOY / "requirements.lock").read_text().splitlines()
    pins = [line for line in lock if line and not line.startswith("#")]
    assert pins and all("==" in line for line in pins), "every line an exact pin"
    pinned = {canonicalize_name(line.split("==")[0]) for line in pins}
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    wanted = {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}
    assert wanted - pinned == set()
    assert "constraint requirements.lock" in (DEPLOY / "Dockerfile").read_text()
