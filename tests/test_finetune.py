"""course_lib.finetune against transformers (BertForSequenceClassification, GPT2ForSequenceClassification),
peft (LoRA) and scikit-learn (confusion matrix); the data path, the last-real-token rule, clear errors."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from _needs import needs_module
from course_lib.bert import BertConfig, BertForPreTraining, BertModel
from course_lib.finetune import (FOLIO_GENRES, GENRE_SPLITS, BertClassifier, FineTuneConfig, GPTClassifier,
                                 LabelledText, LoRALinear, Tokenizer, accuracy, add_lora, confusion_matrix,
                                 fine_tune, gather_last, genre_speeches, gpt_hidden_states, last_real_index,
                                 length_batches, lora_parameter_count, merge_lora, mlm_loss_on, pad_batch,
                                 predict, pretrain_causal, pretrain_mlm, to_hf_classifier,
                                 to_hf_gpt_classifier, trainable_parameters)
from course_lib.gpt import GPT, GPTConfig

transformers = needs_module("transformers")
peft = needs_module("peft")

BERT = BertConfig(vocab_size=61, max_len=24, n_layers=2, n_heads=4, d_model=32, d_ff=64, dropout=0.1)
GPT_SMALL = GPTConfig(vocab_size=61, block_size=24, n_layer=2, n_head=4, n_embd=32, bias=True)


def _jitter(model: nn.Module, seed: int = 0, scale: float = 0.05) -> nn.Module:
    """Perturb every parameter so that biases, LayerNorm gains and zero-initialised matrices all matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def _batch(B=5, T=12, V=61, seed=1, pad_id=0):
    """Right-padded ids (real ids never equal pad_id) with lengths from 1 to T."""
    g = torch.Generator().manual_seed(seed)
    lengths = [T, 1] + torch.randint(1, T + 1, (B - 2,), generator=g).tolist()
    seqs = [torch.randint(5, V, (n,), generator=g).tolist() for n in lengths]
    labels = torch.randint(3, (B,), generator=g).tolist()
    return pad_batch(seqs, labels, pad_id)


def _bert_classifier(dtype=torch.float64, seed=0, n_classes=3):
    torch.manual_seed(seed)
    return _jitter(BertClassifier(BertModel(BERT), n_classes)).to(dtype).eval()


def _gpt_classifier(dtype=torch.float64, seed=0, n_classes=3):
    torch.manual_seed(seed)
    return _jitter(GPTClassifier(GPT(GPT_SMALL), n_classes)).to(dtype).eval()


# ----------------------------------------------------------------------------- the BERT head

@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_bert_classifier_equals_transformers(dtype, tol):
    ours = _bert_classifier(dtype)
    hf = to_hf_classifier(ours)
    b = _batch()
    got = ours(b.ids, b.attention_mask, labels=b.labels)
    ref = hf(input_ids=b.ids, attention_mask=b.attention_mask.long(), labels=b.labels)
    assert torch.allclose(got.logits, ref.logits, atol=tol, rtol=0)
    assert abs(got.loss.item() - ref.loss.item()) < tol
    # and the comparison can fail: another classifier bias changes the logits
    with torch.no_grad():
        ours.classifier.bias[0] += 1e-3
    assert not torch.allclose(ours(b.ids, b.attention_mask).logits, ref.logits, atol=tol, rtol=0)


def test_bert_classifier_gradients_equal_transformers():
    ours = _bert_classifier(torch.float64)
    hf = to_hf_classifier(ours)
    b = _batch(seed=3)
    ours(b.ids, b.attention_mask, labels=b.labels).loss.backward()
    hf(input_ids=b.ids, attention_mask=b.attention_mask.long(), labels=b.labels).loss.backward()
    assert torch.allclose(ours.classifier.weight.grad, hf.classifier.weight.grad, atol=1e-10)
    assert torch.allclose(ours.bert.encoder.layers[0].self_attn.q_proj.weight.grad,
                          hf.bert.encoder.layer[0].attention.self.query.weight.grad, atol=1e-10)


