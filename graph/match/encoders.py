"""Text encoders: a text becomes a vector, and two vectors' dot product is their relevance.

``encoder(name)`` picks one by name (``JEMBATAN_MATCH_ENCODER``):

* ``tfidf`` (the default, offline, nothing to download): scikit-learn's HashingVectorizer
  and TfidfTransformer over the search index's tokens (``textindex.tokens``: words in
  scripts with spaces, overlapping character bigrams in Han, Thai, Lao, Khmer and Myanmar),
  plus character 4-grams inside longer words so that "baterai", "bateri" and "battery"
  or "sistem" and "system" meet. Hashing keeps no vocabulary, so a record added after the
  index was built is encoded like the others; the IDF is learnt when the index is built.
  Rows are sparse and L2-normalised.
* ``sentence-transformers:<model>``: a sentence-transformers model, by a local path or a
  Hugging Face id already in the local cache (nothing is downloaded unless
  ``JEMBATAN_MATCH_DOWNLOAD=1``). Rows are dense and normalised. The package is an optional
  dependency (``pip install 'jembatan[embeddings]'``).

An encoder also says which of its units two texts share (``shared``), for the reasons a
match shows.
"""
from __future__ import annotations

import os
from typing import Protocol, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.utils import murmurhash3_32

from jembatan.network import errors

from ..textindex import tokens

#: 2^20 hashed features: collisions stay rare for a million records' worth of n-grams.
N_FEATURES = 1 << 20
#: Latin-script words at least this long also give their character 4-grams.
GRAM_WORDS = 6


def _invalid(detail: str) -> errors.ValidationError:
    return errors.ValidationError("Invalid text encoder.",
                                  errors=[{"field": "JEMBATAN_MATCH_ENCODER", "detail": detail}])


def analyse(text: str) -> list[str]:
    """The units of a text: its search tokens, and the 4-grams of its longer words."""
    out = tokens(text)
    grams = [f"#{w[i:i + 4]}" for w in out if len(w) >= GRAM_WORDS and w.isascii()
             for i in range(len(w) - 3)]
    return out + grams


class TextEncoder(Protocol):
    name: str
    dense: bool

    def fit(self, texts: Sequence[str]) -> None:
        """Learn what the corpus teaches (e.g. IDF); a no-op for a pretrained model."""

    def encode(self, texts: Sequence[str]):
        """One L2-normalised row per text: a scipy CSR matrix, or a float32 array if dense."""

    def shared(self, a: str, b: str) -> list[str]:
        """The units both texts contain, most telling first (for reasons)."""


class TfidfEncoder:
    name = "tfidf"
    dense = False

    def __init__(self) -> None:
        self._hash = HashingVectorizer(analyzer=analyse, n_features=N_FEATURES,
                                       alternate_sign=False, norm=None, dtype=np.float32)
        self._tfidf = TfidfTransformer(sublinear_tf=True)
        self._idf: np.ndarray | None = None
        self._n = 0

    def fit(self, texts: Sequence[str]) -> None:
        counts = self._hash.transform(texts)
        self._tfidf.fit(counts)
        self._idf = self._tfidf.idf_.astype(np.float32)
        self._n = counts.shape[0]

    def fit_counts(self, df: np.ndarray, n: int) -> None:
        """Fit from document frequencies counted elsewhere (e.g. in worker processes)."""
        self._idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
        self._n = n

    def counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self._hash.transform(texts)

    def encode(self, texts: Sequence[str]) -> sparse.csr_matrix:
        if self._idf is None:
            raise RuntimeError("fit the encoder first")
        X = self._hash.transform(texts)
        np.log(X.data, out=X.data)
        X.data += 1
        X = X @ sparse.diags(self._idf, format="csr")
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        return sparse.csr_matrix(sparse.diags(1 / norms) @ X, dtype=np.float32)

    def shared(self, a: str, b: str) -> list[str]:
        common = _common(a, b)
        if self._idf is None or not common:
            return common
        idf = self._idf[[column(t) for t in common]]
        # units found in more than a tenth of the corpus ("the", "技术") explain nothing
        floor = np.log((1 + self._n) / (1 + self._n / 10)) + 1
        return [t for w, t in sorted(zip(-idf, common)) if -w >= floor]


class SentenceEncoder:
    dense = True

    def __init__(self, model: str):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise _invalid("The sentence-transformers encoder needs the optional dependency: "
                           "pip install 'jembatan[embeddings]'.")
        download = os.environ.get("JEMBATAN_MATCH_DOWNLOAD") == "1"
        try:
            self.model = SentenceTransformer(model, device="cpu", local_files_only=not download)
        except (OSError, ValueError) as exc:
            raise _invalid(f"Cannot load the sentence-transformers model {model!r}: {exc}")
        self.name = f"sentence-transformers:{model}"

    def fit(self, texts: Sequence[str]) -> None:
        return None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False).astype(np.float32)

    def shared(self, a: str, b: str) -> list[str]:
        return _common(a, b)


def column(unit: str) -> int:
    """The hashed feature of a unit, as HashingVectorizer computes it (signed MurmurHash3,
    seed 0, absolute value modulo the number of features)."""
    return abs(murmurhash3_32(unit, seed=0)) % N_FEATURES


def _common(a: str, b: str) -> list[str]:
    """The tokens both texts contain, in the first's order; one-character tokens (the tail
    of a Chinese or Thai run) say too little to show."""
    theirs = set(tokens(b))
    return list(dict.fromkeys(t for t in tokens(a) if t in theirs and len(t) > 1))


def encoder(name: str = "tfidf") -> TextEncoder:
    """The encoder called ``name``: ``tfidf`` or ``sentence-transformers:<model>``."""
    if name == "tfidf":
        return TfidfEncoder()
    prefix = "sentence-transformers:"
    if name.startswith(prefix) and len(name) > len(prefix):
        return SentenceEncoder(name[len(prefix):])
    raise _invalid(f"Unknown text encoder {name!r}: 'tfidf' or 'sentence-transformers:<model>'.")
