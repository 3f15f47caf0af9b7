"""course_lib.instruct against transformers: the answer-only loss equals GPT2LMHeadModel's with the same
weights and labels, BertForQA equals BertForQuestionAnswering; the label mask, span decoding, exact
match and F1, the QA examples' spans, the template's special tokens, and clear errors."""
from __future__ import annotations

import itertools

import pytest
import torch

from _needs import needs_module
from course_lib.bert import BertConfig, BertModel, BertTokenizer, parse_speeches, split_plays
from course_lib.gpt import GPT, GPTConfig, to_hf
from course_lib.instruct import (CHAT_TOKENS, BertForQA, ChatTemplate, answer, answer_labels, best_span, collate,
                                 exact_match, lm_loss, normalize_answer, qa_collate, qa_examples, qa_loss,
                                 qa_predict, sft_batches, squad_f1, to_hf_qa, train_chat_tokenizer)

transformers = needs_module("transformers")

TEXT = ("To be, or not to be, that is the question. Write 4,071 in words. four thousand seventy one. "
        "Who speaks this line? HAMLET. Which play is this from? Hamlet.\n") * 4


@pytest.fixture(scope="module")
def chat():
    return ChatTemplate(train_chat_tokenizer(TEXT, 300))


def _gpt(vocab, seed=0):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab, 48, n_layer=2, n_head=2, n_embd=16)).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def _examples(chat):
    pairs = [("Write 4,071 in words.", "four thousand seventy one"), ("Who speaks this line?", "HAMLET"),
             ("Which play is this from? To be, or not to be", "Hamlet"), ("Hi", "To be, or not to be, that is")]
    return [chat.encode(p, r) for p, r in pairs]


# ----------------------------------------------------------------------------- the template

def test_template_layout_and_special_tokens(chat):
    ids, n = chat.encode("Write 4,071 in words.", "four thousand seventy one")
    assert ids[0] == chat.user_id and ids[n - 1] == chat.assistant_id and ids[-1] == chat.end_id
    assert chat.tokenizer.decode(ids[1:n - 1]) == "Write 4,071 in words."
    assert chat.decode_answer(ids[n:]) == "four thousand seventy one"
    assert chat.tokenizer.decode(ids) == chat.render("Write 4,071 in words.", "four thousand seventy one")
    assert chat.encode("Hi")[0] == ids[:1] + chat.tokenizer.encode_ordinary("Hi") + [chat.assistant_id]
    assert [chat.tokenizer.special_tokens[t] for t in CHAT_TOKENS] == [chat.pad_id, chat.user_id, chat.assistant_id,
                                                                       chat.end_id]
    with pytest.raises(ValueError, match="special token '<\\|end\\|>'"):
        chat.encode("Say <|end|> now")
    with pytest.raises(ValueError, match="CHAT_TOKENS|special tokens"):
        from course_lib.bpe import train
        ChatTemplate(train(TEXT, 300))


# ----------------------------------------------------------------------------- the label mask

def test_answer_labels_by_hand():
    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0]])
    got = answer_labels(ids, torch.tensor([2, 1]), torch.tensor([5, 3]))
    assert got.tolist() == [[-100, -100, 7, 8, 9], [-100, 6, 7, -100, -100]]
    assert answer_labels(ids, torch.tensor([0, 0]), torch.tensor([5, 3])).tolist() == [[5, 6, 7, 8, 9],
                                                                                       [5, 6, 7, -100, -100]]


def test_collate_masks_prompt_and_padding(chat):
    ex = _examples(chat)
    b = collate(ex, chat.pad_id)
    for row, (ids, n) in enumerate(ex):
        assert b.input_ids[row, :len(ids)].tolist() == list(ids)
        assert b.attention_mask[row].sum() == len(ids)
        assert (b.labels[row, :n] == -100).all() and (b.labels[row, len(ids):] == -100).all()
        assert b.labels[row, n:len(ids)].tolist() == list(ids[n:])
    everything = collate(ex, chat.pad_id, loss_on="all")
    assert torch.equal(everything.labels, b.input_ids.masked_fill(~b.attention_mask, -100))