def test_from_pretraining_copies_the_backbone():
    torch.manual_seed(0)
    pre = BertForPreTraining(BERT)
    clf = BertClassifier.from_pretraining(pre, 2)
    assert torch.equal(clf.bert.pooler.weight, pre.bert.pooler.weight)
    with torch.no_grad():
        clf.bert.pooler.weight.add_(1.0)
    assert not torch.equal(clf.bert.pooler.weight, pre.bert.pooler.weight)   # a copy, not the same module


# ----------------------------------------------------------------------------- the GPT head

def test_gpt_hidden_states_are_the_forward_pass_without_the_output_layer():
    gpt = _jitter(GPT(GPT_SMALL)).double().eval()
    ids = _batch().ids
    h = gpt_hidden_states(gpt, ids)
    assert torch.allclose(h @ gpt.transformer.wte.weight.t(), gpt(ids)[0], atol=1e-10)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_gpt_classifier_equals_transformers(dtype, tol):
    ours = _gpt_classifier(dtype)
    hf = to_hf_gpt_classifier(ours, pad_id=0)
    b = _batch()
    got = ours(b.ids, b.attention_mask, labels=b.labels)
    ref = hf(input_ids=b.ids, attention_mask=b.attention_mask.long(), labels=b.labels)
    assert torch.allclose(got.logits, ref.logits, atol=tol, rtol=0)
    assert abs(got.loss.item() - ref.loss.item()) < tol


def test_last_real_token_is_batch_invariant_and_position_minus_one_is_not():
    model = _gpt_classifier()
    b = _batch()
    alone = torch.cat([model(b.ids[i:i + 1, :int(b.attention_mask[i].sum())]).logits for i in range(len(b.ids))])
    assert torch.allclose(model(b.ids, b.attention_mask).logits, alone, atol=1e-10)
    # the tempting shortcut reads a [PAD] state wherever a row is padded, and gets other logits
    wrong = model.score(gpt_hidden_states(model.gpt, b.ids)[:, -1])
    padded = ~b.attention_mask[:, -1]
    assert bool(padded.any())
    assert not torch.allclose(wrong[padded], alone[padded], atol=1e-3)


def test_last_real_index_and_gather():
    mask = torch.tensor([[True, True, False], [True, True, True], [True, False, False]])
    assert last_real_index(mask).tolist() == [1, 2, 0]
    h = torch.arange(18.0).view(3, 3, 2)
    assert gather_last(h, mask).tolist() == [[2.0, 3.0], [10.0, 11.0], [12.0, 13.0]]
    with pytest.raises(ValueError, match="RIGHT padding"):
        last_real_index(torch.tensor([[False, True, True]]))
    with pytest.raises(ValueError, match="at least one real token"):
        last_real_index(torch.tensor([[False, False]]))
    with pytest.raises(ValueError, match="bool attention_mask"):
        last_real_index(torch.ones(2, 3))


# ----------------------------------------------------------------------------- LoRA against peft

