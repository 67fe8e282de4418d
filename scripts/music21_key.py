#!/usr/bin/env python3
"""music21 `analyze('key')` scored the way `midid eval` scores its key detector.

Why this exists: `midid eval` reports a MIREX key score per labelled subset. To know whether
those numbers are good we need a reference point from a widely used key finder on exactly the
same files, grouped and scored the same way. This script runs music21's default key analysis
(`score.analyze('key')`) over the labelled rows of one or more label CSVs and prints a table
whose rows line up with the key table of `midid eval`.

Usage:
    python scripts/music21_key.py CORPUS_DIR LABELS.csv [LABELS.csv ...] [--jobs N] [--csv OUT]

Needs `music21` and `mido` (pip install music21 mido); it is not part of the build or tests.

Label CSVs have the header `relative_path,key,tempo_bpm,time_signature,has_drums,category,notes`;
rows with an empty key are skipped. Keys are compared by tonic pitch class and mode, so
"Db minor" equals "C# minor". MIREX weights (the same as `key::mirex` in the daemon):
1 exact, 0.5 same mode with the tonic a fifth up or down, 0.3 relative major/minor,
0.2 parallel (same tonic, other mode), otherwise 0.

Grouping mirrors `daemon/src/eval.rs`: the subset is the first two path components
(`music21/no_keysig`, `nottingham/chords`), or only the first when the second starts with a
digit (`pop909/002/002.mid` -> `pop909`); each subset is split by whether the file has a
key-signature meta event (FF 59 with -7..7 sharps/flats), and two aggregate rows cover all files
without and all files with key signatures.

A file music21 cannot parse or analyse counts as a failure: it scores 0 (in the "other" column)
and is listed at the end with the exception.
"""

import argparse
import csv
import multiprocessing
import os
import sys
import time
import traceback

NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def parse_key_label(text):
    """'Db minor' -> (1, True); None when the label is empty or not a key."""
    parts = text.split()
    if len(parts) < 2 or not parts[0] or parts[0][0].lower() not in LETTERS:
        return None
    name, mode = parts[0].lower(), parts[1].lower()
    shift = sum(1 if c == "#" else -1 if c in "b-" else 0 for c in name[1:])
    return (LETTERS[name[0]] + shift) % 12, mode.startswith("min")


def key_name(key):
    return "" if key is None else f"{NAMES[key[0]]} {'minor' if key[1] else 'major'}"


def mirex(guess, truth):
    """MIREX key score of guess (tonic, minor) against truth."""
    if guess is None:
        return 0.0
    if guess == truth:
        return 1.0
    if guess[1] == truth[1]:
        return 0.5 if (guess[0] - truth[0]) % 12 in (5, 7) else 0.0
    major, minor = (truth, guess) if guess[1] else (guess, truth)
    if (major[0] + 9) % 12 == minor[0]:
        return 0.3
    if major[0] == minor[0]:
        return 0.2
    return 0.0


def subset_of(rel_path):
    """The set and its sub-folder, unless that is a per-song number (as eval.rs does)."""
    parts = rel_path.split("/")
    if len(parts) >= 3 and not parts[1][:1].isdigit():
        return f"{parts[0]}/{parts[1]}"
    return parts[0]


def _vlq(data, pos):
    value = 0
    for _ in range(4):
        if pos >= len(data):
            raise ValueError("truncated variable-length quantity")
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos
    raise ValueError("variable-length quantity longer than 4 bytes")


def _walk_key_sigs(path):
    """Fallback for files mido rejects: walk every MTrk chunk event by event (running status,
    sysex and meta lengths honoured) and report whether any FF 59 event has -7..7 accidentals."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 8 <= len(data):
        kind, length = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "big")
        body = data[pos + 8:pos + 8 + length]
        pos += 8 + length
        if kind != b"MTrk":
            continue
        i, status = 0, None
        try:
            while i < len(body):
                _, i = _vlq(body, i)
                if i >= len(body):
                    break
                b = body[i]
                if b == 0xFF:
                    if i + 1 >= len(body):
                        break
                    meta = body[i + 1]
                    n, i = _vlq(body, i + 2)
                    if meta == 0x59 and n >= 2 and -7 <= int.from_bytes(body[i:i + 1], "big", signed=True) <= 7:
                        return True
                    if meta == 0x2F:
                        break
                    i += n
                    status = None
                elif b in (0xF0, 0xF7):
                    n, i = _vlq(body, i + 1)
                    i += n
                    status = None
                else:
                    if b & 0x80:
                        status, i = b, i + 1
                    if status is None:
                        break
                    i += 1 if (status & 0xF0) in (0xC0, 0xD0) else 2
        except ValueError:
            continue
    return False


def has_key_signature(path):
    """Whether the file carries a key-signature meta event. (bool, how it was decided)"""
    import mido

    try:
        mf = mido.MidiFile(path, clip=True)
    except Exception:
        return _walk_key_sigs(path), "walker"
    return any(msg.type == "key_signature" for track in mf.tracks for msg in track), "mido"


def analyse(job):
    """Worker: one file -> dict with music21's key, the key-signature flag and any error."""
    rel_path, abs_path = job
    out = {"path": rel_path, "predicted": None, "error": None, "seconds": 0.0}
    try:
        out["has_keysig"], out["keysig_via"] = has_key_signature(abs_path)
    except Exception as e:  # unreadable file: music21 will fail on it too
        out["has_keysig"], out["keysig_via"] = False, f"error: {type(e).__name__}"
    t0 = time.perf_counter()
    try:
        import music21

        score = music21.converter.parse(abs_path, format="midi", forceSource=True)
        k = score.analyze("key")
        if k.mode not in ("major", "minor"):
            raise ValueError(f"unexpected mode {k.mode!r}")
        out["predicted"] = (k.tonic.pitchClass, k.mode == "minor")
    except Exception as e:
        last = traceback.extract_tb(e.__traceback__)[-1]
        out["error"] = f"{type(e).__name__}: {str(e)[:200]} (at {os.path.basename(last.filename)}:{last.lineno})"
    out["seconds"] = time.perf_counter() - t0
    return out


