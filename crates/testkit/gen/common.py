"""Small helpers shared by the generator scripts: versions, CSV writing, parallel map."""

import datetime
import os
import platform
import sys
from multiprocessing import Pool

DATA_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))


def versions():
    import mpmath
    import numpy

    out = {
        "python": platform.python_version(),
        "mpmath": mpmath.__version__ + " (backend " + mpmath.libmp.BACKEND + ")",
        "numpy": numpy.__version__,
    }
    try:
        import QuantLib

        out["QuantLib"] = QuantLib.__version__
    except ImportError:
        pass
    return out


def header_lines(script, description, extra=()):
    v = versions()
    lines = [
        description,
        "generator: crates/testkit/gen/%s (run: python3 crates/testkit/gen/%s)" % (script, script),
        "generated: %s UTC" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "versions: " + ", ".join("%s %s" % kv for kv in v.items()),
    ]
    lines.extend(extra)
    lines.append("see crates/testkit/data/README.md for column meanings and tolerances")
    return lines


def write_csv(name, comments, columns, rows):
    """rows: list of lists of strings (already formatted)."""
    path = os.path.join(DATA_DIR, name)
    os.makedirs(DATA_DIR, exist_ok=True)
    with open(path, "w", newline="\n") as f:
        for c in comments:
            f.write("# " + c + "\n")
        f.write(",".join(columns) + "\n")
        for r in rows:
            assert len(r) == len(columns), (r, columns)
            for cell in r:
                assert "," not in cell and "\n" not in cell and '"' not in cell, cell
            f.write(",".join(r) + "\n")
    print("wrote %s: %d rows, %d bytes" % (path, len(rows), os.path.getsize(path)), file=sys.stderr)
    return path


def pmap(fn, items, procs=None):
    procs = procs or os.cpu_count() or 1
    if procs == 1:
        return [fn(i) for i in items]
    with Pool(procs) as pool:
        return pool.map(fn, items, chunksize=4)
