#!/usr/bin/env python
"""Trains word2vec vectors (gensim) on unlabeled text and writes them for `model.pretrained_embeddings`.

The classic taggers start from word vectors trained on a large unlabeled corpus (Lample et al. 2016: skip-gram
on Gigaword; Plank et al. 2016: Polyglot). No such file can be downloaded here, so this script trains one on
the text we do have: the IMDB training reviews (~6 M words of web English, the genre of EWT's reviews) and the
training split of the treebank itself, never a dev or test file. gensim is the maintained word2vec
implementation (Mikolov et al.'s skip-gram with negative sampling, multi-threaded C); `pip install
-e '.[vectors]'` installs it.

Text is tokenized the way the treebanks are (clitics `n't`, `'s`, `'re` ... and punctuation split off, HTML
line breaks dropped) and lowercased, as `ud_pos` reads words; CoNLL-U files give their FORM column as is.

    python benchmarks/word_vectors.py --out /tmp/vectors/imdb_ewt.w2v.txt \\
        --corpus ../shared/data/imdb/train.jsonl.gz --corpus ../shared/data/ud_english_ewt/en_ewt-ud-train.conllu.gz
    python benchmarks/real_data.py --data ../shared/data --runs ud_pos --seeds 0,1,2 --root /tmp/ud_vec \\
        --set model.pretrained_embeddings=/tmp/vectors/imdb_ewt.w2v.txt
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Iterator

_TOKEN = re.compile(r"\w+(?=n't\b)|n't\b|'(?:s|re|ve|ll|d|m)\b|\w+(?:[-.]\w+)*|[^\w\s]", re.IGNORECASE)
_TAG = re.compile(r"<[^>]{0,40}>")  # IMDB's <br /> line breaks


def tokenize(text: str) -> list[str]:
    """Treebank-style word tokens, lowercased.

    >>> tokenize("I don't like John's e-mail.<br />Really!")
    ['i', 'do', "n't", 'like', 'john', "'s", 'e-mail', '.', 'really', '!']
    """
    return [t.lower() for t in _TOKEN.findall(_TAG.sub(" ", text))]


def _open_text(path: Path) -> io.TextIOBase:
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def sentences(path: Path) -> Iterator[list[str]]:
    """Token lists of a corpus file: `.conllu[.gz]` one per sentence (FORM column, lowercased);
    `.jsonl[.gz]` one per record's "text"; anything else one per non-empty line."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".conllu"):  # the pipeline's own CoNLL-U reader (words, not multiword ranges)
        from components.config import DataConfig
        from components.example_gen.conllu import read_conllu_file

        records, _ = read_conllu_file(str(path), DataConfig())
        for record in records:
            yield [word.lower() for word in record["tokens"]]
        return
    with _open_text(path) as f:
        for line in f:
            if line.strip():
                yield tokenize(json.loads(line)["text"] if name.endswith(".jsonl") else line)


class Corpus:
    """Re-iterable token lists of several files (gensim walks the corpus once per epoch)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __iter__(self) -> Iterator[list[str]]:
        for path in self.paths:
            yield from sentences(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, action="append", required=True, help="a text file (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="word2vec text file to write")
    parser.add_argument("--dim", type=int, default=100, help="vector size (= model.embed_dim)")
    parser.add_argument("--window", type=int, default=3, help="context words each side (small: more syntactic)")
    parser.add_argument("--min-count", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
    parser.add_argument("--seed", type=int, default=0,
                        help="gensim's seed; the vectors repeat exactly only with --workers 1 and a fixed PYTHONHASHSEED")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from gensim.models import Word2Vec  # the `vectors` extra

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    corpus = Corpus(args.corpus)
    start = time.perf_counter()
    model = Word2Vec(corpus, vector_size=args.dim, window=args.window, min_count=args.min_count,
                     sg=0 if args.cbow else 1, negative=5, epochs=args.epochs, seed=args.seed, workers=args.workers)
    seconds = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(".partial-" + args.out.name)  # gensim compresses by the name's ending: keep it
    model.wv.save_word2vec_format(str(tmp), binary=False)
    tmp.replace(args.out)  # a reader never sees half a file
    print(f"{len(model.wv)} words x {args.dim} from {model.corpus_total_words:,} tokens "
          f"({', '.join(p.name for p in args.corpus)}); {'cbow' if args.cbow else 'skip-gram'} window "
          f"{args.window}, {args.epochs} epochs, {seconds:.0f} s -> {args.out}")


if __name__ == "__main__":
    sys.exit(main())
