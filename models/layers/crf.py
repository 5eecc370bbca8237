"""Linear-chain conditional random field (CRF) over per-token emission scores."""

import keras
from keras import ops

from models.checks import check_positive_int
from models.layers.bahdanau_attention import large_negative

# Added to disallowed (BIO-constrained) transitions. Derived from the smallest
# float dtype we run in, so it is finite under every policy, and summing it over
# any realistic number of time steps in float32 cannot overflow to -inf.
DISALLOWED = large_negative("float16")


def _split_tag(name):
    """`"B-PER"` -> `("B", "PER")`; anything without a B-/I- prefix is outside."""
    if name[:2] in ("B-", "I-") and len(name) > 2:
        return name[0], name[2:]
    return "O", None


def bio_allowed_transitions(tag_names):
    """Which transitions a BIO tagging scheme allows.

    `I-X` may only follow `B-X` or `I-X`; it may not start a sequence. Every
    other transition (including into `O`, into `B-X`, and to the end) is
    allowed. Names without a `B-`/`I-` prefix (`"O"`, `"[PAD]"`) count as
    outside.

    Args:
        tag_names: list of str, the name of each tag id.

    Returns:
        `(start_allowed, allowed)`: a list of `num_tags` bools (may the
        sequence start with tag `j`) and a `num_tags x num_tags` nested list of
        bools (may tag `i` be followed by tag `j`).

    Example:

    >>> start, allowed = bio_allowed_transitions(["O", "B-PER", "I-PER"])
    >>> start
    [True, True, False]
    >>> allowed[0][2], allowed[1][2], allowed[2][2]
    (False, True, True)
    """
    parsed = [_split_tag(name) for name in tag_names]

    def may_follow(prev, nxt):
        nxt_prefix, nxt_type = nxt
        if nxt_prefix != "I":
            return True
        prev_prefix, prev_type = prev
        return prev_prefix in ("B", "I") and prev_type == nxt_type

    start_allowed = [prefix != "I" for prefix, _ in parsed]
    allowed = [[may_follow(prev, nxt) for nxt in parsed] for prev in parsed]
    return start_allowed, allowed


