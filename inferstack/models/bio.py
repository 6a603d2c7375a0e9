"""The best BIO tag path a token classifier's probabilities allow (Viterbi over words)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_TINY = 1e-12  # log(0) guard


class BioPath:
    """Tags word pieces from per-piece class probabilities so that the result is valid BIO: an
    I- tag only continues its own type, and the later pieces of a word follow its first piece (O
    after O, I-X after B-X or I-X). The best such path under the first pieces' log probabilities
    is found with Viterbi, for a whole batch at once. Taking each piece's argmax instead let one
    unsure piece split a name into fragments of two types ("Varga K" ORGANIZATION, ". Zsófia"
    PERSON); over three NER data draws the path raised PERSON and LOCATION F1 on the held-out,
    blind and fresh sets in all 18 comparisons (README)."""

    def __init__(self, labels: Sequence[str]) -> None:
        kinds = [label.partition("-")[0] for label in labels]
        types = [label.partition("-")[2] for label in labels]
        n = len(labels)
        # follows[i, j]: 0 where tag j may come right after tag i, -inf where BIO forbids it.
        self.follows = np.zeros((n, n))
        self.starts = np.zeros(n)
        for j in range(n):
            if kinds[j] == "I":
                self.starts[j] = -np.inf
                self.follows[[i for i in range(n) if types[i] != types[j]], j] = -np.inf
        # The tag a later piece of a word gets from the word's first piece.
        self.inside = np.array([labels.index(f"I-{types[i]}") if kinds[i] != "O" else i for i in range(n)])
        # A piece's score is the chance that it belongs to its tag's type (B- and I- together).
        self.type_mass = np.array([[float(types[i] == types[j]) for j in range(n)] for i in range(n)])

    def tags(self, probs: np.ndarray, words: Sequence[Sequence[int | None]]) -> tuple[np.ndarray, np.ndarray]:
        """Tag ids and scores, shaped like `probs` without its class axis (rows, pieces).
        `words` holds each piece's word id per row, None for special and padding tokens, which
        get tag 0 and score 0."""
        rows, length, _ = probs.shape
        firsts = np.zeros((rows, length), dtype=np.intp)  # piece index of each word's first piece
        owner = np.full((rows, length), -1, dtype=np.intp)  # each piece's word, in `firsts` order
        is_first = np.zeros((rows, length), dtype=bool)
        counts = np.zeros(rows, dtype=np.intp)
        for row, row_words in enumerate(words):
            count, previous = -1, None
            for k, word in enumerate(row_words):
                if word is None:
                    previous = None
                    continue
                if word != previous:
                    count += 1
                    firsts[row, count], is_first[row, k] = k, True
                owner[row, k], previous = count, word
            counts[row] = count + 1
        width = int(counts.max(initial=1))
        first_probs = np.take_along_axis(probs, firsts[:, :width, None], 1)
        path = self._viterbi(np.log(first_probs + _TINY), counts)
        word_tags = np.take_along_axis(path, np.maximum(owner, 0), 1)
        ids = np.where(is_first, word_tags, self.inside[word_tags])
        ids[owner < 0] = 0
        scores = np.take_along_axis(probs @ self.type_mass, ids[..., None], 2)[..., 0]
        scores[owner < 0] = 0.0
        return ids, scores

    def _viterbi(self, log_probs: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Best tag per word (rows, words); positions past a row's `counts` repeat its last tag."""
        rows, length, n = log_probs.shape
        score = self.starts + log_probs[:, 0]
        back = np.broadcast_to(np.arange(n), (rows, length, n)).copy()
        for t in range(1, length):
            candidates = score[:, :, None] + self.follows
            live = (t < counts)[:, None]
            back[:, t] = np.where(live, candidates.argmax(1), back[:, t])
            score = np.where(live, candidates.max(1) + log_probs[:, t], score)
        path = np.zeros((rows, length), dtype=np.intp)
        path[:, -1] = score.argmax(-1)
        for t in range(length - 1, 0, -1):
            path[:, t - 1] = np.take_along_axis(back[:, t], path[:, t : t + 1], 1)[:, 0]
        return path
