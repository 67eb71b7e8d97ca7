"""Startup benchmark: how long whrelay's quick commands take, next to Typer's own floor.

Times, as fresh processes with the project's Python:

* ``whrelay --help``;
* ``whrelay verify --body-file F -H 'X-Hub-Signature-256: sha256=…' --provider github
  --secret S``, a real check of a valid GitHub signature (exit status 0);
* the floor: a minimal Typer app that this script writes into a temporary directory, with
  whrelay's settings (rich markup mode, no pretty exceptions, ``-h``/``--help``, completion),
  run through a launcher like whrelay's console script; its ``--help``, and a ``verify``
  command with the same options that reads the file and checks the HMAC. That is what any
  Typer CLI pays, so whrelay's goal is to stay within 1.3x of it.

With ``hyperfine`` on PATH it does the timing (``-N``, no shell); otherwise each command is run
``--runs`` times after ``--warmup`` runs, the four commands in turn (so that drift hits all
alike), and the median of ``time.perf_counter`` around each ``subprocess.run`` is taken. Every
command runs with ``NO_COLOR=1 COLUMNS=100`` and with bytecode caching on
(``PYTHONDONTWRITEBYTECODE`` is dropped), as an installed CLI runs; the warm-up runs write the
caches.
Then ``python -X importtime`` shows what ``whrelay verify`` imports: it should import neither
aiohttp nor textual, and the largest imports are listed with their cumulative time.

    python bench/startup.py [--runs 20] [--warmup 3] [--timer auto|hyperfine|python]

The exit status is 0 whether or not the goals are met; it is nonzero only when the harness
itself fails (a command that does not run, or a signature whrelay calls invalid).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ingest import HarnessError, make_payload

GOAL_RATIO = 1.3
"""Most acceptable ratio of whrelay's time to the floor's, for help and for verify."""
HEAVY_MODULES = ("aiohttp", "textual")
"""What ``whrelay verify`` must not import (the receiver's network stack, a TUI)."""
SECRET = "bench-only-not-a-real-secret"
RUN_TIMEOUT = 60.0

FLOOR_APP = '''\
"""The floor for bench/startup.py: a minimal Typer app set up like whrelay's."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="floor",
    help="A minimal Typer app: what any Typer CLI pays to start.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,
)


@app.callback()
def _root() -> None:
    """A minimal Typer app."""


@app.command()
def verify(
    body_file: Annotated[Path, typer.Option(help="The body's exact bytes.", dir_okay=False)],
    header: Annotated[list[str], typer.Option("--header", "-H", help="'Name: value'.")],
    provider: Annotated[str, typer.Option(help="Only github.")] = "github",
    secret: Annotated[list[str] | None, typer.Option(help="Signing secret.")] = None,
) -> None:
    """Check a GitHub signature of a file."""
    body = body_file.read_bytes()
    wanted = ""
    for line in header:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-hub-signature-256":
            wanted = value.strip()
    for key in secret or ():
        digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest("sha256=" + digest, wanted):
            print(f"valid  {provider}")
            return
    print(f"invalid  {provider}")
    raise typer.Exit(1)


@app.command()
def other() -> None:
    """A second command, so that the app is a group like whrelay."""


def main() -> None:
    app()
'''

FLOOR_LAUNCHER = """\
import sys
from floorapp import main
if __name__ == "__main__":
    sys.exit(main())
"""
"""Like the console script pip writes for ``whrelay``: the app itself is an imported module,
so its bytecode is cached, as whrelay's is."""


@dataclass(frozen=True)
class Command:
    name: str
    argv: tuple[str, ...]

    @property
    def shell(self) -> str:
        return shlex.join(self.argv)


@dataclass
class Timing:
    command: Command
    median: float
    """Seconds."""
    mean: float
    stdev: float
    low: float
    runs: int


# --- the commands --------------------------------------------------------------------------


def whrelay_script() -> Path:
    """The ``whrelay`` console script of the Python running this benchmark."""
    beside = Path(sys.executable).parent / "whrelay"
    if beside.exists():
        return beside
    found = shutil.which("whrelay")
    if found is None:
        raise HarnessError("no 'whrelay' script beside this Python or on PATH (pip install -e .)")
    return Path(found)


def make_commands(workdir: Path) -> list[Command]:
    body = make_payload(1024).body
    body_file = workdir / "body.json"
    body_file.write_bytes(body)
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    header = f"X-Hub-Signature-256: sha256={digest}"
    (workdir / "floorapp.py").write_text(FLOOR_APP)
    launcher = workdir / "floor"
    launcher.write_text(FLOOR_LAUNCHER)
    verify_args = (
        *("--body-file", str(body_file), "-H", header),
        *("--provider", "github", "--secret", SECRET),
    )
    python, whrelay = sys.executable, str(whrelay_script())
    return [
        Command("whrelay --help", (python, whrelay, "--help")),
        Command("floor --help", (python, str(launcher), "--help")),
        Command("whrelay verify", (python, whrelay, "verify", *verify_args)),
        Command("floor verify", (python, str(launcher), "verify", *verify_args)),
    ]


def bench_env() -> dict[str, str]:
    """The same terminal for every command: no colour, a fixed width, bytecode cached."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("WHRELAY_DEBUG", None)
    return env


def check(commands: Sequence[Command]) -> None:
    """Each command runs and succeeds (a verify that says invalid is a broken benchmark)."""
    for command in commands:
        done = subprocess.run(
            command.argv, capture_output=True, env=bench_env(), timeout=RUN_TIMEOUT, check=False
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise HarnessError(f"{command.name} exited {done.returncode}:\n{output}")


# --- timing --------------------------------------------------------------------------------


def time_with_python(commands: Sequence[Command], runs: int, warmup: int) -> list[Timing]:
    env = bench_env()
    samples: dict[str, list[float]] = {c.name: [] for c in commands}
    for number in range(warmup + runs):
        for command in commands:
            began = time.perf_counter()
            subprocess.run(
                command.argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                timeout=RUN_TIMEOUT,
                check=True,
            )
            elapsed = time.perf_counter() - began
            if number >= warmup:
                samples[command.name].append(elapsed)
    return [
        Timing(
            command=c,
            median=statistics.median(samples[c.name]),
            mean=statistics.fmean(samples[c.name]),
            stdev=statistics.stdev(samples[c.name]) if runs > 1 else 0.0,
            low=min(samples[c.name]),
            runs=runs,
        )
        for c in commands
    ]


def time_with_hyperfine(
    commands: Sequence[Command], runs: int, warmup: int, workdir: Path
) -> list[Timing]:
    export = workdir / "hyperfine.json"
    argv = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs)]
    argv += ["--export-json", str(export)]
    for command in commands:
        argv += ["--command-name", command.name, command.shell]
    budget = RUN_TIMEOUT * len(commands) * (runs + warmup)
    done = subprocess.run(argv, capture_output=True, text=True, env=bench_env(), timeout=budget)
    if done.returncode != 0:
        raise HarnessError(f"hyperfine failed ({done.returncode}):\n{done.stderr}")
    results = json.loads(export.read_text())["results"]
    return [
        Timing(
            command=c,
            median=float(r["median"]),
            mean=float(r["mean"]),
            stdev=float(r["stddev"] or 0.0),
            low=float(r["min"]),
            runs=len(r["times"]),
        )
        for c, r in zip(commands, results, strict=True)
    ]


def hyperfine_version() -> str:
    done = subprocess.run(["hyperfine", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "hyperfine"


# --- imports -------------------------------------------------------------------------------


@dataclass
class Imported:
    """One module in the import tree that ``python -X importtime`` prints."""

    name: str
    self_us: int
    cumulative_us: int
    children: list[Imported] = field(default_factory=list)
    extra_us: int = 0
    """Self time of this module and everything it imported that the floor does not import:
    what whrelay pays here beyond any Typer CLI."""


def import_tree(command: Command) -> list[Imported]:
    """The modules ``command`` imports, as a forest (importtime prints children first, each
    one indented two spaces deeper than its parent)."""
    python, *rest = command.argv
    argv = [python, "-X", "importtime", *rest]
    done = subprocess.run(
        argv, capture_output=True, text=True, env=bench_env(), timeout=RUN_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise HarnessError(f"{shlex.join(argv)} exited {done.returncode}:\n{done.stderr}")
    waiting: list[tuple[int, Imported]] = []  # finished modules whose parent comes later
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        module = Imported(name.strip(), int(own), int(cumulative))
        while waiting and waiting[-1][0] > depth:
            module.children.insert(0, waiting.pop()[1])
        waiting.append((depth, module))
    return [module for _, module in waiting]


def walk(forest: Sequence[Imported], depth: int = 0) -> Iterator[tuple[int, Imported]]:
    """Every module with its depth, parents before children."""
    for module in forest:
        yield depth, module
        yield from walk(module.children, depth + 1)


def attribute(forest: Sequence[Imported], floor: set[str]) -> None:
    """Set ``extra_us`` of every module (children first)."""
    for module in forest:
        attribute(module.children, floor)
        own = 0 if module.name in floor else module.self_us
        module.extra_us = own + sum(child.extra_us for child in module.children)


@dataclass
class ImportReport:
    forest: list[Imported]
    """From the first run; its ``extra_us`` are medians over all runs."""
    modules: set[str]
    floor_modules: set[str]


def import_report(ours: Command, floor: Command, runs: int) -> ImportReport:
    floor_modules = {m.name for _, m in walk(import_tree(floor))}
    forests = [import_tree(ours) for _ in range(runs)]
    extra: dict[str, list[int]] = {}
    for forest in forests:
        attribute(forest, floor_modules)
        for _, module in walk(forest):
            extra.setdefault(module.name, []).append(module.extra_us)
    first = forests[0]
    for _, module in walk(first):
        module.extra_us = int(statistics.median(extra[module.name]))
    return ImportReport(first, {m.name for _, m in walk(first)}, floor_modules)


def top_level(name: str) -> str:
    return name.partition(".")[0]


# --- report --------------------------------------------------------------------------------


def print_timings(timings: Sequence[Timing], timer: str) -> None:
    print(f"{'command':<16} {'median ms':>9} {'mean ms':>8} {'± ms':>6} {'min ms':>7} {'runs':>5}")
    for t in timings:
        print(
            f"{t.command.name:<16} {t.median * 1000:>9.1f} {t.mean * 1000:>8.1f} "
            f"{t.stdev * 1000:>6.1f} {t.low * 1000:>7.1f} {t.runs:>5}"
        )
    by_name = {t.command.name: t for t in timings}
    print()
    print(f"{'ratio (median)':<32} {'value':>6}  {'goal':<7} met")
    for what in ("help", "verify"):
        ours, floor = by_name[f"whrelay {_arg(what)}"], by_name[f"floor {_arg(what)}"]
        ratio = ours.median / floor.median
        extra = (ours.median - floor.median) * 1000
        met = "yes" if ratio <= GOAL_RATIO else "NO"
        print(
            f"{'whrelay ' + what + ' / floor ' + what:<32} {ratio:>6.2f}  <= {GOAL_RATIO:<4g} "
            f"{met}   (+{extra:.1f} ms)"
        )
    print(f"timed with {timer}")


def _arg(what: str) -> str:
    return "--help" if what == "help" else what


def print_imports(report: ImportReport, threshold_ms: float) -> None:
    loaded = {top_level(name) for name in report.modules}
    print()
    print(
        f"whrelay verify imports {len(report.modules)} modules (the floor's verify: "
        f"{len(report.floor_modules)})."
    )
    for heavy in HEAVY_MODULES:
        names = sorted(n for n in report.modules if top_level(n) == heavy)
        verdict = f"IMPORTED ({len(names)} modules, e.g. {names[0]})" if names else "not imported"
        print(f"  {heavy:<10} {verdict}")
    bad = [h for h in HEAVY_MODULES if h in loaded]
    print(f"  goal: neither {' nor '.join(HEAVY_MODULES)}: {'NO' if bad else 'yes'}")
    total = sum(m.extra_us for m in report.forest)
    print()
    print(
        f"where whrelay verify's extra import time goes: {total / 1000:.1f} ms in modules the "
        f"floor does not import (self time summed over each subtree, median of the -X "
        f"importtime runs; importtime's own overhead inflates it), subtrees >= "
        f"{threshold_ms:g} ms:"
    )
    for depth, module in walk(report.forest):
        if module.extra_us >= threshold_ms * 1000:
            print(f"  {module.extra_us / 1000:>7.1f} ms  {'  ' * depth}{module.name}")


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Startup time of whrelay --help and whrelay verify next to a minimal "
        "Typer app's; what whrelay verify imports."
    )
    parser.add_argument("--runs", type=int, default=20, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per command first")
    parser.add_argument(
        "--timer",
        choices=["auto", "hyperfine", "python"],
        default="auto",
        help="auto = hyperfine when on PATH, else subprocess runs timed with perf_counter",
    )
    parser.add_argument(
        "--import-runs", type=int, default=5, help="python -X importtime runs (median)"
    )
    parser.add_argument(
        "--threshold", type=float, default=3.0, help="ms: smallest import subtree listed"
    )
    args = parser.parse_args(argv)
    if args.runs < 2 or args.warmup < 0 or args.import_runs < 1:
        parser.error("--runs must be at least 2, --warmup >= 0, --import-runs >= 1")
    return args


def choose_timer(wanted: str) -> Literal["hyperfine", "python"]:
    have = shutil.which("hyperfine") is not None
    if wanted == "python" or (wanted == "auto" and not have):
        return "python"
    if not have:
        raise HarnessError("--timer hyperfine: hyperfine is not on PATH")
    return "hyperfine"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    timer = choose_timer(args.timer)
    workdir = Path(tempfile.mkdtemp(prefix="whrelay-bench-startup-"))
    try:
        commands = make_commands(workdir)
        check(commands)
        import typer

        how = (
            f"{hyperfine_version()} -N"
            if timer == "hyperfine"
            else "time.perf_counter around subprocess.run, the commands in turn"
        )
        print(
            f"whrelay startup benchmark: {args.runs} runs per command after {args.warmup} "
            f"warm-up runs; Python {sys.version.split()[0]}, Typer {typer.__version__}, "
            f"{os.cpu_count()} CPUs"
        )
        print()
        if timer == "hyperfine":
            timings = time_with_hyperfine(commands, args.runs, args.warmup, workdir)
        else:
            timings = time_with_python(commands, args.runs, args.warmup)
        print_timings(timings, how)
        by_name = {c.name: c for c in commands}
        report = import_report(by_name["whrelay verify"], by_name["floor verify"], args.import_runs)
        print_imports(report, args.threshold)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as error:
        sys.stderr.write(f"bench: error: {error}\n")
        sys.exit(1)
    except subprocess.SubprocessError as error:
        sys.stderr.write(f"bench: error: {error}\n")
        sys.exit(1)
