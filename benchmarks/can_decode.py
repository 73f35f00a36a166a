"""Decode the real Kona EV log with evscreen's compiled decoder and with cantools, in one run.

Prints frames/s for each and the ratio (target: evscreen >= 5x cantools' decode_message).
Both decode the same frames with the same DBC (pcan.dbc, loaded leniently for both), values as
numbers (decode_choices=False); unknown IDs are looked up by both and skipped.

    python benchmarks/can_decode.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata" / "can" / "kona-ev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each decoder; the best is reported")
    parser.add_argument("--log", default=str(REAL / "221217-1-2021-pcan-bcan-no-key.csv"))
    parser.add_argument("--dbc", default=str(REAL / "pcan.dbc"))
    args = parser.parse_args()

    import logging

    logging.disable(logging.WARNING)
    from evscreen.canlog import open_log
    from evscreen.dbc.loader import load_database, load_decoder

    frames = [(f.arbitration_id, f.is_extended, f.data) for f in open_log(args.log)]
    decoder = load_decoder(args.dbc, cache=False)
    db, _ = load_database(args.dbc)
    known = sum(1 for fid, ext, _ in frames if decoder.find(fid, ext) is not None)

    def ours() -> int:
        # As the CAN source and can-dump use it: ID -> generated function, called directly.
        standard, extended_ids = decoder.functions(False).get, decoder.functions(True).get
        n = 0
        for frame_id, extended, data in frames:
            fn = extended_ids(frame_id) if extended else standard(frame_id)
            if fn is not None:
                fn(data)
                n += 1
        return n

    def theirs() -> int:
        decode = db.decode_message
        n = 0
        for frame_id, extended, data in frames:
            try:
                decode(frame_id, data, decode_choices=False, force_extended_id=extended)
            except KeyError:
                continue
            n += 1
        return n

    results = {}
    for name, fn in (("evscreen", ours), ("cantools", theirs)):
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            count = fn()
            best = min(best, time.perf_counter() - start)
        assert count == known
        results[name] = best

    print(f"log: {Path(args.log).name}: {len(frames)} frames, {known} with IDs in {Path(args.dbc).name}")
    for name, seconds in results.items():
        print(f"{name:9s} {len(frames) / seconds:12,.0f} frames/s  ({seconds * 1e3:7.1f} ms per pass, best of "
              f"{args.repeat})")
    print(f"ratio: evscreen is {results['cantools'] / results['evscreen']:.1f}x cantools decode_message (target >= 5x)")


if __name__ == "__main__":
    main()