def _peft_twin(model: nn.Module, ours: nn.Module, *, r, alpha, dropout, targets, save):
    """peft's LoRA on a copy of ``model`` (built from a local config) with our A and B copied in."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                     modules_to_save=list(save), bias="none")
    twin = get_peft_model(copy.deepcopy(model), cfg)
    with torch.no_grad():
        for name, m in ours.named_modules():
            if isinstance(m, LoRALinear):
                theirs = twin.base_model.model.get_submodule(name)
                theirs.lora_A["default"].weight.copy_(m.lora_A)
                theirs.lora_B["default"].weight.copy_(m.lora_B)
    return twin


@pytest.mark.parametrize("kind", ["bert", "gpt"])
def test_lora_equals_peft(kind):
    base = _bert_classifier() if kind == "bert" else _gpt_classifier()
    targets = ("q_proj", "v_proj") if kind == "bert" else ("c_attn",)
    save = ("classifier",) if kind == "bert" else ("score",)
    ours = copy.deepcopy(base)
    names = add_lora(ours, r=4, alpha=8, dropout=0.0, targets=targets, trainable=save)
    assert len(names) == (4 if kind == "bert" else 2)
    _jitter(ours, seed=5)     # B = 0 at the start would make any LoRA look right: give A and B values
    twin = _peft_twin(base, ours, r=4, alpha=8, dropout=0.0, targets=targets, save=save)
    with torch.no_grad():     # the head was jittered too: peft's trainable copy of it gets the same values
        head = ours.classifier if kind == "bert" else ours.score
        twin.base_model.model.get_submodule(save[0]).modules_to_save["default"].load_state_dict(head.state_dict())
        for (n, p) in ours.named_parameters():
            if "lora_" in n or n.startswith(save[0]):
                continue
            key = n.replace(".base.", ".base_layer.")
            twin.base_model.model.get_parameter(key).copy_(p)
    b = _batch()
    got = ours(b.ids, b.attention_mask).logits
    ref = twin(b.ids, b.attention_mask).logits
    assert torch.allclose(got, ref, atol=1e-10)
    trainable, _ = twin.get_nb_trainable_parameters()
    assert trainable_parameters(ours) == trainable
    head_params = sum(p.numel() for p in head.parameters())
    assert trainable == lora_parameter_count(base, targets, 4) + head_params
    # merged: plain Linear layers, same outputs as ours unmerged and as peft's merge_and_unload
    merged = merge_lora(copy.deepcopy(ours))
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    assert torch.allclose(merged(b.ids, b.attention_mask).logits, got, atol=1e-10)
    assert torch.allclose(twin.merge_and_unload()(b.ids, b.attention_mask).logits, got, atol=1e-10)


def test_lora_starts_at_the_base_model_and_dropout_matches_peft_in_training():
    base = _bert_classifier()
    ours = copy.deepcopy(base)
    add_lora(ours, r=2, alpha=4, dropout=0.3)
    b = _batch()
    assert torch.allclose(ours(b.ids, b.attention_mask).logits, base(b.ids, b.attention_mask).logits, atol=1e-12)
    layer = ours.bert.encoder.layers[0].self_attn.q_proj
    with torch.no_grad():
        layer.lora_B.normal_()
    twin = _peft_twin(base, ours, r=2, alpha=4, dropout=0.3, targets=("q_proj", "v_proj"), save=("classifier",))
    theirs = twin.base_model.model.get_submodule("bert.encoder.layers.0.self_attn.q_proj")
    layer.train(), theirs.train()
    x = torch.randn(3, 7, BERT.d_model, dtype=torch.float64)
    torch.manual_seed(9)
    y1 = layer(x)
    torch.manual_seed(9)
    y2 = theirs(x)
    assert torch.allclose(y1, y2, atol=1e-10)        # the same dropout mask on the LoRA branch's input


def test_lora_merge_unmerge_and_gradients_only_where_trainable():
    lin = nn.Linear(6, 5).double()
    lora = LoRALinear(lin, r=2, alpha=3)
    with torch.no_grad():
        lora.lora_B.normal_()
    x = torch.randn(4, 6, dtype=torch.float64)
    y = lora(x)
    w0 = lin.weight.clone()
    lora.merge()
    assert torch.allclose(lin.weight, w0 + 1.5 * lora.lora_B @ lora.lora_A)
    assert torch.allclose(lora(x), y)
    lora.unmerge()
    assert torch.allclose(lin.weight, w0) and torch.allclose(lora(x), y)
    lora(x).sum().backward()
    assert lin.weight.grad is None and lora.lora_A.grad is not None and lora.lora_B.grad is not None


def test_lora_errors():
    with pytest.raises(ValueError, match="nn.Linear"):
        LoRALinear(nn.Conv1d(2, 2, 1), r=2, alpha=2)
    with pytest.raises(ValueError, match="r to be an integer >= 1"):
        LoRALinear(nn.Linear(2, 2), r=0, alpha=2)
    with pytest.raises(ValueError, match="alpha > 0"):
        LoRALinear(nn.Linear(2, 2), r=1, alpha=0)
    with pytest.raises(ValueError, match=r"no nn.Linear named \['query'\].*q_proj"):
        add_lora(_bert_classifier(), targets=("query",))
    with pytest.raises(ValueError, match="merge_lora"):
        m = _bert_classifier()
        add_lora(m)
        to_hf_classifier(m)


# ----------------------------------------------------------------------------- the data path

def test_pad_batch_pads_right_with_a_mask():
    b = pad_batch([[7, 8, 9], [5], [6, 6]], [1, 0, 1], pad_id=0)
    assert b.ids.tolist() == [[7, 8, 9], [5, 0, 0], [6, 6, 0]]
    assert b.attention_mask.tolist() == [[True] * 3, [True, False, False], [True, True, False]]
    assert b.labels.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="one label per sequence"):
        pad_batch([[1]], [0, 1], 0)
    with pytest.raises(ValueError, match="non-empty"):
        pad_batch([[1], []], [0, 1], 0)


def test_length_batches_cover_every_row_once_with_little_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 65, (1000,), generator=g).tolist()
    for gen in (None, torch.Generator().manual_seed(1)):
        batches = length_batches(lengths, 32, generator=gen)
        assert sorted(i for b in batches for i in b) == list(range(1000))
        padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
        assert padded < 1.1 * sum(lengths)                    # random batches would pad about 50 % more
    ordered = length_batches(lengths, 32)
    assert all(lengths[a] <= lengths[b] for batch in ordered for a, b in zip(batch, batch[1:]))
    again = length_batches(lengths, 32, generator=torch.Generator().manual_seed(1))
    assert again == length_batches(lengths, 32, generator=torch.Generator().manual_seed(1))
    assert again != length_batches(lengths, 32, generator=torch.Generator().manual_seed(2))


def test_labelled_text_and_tokenizers():
    tok = Tokenizer.train(["很好很好", "不好"], 8)
    assert tok.itos[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and tok.itos[5:] == ["好", "很", "不"]
    assert tok.encode("很 好吗[MASK]") == [6, 5, 1, 4] and tok.decode([6, 5]) == "很好"
    words = Tokenizer.train(["To be, or not to be"], 9, level="word")
    assert words.itos[5:] == ["to", "be", ",", "or"] and words.encode("To be!") == [5, 6, 1]
    data = LabelledText.from_texts(["很好很好很好", "不"], [1, 0], tok, max_len=5)
    assert data.seqs == [[2, 6, 5, 6, 3], [2, 7, 3]]
    gdata = LabelledText.from_texts(["很好很好很好", "不"], [1, 0], tok, max_len=5, cls_token=False)
    assert gdata.seqs == [[6, 5, 6, 5, 3], [7, 3]]
    with pytest.raises(ValueError, match=r"labels in \[0, 2\)"):
        LabelledText([[1]], [2], 0, 2)
    with pytest.raises(ValueError, match="level"):
        Tokenizer.train(["a"], 8, level="byte")
    with pytest.raises(ValueError, match="as a str"):
        tok.encode(b"bytes")


def test_confusion_matrix_and_accuracy_equal_sklearn():
    metrics = needs_module("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    y, p = torch.randint(3, (200,), generator=g), torch.randint(3, (200,), generator=g)
    assert confusion_matrix(y, p, 3).tolist() == metrics.confusion_matrix(y.numpy(), p.numpy(), labels=[0, 1, 2]).tolist()
    assert abs(accuracy(p, y) - metrics.accuracy_score(y.numpy(), p.numpy())) < 1e-12
    with pytest.raises(ValueError, match="as many predictions as labels"):
        accuracy([1, 0], [1])


# ----------------------------------------------------------------------------- training and pre-training

def _toy_task(n=200, seed=0):
    """Label 1 when token 7 appears: a classifier must find one token anywhere in the text."""
    g = torch.Generator().manual_seed(seed)
    seqs, labels = [], []
    for _ in range(n):
        s = [2] + torch.randint(8, 40, (int(torch.randint(3, 10, (1,), generator=g)),), generator=g).tolist() + [3]
        y = int(torch.rand(1, generator=g) < 0.5)
        if y:
            s[int(torch.randint(1, len(s) - 1, (1,), generator=g))] = 7
        seqs.append(s)
        labels.append(y)
    return LabelledText(seqs, labels, 0, 2)


def test_fine_tune_learns_and_is_reproducible():
    data = _toy_task(n=128)
    cfg = BertConfig(vocab_size=40, max_len=16, n_layers=1, n_heads=2, d_model=16, d_ff=32, dropout=0.0)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = BertClassifier(BertModel(cfg), 2)
        h = fine_tune(model, data, FineTuneConfig(epochs=12, lr=1e-2, batch_size=32, seed=0))
        runs.append(h.losses)
    assert runs[0] == runs[1]
    assert accuracy(predict(model, data)[0], data.labels) > 0.9


def test_only_lora_and_head_change_during_fine_tuning():
    data = _toy_task(n=64)
    torch.manual_seed(0)
    model = BertClassifier(BertModel(BertConfig(vocab_size=40, max_len=16, n_layers=1, n_heads=2, d_model=32,
                                                d_ff=64)), 2)
    add_lora(model, r=2, alpha=4)
    before = {n: p.clone() for n, p in model.named_parameters()}
    fine_tune(model, data, FineTuneConfig(epochs=1, lr=1e-2, batch_size=16))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n or n.startswith("classifier") for n in changed)


def test_pretraining_lowers_the_loss_and_forgetting_is_measurable():
    data = _toy_task(n=100)
    tok = Tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"t{i}" for i in range(35)])
    cfg = BertConfig(vocab_size=40, max_len=16, n_layers=1, n_heads=2, d_model=32, d_ff=64)
    torch.manual_seed(0)
    pre = BertForPreTraining(cfg)
    losses = pretrain_mlm(pre, data.seqs, tok, steps=60, batch_size=32, lr=3e-3, warmup=5)
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    before = mlm_loss_on(pre, seqs=data.seqs, tokenizer=tok, n_batches=2)
    assert before == mlm_loss_on(pre, seqs=data.seqs, tokenizer=tok, n_batches=2)    # fixed masks
    clf = BertClassifier.from_pretraining(pre, 2)
    assert abs(mlm_loss_on(clf.bert, pre, seqs=data.seqs, tokenizer=tok, n_batches=2) - before) < 1e-6
    gpt = GPT(GPTConfig(40, 16, 1, 2, 32))
    closs = pretrain_causal(gpt, [s[1:] for s in data.seqs], 0, steps=40, batch_size=32, lr=3e-3, warmup=5)
    assert sum(closs[-10:]) / 10 < sum(closs[:10]) / 10


def test_fine_tune_errors():
    with pytest.raises(ValueError, match="learning rate in"):
        FineTuneConfig(lr=3.0)
    model = _bert_classifier(torch.float32)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        fine_tune(model, _toy_task(n=8))
    with pytest.raises(ValueError, match="LabelledText"):
        fine_tune(_bert_classifier(torch.float32), [([1, 2], 0)])


# ----------------------------------------------------------------------------- Shakespeare's genres

def test_genre_splits_hold_whole_plays():
    splits = {s: set(GENRE_SPLITS[s]) for s in GENRE_SPLITS}
    assert set().union(*splits.values()) == set(FOLIO_GENRES)
    assert not (splits["train"] & splits["val"]) and not (splits["train"] & splits["test"]) \
        and not (splits["val"] & splits["test"])
    texts = {s: {t for t, _ in genre_speeches(s)} for s in GENRE_SPLITS}
    assert all(texts.values())
    train = genre_speeches("train")
    assert {y for _, y in train} == {0, 1, 2}
    assert all(len(t.split()) >= 8 for t, _ in train)
    assert not any(t.rstrip(".").isupper() for t, _ in train[:200])   # no speaker-name lines left
    with pytest.raises(ValueError, match="split in"):
        genre_speeches("dev")
