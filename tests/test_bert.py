"""course_lib.bert against transformers: BertForPreTraining (logits, losses, both ways), parameter
counts (allocated models and the published BERT sizes), and BERT's masking against
DataCollatorForLanguageModeling (proportions within sampling error)."""
from __future__ import annotations

import math

import pytest
import torch

from _needs import needs_module
from course_lib.bert import (BERT_CONFIGS, BertConfig, BertForPreTraining, BertModel, BertTokenizer, NSPCorpus,
                             SPECIAL_TOKENS, attention_maps, backbone_from_hf_state, backbone_to_hf_state,
                             count_parameters, fill_mask, from_hf, hf_config, mask_tokens, masking_outcomes,
                             mlm_loss, pair_example, parameter_breakdown, parse_speeches, split_plays, to_hf)

transformers = needs_module("transformers")

CONFIGS = [
    BertConfig(50, 20, n_layers=2, n_heads=2, d_model=16, d_ff=32),
    BertConfig(97, 16, n_layers=1, n_heads=4, d_model=32, d_ff=80, n_segments=3, pad_id=5),
    BertConfig(64, 24, n_layers=3, n_heads=1, d_model=24, d_ff=24, eps=1e-6),
]


def _model(config, dtype=torch.float64, seed=0):
    """Our model in eval mode, every parameter jittered so that biases and LayerNorm gains matter."""
    torch.manual_seed(seed)
    model = BertForPreTraining(config).to(dtype).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _batch(config, B=4, T=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    T = min(T, config.max_len)
    ids = torch.randint(config.vocab_size, (B, T), generator=g)
    segments = torch.zeros_like(ids)
    segments[:, T // 2:] = config.n_segments - 1
    real = torch.ones(B, T, dtype=torch.bool)
    real[1, T - 3:] = False
    real[2, 4:] = False
    labels = torch.where(torch.rand(B, T, generator=g) < 0.3, ids, torch.full_like(ids, -100))
    labels[:, 1] = ids[:, 1]                    # at least one label per row
    nsp = torch.randint(2, (B,), generator=g)
    return ids, segments, real, labels, nsp


def _hf_outputs(hf, ids, segments, real, labels, nsp):
    return hf(input_ids=ids, token_type_ids=segments, attention_mask=real.long(), labels=labels,
              next_sentence_label=nsp)


# ----------------------------------------------------------------------------- equal to transformers

@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("k", range(len(CONFIGS)))
def test_to_hf_same_logits_and_loss(k, dtype, tol):
    config = CONFIGS[k]
    ours = _model(config, dtype)
    hf = to_hf(ours)
    assert next(hf.parameters()).dtype == dtype
    ids, seg, real, labels, nsp = _batch(config)
    out = ours(ids, seg, real, mlm_labels=labels, nsp_labels=nsp)
    ref = _hf_outputs(hf, ids, seg, real, labels, nsp)
    torch.testing.assert_close(out.mlm_logits, ref.prediction_logits, rtol=0, atol=tol)
    torch.testing.assert_close(out.nsp_logits, ref.seq_relationship_logits, rtol=0, atol=tol)
    torch.testing.assert_close(out.loss, ref.loss, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("k", range(len(CONFIGS)))
def test_from_hf_same_logits_and_loss(k, dtype, tol):
    """The other way: a transformers model with random weights, read into ours."""
    config = CONFIGS[k]
    torch.manual_seed(k)
    hf = transformers.BertForPreTraining(hf_config(config)).to(dtype).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ours = from_hf(hf)
    assert ours.config == config
    ids, seg, real, labels, nsp = _batch(config, seed=k + 7)
    out = ours(ids, seg, real, mlm_labels=labels, nsp_labels=nsp)
    ref = _hf_outputs(hf, ids, seg, real, labels, nsp)
    torch.testing.assert_close(out.mlm_logits, ref.prediction_logits, rtol=0, atol=tol)
    torch.testing.assert_close(out.nsp_logits, ref.seq_relationship_logits, rtol=0, atol=tol)
    torch.testing.assert_close(out.loss, ref.loss, rtol=0, atol=tol)


def test_round_trip_and_backbone_state():
    ours = _model(CONFIGS[0])
    back = from_hf(to_hf(ours))
    for (n1, p1), (n2, p2) in zip(ours.state_dict().items(), back.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2), n1
    # the backbone mapping alone, as a sentence-classification or QA head will use it
    hf_backbone = transformers.BertModel(hf_config(CONFIGS[0]), add_pooling_layer=True).double().eval()
    hf_backbone.load_state_dict(backbone_to_hf_state(ours.bert), strict=True)
    ids, seg, real, *_ = _batch(CONFIGS[0])
    hidden, pooled = ours.bert(ids, seg, real)
    ref = hf_backbone(input_ids=ids, token_type_ids=seg, attention_mask=real.long())
    torch.testing.assert_close(hidden, ref.last_hidden_state, rtol=0, atol=1e-10)
    torch.testing.assert_close(pooled, ref.pooler_output, rtol=0, atol=1e-10)
    fresh = backbone_from_hf_state(BertModel(CONFIGS[0]).double().eval(), hf_backbone.state_dict())
    torch.testing.assert_close(fresh(ids, seg, real)[0], hidden, rtol=0, atol=1e-12)


def test_a_wrong_weight_is_caught():
    """The equality tests can fail: perturb one LayerNorm gain of the copy and the logits differ."""
    ours = _model(CONFIGS[0])
    hf = to_hf(ours)
    with torch.no_grad():
        hf.bert.encoder.layer[1].output.LayerNorm.weight[3] += 1e-3
    ids, seg, real, labels, nsp = _batch(CONFIGS[0])
    diff = (ours(ids, seg, real).mlm_logits - _hf_outputs(hf, ids, seg, real, labels, nsp).prediction_logits)
    assert diff.abs().max() > 1e-6


def test_masked_only_gives_the_same_loss():
    config = CONFIGS[1]
    ours = _model(config)
    ids, seg, real, labels, nsp = _batch(config)
    full = ours(ids, seg, real, mlm_labels=labels, nsp_labels=nsp)
    lean = ours(ids, seg, real, mlm_labels=labels, nsp_labels=nsp, masked_only=True)
    assert lean.mlm_logits.shape == (int((labels != -100).sum()), config.vocab_size)
    torch.testing.assert_close(lean.loss, full.loss, rtol=0, atol=1e-12)
    torch.testing.assert_close(lean.mlm_logits, full.mlm_logits[labels != -100], rtol=0, atol=1e-12)
    # the MLM loss is the mean over labelled positions only
    logp = torch.log_softmax(full.mlm_logits, -1)
    keep = labels != -100
    by_hand = -logp[keep].gather(1, labels[keep][:, None]).mean()
    torch.testing.assert_close(full.mlm_loss, by_hand, rtol=0, atol=1e-12)
    torch.testing.assert_close(full.loss, full.mlm_loss + full.nsp_loss, rtol=0, atol=0)
    only_mlm = ours(ids, seg, real, mlm_labels=labels)
    torch.testing.assert_close(only_mlm.loss, full.mlm_loss, rtol=0, atol=0)


def test_padding_is_ignored_and_training_mode_differs():
    config = CONFIGS[0]
    ours = _model(config)
    ids, seg, real, *_ = _batch(config)
    hidden, _ = ours.bert(ids, seg, real)
    ids2 = ids.clone()
    ids2[~real] = (ids2[~real] + 1) % config.vocab_size     # change what sits in the padding
    hidden2, _ = ours.bert(ids2, seg, real)
    torch.testing.assert_close(hidden[real], hidden2[real], rtol=0, atol=1e-12)
    assert not torch.allclose(hidden[~real], hidden2[~real])
    ours.train()
    assert not torch.allclose(ours.bert(ids, seg, real)[0], hidden)    # dropout is active


# ----------------------------------------------------------------------------- parameter counts

@pytest.mark.parametrize("config", CONFIGS + [BertConfig(4096, 128, n_layers=4, n_heads=4, d_model=128, d_ff=512)])
def test_count_parameters_equals_allocated_models(config):
    ours = BertForPreTraining(config)
    assert count_parameters(config, heads=True) == ours.num_parameters()
    assert count_parameters(config) == sum(p.numel() for p in ours.bert.parameters())
    hf = transformers.BertForPreTraining(hf_config(config))
    assert count_parameters(config, heads=True) == sum(p.numel() for p in hf.parameters())
    assert count_parameters(config) == sum(p.numel() for p in hf.bert.parameters())
    parts = parameter_breakdown(config)
    assert parts["embeddings"] == sum(p.numel() for p in ours.bert.embeddings.parameters())
    assert parts["encoder"] == sum(p.numel() for p in ours.bert.encoder.parameters())


def test_published_bert_sizes():
    """Devlin et al. (2019) give 110M (BERT-base) and 340M (BERT-large), to two significant figures.
    BertModel = embeddings + encoder + pooler, with the released 30,522-token vocabulary."""
    base, large = BERT_CONFIGS["bert-base"], BERT_CONFIGS["bert-large"]
    assert count_parameters(base) == 109_482_240
    assert count_parameters(large) == 335_141_888
    assert count_parameters(base, heads=True) == 110_106_428      # + MLM transform and bias, NSP
    assert count_parameters(large, heads=True) == 336_226_108
    two_figures = lambda n: float(f"{n:.2g}")                       # noqa: E731
    for heads in (False, True):
        assert two_figures(count_parameters(base, heads=heads)) == 110e6
        assert two_figures(count_parameters(large, heads=heads)) == 340e6
    # and transformers' own BERT-base, allocated without memory on the meta device
    with torch.device("meta"):
        hf = transformers.BertModel(hf_config(base))
    assert sum(p.numel() for p in hf.parameters()) == count_parameters(base)


# ----------------------------------------------------------------------------- masking

def _hf_collator(V):
    words = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(V - len(SPECIAL_TOKENS))]
    tok = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(words)})   # built here, not downloaded
    assert len(tok) == V and tok.mask_token_id == 4
    return transformers.DataCollatorForLanguageModeling(tok, mlm_probability=0.15, seed=0)