class Group:
    def __init__(self):
        self.files = self.exact = self.fifth = self.relative = self.parallel = self.other = 0
        self.failures = 0
        self.mirex = 0.0

    def add(self, score, failed):
        self.files += 1
        self.mirex += score
        tenths = round(score * 10)
        if tenths == 10:
            self.exact += 1
        elif tenths == 5:
            self.fifth += 1
        elif tenths == 3:
            self.relative += 1
        elif tenths == 2:
            self.parallel += 1
        else:
            self.other += 1
        self.failures += failed


def read_rows(corpus, label_files):
    rows = []
    for lf in label_files:
        with open(lf, newline="", encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                truth = parse_key_label((rec.get("key") or "").strip())
                if truth is not None:
                    rel = rec["relative_path"].strip()
                    rows.append((rel, os.path.join(corpus, rel), truth))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="folder the label paths are relative to")
    ap.add_argument("labels", nargs="+", help="label CSV files")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    ap.add_argument("--csv", help="write per-file predictions here")
    args = ap.parse_args()

    rows = read_rows(args.corpus, args.labels)
    t0 = time.perf_counter()
    results = {}
    jobs = list(dict.fromkeys((rel, p) for rel, p, _ in rows))  # a file listed twice runs once
    with multiprocessing.Pool(args.jobs, maxtasksperchild=50) as pool:
        for n, r in enumerate(pool.imap_unordered(analyse, jobs), 1):
            results[r["path"]] = r
            if n % 100 == 0 or n == len(jobs):
                print(f"  {n}/{len(jobs)} files, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0

    groups, failed = {}, []
    for rel, _, truth in rows:
        r = results[rel]
        score = mirex(r["predicted"], truth)
        sig = "with key signatures" if r["has_keysig"] else "without key signatures"
        for name in (f"{subset_of(rel)}, {sig}", f"(all files {sig})"):
            groups.setdefault(name, Group()).add(score, r["error"] is not None)
        if r["error"]:
            failed.append((rel, r["error"]))
        r["label"], r["score"] = truth, score

    import music21

    print(f"music21 {music21.__version__} analyze('key'): {len(rows)} labelled files, "
          f"{args.jobs} jobs, wall {wall:.1f} s, failures {len(failed)}")
    print(f"parse + analyze time summed over {len(results)} distinct files: "
          f"{sum(r['seconds'] for r in results.values()):.1f} s")
    print(f"\n{'key':<42} {'files':>5}  MIREX  {'exact':>7}  fifth  rel  par  other  failed")
    for name in sorted(groups):
        g = groups[name]
        print(f"{name:<42} {g.files:>5}  {g.mirex / max(g.files, 1):.3f}  "
              f"{100 * g.exact / max(g.files, 1):>5.1f} %  {g.fifth:>5}  {g.relative:>3}  {g.parallel:>3}  "
              f"{g.other:>5}  {g.failures:>6}")
    fallbacks = sum(1 for r in results.values() if r["keysig_via"] != "mido")
    if fallbacks:
        print(f"\nkey-signature flag from the byte walker (mido could not read): {fallbacks} files")
    if failed:
        print("\nmusic21 failures (scored 0):")
        for rel, err in sorted(failed):
            print(f"  {rel}: {err}")

    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["relative_path", "label", "predicted", "has_keysig", "score", "seconds", "error"])
            for rel, _, _ in rows:
                r = results[rel]
                w.writerow([rel, key_name(r["label"]), key_name(r["predicted"]), int(r["has_keysig"]),
                            r["score"], f"{r['seconds']:.3f}", r["error"] or ""])


if __name__ == "__main__":
    main()
