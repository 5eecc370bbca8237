"""The config sections: one frozen dataclass per section of a seqlab config.

Every step reads its section from here (`components` and below never import `pipeline`); loading
YAML, `--set` overrides and validation live in `pipeline/config.py`.

Example:

>>> Config(task="classification").train.epochs
4
"""

from __future__ import annotations

import dataclasses
from typing import Any


class ConfigError(ValueError):
    """A config that cannot run: one line naming the key, the value received and what is allowed."""


# data.conllu_tag: one CoNLL-U tag column, or columns joined by "+" into one joint label per word.
CONLLU_TAGS: tuple[str, ...] = ("upos", "xpos", "upos+xpos")


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where raw examples come from and how they are split.

    `source` is `builtin:<name>[?key=value&...]`, a path or glob, or
    `tfds:<name>[/<config>]`. For two aligned files give `source` and
    `target_source`; a two-column TSV needs only `source`.

    With `eval_source` (e.g. CoNLL-2003 `eng.testa`) every eval example comes
    from that source and `source` feeds only train and test; a parallel eval set
    names its target file in `eval_target_source` (Multi30k `val.de.gz` + `val.en.gz`).

    `format` is `auto` (from the extension: .txt, .tsv, .csv, .jsonl, .conllu,
    each optionally .gz) or one of FORMATS. The `*_field` keys name JSON keys
    or header columns; for header-less TSV/CSV give column indices as
    strings ("0", "1"), which is what the translation defaults do.
    """

    source: str = "builtin:dates"
    target_source: str = ""
    eval_source: str = ""  # a separate eval set (path, glob or tfds:); then eval_fraction is not used
    eval_target_source: str = ""  # the target side of a parallel eval_source (as target_source is of source)
    format: str = "auto"
    num_examples: int = 20000
    seed: int = 1234
    eval_fraction: float = 0.1
    test_fraction: float = 0.1
    max_bad_fraction: float = 0.01
    text_field: str = "text"  # classification / language_model text (JSONL key, header name or index)
    label_field: str = "label"  # classification label
    source_field: str = "0"  # translation source ("0": first column of a header-less TSV)
    target_field: str = "1"  # translation target
    tag_column: int = -1  # CoNLL-2003: column holding the tag (token is column 0)
    iob2: bool = False  # CoNLL-2003: convert IOB1 tags to IOB2
    conllu_tag: str = "upos"  # CoNLL-U: upos | xpos | upos+xpos (joint tags "NOUN|NN", learned as one label)
    text_unit: str = "line"  # plain text: file | line | paragraph
    tfds_split: str = "train"  # tfds: sources: the TFDS split to read (split again by eval/test_fraction)
    tfds_data_dir: str = ""  # tfds: sources: data_dir ("" = the TFDS default)
    tfds_eval_split: str = "validation"  # the TFDS split read when data.eval_source is a tfds: URI


@dataclasses.dataclass(frozen=True)
class TransformConfig:
    """Normalization, tokenization and vocabulary settings."""

    tokenizer: str = "char"  # char | word | wordpiece
    word_split: str = "whitespace"  # whitespace | unicode_script | punctuation (word, wordpiece; tagging: serving only)
    wordpiece_vocab_size: int = 8000  # target size of the learned WordPiece vocabulary
    lowercase: bool = True
    normalization: str = "NFKC"  # NFC | NFKC | NFD | NFKD | none
    whitespace: str = "collapse"  # collapse | keep (char only: spaces and line breaks kept, for char LMs)
    digits_to_zero: bool = False  # every ASCII digit becomes "0" before tokenizing (Lample et al.'s "zeros")
    max_vocab_size: int = 20000
    joint_vocab: bool = False  # translation: one vocabulary for source and target (model.share_embeddings)
    min_count: int = 1
    max_source_length: int = 64
    max_target_length: int = 32
    # 0: the runner decides (one file per bundle it writes, so the file count follows its parallelism and the
    # records are not shuffled to the writers); N > 0: exactly N files (a GroupByKey of the batches first)
    num_shards: int = 0
    # word tokenizer: of the first vocab_vectors_words words of this vectors file (its most frequent), those the
    # encoder can produce (one token after normalizing, found by the vectors loader) join the vocabulary of every
    # side a model reads after the words it holds, so a word the vocabulary lacks (unseen in training, or under
    # min_count / max_vocab_size) keeps its pretrained vector (model.pretrained_embeddings: the same file)
    # instead of becoming [UNK]; the vocabulary grows past max_vocab_size by up to that many words. The file
    # alone decides the words: no dev or test text is read.
    vocab_vectors: str = ""
    vocab_vectors_words: int = 0
    batch_size: int = 256


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model family and its hyperparameters.

    Families (models.registry): `rnn_attention` (translation), `rnn_classifier`,
    `transformer_classifier` (classification), `rnn_tagger`, `transformer_tagger`
    (tagging), `rnn_language_model`, `transformer_language_model` (language_model).
    Each reads only its own keys (`pipeline.config.FAMILY_KEYS`; `components/trainer/model_builder.py`
    turns them into constructor arguments): a key set in a file or by `--set` that
    the family does not read is a ConfigError naming the keys it does read.
    """

    family: str = "auto"  # auto: the task's default (its first family, components/tasks)
    cell: str = "gru"  # gru | lstm | simple (SimpleRNN; classifiers only)
    embed_dim: int = 32
    units: int = 128
    encoder_layers: int = 1  # recurrent layers (encoder, classifier, tagger) or Transformer blocks
    bidirectional: bool = True
    attention_units: int = 64  # Bahdanau attention (translation) and attention pooling
    attention: str = "bahdanau"  # rnn_attention: bahdanau | luong_general | luong_dot (Luong: after the step)
    dropout: float = 0.0
    pooling: str = "auto"  # classifiers: auto | last | bidirectional_last | mean | max | attention | cls
    output: str = "softmax"  # taggers: softmax | crf
    bio_constraints: bool = False  # CRF taggers: forbid O -> I-X and B-X -> I-Y transitions
    char_filters: int = 0  # taggers: size of the character-level word features (0: no character encoder)
    char_encoder: str = "cnn"  # taggers: cnn (Ma & Hovy) | bilstm (Lample et al.; char_filters // 2 units a direction)
    char_embed_dim: int = 16
    word_dropout: float = 0.0  # taggers: a training word becomes [UNK] with this probability
    num_heads: int = 4  # Transformer families
    ff_dim: int = 128
    positions: str = "sinusoidal"  # sinusoidal | learned
    max_length: int = 256  # transformer_language_model: longest context (prompt + generated tokens);
    #                        transformer_seq2seq: longest source and target sequence (decoder cache slots)
    decoder_layers: int = 3  # transformer_seq2seq: decoder blocks (encoder_layers: encoder blocks)
    share_embeddings: bool = False  # transformer_seq2seq: one embedding for both sides (transform.joint_vocab)
    tie_output: bool = False  # transformer_seq2seq: logits from the target embedding transposed
    # word vectors file (word2vec text/binary, GloVe text, optionally .gz; components/pretrained_vectors.py)
    # filling the word embedding of taggers, classifiers and rnn_attention's source side ("": none)
    pretrained_embeddings: str = ""
    pretrained_format: str = "auto"  # auto | word2vec_text | word2vec_binary | glove
    freeze_embeddings: bool = False  # pretrained vectors: frozen (true) or fine-tuned (false)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimization, input pipeline and precision."""

    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 0.003
    clipnorm: float = 1.0
    patience: int = 2
    monitor: str = "val_loss"  # early stopping and the restored weights: val_loss (lowest) | val_accuracy (highest)
    precision: str = "auto"  # auto | float32 | mixed_float16 | mixed_bfloat16
    shuffle_buffer: int = 10000
    bucket_boundaries: tuple = (12, 18, 24, 32)
    seed: int = 42  # weight init, shuffling, dropout and word dropout (data.seed draws the split)
    deterministic: bool = False  # TensorFlow op determinism: bit-identical reruns of a seed, slower training
    # auto | default | mirrored (every local GPU) | multi_worker (TF_CONFIG cluster; README "Training on
    # several machines"); batch_size is the global batch, split over the replicas
    strategy: str = "auto"
    max_minutes: float = 0.0  # training time budget: stop after the batch that crosses it (0: none)
    lr_decay: float = 1.0  # learning rate x lr_decay after every epoch (1: constant)
    # > 0: the inverse-square-root schedule of Vaswani et al.: learning_rate * min(step / warmup_steps,
    # sqrt(warmup_steps / step)), i.e. a linear warm-up to learning_rate, then decay as 1/sqrt(step)
    warmup_steps: int = 0
    label_smoothing: float = 0.0  # translation: the target distribution puts this mass uniformly on the vocabulary
    # language_model input: "windows" (length sequence_length, every `stride` tokens, shuffled) or
    # "stateful" (truncated BPTT: each batch row reads its own contiguous slice of the stream, states
    # carried from batch to batch and reset every epoch; RNN families, one replica: not with strategy mirrored
    # or multi_worker, which split each batch)
    lm_input: str = "windows"
    sequence_length: int = 100  # language_model: tokens per window / BPTT chunk
    stride: int = 0  # language_model windows: tokens between window starts (0: sequence_length)


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
    """How a generative model (translation, language model) chooses its tokens (models.decoding).

    `strategy`: greedy | sampling | beam | auto (beam for translation, sampling for language models).
    Beam search reads `beam_width` and `length_penalty` (GNMT's alpha, 0: rank by log-probability);
    sampling reads `temperature` (0: greedy), `top_k` (0: all tokens) and `top_p` (1: all tokens).
    """

    strategy: str = "auto"
    beam_width: int = 4
    length_penalty: float = 0.6
    temperature: float = 0.7
    top_k: int = 0
    top_p: float = 1.0


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Decoding and blessing."""

    max_decode_length: int = 16
    decode: DecodeConfig = DecodeConfig()  # translation: the evaluator's decoding (as push.decode by default)
    bless_metric: str = "auto"  # auto: exact_match (translation), accuracy (classification),
    #                             entity_f1 (BIO tagging) or token_accuracy (other tagging)
    bless_threshold: float = 0.9
    num_attention_plots: int = 3
    batch_size: int = 256
    sample_temperatures: tuple = (0.3, 0.7, 1.0)  # language_model: report samples at these temperatures
    sample_tokens: int = 300  # language_model: tokens per report sample
    sample_prompt: str = ""  # language_model: the samples' prompt ("": none, the model starts a text)


@dataclasses.dataclass(frozen=True)
class PushConfig:
    """Where and under which name the SavedModel is published."""

    model_name: str = "dates"
    max_new_tokens: int = 200  # language_model serving_default: tokens generated per prompt
    decode: DecodeConfig = DecodeConfig()  # the served serving_default's decoding
    # models.config base paths: "" writes this machine's absolute paths; e.g. "/models" writes /models/<name>,
    # the tensorflow/serving container's mount of serving/
    serving_base_path: str = ""


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole pipeline configuration."""

    name: str = "quickstart"
    task: str = "translation"
    data: DataConfig = DataConfig()
    transform: TransformConfig = TransformConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    push: PushConfig = PushConfig()

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))