@keras.saving.register_keras_serializable(package="seqlab")
class CRF(keras.layers.Layer):
    """Linear-chain CRF with start, end and tag-to-tag transition scores.

    The score of a tag sequence `y_1..y_n` (n = unpadded length) for emission
    scores `e` is

        s(y) = start[y_1] + sum_t e_t[y_t] + sum_{t>1} A[y_{t-1}, y_t] + end[y_n]

    and `log p(y | e) = s(y) - log sum_y' exp s(y')`. The partition function is
    computed with the forward algorithm (a log-sum-exp recursion) and the best
    sequence with Viterbi, both as `keras.ops.scan` over time, so they trace
    with an unknown sequence length (TF graph mode, `jax.jit`). Everything is
    computed in float32 whatever the dtype policy; the weights are float32 and
    never autocast.

    Training: `call` returns decoded tags, which carry no gradient; train on
    `-log_likelihood(emissions, tags, mask)`, as `TaggingHead.tagging_loss` does.

    With `bio_constraints`, the transitions `bio_allowed_transitions` forbids
    get `DISALLOWED` added, in the likelihood and in decoding. Gold sequences
    must then be valid BIO (IOB2), or their loss is enormous.

    Args:
        num_tags: int, number of tags `K` (size of the emissions' last axis).
        bio_constraints: optional list of `num_tags` tag names (e.g.
            `["O", "B-PER", "I-PER"]`); when given, BIO constraints apply.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        emissions: `(batch, time, num_tags)` unary scores (any float dtype).
        mask: optional `(batch, time)` bool or 0/1 tensor, true at real
            tokens; padding must be on the right. Defaults to all true.

    Returns:
        int32 `(batch, time)` best tag ids, 0 at padded positions.

    Example:

    >>> crf = CRF(3)
    >>> emissions = np.random.rand(2, 4, 3).astype("float32")
    >>> mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    >>> ops.shape(crf(emissions, mask=mask))
    (2, 4)
    >>> tags = np.array([[1, 2, 0, 0], [0, 1, 1, 2]])
    >>> ops.shape(crf.log_likelihood(emissions, tags, mask))
    (2,)
    """

    def __init__(self, num_tags, bio_constraints=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("num_tags", num_tags)
        if bio_constraints is not None:
            bio_constraints = list(bio_constraints)
            if len(bio_constraints) != num_tags or not all(
                isinstance(name, str) for name in bio_constraints
            ):
                raise ValueError(
                    f"Expected `bio_constraints` to be a list of {num_tags} tag "
                    f"names (one per tag id). Received: bio_constraints={bio_constraints!r}"
                )
        self.num_tags = num_tags
        self.bio_constraints = bio_constraints
        self.supports_masking = True

    def build(self, emissions_shape):
        if emissions_shape[-1] is not None and emissions_shape[-1] != self.num_tags:
            raise ValueError(
                f"Expected emissions with last dimension num_tags={self.num_tags}. "
                f"Received: emissions_shape={tuple(emissions_shape)}"
            )
        init = keras.initializers.RandomUniform(-0.1, 0.1)
        k = self.num_tags
        # transitions[i, j]: score of tag i followed by tag j.
        self.transitions = self.add_weight(
            shape=(k, k), initializer=init, name="transitions", autocast=False
        )
        self.start_transitions = self.add_weight(
            shape=(k,), initializer=init, name="start_transitions", autocast=False
        )
        self.end_transitions = self.add_weight(
            shape=(k,), initializer=init, name="end_transitions", autocast=False
        )
        self.built = True

    def transition_scores(self):
        """`(transitions (K, K), start (K,), end (K,))` in float32, constraints added."""
        transitions = ops.cast(self.transitions, "float32")
        start = ops.cast(self.start_transitions, "float32")
        end = ops.cast(self.end_transitions, "float32")
        if self.bio_constraints is not None:
            start_allowed, allowed = bio_allowed_transitions(self.bio_constraints)
            penalty = lambda ok: 0.0 if ok else DISALLOWED  # noqa: E731
            start = start + ops.convert_to_tensor(
                [penalty(ok) for ok in start_allowed], "float32"
            )
            transitions = transitions + ops.convert_to_tensor(
                [[penalty(ok) for ok in row] for row in allowed], "float32"
            )
        return transitions, start, end

    def _prepare(self, emissions, mask):
        """Float32 emissions, bool mask, and the packed time-major scan input.

        The scan input is one tensor `(time, batch, K + 2)`: emissions, mask,
        and a first-step flag. (The TF backend's `ops.scan` cannot take several
        `xs` when the length is unknown.)
        """
        emissions = ops.cast(emissions, "float32")  # (batch, time, K)
        if mask is None:
            mask = ops.ones(ops.shape(emissions)[:2], "bool")
        mask = ops.cast(mask, "bool")  # (batch, time)
        mask_f = ops.expand_dims(ops.cast(mask, "float32"), -1)  # (batch, time, 1)
        first = ops.cast(ops.equal(ops.arange(ops.shape(emissions)[1]), 0), "float32")
        first = ops.zeros_like(mask_f) + ops.reshape(first, (1, -1, 1))  # (batch, time, 1)
        steps = ops.concatenate([emissions, mask_f, first], axis=-1)
        return emissions, mask, ops.transpose(steps, (1, 0, 2))  # (time, batch, K + 2)

    def _unpack(self, step):
        """`(batch, K + 2)` -> emission `(batch, K)`, mask and first `(batch, 1)` bools."""
        k = self.num_tags
        return step[:, :k], step[:, k : k + 1] > 0.5, step[:, k + 1 :] > 0.5

    def log_partition(self, emissions, mask=None):
        """`log Z`, shape `(batch,)` float32, by the forward algorithm."""
        transitions, start, end = self.transition_scores()
        emissions, mask, time_major = self._prepare(emissions, mask)

        def step(alpha, inputs):
            emission, step_mask, first = self._unpack(inputs)  # (batch, K), (batch, 1) x2
            # (batch, K_prev, 1) + (K_prev, K) -> logsumexp over K_prev
            scores = ops.logsumexp(ops.expand_dims(alpha, 2) + transitions, axis=1)
            scores = ops.where(first, start, scores) + emission  # (batch, K)
            alpha = ops.where(ops.logical_or(step_mask, first), scores, alpha)
            return alpha, alpha

        alpha, _ = ops.scan(step, ops.zeros_like(emissions[:, 0]), time_major)
        return ops.logsumexp(alpha + end, axis=1)  # (batch,)

    def sequence_score(self, emissions, tags, mask=None):
        """Unnormalized score `s(tags)`, shape `(batch,)` float32."""
        transitions, start, end = self.transition_scores()
        emissions, mask, _ = self._prepare(emissions, mask)
        tags = ops.where(mask, ops.cast(tags, "int32"), 0)  # (batch, time)
        mask_f = ops.cast(mask, "float32")
        emitted = ops.squeeze(
            ops.take_along_axis(emissions, ops.expand_dims(tags, -1), axis=2), -1
        )  # (batch, time)
        score = ops.take(start, tags[:, 0]) + ops.sum(emitted * mask_f, axis=1)
        pair_ids = tags[:, :-1] * self.num_tags + tags[:, 1:]  # (batch, time - 1)
        pair_scores = ops.take(ops.reshape(transitions, (-1,)), pair_ids)
        score = score + ops.sum(pair_scores * mask_f[:, 1:], axis=1)
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)  # (batch,)
        last = ops.take_along_axis(
            tags, ops.expand_dims(ops.maximum(lengths - 1, 0), 1), axis=1
        )  # (batch, 1)
        return score + ops.take(end, ops.squeeze(last, 1))

    def log_likelihood(self, emissions, tags, mask=None):
        """`log p(tags | emissions)` per sequence, `(batch,)` float32.

        Args:
            emissions: `(batch, time, num_tags)` float scores.
            tags: int `(batch, time)` gold tag ids (values at padding ignored).
            mask: optional `(batch, time)`, true at real tokens (right padding).

        Returns:
            float32 `(batch,)`; 0 for sequences without any real token.
        """
        if not self.built:
            self.build(tuple(emissions.shape))
        log_z = self.log_partition(emissions, mask)
        score = self.sequence_score(emissions, tags, mask)
        if mask is None:
            return score - log_z
        nonempty = ops.any(ops.cast(mask, "bool"), axis=1)
        return ops.where(nonempty, score - log_z, 0.0)

    def viterbi_decode(self, emissions, mask=None):
        """Best tag sequences and their scores.

        Returns:
            `(tags, scores)`: int32 `(batch, time)` with 0 at padding, and
            float32 `(batch,)` unnormalized scores `s(tags)` (0 for empty rows).
        """
        if not self.built:
            self.build(tuple(emissions.shape))
        transitions, start, end = self.transition_scores()
        emissions, mask, time_major = self._prepare(emissions, mask)
        identity = ops.zeros_like(emissions[:, 0], "int32") + ops.arange(
            self.num_tags, dtype="int32"
        )  # (batch, K): back pointer of a padded step

        def forward(carry, inputs):
            delta, _ = carry
            emission, step_mask, first = self._unpack(inputs)
            candidates = ops.expand_dims(delta, 2) + transitions  # (batch, K_prev, K)
            best_prev = ops.cast(ops.argmax(candidates, axis=1), "int32")  # (batch, K)
            scores = ops.where(first, start, ops.max(candidates, axis=1)) + emission
            delta = ops.where(ops.logical_or(step_mask, first), scores, delta)
            pointers = ops.where(step_mask, best_prev, identity)
            return (delta, pointers), (delta, pointers)

        init = (ops.zeros_like(emissions[:, 0]), identity)
        (delta, _), (_, pointers) = ops.scan(forward, init, time_major)
        # pointers: (time, batch, K); pointers[t, b, j] = best tag at t - 1 given j at t
        final = delta + end  # (batch, K)
        last = ops.cast(ops.argmax(final, axis=1), "int32")  # (batch,)

        def backward(tag, step_pointers):
            prev = ops.squeeze(
                ops.take_along_axis(step_pointers, ops.expand_dims(tag, 1), axis=1), 1
            )
            return prev, tag  # carry: tag at t - 1; output: tag at t

        _, tags = ops.scan(backward, last, pointers, reverse=True)  # (time, batch)
        tags = ops.transpose(tags, (1, 0)) * ops.cast(mask, "int32")  # (batch, time)
        nonempty = ops.any(mask, axis=1)
        scores = ops.where(nonempty, ops.max(final, axis=1), 0.0)
        return tags, scores

    def call(self, emissions, mask=None):
        tags, _ = self.viterbi_decode(emissions, mask)
        return tags  # (batch, time) int32

    def compute_mask(self, emissions, mask=None):
        return mask

    def compute_output_shape(self, emissions_shape):
        return tuple(emissions_shape[:-1])

    def compute_output_spec(self, emissions, mask=None):
        return keras.KerasTensor(tuple(emissions.shape[:-1]), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags, "bio_constraints": self.bio_constraints}
