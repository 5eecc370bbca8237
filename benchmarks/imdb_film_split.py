"""A film-disjoint dev split of IMDB's training reviews, as two JSON Lines files for `data.source` / `data.eval_source`.

The pipeline's default split draws 10% of the reviews at random, but the reviews of one film sit under
consecutive ids of a directory (`neg` ids 100-110 all review *The Zombie Chronicles*), so a random dev set
shares films with training; the official test set has other films. This groups reviews by `(label,
id // block)` and puts a seeded `--fraction` of the groups in dev. (A film's `pos` and `neg` reviews are
numbered apart, so a film can still straddle a block edge or the two labels: an approximation.)

    python benchmarks/imdb_film_split.py --data ../shared/data/imdb/train.jsonl.gz --out /tmp/q16/imdb_split
    python benchmarks/real_data.py --data ../shared/data --runs imdb_rnn --root /tmp/q16/imdb_films \\
        --set data.source=/tmp/q16/imdb_split/train.jsonl.gz --set data.eval_source=/tmp/q16/imdb_split/dev.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="IMDB train.jsonl.gz (keys label, id, text)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--block", type=int, default=100, help="ids per group")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with gzip.open(args.data, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    group = lambda row: (row["label"], int(row["id"].split("_")[0]) // args.block)  # noqa: E731
    groups = sorted({group(row) for row in rows})
    random.Random(args.seed).shuffle(groups)
    dev = set(groups[:round(len(groups) * args.fraction)])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, keep in (("train", lambda r: group(r) not in dev), ("dev", lambda r: group(r) in dev)):
        chosen = [row for row in rows if keep(row)]
        with gzip.open(out / f"{name}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in chosen)
        print(f"{name}: {len(chosen)} reviews ({sum(r['label'] == 'pos' for r in chosen)} pos) -> {out / name}.jsonl.gz")


if __name__ == "__main__":
    main()
