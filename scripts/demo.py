"""The claimcheck demo: starts a private RabbitMQ node and the registry, auth and resource
services, sends real files of different kinds and sizes with claimcheck-client, prints each
reply, stops everything, and exits 0 only if every file came back verified.

The files wait in the embedded SQLite store, or with --store gridfs in GridFS on the project's
MongoDB wire-protocol test server (scripts/mongo-test-server), started for the demo and stopped
after it."""

import argparse
import contextlib
import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stack import REPO, Stack, StackError, clean_workdir, log_tail

# Files Debian ships, one per kind; the first candidate that exists is used.
SAMPLES = {
    "PNG image": ["/usr/share/cmake-*/Templates/Windows/SplashScreen.png",
                  "/usr/share/gitweb/static/git-logo.png"],
    "PDF document": ["/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf",
                     "/usr/share/doc/*/*.pdf"],
    "gzip archive": ["/usr/share/doc/rabbitmq-server/changelog.Debian.gz",
                     "/usr/share/doc/*/changelog.Debian.gz"],
    "text file": ["/usr/share/common-licenses/GPL-3", "/etc/os-release"],
}


def pick_samples() -> list[Path]:
    chosen = []
    for kind, patterns in SAMPLES.items():
        matches = [match for pattern in patterns for match in sorted(glob.glob(pattern))]
        if not matches:
            sys.exit(f"demo: no {kind} found (looked for {', '.join(patterns)}); "
                     "run scripts/setup to install the packages that ship them")
        chosen.append(Path(matches[0]))
    return chosen


def make_large_file(path: Path, megabytes: int) -> Path:
    """Random bytes, so neither the store nor the broker can take shortcuts on them."""
    block = 1024 * 1024
    with open(path, "wb") as out:
        for _ in range(megabytes):
            out.write(os.urandom(block))
    return path


@contextlib.contextmanager
def mongo_test_server(directory: Path):
    """Runs the MongoDB wire-protocol test server in `directory` on a free port and yields its
    URI (without a database). Stops it and removes its data on the way out, also after a failure
    or Ctrl-C; its log stays in `directory`."""
    script = REPO / "scripts" / "mongo-test-server"
    directory.mkdir(parents=True, exist_ok=True)
    # The server is a Maven build; keeping it outside the workdir, which every run wipes, spares
    # later runs the build.
    java = REPO / "build" / "mongo-test-server-java"
    java.mkdir(parents=True, exist_ok=True)
    if not (directory / "java").is_symlink():
        (directory / "java").symlink_to(java, target_is_directory=True)
    build_log = directory / "start.log"
    try:
        with open(build_log, "w") as log:
            # Port 0: the server picks a free port and the script prints the URI it listens on.
            # The first run on a machine fetches the server from Maven Central.
            result = subprocess.run([str(script), "start", str(directory), "0"],
                                    stdout=subprocess.PIPE, stderr=log, text=True, timeout=900,
                                    stdin=subprocess.DEVNULL)
        if result.returncode != 0 or not result.stdout.startswith("mongodb://"):
            raise StackError("the MongoDB wire-protocol test server did not start:\n"
                             f"{log_tail(build_log)}")
        yield result.stdout.strip()
    finally:
        subprocess.run([str(script), "stop", str(directory)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60, stdin=subprocess.DEVNULL)


def run_demo(args, files: list[Path]) -> int:
    with contextlib.ExitStack() as running:
        if args.store == "gridfs":
            started = time.monotonic()
            location = running.enter_context(mongo_test_server(args.workdir / "mongodb"))
            location += "claimcheck_demo"
            label = f"GridFS ({location})"
            print(f"demo: store: GridFS on the MongoDB wire-protocol test server, {location} "
                  f"(started in {time.monotonic() - started:.1f} s)")
        else:
            # config/'s default, sqlite:var/store.db, relative to the workdir.
            location, label = "", "the embedded SQLite store"
            print(f"demo: store: embedded SQLite, {args.workdir / 'var' / 'store.db'}")

        stack = running.enter_context(Stack(args.workdir, store_location=location))
        started = time.monotonic()
        stack.start()
        print(f"demo: RabbitMQ on port {stack.amqp_port}, registry on port "
              f"{stack.registry_port}, auth and resource registered "
              f"({time.monotonic() - started:.1f} s)")
        result = stack.client("send", *map(str, files))
        print(result.stdout, end="")
        if result.returncode != 0:
            print(result.stderr, end="", file=sys.stderr)
            print(f"demo: FAILED, claimcheck-client exited with {result.returncode}; "
                  f"service logs are in {stack.logs}", file=sys.stderr)
            return 1
    # The logs stay for a look; the 200 MiB input and the store's database (SQLite keeps its
    # freed pages; the test server's data went when it stopped) would only fill the disk.
    files[-1].unlink()
    for database_file in (args.workdir / "var").glob("store.db*"):
        database_file.unlink()
    print(f"demo: every file came back verified through {label}; everything the demo "
          f"started is stopped (logs in {args.workdir / 'logs'})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "demo")
    parser.add_argument("--large-mb", type=int, default=200,
                        help="size of the generated file in MiB (default 200)")
    parser.add_argument("--store", choices=("sqlite", "gridfs"), default="sqlite",
                        help="where the files wait: the embedded SQLite store (default) or "
                             "GridFS on the MongoDB wire-protocol test server")
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()
    # A plain kill unwinds like Ctrl-C, so that everything started is stopped again.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    clean_workdir(args.workdir)
    files = pick_samples()
    files.append(make_large_file(args.workdir / f"generated-{args.large_mb}MiB.bin",
                                 args.large_mb))
    print("demo: sending")
    for path in files:
        print(f"  {path} ({path.stat().st_size:,} bytes)")

    try:
        return run_demo(args, files)
    except StackError as error:
        print(f"demo: FAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted; everything the demo started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
