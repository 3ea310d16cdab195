"""The claimcheck demo: starts a private RabbitMQ node and the registry, auth and resource
services, sends real files of different kinds and sizes with claimcheck-client, prints each
reply, stops everything, and exits 0 only if every file came back verified."""

import argparse
import glob
import os
import sys
import time
from pathlib import Path

from stack import REPO, Stack, StackError, clean_workdir

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "demo")
    parser.add_argument("--large-mb", type=int, default=200,
                        help="size of the generated file in MiB (default 200)")
    args = parser.parse_args()

    clean_workdir(args.workdir)
    files = pick_samples()
    files.append(make_large_file(args.workdir / f"generated-{args.large_mb}MiB.bin",
                                 args.large_mb))
    print("demo: sending")
    for path in files:
        print(f"  {path} ({path.stat().st_size:,} bytes)")

    try:
        with Stack(args.workdir) as stack:
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
    except StackError as error:
        print(f"demo: FAILED: {error}", file=sys.stderr)
        return 1
    # The logs stay for a look; the 200 MiB input and the store's database (SQLite keeps its
    # freed pages) would only fill the disk.
    files[-1].unlink()
    for database_file in (args.workdir / "var").glob("store.db*"):
        database_file.unlink()
    print("demo: every file came back verified; everything the demo started is stopped "
          f"(logs in {args.workdir / 'logs'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