@pytest.mark.parametrize("loss_on", ["answer", "all"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@torch.no_grad()
def test_loss_equals_gpt2lmheadmodel(chat, loss_on, dtype, tol):
    ours = _gpt(len(chat))
    hf = to_hf(ours).to(dtype)
    ours = ours.to(dtype)
    b = collate(_examples(chat), chat.pad_id, loss_on=loss_on)
    mine = lm_loss(ours, b.input_ids, b.labels)
    out = hf(input_ids=b.input_ids, attention_mask=b.attention_mask.long(), labels=b.labels)
    real = b.attention_mask                    # padding rows differ (transformers masks them), never targets
    assert (ours(b.input_ids)[0][real] - out.logits[real]).abs().max() < tol
    # transformers' ForCausalLMLoss casts the logits to float32 before the cross-entropy, whatever the
    # model's dtype: in float64 its loss is a float32 number, so compare with float32's precision there
    assert abs(float(mine) - float(out.loss)) < (1e-6 if dtype == torch.float64 else tol)
    shifted = torch.nn.functional.cross_entropy(out.logits[:, :-1].flatten(0, 1), b.labels[:, 1:].flatten())
    assert abs(float(mine) - float(shifted)) < tol        # their logits, their shift rule, in full precision


def test_answer_only_loss_ignores_the_prompt(chat):
    """The answer-only loss is the mean over response tokens: changing a prompt target changes nothing,
    while the loss on everything differs from it."""
    model = _gpt(len(chat))
    ex = _examples(chat)
    a = collate(ex, chat.pad_id)
    every = collate(ex, chat.pad_id, loss_on="all")
    la, le = float(lm_loss(model, a.input_ids, a.labels)), float(lm_loss(model, every.input_ids, every.labels))
    assert abs(la - le) > 1e-3
    logits = model(a.input_ids)[0][:, :-1]                                       # (B, T-1, V)
    logp = torch.log_softmax(logits, -1)
    y = a.labels[:, 1:]
    keep = y != -100
    ref = -logp[keep].gather(1, y[keep][:, None]).mean()
    assert abs(la - float(ref)) < 1e-5


def test_sft_batches_are_seeded(chat):
    draw = sft_batches(_examples(chat), chat.pad_id, 3)
    x1, y1 = draw(torch.Generator().manual_seed(0))
    x2, y2 = draw(torch.Generator().manual_seed(0))
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and x1.shape[0] == 3


def test_answer_greedy_batched_equals_one_by_one_and_stops(chat):
    model = _gpt(len(chat))
    prompts = ["Hi", "Ho", "Write 4,071 in words.", "Who speaks this line?"]
    together = answer(model, chat, prompts, max_new_tokens=6)
    alone = [answer(model, chat, [p], max_new_tokens=6)[0] for p in prompts]
    assert together == alone
    # a model whose favourite next token is <|end|> answers with the empty string
    with torch.no_grad():
        model.transformer.wte.weight[chat.end_id] *= 0
        model.transformer.wte.weight[chat.end_id] += 50 * model.transformer.ln_f.bias.sign()
        model.transformer.ln_f.weight.zero_()
    assert answer(model, chat, ["Hi"], max_new_tokens=5) == [""]


# ----------------------------------------------------------------------------- exact match and F1

def test_exact_match_and_f1_by_hand():
    assert exact_match(" four thousand ", "four thousand") == 1.0
    assert exact_match("Four thousand", "four thousand") == 0.0
    assert exact_match("The Prince!", "prince", normalize=True) == 1.0
    assert normalize_answer("The  Prince, of Denmark.") == "prince of denmark"
    assert squad_f1("Prince of Denmark", "the Prince") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert squad_f1("ham ham", "ham") == pytest.approx(2 * 0.5 * 1 / 1.5)      # counts are a multiset
    assert squad_f1("Hamlet", "Horatio") == 0.0
    assert squad_f1("", "") == 1.0 and squad_f1("the", "Ham") == 0.0


# ----------------------------------------------------------------------------- extractive QA

BERT_CFG = BertConfig(vocab_size=70, max_len=24, n_layers=2, n_heads=4, d_model=32, d_ff=64, dropout=0.1)


def _qa(seed=0):
    torch.manual_seed(seed)
    model = BertForQA(BertModel(BERT_CFG)).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_bert_for_qa_equals_transformers(dtype, tol):
    model = _qa().to(dtype)
    hf = to_hf_qa(model)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(5, 70, (4, 15), generator=g)
    segs = (torch.arange(15)[None] >= 6).long().expand(4, 15).clone()
    mask = torch.ones(4, 15, dtype=torch.bool)
    mask[1, 10:] = False
    mask[3, 7:] = False
    s, e = torch.tensor([6, 7, 8, 6]), torch.tensor([8, 9, 8, 6])
    ours = model(ids, segs, mask, start_positions=s, end_positions=e)
    theirs = hf(input_ids=ids, token_type_ids=segs, attention_mask=mask.long(), start_positions=s, end_positions=e)
    for a, b in ((ours.start_logits, theirs.start_logits), (ours.end_logits, theirs.end_logits)):
        assert (a - b).abs().max() < tol
    assert abs(float(ours.loss) - float(theirs.loss)) < tol


def test_best_span_equals_brute_force():
    g = torch.Generator().manual_seed(0)
    s, e = torch.randn(40, 9, generator=g, dtype=torch.float64), torch.randn(40, 9, generator=g, dtype=torch.float64)
    allowed = torch.rand(40, 9, generator=g) < 0.6
    allowed[:, 4] = True
    got_i, got_j = best_span(s, e, allowed, max_answer_len=3)
    for b in range(40):
        best = max(((float(s[b, i] + e[b, j]), i, j) for i, j in itertools.product(range(9), range(9))
                    if allowed[b, i] and allowed[b, j] and i <= j < i + 3))
        assert (int(got_i[b]), int(got_j[b])) == best[1:]
    with pytest.raises(ValueError, match="at least one allowed"):
        best_span(s, e, torch.zeros(40, 9, dtype=torch.bool))


@pytest.fixture(scope="module")
def plays_and_tok():
    from course_lib.datasets import load_text

    speeches = parse_speeches(load_text("shakespeare"))
    train, held = split_plays(speeches, 2)
    small = [p[:60] for p in train[:2]] + [p[:60] for p in held]
    tok = BertTokenizer.train((s.text for p in small for s in p), 400)
    return small, tok


def test_qa_examples_spans_decode_to_the_answer(plays_and_tok):
    plays, tok = plays_and_tok
    ex = qa_examples(plays, tok, max_words=8, max_len=128)
    assert len(ex) > 50 and {e.kind for e in ex} == {"who", "next"}
    for e in ex:
        assert tok.decode(e.ids[e.start:e.end + 1]).strip() == e.answer
        assert e.context_start <= e.start <= e.end < e.context_end and len(e.ids) <= 128
        assert e.ids[0] == tok.cls_id and e.ids[e.context_start - 1] == tok.sep_id == e.ids[-1]
        assert e.segment_ids[e.context_start] == 1 and e.segment_ids[e.context_start - 1] == 0
        assert e.answer + ":" in e.context and e.answer in e.names and len(e.names) == 3
    assert qa_examples(plays, tok, max_words=8, max_len=128, seed=0)[3] == ex[3]


def test_qa_collate_and_predict_with_oracle_logits(plays_and_tok):
    plays, tok = plays_and_tok
    ex = qa_examples(plays, tok, max_words=8, max_len=128)[:10]
    b = qa_collate(ex, tok.pad_id)
    assert b.context_mask.sum(1).tolist() == [e.context_end - e.context_start for e in ex]

    class Oracle(BertForQA):   # logits that point at the true span: decoding must recover every answer
        def forward(self, ids, segment_ids=None, attention_mask=None, **kw):
            from course_lib.instruct import QAOutput
            T = ids.shape[1]
            start = torch.full((ids.shape[0], T), -5.0)
            end = start.clone()
            for row, e in enumerate(self._batch):
                start[row, e.start], end[row, e.end] = 5.0, 5.0
            return QAOutput(start, end)

    oracle = Oracle(BertModel(BertConfig(len(tok), 128, n_layers=1, n_heads=2, d_model=16, d_ff=32)))
    oracle._batch = ex
    assert qa_predict(oracle, ex, tok, batch_size=64) == [e.answer for e in ex]


def test_qa_loss_and_errors():
    s = torch.randn(2, 5, dtype=torch.float64)
    e = torch.randn(2, 5, dtype=torch.float64)
    ref = (torch.nn.functional.cross_entropy(s, torch.tensor([1, 2])) +
           torch.nn.functional.cross_entropy(e, torch.tensor([3, 2]))) / 2
    assert float(qa_loss(s, e, torch.tensor([1, 2]), torch.tensor([3, 2]))) == pytest.approx(float(ref), abs=1e-12)
    with pytest.raises(ValueError, match=r"start_positions in \[0, 5\)"):
        qa_loss(s, e, torch.tensor([1, 5]), torch.tensor([3, 2]))
    with pytest.raises(ValueError, match="both start_positions and end_positions"):
        _qa()(torch.randint(5, 70, (1, 6)), start_positions=torch.tensor([1]))


def test_clear_errors(chat):
    ids = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match="prompt_lengths < lengths"):
        answer_labels(ids, torch.tensor([3]), torch.tensor([3]))
    with pytest.raises(ValueError, match="shape \\(1,\\)"):
        answer_labels(ids, torch.tensor([1, 1]), torch.tensor([3]))
    with pytest.raises(ValueError, match="loss_on 'answer' or 'all'"):
        collate(_examples(chat), chat.pad_id, loss_on="prompt")
    with pytest.raises(ValueError, match="labels of the shape"):
        lm_loss(_gpt(len(chat)), ids, torch.tensor([5, 6, 7]))
    with pytest.raises(ValueError, match="at least one label other than -100"):
        lm_loss(_gpt(len(chat)), ids, torch.full((1, 3), -100))
    with pytest.raises(ValueError, match="BertModel"):
        BertForQA(torch.nn.Linear(2, 2))