def test_masking_proportions_match_transformers_collator():
    """15 % of the non-special tokens chosen; of those 80 % [MASK], 10 % random, 10 % unchanged.

    Each measured proportion p over n trials has standard error sqrt(p (1 - p) / n); ours and
    transformers' must agree within 5 combined standard errors (a false alarm about once in
    1.7 million runs), and each must be within 5 standard errors of the nominal value."""
    V, B, T = 200, 400, 128
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, V, (B, T), generator=g)
    ids[:, 0], ids[:, 60], ids[:, -1] = 2, 3, 3                    # [CLS] ... [SEP] ... [SEP]
    ids[::3, 100:] = 0                                             # padding
    special = ids < 5
    inputs, labels = mask_tokens(ids, special, vocab_size=V, mask_id=4, generator=g)
    ours = masking_outcomes(ids, inputs, labels, special, mask_id=4)
    batch = _hf_collator(V)([{"input_ids": row.tolist(), "special_tokens_mask": s.long().tolist()}
                             for row, s in zip(ids, special)])
    hf = masking_outcomes(ids, batch["input_ids"], batch["labels"], special, mask_id=4)
    # a random draw can hit the original token (1/V): "unchanged" is 10 % + 10 %/V, "other" 10 % (1 - 1/V)
    nominal = {"chosen": 0.15, "mask": 0.8, "other": 0.1 * (1 - 1 / V), "unchanged": 0.1 + 0.1 / V}
    for key, p in nominal.items():
        n_o = ours["n_eligible"] if key == "chosen" else ours["n_chosen"]
        n_h = hf["n_eligible"] if key == "chosen" else hf["n_chosen"]
        se = math.sqrt(p * (1 - p) / n_o + p * (1 - p) / n_h)
        assert abs(ours[key] - hf[key]) < 5 * se, (key, ours[key], hf[key], se)
        assert abs(ours[key] - p) < 5 * math.sqrt(p * (1 - p) / n_o), (key, ours[key], p)
    assert not bool((labels[special] != -100).any())               # special tokens never chosen
    assert torch.equal(inputs[labels == -100], ids[labels == -100])  # untouched elsewhere


def test_a_wrong_masking_rule_fails_the_bound():
    """Masking every chosen token with [MASK] (no 10/10) is far outside the bound used above."""
    V, B, T = 200, 400, 128
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V, (B, T), generator=g)
    special = torch.zeros_like(ids, dtype=torch.bool)
    inputs, labels = mask_tokens(ids, special, vocab_size=V, mask_id=4, mask_prob=1.0, random_prob=0.0, generator=g)
    got = masking_outcomes(ids, inputs, labels, special, mask_id=4)
    assert abs(got["mask"] - 0.8) > 5 * math.sqrt(0.8 * 0.2 / got["n_chosen"])


def test_masking_is_seeded_and_whole_word():
    V = 50
    ids = torch.randint(5, V, (8, 40), generator=torch.Generator().manual_seed(0))
    special = torch.zeros_like(ids, dtype=torch.bool)
    a = mask_tokens(ids, special, vocab_size=V, mask_id=4, generator=torch.Generator().manual_seed(3))
    b = mask_tokens(ids, special, vocab_size=V, mask_id=4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    words = torch.arange(40).div(3, rounding_mode="floor").expand(8, 40)   # words of three tokens
    _, labels = mask_tokens(ids, special, vocab_size=V, mask_id=4, mlm_probability=0.3, word_ids=words,
                            generator=torch.Generator().manual_seed(4))
    chosen = (labels != -100)[:, :39].reshape(8, 13, 3)                   # the 13 full words per row
    assert bool((chosen.all(-1) | ~chosen.any(-1)).all()), "a word was only partly chosen"
    assert 0 < chosen.float().mean() < 1


@pytest.mark.parametrize("bad,match", [
    (dict(special_mask=torch.zeros(2, 5)), "special_mask as a bool tensor"),
    (dict(mask_prob=0.9, random_prob=0.2), "mask_prob \\+ random_prob"),
    (dict(mlm_probability=1.5), "mlm_probability"),
    (dict(mask_id=99), "mask_id"),
])
def test_masking_refuses_bad_input(bad, match):
    kw = dict(special_mask=torch.zeros(2, 5, dtype=torch.bool), vocab_size=10, mask_id=4)
    kw.update(bad)
    with pytest.raises(ValueError, match=match):
        mask_tokens(torch.zeros(2, 5, dtype=torch.long), **kw)


def test_model_refuses_bad_input():
    model = BertForPreTraining(CONFIGS[0]).eval()
    ids = torch.randint(50, (2, 6))
    with pytest.raises(ValueError, match="attention_mask as a bool tensor"):
        model(ids, attention_mask=torch.ones(2, 6))                       # a float 0/1 mask
    with pytest.raises(ValueError, match="max_len=20"):
        model(torch.zeros(1, 21, dtype=torch.long))
    with pytest.raises(ValueError, match="segment ids in \\[0, 2\\)"):
        model(ids, torch.full_like(ids, 2))
    with pytest.raises(ValueError, match="ids in \\[0, 50\\)"):
        model(ids + 50)
    with pytest.raises(ValueError, match="at least one label"):
        mlm_loss(torch.zeros(2, 6, 50), torch.full((2, 6), -100))
    with pytest.raises(ValueError, match="integer"):
        model(ids.float())


# ----------------------------------------------------------------------------- data: speeches and NSP pairs

@pytest.fixture(scope="module")
def plays():
    from course_lib.datasets import load_text

    return split_plays(parse_speeches(load_text("shakespeare")))


def test_speeches_of_the_shipped_plays(plays):
    train, held = plays
    assert [p[0].play for p in held] == ["KING HENRY IV, THE FIRST PART", "KING HENRY IV, SECOND PART"]
    first = train[0][0]
    assert (first.play, first.speaker) == ("ALL'S WELL THAT ENDS WELL", "COUNTESS")
    assert first.text.startswith("In delivering my son from me, I bury a second husband.")
    assert len(train) == 7 and sum(map(len, train)) > 6000
    assert not any("[" in s.text for p in train for s in p)                # stage directions dropped


def test_pair_example_trims_the_longer_side():
    ids, seg = pair_example(list(range(10, 20)), [30, 31], max_len=9, cls_id=2, sep_id=3)
    assert ids == [2, 10, 11, 12, 13, 3, 30, 31, 3] and seg == [0] * 6 + [1] * 3
    ids, seg = pair_example([10], None, max_len=5, cls_id=2, sep_id=3)
    assert ids == [2, 10, 3] and seg == [0, 0, 0]


def test_nsp_corpus_half_true_pairs(plays):
    train, _ = plays
    tok = BertTokenizer.train((s.text for s in train[0]), 400)
    corpus = NSPCorpus(train[:2], tok, max_len=48)
    g = torch.Generator().manual_seed(0)
    ids, segs, labels = corpus.pairs(4000, g)
    assert abs(labels.float().mean() - 0.5) < 5 * math.sqrt(0.25 / 4000)
    # an IsNext pair is a speech followed by the next speech of the same play
    flat = [s for p in train[:2] for s in p]
    nxt = {tuple(corpus.speeches[i][:5]) + tuple(corpus.speeches[i + 1][:5]) for i in corpus.starts.tolist()}
    for x, s, lab in zip(ids[:300], segs[:300], labels[:300].tolist()):
        a = x[1:s.index(1) - 1]
        b = x[s.index(1):-1]
        assert x[0] == tok.cls_id and x[s.index(1) - 1] == tok.sep_id and x[-1] == tok.sep_id
        if lab == 0 and len(a) >= 5 and len(b) >= 5:
            assert tuple(a[:5]) + tuple(b[:5]) in nxt
    assert len(flat) == len(corpus.speeches)
    inputs, batch = corpus.batch(16, g)
    assert inputs.shape == batch.original_ids.shape == batch.segment_ids.shape == batch.attention_mask.shape
    assert inputs.shape[1] <= 48
    assert bool((batch.original_ids[~batch.attention_mask] == tok.pad_id).all())
    assert bool((batch.mlm_labels[~batch.attention_mask] == -100).all())


def test_tokenizer_masks_and_words():
    tok = BertTokenizer.train(["to be or not to be, that is the question"] * 3, 280)
    ids = tok.encode("to be or not to [MASK].")
    assert tok.mask_id in ids and tok.decode(ids) == "to be or not to[MASK]."
    assert tok.special_ids == tuple(tok.bpe.special_tokens[t] for t in SPECIAL_TOKENS)
    ids, words = tok.encode_words("not to be")
    assert tok.decode(ids) == "not to be" and words[0] == 0 and words[-1] == 2


# ----------------------------------------------------------------------------- using the model

def test_attention_maps_and_fill_mask():
    tok = BertTokenizer.train(["to be or not to be, that is the question"] * 3, 280)
    config = BertConfig(len(tok), 16, n_layers=2, n_heads=2, d_model=16, d_ff=32, pad_id=tok.pad_id)
    model = BertForPreTraining(config)
    ids = torch.tensor([[tok.cls_id] + tok.encode("to be or not") + [tok.sep_id, tok.pad_id]])
    real = ids != tok.pad_id
    maps = attention_maps(model, ids, attention_mask=real)
    assert maps.shape == (2, 1, 2, ids.shape[1], ids.shape[1])
    torch.testing.assert_close(maps.sum(-1), torch.ones(maps.shape[:-1]))
    assert bool((maps[..., -1] == 0).all())                                  # nobody looks at padding
    assert model.training                                                     # state restored
    top = fill_mask(model, tok, "to be or [MASK] to be", k=3)
    assert len(top) == 1 and len(top[0]) == 3 and all(t not in SPECIAL_TOKENS for t, _ in top[0])



# ----------------------------------------------------------------------------- the shipped mini-BERT

def _tiny_recipe() -> dict:
    from course_lib.bert import pretrained_recipe
    return {**pretrained_recipe(), "vocab_size": 300, "max_len": 32, "n_layers": 1, "n_heads": 2, "d_model": 16,
            "d_ff": 32, "steps": 3, "warmup": 1, "batch_size": 4}


@pytest.mark.slow
def test_build_then_load_pretrained_round_trip(tmp_path):
    from course_lib.bert import build_pretrained, load_pretrained
    out = build_pretrained(tmp_path / "mb", _tiny_recipe(), progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["SHA256SUMS", "encoder.json", "model.pt", "recipe.json",
                                                      "vocab.bpe"]
    model, tok = load_pretrained(out)
    assert not model.training and model.config.d_model == 16 and len(tok) == 300
    saved = torch.load(out / "model.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in saved.values())
    # the decoder is tied again on loading, and the weights are the saved ones
    assert model.mlm.decoder.weight is model.bert.embeddings.word.weight
    assert torch.equal(model.bert.embeddings.word.weight, saved["bert.embeddings.word.weight"].float())


@pytest.mark.slow
def test_load_pretrained_refuses_altered_or_missing_files(tmp_path):
    from course_lib.bert import build_pretrained, load_pretrained
    with pytest.raises(FileNotFoundError, match="course_lib.bert --build"):
        load_pretrained(tmp_path / "nothing")
    out = build_pretrained(tmp_path / "mb", _tiny_recipe(), progress=False)
    with open(out / "vocab.bpe", "a", encoding="utf-8") as f:
        f.write("x y\n")
    with pytest.raises(ValueError, match="vocab.bpe has been altered"):
        load_pretrained(out)


def test_the_shipped_mini_bert_is_the_recipe_and_beats_the_unigram_guess():
    """weights/mini_bert is committed: it loads with verified checksums, was made by pretrained_recipe(),
    and fills held-out masked tokens better than always guessing the most frequent token."""
    import json
    from collections import Counter
    from course_lib.bert import (PRETRAINED_DIR, load_pretrained, mask_tokens, parse_speeches, pretrained_recipe,
                                 split_plays)
    from course_lib.datasets import load_text
    model, tok = load_pretrained()
    meta = json.loads((PRETRAINED_DIR / "recipe.json").read_text(encoding="utf-8"))
    assert meta["recipe"] == pretrained_recipe()
    train_plays, held_plays = split_plays(parse_speeches(load_text("shakespeare")), pretrained_recipe()["held_out_plays"])
    top = Counter(i for p in train_plays for s in p for i in tok.encode(" " + s.text)).most_common(1)[0][0]
    rows = [[tok.cls_id] + tok.encode(s.text)[:62] + [tok.sep_id] for s in held_plays[0][:300]]
    T = max(map(len, rows))
    ids = torch.tensor([r + [tok.pad_id] * (T - len(r)) for r in rows])
    special = torch.isin(ids, torch.tensor(tok.special_ids))
    x, labels = mask_tokens(ids, special, vocab_size=len(tok), mask_id=tok.mask_id, mask_prob=1.0, random_prob=0.0,
                            generator=torch.Generator().manual_seed(0))
    keep = labels != -100
    with torch.no_grad():
        pred = model(x, attention_mask=ids != tok.pad_id, mlm_labels=labels, masked_only=True).mlm_logits.argmax(-1)
    acc = (pred == labels[keep]).float().mean().item()
    unigram = (labels[keep] == top).float().mean().item()
    assert acc > unigram + 0.01, (acc, unigram)
